"""Cross-modal retrieval quality: image queries against texts and text queries against images."""

from __future__ import annotations

from typing import NamedTuple, Optional

from .._typing import ArrayLike
from .average_precision import MeanAveragePrecision, mean_average_precision

__all__ = ["CrossModalMAP", "cross_modal_map"]


class CrossModalMAP(NamedTuple):
    """Result of :func:`cross_modal_map`.

    Attributes
    ----------
    image_to_text : MeanAveragePrecision
        Image queries ranked against the text database.
    text_to_image : MeanAveragePrecision
        Text queries ranked against the image database.
    """

    image_to_text: MeanAveragePrecision
    text_to_image: MeanAveragePrecision


def cross_modal_map(
    image_query_codes: ArrayLike,
    text_query_codes: ArrayLike,
    query_labels: ArrayLike,
    image_db_codes: ArrayLike,
    text_db_codes: ArrayLike,
    db_labels: ArrayLike,
    topk: Optional[int] = None,
    ties: str = "average",
) -> CrossModalMAP:
    """mAP of both cross-modal directions over paired queries and a paired database.

    Parameters
    ----------
    image_query_codes, text_query_codes : uint8 arrays (nq, bits // 8)
        Packed codes of the query pairs' images and texts (one shared code space).
    query_labels : int array (nq,) or 0/1 array (nq, c)
        Labels of the query pairs (shared by the image and the text of a pair).
    image_db_codes, text_db_codes : uint8 arrays (n, bits // 8)
        Codes of the database pairs' images and texts.
    db_labels : int array (n,) or 0/1 array (n, c)
    topk, ties
        As for :func:`mean_average_precision` (default: mAP@ALL, tie-aware).

    Returns
    -------
    CrossModalMAP
        ``image_to_text``: image queries vs the text database; ``text_to_image``: text queries
        vs the image database.
    """
    i2t = mean_average_precision(image_query_codes, query_labels, text_db_codes, db_labels, topk=topk, ties=ties)
    t2i = mean_average_precision(text_query_codes, query_labels, image_db_codes, db_labels, topk=topk, ties=ties)
    return CrossModalMAP(i2t, t2i)

"""Evaluation glue and text tables shared by the ``deephash`` command and the demo.

:func:`evaluate_codes` computes the usual retrieval figures of one run, :class:`Curves` gathers
the curves of several runs and draws the three standard plots, :func:`cross_modal_rows`
tabulates both directions of a cross-modal model and :func:`print_table` prints rows aligned.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, TextIO, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import metrics, plots

__all__ = ["Curves", "Evaluation", "cross_modal_rows", "evaluate_codes", "print_table"]


class Evaluation(NamedTuple):
    """The figures :func:`evaluate_codes` reports for one (queries, database) pair of codes."""

    map: metrics.MeanAveragePrecision  #: tie-aware (or by-id) mAP@ALL / mAP@topk
    at_radius: metrics.RadiusPrecision  #: precision of hash lookup within the radius
    pr_curve: metrics.PrecisionRecallCurve  #: precision and recall at every Hamming radius
    at_n: metrics.PrecisionAtN  #: precision of the first N items of the ranking


def evaluate_codes(
    query_codes: NDArray[np.uint8],
    query_labels: ArrayLike,
    db_codes: NDArray[np.uint8],
    db_labels: ArrayLike,
    topk: Optional[int] = None,
    ties: str = "average",
    radius: int = 2,
    ns: Optional[Sequence[int]] = None,
) -> Evaluation:
    """mAP, precision within ``radius``, the PR curve and P@N of one run.

    The arguments are those of :func:`deephash.metrics.mean_average_precision` (``topk``,
    ``ties``), :func:`~deephash.metrics.precision_at_radius` (``radius``) and
    :func:`~deephash.metrics.precision_at_n` (``ns``, ``ties``).
    """
    args = (query_codes, query_labels, db_codes, db_labels)
    return Evaluation(
        metrics.mean_average_precision(*args, topk=topk, ties=ties),
        metrics.precision_at_radius(*args, radius=radius),
        metrics.precision_recall_curve(*args),
        metrics.precision_at_n(*args, ns=ns, ties=ties),
    )


class Curves:
    """The curves of several runs, drawn as ``pr_curve.png``, ``precision_at_n.png`` and
    ``map_vs_bits.png``."""

    def __init__(self) -> None:
        self.pr: Dict[str, metrics.PrecisionRecallCurve] = {}
        self.at_n: Dict[str, metrics.PrecisionAtN] = {}
        #: group (a method) -> [(bits, mAP), ...]: the lines of the mAP-vs-bits plot
        self.series: Dict[str, List[Tuple[int, float]]] = {}

    def add(self, label: str, group: str, bits: int, result: Evaluation) -> None:
        """Adds one run: its curves under ``label``, its mAP to ``group``'s line."""
        self.pr[label] = result.pr_curve
        self.at_n[label] = result.at_n
        self.series.setdefault(group, []).append((int(bits), result.map.map))

    def plot(self, out, titles: Optional[Tuple[str, str, str]] = None) -> List[str]:
        """Writes the three plots into folder ``out`` (created if needed); returns their paths.

        ``titles``: of the PR curve, precision@N and mAP-vs-bits plots (default: the plots' own).
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        pr, at_n, vs_bits = ({"title": t} for t in titles) if titles is not None else ({}, {}, {})
        return [
            plots.plot_pr_curves(self.pr, out / "pr_curve.png", **pr),
            plots.plot_precision_at_n(self.at_n, out / "precision_at_n.png", **at_n),
            plots.plot_map_vs_bits(self.series, out / "map_vs_bits.png", **vs_bits),
        ]


def cross_modal_rows(
    model, image_x: ArrayLike, text_x: ArrayLike, labels: ArrayLike, is_test: ArrayLike, topk: Optional[int] = None
) -> List[dict]:
    """image->text and text->image mAP of a cross-modal model, one row per (direction, database).

    The queries are the test pairs (``is_test``); the database is the other modality's test items,
    then train + test (in data order). Both tie rules are reported (``average`` and ``id``).
    """
    is_test = np.asarray(is_test, dtype=bool)
    labels = np.asarray(labels)
    ci, ct = model.encode_image(image_x), model.encode_text(text_x)
    at = "ALL" if topk is None else str(topk)
    rows = []
    for db_name, db in (("test", is_test), ("train+test", np.ones_like(is_test))):
        r = {
            t: metrics.cross_modal_map(
                ci[is_test], ct[is_test], labels[is_test], ci[db], ct[db], labels[db], topk=topk, ties=t
            )
            for t in ("average", "id")
        }
        for direction, field in (("image->text", "image_to_text"), ("text->image", "text_to_image")):
            rows.append(
                {
                    "direction": direction,
                    "database": db_name,
                    "bits": model.bits,
                    "queries": int(is_test.sum()),
                    "db size": int(db.sum()),
                    f"mAP@{at} (average)": f"{getattr(r['average'], field).map:.4f}",
                    f"mAP@{at} (id)": f"{getattr(r['id'], field).map:.4f}",
                }
            )
    return rows


def print_table(rows: List[dict], file: Optional[TextIO] = None) -> None:
    """Prints rows (dicts with the same keys) as an aligned text table; nothing for no rows."""
    file = file or sys.stdout
    if not rows:
        return
    keys = list(rows[0])
    cells = [[str(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.rjust(w) if i else k.ljust(w) for i, (k, w) in enumerate(zip(keys, widths))), file=file)
    for c in cells:
        print("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(c, widths))), file=file)

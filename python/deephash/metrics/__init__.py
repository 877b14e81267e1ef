"""Retrieval metrics for binary codes: mAP (tie-aware or by id, plain or weighted Hamming
ranking), precision within a Hamming radius, precision-recall over radii, precision@N; graded
metrics for multi-label data (ACG@k, NDCG@k, weighted mAP); and metrics of given rankings
(``ranking_map``, ``ranking_precision_at_n``, e.g. for re-ranked shortlists).

Labels are class ids ``(n,)`` or multi-hot rows ``(n, c)``; a database item is relevant to a
query when they share at least one label, and its grade is the number of labels they share.
Every function returns a NamedTuple.
"""

from __future__ import annotations

from ._histograms import DistanceHistograms, distance_histograms, hamming_distances
from .average_precision import MeanAveragePrecision, mean_average_precision
from .cross_modal import CrossModalMAP, cross_modal_map
from .given_ranking import ranking_map, ranking_precision_at_n
from .graded import GradedScore, acg_at_k, ndcg_at_k, weighted_map
from .precision import (
    PrecisionAtN,
    PrecisionRecallCurve,
    RadiusPrecision,
    precision_at_n,
    precision_at_radius,
    precision_recall_curve,
)

__all__ = [
    "CrossModalMAP",
    "DistanceHistograms",
    "GradedScore",
    "MeanAveragePrecision",
    "PrecisionAtN",
    "PrecisionRecallCurve",
    "RadiusPrecision",
    "acg_at_k",
    "cross_modal_map",
    "distance_histograms",
    "hamming_distances",
    "mean_average_precision",
    "ndcg_at_k",
    "precision_at_n",
    "precision_at_radius",
    "precision_recall_curve",
    "ranking_map",
    "ranking_precision_at_n",
    "weighted_map",
]

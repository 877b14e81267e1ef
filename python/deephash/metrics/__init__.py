"""Retrieval metrics for binary codes: mAP (tie-aware or by id), precision within a Hamming
radius, precision-recall over radii, precision@N.

Labels are class ids ``(n,)`` or multi-hot rows ``(n, c)``; a database item is relevant to a
query when they share at least one label. Every function returns a NamedTuple.
"""
from __future__ import annotations

from ._histograms import DistanceHistograms, distance_histograms, hamming_distances
from .average_precision import MeanAveragePrecision, mean_average_precision
from .cross_modal import CrossModalMAP, cross_modal_map
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
    "MeanAveragePrecision",
    "PrecisionAtN",
    "PrecisionRecallCurve",
    "RadiusPrecision",
    "cross_modal_map",
    "distance_histograms",
    "hamming_distances",
    "mean_average_precision",
    "precision_at_n",
    "precision_at_radius",
    "precision_recall_curve",
]

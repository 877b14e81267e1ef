"""Deep hashing losses (PyTorch): one class per method, pairwise term + quantisation term.

``loss(u, labels)`` over the pairs of a batch, or ``loss(u, labels, ref_u, ref_labels)``
against reference outputs; labels are int class ids (n,) or multi-hot (n, c), and a pair is
similar when it shares at least one label.
"""
from __future__ import annotations

from ..models._torch import require_torch

require_torch()

from .base import PairwiseHashLoss, similarity_matrix  # noqa: E402
from .dcmh import DCMHLoss  # noqa: E402
from .dhn import DHNLoss, log_cosh  # noqa: E402
from .dpsh import DPSHLoss  # noqa: E402
from .dsh import DSHLoss  # noqa: E402

__all__ = ["DCMHLoss", "DHNLoss", "DPSHLoss", "DSHLoss", "PairwiseHashLoss", "log_cosh", "similarity_matrix"]

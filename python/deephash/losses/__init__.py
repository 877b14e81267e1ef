"""Deep hashing losses (PyTorch): one class per method.

Losses are composed from parts (:mod:`deephash.losses.parts`: the pair likelihood, the target
cross-entropy, the contrastive term, the quantisation penalties), each formula written once.
Each loss declares what it ``consumes`` (:class:`Supervision`: pairs, triplets, graded triplets, target codes, class
labels, or nothing but the outputs; see :mod:`deephash.losses.base`) and the trainer supplies
it. Pairwise losses: ``loss(u, labels)`` over the pairs of a batch, or
``loss(u, labels, ref_u, ref_labels)`` against reference outputs; labels are int class ids (n,)
or multi-hot (n, c), and a pair is similar when it shares at least one label. Triplet losses:
``loss(anchor, positive, negative[, gains])``.
"""

from __future__ import annotations

from .._torch import require_torch

require_torch()

from .adsh import ADSHLoss  # noqa: E402
from .base import (  # noqa: E402
    CONSUMABLE,
    HashLoss,
    LossInputs,
    PairwiseHashLoss,
    Supervision,
    check_labels,
    check_outputs,
    check_targets,
    class_cross_entropy,
    similarity_matrix,
)
from .cnnh import CNNHLoss  # noqa: E402
from .cnnh_plus import CNNHPlusLoss  # noqa: E402
from .dcmh import DCMHLoss  # noqa: E402
from .dfh import DFHLoss  # noqa: E402
from .dhn import DHNLoss  # noqa: E402
from .dlbhc import DLBHCLoss  # noqa: E402
from .dnnh import DNNHLoss  # noqa: E402
from .dpsh import DPSHLoss  # noqa: E402
from .drsch import DRSCHLoss  # noqa: E402
from .dsh import DSHLoss  # noqa: E402
from .dsdh import DSDHLoss  # noqa: E402
from .dsrh import DSRHLoss  # noqa: E402
from .dtsh import DTSHLoss  # noqa: E402
from .hashnet import HashNetLoss  # noqa: E402
from .parts import (  # noqa: E402
    AbsDistance,
    CodeSquared,
    Contrastive,
    LogCoshDistance,
    PairLikelihood,
    SignSquared,
    TargetBCE,
    log_cosh,
    pair_nll,
    upcast,
)
from .pairwise_codes import PairwiseCodeLoss  # noqa: E402
from .triplet import TripletHashLoss  # noqa: E402

from .greedy_hash import GreedyHashLoss  # noqa: E402
from .csq import CSQLoss  # noqa: E402
from .dpn import DPNLoss  # noqa: E402
from .orthohash import OrthoHashLoss  # noqa: E402
from .bihalf import BiHalfLoss  # noqa: E402
from .cibhash import CIBHashLoss  # noqa: E402

__all__ = [
    "ADSHLoss",
    "AbsDistance",
    "CodeSquared",
    "CNNHLoss",
    "Contrastive",
    "LogCoshDistance",
    "PairLikelihood",
    "SignSquared",
    "Supervision",
    "TargetBCE",
    "check_labels",
    "check_outputs",
    "check_targets",
    "pair_nll",
    "upcast",
    "CNNHPlusLoss",
    "CONSUMABLE",
    "DCMHLoss",
    "DFHLoss",
    "DHNLoss",
    "DLBHCLoss",
    "DNNHLoss",
    "DPSHLoss",
    "DRSCHLoss",
    "DSHLoss",
    "DSDHLoss",
    "DSRHLoss",
    "DTSHLoss",
    "HashLoss",
    "HashNetLoss",
    "LossInputs",
    "PairwiseCodeLoss",
    "PairwiseHashLoss",
    "TripletHashLoss",
    "class_cross_entropy",
    "log_cosh",
    "similarity_matrix",
]
__all__ += ["GreedyHashLoss", "CSQLoss", "DPNLoss", "OrthoHashLoss", "BiHalfLoss", "CIBHashLoss"]

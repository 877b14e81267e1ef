"""Hashing methods with a scikit-learn-like surface.

``m = deephash.methods.DPSH(bits=48, backbone="mlp", seed=0, epochs=30)``;
``m.fit(x, labels)`` returns m; ``m.encode(x)`` gives packed uint8 codes;
``m.save(path)`` / ``deephash.methods.load(path)``.

DPSH, DSH and DHN need PyTorch (imported when they are fitted or loaded). The non-deep methods
LSH, PCAH, SH and ITQ (``supervised = False``: ``fit(x)``, labels accepted and ignored) need
only NumPy on input vectors; with a backbone (``"tfidf"`` or ``"minilm"`` for a list of str,
``"hog"`` or ``"efficientnet_lite0"`` for images) they hash its frozen features.
"""
from __future__ import annotations

from .base import HashingMethod
from .config import TrainConfig
from .deep import DeepHashingMethod
from .dhn import DHN
from .dpsh import DPSH
from .dsh import DSH
from .io import load, method_class
from .itq import ITQ
from .lsh import LSH
from .pcah import PCAH
from .projection import ProjectionHashing
from .sh import SH

__all__ = [
    "DHN",
    "DPSH",
    "DSH",
    "DeepHashingMethod",
    "HashingMethod",
    "ITQ",
    "LSH",
    "PCAH",
    "ProjectionHashing",
    "SH",
    "TrainConfig",
    "load",
    "method_class",
]

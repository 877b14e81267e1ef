"""Hashing methods with a scikit-learn-like surface.

``m = deephash.methods.DPSH(bits=48, backbone="mlp", seed=0, epochs=30)``;
``m.fit(x, labels)`` returns m; ``m.encode(x)`` gives packed uint8 codes;
``m.save(path)`` / ``deephash.methods.load(path)``.

DPSH, DSH and DHN need PyTorch (imported when they are fitted or loaded); LSH on input
vectors needs only NumPy.
"""
from __future__ import annotations

from .base import HashingMethod
from .cca_itq import CCAITQ
from .config import TrainConfig
from .crossmodal import CrossModalMethod
from .deep import DeepHashingMethod
from .dhn import DHN
from .dpsh import DPSH
from .dsh import DSH
from .io import load, method_class
from .lsh import LSH

__all__ = [
    "CCAITQ",
    "CrossModalMethod",
    "DHN",
    "DPSH",
    "DSH",
    "DeepHashingMethod",
    "HashingMethod",
    "LSH",
    "TrainConfig",
    "load",
    "method_class",
]

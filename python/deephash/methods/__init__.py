"""Hashing methods with a scikit-learn-like surface.

``m = deephash.methods.DPSH(bits=48, backbone="mlp", seed=0, epochs=30)``;
``m.fit(x, labels)`` returns m; ``m.encode(x)`` gives packed uint8 codes;
``m.save(path)`` / ``deephash.methods.load(path)``.

The deep methods need PyTorch (imported when they are fitted or loaded); LSH on input
vectors needs only NumPy. Every method has ``supervised`` (class attribute): unsupervised ones
take ``fit(x)`` and ignore labels. The deep methods share one training loop
(:mod:`deephash.methods.trainer`): a method composes a backbone, a head and a loss that
declares what it consumes.
"""
from __future__ import annotations

from .base import HashingMethod
from .config import TrainConfig
from .deep import DeepHashingMethod
from .dhn import DHN
from .dpsh import DPSH
from .dsh import DSH
from .io import load, method_class
from .lsh import LSH

__all__ = [
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

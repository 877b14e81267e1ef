"""Hashing methods with a scikit-learn-like surface.

``m = deephash.methods.DPSH(bits=48, backbone="mlp", seed=0, epochs=30)`` (likewise DSH, DHN,
CNNH, CNNHPlus, DLBHC, DNNH, LSH; ``method_class(name)`` looks one up by name);
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
from .cnnh import CNNH
from .cnnh_plus import CNNHPlus
from .config import TrainConfig
from .deep import DeepHashingMethod
from .dhn import DHN
from .dlbhc import DLBHC
from .dnnh import DNNH
from .dpsh import DPSH
from .dsh import DSH
from .io import load, method_class
from .lsh import LSH

__all__ = [
    "CNNH",
    "CNNHPlus",
    "DHN",
    "DLBHC",
    "DNNH",
    "DPSH",
    "DSH",
    "DeepHashingMethod",
    "HashingMethod",
    "LSH",
    "TrainConfig",
    "load",
    "method_class",
]

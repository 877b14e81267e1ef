"""Hashing methods with a scikit-learn-like surface.

``m = deephash.methods.DPSH(bits=48, backbone="mlp", seed=0, epochs=30)``;
``m.fit(x, labels)`` returns m; ``m.encode(x)`` gives packed uint8 codes;
``m.save(path)`` / ``deephash.methods.load(path)``.

The deep methods need PyTorch (imported when they are fitted or loaded); LSH on input
vectors needs only NumPy. Every method has ``supervised`` (class attribute): unsupervised ones
take ``fit(x)`` and ignore labels. The deep methods share one training loop
(:mod:`deephash.methods.trainer`): a method composes a backbone, a head and a loss that
declares what it consumes.

Cross-modal methods (DCMH, CCAITQ, SCM) fit on paired rows, ``m.fit(image_x, text_x, labels)``,
and encode each modality into one shared code space: ``m.encode_image(x)``, ``m.encode_text(x)``.
"""
from __future__ import annotations

from .base import HashingMethod
from .cca_itq import CCAITQ
from .config import TrainConfig
from .crossmodal import CrossModalMethod
from .dcmh import DCMH
from .deep import DeepHashingMethod
from .dhn import DHN
from .dpsh import DPSH
from .dsh import DSH
from .io import load, method_class
from .lsh import LSH
from .scm import SCM

__all__ = [
    "CCAITQ",
    "CrossModalMethod",
    "DCMH",
    "DHN",
    "DPSH",
    "DSH",
    "DeepHashingMethod",
    "HashingMethod",
    "LSH",
    "SCM",
    "TrainConfig",
    "load",
    "method_class",
]

"""Hashing methods with a scikit-learn-like surface.

``m = deephash.methods.DPSH(bits=48, backbone="mlp", seed=0, epochs=30)`` (likewise DSH, DHN,
CNNH, CNNHPlus, DLBHC, DNNH, LSH, and the cross-modal DCMH, CCAITQ, SCM; ``method_class(name)`` looks one up by name);
``m.fit(x, labels)`` returns m; ``m.encode(x)`` gives packed uint8 codes;
``m.save(path)`` / ``deephash.methods.load(path)``.

The deep methods need PyTorch (imported when they are fitted or loaded); the non-deep
methods LSH, PCAH, SH and ITQ need only NumPy on input vectors (with a backbone such as
``"tfidf"``, ``"minilm"`` or ``"hog"`` they hash its frozen features). Every method has
``supervised`` (class attribute): unsupervised ones take ``fit(x)`` and ignore labels. The
deep methods share one training framework (:mod:`deephash.training`): a method composes a
backbone, a head and a loss that declares what it consumes.

Cross-modal methods (DCMH, CCAITQ, SCM) fit on paired rows, ``m.fit(image_x, text_x, labels)``,
and encode each modality into one shared code space: ``m.encode_image(x)``, ``m.encode_text(x)``.
"""

from __future__ import annotations

from .base import HashingMethod
from .config import TrainConfig
from .crossmodal import CrossModalMethod
from .deep import DeepHashingMethod
from .io import load, method_class
from .registry import METHODS

# Every registered method is an attribute of this package (``deephash.methods.DPSH``), imported
# on first use from the registry, so adding a method needs no line here.
_BY_CLASS = {cls_name: key for key, (_module, cls_name) in METHODS.items()}

__all__ = ["CrossModalMethod", "DeepHashingMethod", "HashingMethod", "TrainConfig", "load", "method_class"]
__all__ += sorted(_BY_CLASS)


def __getattr__(name):
    if name in _BY_CLASS:
        return method_class(_BY_CLASS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__

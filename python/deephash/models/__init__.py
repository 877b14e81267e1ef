"""Networks for deep hashing: backbones (inputs -> features) and the hash head (features -> bits).

Needs PyTorch (``pip install 'deephash[torch]'``); ``import deephash`` alone does not import it.

Backbones by name: ``"features"`` (standardised input vectors, a linear hash), ``"mlp"``
(fully connected layers on vectors), ``"small_cnn"`` (DSH's 3-conv network, from scratch),
``"efficientnet_lite0"`` (ImageNet weights, offline), ``"hog"`` (hand-crafted HOG + colour
histogram, :mod:`.handcrafted`), the text backbones ``"minilm"`` (offline sentence embeddings)
and ``"tfidf"`` (fitted on the training texts; non-deep methods only), see :mod:`.text`, or any
``torch.nn.Module`` with an ``out_dim`` attribute.

On the CPU, frozen image networks run as exported ONNX graphs in OpenVINO or ONNX Runtime
(:mod:`.engine`; ``DEEPHASH_ENGINE=auto|torch|onnx|openvino``).
"""

from __future__ import annotations

from .._torch import require_torch, resolve_device

require_torch()

from .backbones import BACKBONES, BackboneInfo, build_backbone, normalize_spec  # noqa: E402
from .extract import extract_features  # noqa: E402
from .feature_cache import FeatureCache, default_cache_dir, row_keys  # noqa: E402
from .hash_head import HashHead, HeadOutput, code_outputs  # noqa: E402
from .image_input import image_shape, images_to_tensor  # noqa: E402

__all__ = [
    "BACKBONES",
    "BackboneInfo",
    "FeatureCache",
    "HashHead",
    "HeadOutput",
    "build_backbone",
    "code_outputs",
    "default_cache_dir",
    "extract_features",
    "image_shape",
    "images_to_tensor",
    "normalize_spec",
    "require_torch",
    "resolve_device",
    "row_keys",
]

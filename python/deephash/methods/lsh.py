"""LSH: random-hyperplane hashing (Charikar, STOC 2002), the unsupervised baseline."""
from __future__ import annotations

import numpy as np

from .base import HashingMethod
from .inputs import as_inputs

__all__ = ["LSH"]


class LSH(HashingMethod):
    """Sign random projections: bit k of x is ``(x - mean) . w_k > 0`` with w_k ~ N(0, I).

    By default directly on the input vectors (``backbone="features"``, needs only NumPy); with a
    pretrained backbone such as ``"efficientnet_lite0"`` (or a torch module) it hashes that
    backbone's frozen features (cached on disk, needs PyTorch). ``fit`` only draws the
    hyperplanes (from ``seed``) and, with ``center=True``, the mean of the training inputs:
    labels are accepted and ignored.

    Hyperparameters
    ---------------
    center : bool, default True
        Subtract the training mean first, so that the hyperplanes pass through the data's
        centre (otherwise non-negative inputs such as pixels give nearly constant bits).
    """

    name = "LSH"
    hyperparameter_defaults = {"center": True}
    supervised = False
    default_backbone = "features"

    # -- helpers -------------------------------------------------------------------------
    def _uses_backbone(self) -> bool:
        return not (isinstance(self.backbone, str) and self.backbone == "features") and not (
            isinstance(self.backbone, dict) and self.backbone.get("name") == "features"
        )

    def _setup_backbone(self, x_shape):
        from ..models import build_backbone, normalize_spec
        from ..models._torch import require_torch

        torch = require_torch()
        spec = normalize_spec(self.backbone)
        if isinstance(spec, dict) and spec["name"] in ("mlp", "small_cnn"):
            raise ValueError(
                f"LSH does not train, so backbone {spec['name']!r} (random weights) makes no "
                "sense; use 'features' or a pretrained backbone such as 'efficientnet_lite0'"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            module, info = build_backbone(spec, x_shape)
        self._spec, self._module, self._info = spec, module, info

    def _features(self, x) -> np.ndarray:
        if not self._uses_backbone():
            return x
        from ..models import default_cache_dir, extract_features, resolve_device

        device = resolve_device(self.config.device)
        self._module.to(device)
        c = self.config.cache_dir
        cache = None if c is False else (default_cache_dir() if c is None else c)
        return extract_features(
            self._module, x, tag=self._info.cache_tag, cache_dir=cache,
            batch_size=self.config.feature_batch_size, device=device,
            progress=self.config.progress, desc="LSH features",
        )

    def _kind(self) -> str:
        if not self._uses_backbone():
            return "vectors"
        from ..models.backbones import backbone_input_kind, normalize_spec

        return backbone_input_kind(normalize_spec(self.backbone))

    # -- surface -------------------------------------------------------------------------
    def fit(self, x, labels=None):
        """Draws the hyperplanes for inputs like ``x`` (labels are ignored); returns self."""
        x = as_inputs(x, self._kind())
        if self._uses_backbone():
            self._setup_backbone(x.shape)
        self._input_shape = tuple(int(v) for v in x.shape[1:])
        f = np.asarray(self._features(x), dtype=np.float64)
        d = f.shape[1]
        rng = np.random.default_rng(self.seed)
        self._planes = rng.standard_normal((d, self.bits))
        self._mean = f.mean(0) if self.params["center"] else np.zeros(d)
        self._fitted = True
        return self

    def transform(self, x) -> np.ndarray:
        """Projections ``(features - mean) @ planes``, float32 (n, bits)."""
        self._check_fitted()
        x = as_inputs(x, self._kind())
        if tuple(x.shape[1:]) != self._input_shape:
            raise ValueError(
                f"x must have per-item shape {self._input_shape} like the data LSH was fitted on, "
                f"got {tuple(x.shape[1:])}"
            )
        f = np.asarray(self._features(x), dtype=np.float64)
        return ((f - self._mean) @ self._planes).astype(np.float32)

    def _state(self):
        meta = {
            "backbone": self._spec if self._uses_backbone() and isinstance(self._spec, dict)
            else ("features" if not self._uses_backbone() else None),
            "input_shape": list(self._input_shape),
        }
        return meta, {"planes": self._planes, "mean": self._mean}

    def _restore(self, meta, arrays):
        self._input_shape = tuple(meta["input_shape"])
        if self._uses_backbone():
            self._setup_backbone((1,) + self._input_shape)
        self._planes = np.array(arrays["planes"], dtype=np.float64)
        self._mean = np.array(arrays["mean"], dtype=np.float64)
        self._fitted = True

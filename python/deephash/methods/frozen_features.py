"""Inputs -> feature vectors for the non-deep methods (LSH, PCAH, SH, ITQ).

These methods never train a network: they learn a projection of feature vectors given by a
backbone that stays as it is. :class:`FrozenFeatures` is that backbone side, the same for all of
them:

- ``"features"``: the input vectors themselves (NumPy only);
- ``"tfidf"``: TF-IDF fitted on the training texts (its vocabulary, idf and optional SVD are
  saved with the model); without ``svd`` the features are sparse (scipy CSR) and the methods
  project them without densifying;
- a pretrained network (``"efficientnet_lite0"``, ``"minilm"``), the hand-crafted ``"hog"``
  descriptor, or a custom ``torch.nn.Module``: features computed in batches with a progress bar
  and cached on disk (:func:`deephash.models.extract_features`).

Backbones with random weights (``"mlp"``, ``"small_cnn"``) are refused: untrained features mean
nothing to a method that does not train them.
"""

from __future__ import annotations

__all__ = ["FrozenFeatures"]

_TFIDF_PREFIX = "tfidf/"


def _is_name(backbone, name) -> bool:
    return (isinstance(backbone, str) and backbone == name) or (
        isinstance(backbone, dict) and backbone.get("name") == name
    )


class FrozenFeatures:
    """The feature extractor of a non-deep method.

    Parameters
    ----------
    backbone : str, dict or torch.nn.Module
        As for every method (see :mod:`deephash.models`).
    seed : int
        Seeds the TF-IDF SVD and any module initialisation.
    config : TrainConfig
        ``device``, ``cache_dir``, ``feature_batch_size`` and ``progress`` are used.
    method : str
        Name shown on progress bars and in errors.
    """

    def __init__(self, backbone, seed: int, config, method: str):
        self.backbone = backbone
        self.seed = seed
        self.config = config
        self.method = method
        self.identity = _is_name(backbone, "features")
        self.spec = "features" if self.identity else None
        self._tfidf = None
        self._module = None
        self._info = None

    # -- description ---------------------------------------------------------------------
    def input_kind(self) -> str:
        """``"vectors"``, ``"images"`` or ``"texts"``: what :meth:`fit` and :meth:`transform` take."""
        if self.identity:
            return "vectors"
        from ..models.backbones import backbone_input_kind, normalize_spec

        return backbone_input_kind(normalize_spec(self.backbone))

    def saved_spec(self):
        """The backbone entry of the saved model: a name/spec, or None for a custom module."""
        return self.spec

    # -- building ------------------------------------------------------------------------
    def _build(self, x_shape, x=None):
        if self.identity:
            return
        from ..models import build_backbone, normalize_spec
        from .._torch import require_torch
        from ..models.backbones import FITTED_BACKBONES, fit_spec

        torch = require_torch()
        spec = normalize_spec(self.backbone)
        if x is not None:
            spec = fit_spec(spec, x)  # e.g. the "bow" word list, saved in the spec
        self.spec = spec if isinstance(spec, dict) else None
        if isinstance(spec, dict) and spec["name"] in FITTED_BACKBONES:
            return  # tfidf: built by fit / restore
        if isinstance(spec, dict) and spec["name"] in ("mlp", "small_cnn"):
            raise ValueError(
                f"{self.method} does not train, so backbone {spec['name']!r} (random weights) makes "
                "no sense; use 'features', a pretrained backbone such as 'efficientnet_lite0' or "
                "'minilm', or a fitted one such as 'tfidf' or 'hog'"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._module, self._info = build_backbone(spec, x_shape)

    def _tfidf_options(self):
        spec = dict(self.spec)
        spec.pop("name")
        return spec

    def fit(self, x) -> "FrozenFeatures":
        """Builds the backbone for inputs like ``x`` (validated), fitting TF-IDF on them."""
        self._build(x.shape, x)
        if isinstance(self.spec, dict) and self.spec["name"] == "tfidf":
            from ..models.text import TfidfEncoder

            self._tfidf = TfidfEncoder(seed=self.seed, **self._tfidf_options()).fit(x)
        return self

    # -- features ------------------------------------------------------------------------
    def transform(self, x):
        """Features of validated inputs: float array (n, d), or scipy CSR for raw TF-IDF."""
        if self.identity:
            return x
        if self._tfidf is not None:
            return self._tfidf.transform(x)
        from ..models import extract_features, resolve_device

        cfg = self.config
        device = resolve_device(cfg.device)
        self._module.to(device)
        return extract_features(
            self._module,
            x,
            tag=self._info.cache_tag,
            cache_dir=cfg.feature_cache_dir(),
            batch_size=cfg.feature_batch_size,
            device=device,
            progress=cfg.progress,
            desc=f"{self.method} features",
        )

    # -- persistence ---------------------------------------------------------------------
    def state(self) -> dict:
        """Arrays to save with the model (TF-IDF vocabulary, idf, SVD); keys are prefixed."""
        if self._tfidf is None:
            return {}
        return {_TFIDF_PREFIX + k: v for k, v in self._tfidf.state().items()}

    def restore(self, arrays: dict, input_shape) -> None:
        """Rebuilds the fitted extractor from :meth:`state`'s arrays."""
        self._build((1,) + tuple(input_shape))
        if isinstance(self.spec, dict) and self.spec["name"] == "tfidf":
            from ..models.text import TfidfEncoder

            own = {k[len(_TFIDF_PREFIX) :]: v for k, v in arrays.items() if k.startswith(_TFIDF_PREFIX)}
            self._tfidf = TfidfEncoder.from_state(self._tfidf_options(), own, seed=self.seed)

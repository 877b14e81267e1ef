"""Backbone registry: a name (or a spec dict, or any torch.nn.Module) -> a feature extractor."""

from __future__ import annotations

import numpy as np

from .._validate import describe
from .._torch import require_torch

__all__ = ["BACKBONES", "FITTED_BACKBONES", "BackboneInfo", "build_backbone", "fit_spec", "normalize_spec"]

# name -> (input kind, default options)
BACKBONES = {
    "features": ("vectors", {}),
    "mlp": ("vectors", {"hidden": [256]}),
    "small_cnn": ("images", {"width": 500}),
    "efficientnet_lite0": ("images", {"resolution": 160}),
    "hog": ("images", {"orientations": 9, "cell": 8, "block": 2, "color_bins": 4}),
    "tfidf": ("texts", {"min_df": 2, "max_df": 1.0, "sublinear_tf": True, "max_features": None, "svd": None}),
    "minilm": ("texts", {}),
    "text_cnn": ("texts", {"width": 512, "kernel": 3, "max_len": 64}),
    "bow": ("texts", {"n_features": 2000, "vocabulary": 10000}),
}

# Backbones fitted on the training inputs rather than built as a module: the non-deep methods
# use them through deephash.methods.frozen_features.
FITTED_BACKBONES = {"tfidf"}


class BackboneInfo:
    """What a method needs to know about its backbone.

    Attributes
    ----------
    spec : dict or None
        ``{"name": ..., **options}`` for built-in backbones (saved with the model); None for a
        user module.
    input_kind : {"vectors", "images", "texts"}
        Vectors are float (n, d); images are (n, H, W[, C]); texts a 1-D object array of str.
    pretrained : bool
        True when the backbone comes with weights, so frozen-feature training makes sense.
    cache_tag : str or None
        Feature-cache tag for pretrained backbones.
    """

    def __init__(self, spec, input_kind, pretrained, cache_tag=None):
        self.spec = spec
        self.input_kind = input_kind
        self.pretrained = pretrained
        self.cache_tag = cache_tag


def normalize_spec(backbone):
    """Validates a backbone argument; returns a spec dict, or the module itself."""
    torch = require_torch()
    if isinstance(backbone, torch.nn.Module):
        if not isinstance(getattr(backbone, "out_dim", None), int):
            raise ValueError("a custom backbone module needs an int attribute out_dim (its feature size)")
        return backbone
    if isinstance(backbone, str):
        spec = {"name": backbone}
    elif isinstance(backbone, dict) and isinstance(backbone.get("name"), str):
        spec = dict(backbone)
    else:
        raise TypeError(
            "backbone must be a name (one of " + ", ".join(sorted(BACKBONES)) + "), a dict "
            f"{{'name': ..., **options}} or a torch.nn.Module, got {describe(backbone)}"
        )
    name = spec["name"]
    if name not in BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; expected one of {', '.join(sorted(BACKBONES))} or a torch.nn.Module"
        )
    defaults = BACKBONES[name][1]
    unknown = set(spec) - {"name"} - set(defaults)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)} for backbone {name!r}; it takes {sorted(defaults)}")
    out = {"name": name, **{k: spec.get(k, v) for k, v in defaults.items()}}
    if name == "bow":
        from .text_cnn import check_vocabulary

        out["vocabulary"] = check_vocabulary(out["vocabulary"])
    return out


def fit_spec(spec, x):
    """The spec with what is fitted on the training inputs ``x`` filled in (saved with the model).

    Only ``"bow"`` with ``vocabulary`` = N fits something: its N most frequent words (see
    :func:`deephash.models.text_cnn.fit_vocabulary`), stored in the spec as the word list.
    Other specs (and modules) come back unchanged.
    """
    if isinstance(spec, dict) and spec["name"] == "bow" and isinstance(spec["vocabulary"], int):
        from .text_cnn import fit_vocabulary

        return {**spec, "vocabulary": fit_vocabulary(x, spec["vocabulary"])}
    return spec


def backbone_input_kind(spec) -> str:
    if isinstance(spec, dict):
        return BACKBONES[spec["name"]][0]
    return getattr(spec, "input_kind", "images")


def build_backbone(spec, x_shape):
    """Builds the backbone module for inputs of shape ``x_shape`` (the whole batch shape).

    Parameters
    ----------
    spec : dict or torch.nn.Module
        From :func:`normalize_spec`.
    x_shape : tuple
        (n, d) for vectors, (n, H, W[, C]) for images.

    Returns
    -------
    module : torch.nn.Module with ``out_dim``
    info : BackboneInfo
    """
    if not isinstance(spec, dict):
        kind = getattr(spec, "input_kind", "images")
        return spec, BackboneInfo(None, kind, bool(getattr(spec, "pretrained", False)))
    name = spec["name"]
    if name in FITTED_BACKBONES:
        raise ValueError(
            f"backbone {name!r} is fitted on the training inputs, not built as a network; the "
            "non-deep methods (LSH, PCAH, SH, ITQ) take it"
        )
    if name == "minilm":
        from .text import MINILM_TAG, MiniLM

        return MiniLM(), BackboneInfo(spec, "texts", True, cache_tag=MINILM_TAG)
    if name == "text_cnn":
        from .text_cnn import TextCNN

        module = TextCNN(spec["width"], spec["kernel"], spec["max_len"])
        return module, BackboneInfo(spec, "texts", False)
    if name == "bow":
        from .text_cnn import BagOfWords

        return BagOfWords(spec["n_features"], spec["vocabulary"]), BackboneInfo(spec, "texts", False)
    if name == "features":
        from .mlp import FeatureBackbone

        return FeatureBackbone(x_shape[1]), BackboneInfo(spec, "vectors", False)
    if name == "mlp":
        from .mlp import MLPBackbone

        return MLPBackbone(x_shape[1], spec["hidden"]), BackboneInfo(spec, "vectors", False)
    from .image_input import image_shape

    in_shape = image_shape(np.empty((0,) + tuple(x_shape[1:]), dtype=np.uint8))
    if name == "small_cnn":
        from .small_cnn import SmallCNN

        return SmallCNN(in_shape, spec["width"]), BackboneInfo(spec, "images", False)
    if name == "efficientnet_lite0":
        from .efficientnet import WEIGHTS_TAG, EfficientNetLite0

        module = EfficientNetLite0(spec["resolution"], pretrained=True)
        tag = f"efficientnet_lite0-r{module.resolution}-{WEIGHTS_TAG}"
        return module, BackboneInfo(spec, "images", True, cache_tag=tag)
    if name == "hog":
        from .handcrafted import HOGColor

        opts = {k: spec[k] for k in ("orientations", "cell", "block", "color_bins")}
        module = HOGColor(in_shape, **opts)
        tag = "hog-o{orientations}-c{cell}-b{block}-h{color_bins}".format(**opts)
        return module, BackboneInfo(spec, "images", True, cache_tag=tag)
    raise AssertionError(f"unhandled backbone {name}")  # normalize_spec rejects unknown names

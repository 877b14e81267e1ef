"""Partial fine-tuning: the lower part of a pretrained backbone runs once per image, the top trains.

A backbone that can be cut (it has ``n_blocks``, ``lower(x, cut)``, ``upper(a, cut)`` and
``upper_parameters(cut)``, like :class:`~deephash.models.efficientnet.EfficientNetLite0`) is
split at block ``cut``: :class:`BelowCut` computes the activations there, rounded to float16 and
laid out (n, h, w, c), which :func:`~deephash.models.extract_features` stores in the per-image
:class:`~deephash.models.FeatureCache` (tag: backbone, weights, resolution, cut, dtype). Training
and encoding both go image -> :class:`BelowCut` -> float16 -> ``upper``, whether the activations
came from the cache or were just computed, so an image's code never depends on whether it was
cached.

Augmentation that survives caching: a horizontally flipped view is just another image (its own
cache rows), and :func:`shift_maps` translates cached maps by whole cells.
"""

from __future__ import annotations

import numpy as np

from .._torch import require_torch

torch = require_torch()

__all__ = ["ACTIVATION_DTYPE", "BelowCut", "activation_tag", "check_cut", "maps_to_input", "shift_maps"]

# Half the disk and memory of float32; the rounding happens on every path (cached or not).
ACTIVATION_DTYPE = torch.float16


def check_cut(backbone, cut) -> int:
    """Validates ``cut`` for ``backbone``; returns it as an int."""
    for attr in ("n_blocks", "lower", "upper", "upper_parameters"):
        if not hasattr(backbone, attr):
            raise ValueError(
                "TrainConfig.train_from_block needs a backbone that can be cut "
                f"(efficientnet_lite0); {type(backbone).__name__} has no {attr!r}"
            )
    if isinstance(cut, bool) or not isinstance(cut, (int, np.integer)) or not 0 <= int(cut) <= backbone.n_blocks:
        raise ValueError(
            f"TrainConfig.train_from_block must be an int in 0..{backbone.n_blocks} for this backbone, got {cut!r}"
        )
    return int(cut)


def activation_tag(feature_tag: str, cut: int) -> str:
    """Cache tag of the activations at ``cut`` (never shared with the features' tag)."""
    return f"{feature_tag}-cut{cut}-f16"


class BelowCut(torch.nn.Module):
    """Images (b, C, H, W) in [0, 1] -> float16 activations (b, h, w, c) at block ``cut``.

    The (h, w, c) layout is the channels-last memory of the backbone's own tensors, so turning
    cached rows back into the input of ``upper`` (:func:`maps_to_input`) copies nothing.
    """

    def __init__(self, backbone, cut: int):
        super().__init__()
        self.backbone = backbone
        self.cut = int(cut)
        # mirror the backbone's mode, so that restoring "the module's mode" after an
        # extraction restores the backbone's (a new Module starts in training mode)
        self.training = backbone.training
        # for the fast CPU engines (deephash.models.engine): the exported graph follows the
        # backbone's lifetime and only the weights below the cut
        self.fast_engine = bool(getattr(backbone, "fast_engine", False))
        self.engine_key = f"below-cut{self.cut}"

    @property
    def engine_owner(self):
        """The module whose weights and lifetime the exported graph follows (the backbone)."""
        return self.backbone

    def engine_tensors(self) -> list:
        """The tensors the activations depend on (those of the blocks below the cut, if known)."""
        if hasattr(self.backbone, "lower_tensors"):
            return self.backbone.lower_tensors(self.cut)
        return list(self.backbone.state_dict(keep_vars=True).values())

    def forward(self, x):
        a = self.backbone.lower(x, self.cut)
        return a.permute(0, 2, 3, 1).to(ACTIVATION_DTYPE).contiguous()


def maps_to_input(a):
    """float16 (b, h, w, c) -> float32 (b, c, h, w) in channels-last memory, the input of ``upper``."""
    return a.permute(0, 3, 1, 2).float()


def shift_maps(a, max_shift: int, rng: np.random.Generator):
    """Translates each map (b, h, w, c) by a random whole number of cells in [-s, s] per axis.

    Cells that come in from outside repeat the border (edge padding): the cheap stand-in for a
    random crop of the image, applied to cached activations. Draws 2b integers from ``rng``.
    """
    if max_shift <= 0:
        return a
    b, h, w, _ = a.shape
    s = int(max_shift)
    off = rng.integers(-s, s + 1, size=(b, 2))
    rows = torch.from_numpy(np.clip(np.arange(h)[None, :] - off[:, :1], 0, h - 1)).to(a.device)
    cols = torch.from_numpy(np.clip(np.arange(w)[None, :] - off[:, 1:], 0, w - 1)).to(a.device)
    bi = torch.arange(b, device=a.device)[:, None, None]
    return a[bi, rows[:, :, None], cols[:, None, :]]

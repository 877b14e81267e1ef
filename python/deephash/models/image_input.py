"""Conversion of image arrays to the float NCHW tensors image backbones take."""

from __future__ import annotations

import numpy as np

from .._validate import describe

__all__ = ["image_shape", "images_to_tensor"]


def image_shape(x: np.ndarray) -> tuple:
    """(channels, height, width) of an image batch of shape (n, H, W) or (n, H, W, C)."""
    if x.ndim == 3:
        return (1, x.shape[1], x.shape[2])
    if x.ndim == 4 and x.shape[3] in (1, 3):
        return (x.shape[3], x.shape[1], x.shape[2])
    raise ValueError(f"images must have shape (n, H, W) or (n, H, W, C) with C in {{1, 3}}, got {describe(x)}")


def images_to_tensor(x: np.ndarray, torch):
    """(n, H, W[, C]) uint8 (0..255) or float (0..1) array -> float32 tensor (n, C, H, W) in [0, 1]."""
    if x.ndim == 3:
        x = x[:, :, :, None]
    t = torch.from_numpy(np.ascontiguousarray(x))
    if x.dtype == np.uint8:
        t = t.to(torch.float32).div_(255.0)
    else:
        t = t.to(torch.float32)
    return t.permute(0, 3, 1, 2).contiguous()

"""A hand-crafted global image descriptor: HOG + colour histogram (backbone ``"hog"``).

The early hashing papers (spectral hashing, ITQ, DH/SDH) ran on hand-crafted global
descriptors such as GIST. This backbone computes a comparable one with scikit-image:

- HOG (Dalal & Triggs) of the grey-level image: gradient-orientation histograms in
  ``cell`` x ``cell`` pixel cells, ``orientations`` bins, normalised over ``block`` x ``block``
  cells (L2-Hys), as ``skimage.feature.hog`` computes them — the shape part;
- a joint colour histogram with ``color_bins`` levels per RGB channel (``color_bins``**3 bins;
  a grey-level histogram for one-channel images), square-rooted (the Hellinger map, so that
  Euclidean distances between descriptors compare distributions sensibly) — the colour part.

The two parts are concatenated, float32. For CIFAR-10's 32x32 images the defaults give
324 HOG + 64 colour = 388 dimensions. Nothing is learnt: the backbone is "pretrained" in the
sense that it never trains, so methods use its features frozen (and cached).
"""

from __future__ import annotations

import numpy as np

from .._torch import require_torch

torch = require_torch()
nn = torch.nn

__all__ = ["HOGColor", "hog_color_descriptor"]

# Rec. 601 luma weights: the grey level HOG is computed on.
_LUMA = np.array([0.299, 0.587, 0.114])


def hog_color_descriptor(
    images, orientations: int = 9, cell: int = 8, block: int = 2, color_bins: int = 4
) -> np.ndarray:
    """HOG + colour-histogram descriptors of a batch of images.

    Parameters
    ----------
    images : numpy.ndarray
        (n, H, W) or (n, H, W, C) with C in {1, 3}; uint8 (0..255) or float (0..1).
    orientations, cell, block : int
        HOG orientation bins, cell size in pixels and block size in cells.
    color_bins : int
        Histogram levels per channel.

    Returns
    -------
    numpy.ndarray, float32 (n, d)
    """
    from skimage.feature import hog

    x = np.asarray(images)
    x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    if x.ndim == 3:
        x = x[..., None]
    n, h, w, c = x.shape
    if h < cell * block or w < cell * block:
        raise ValueError(f"images of {h}x{w} pixels are smaller than one HOG block ({cell * block} pixels)")
    gray = x[..., 0] if c == 1 else x @ _LUMA
    levels = np.clip((x * color_bins).astype(np.int64), 0, color_bins - 1)
    # Joint colour bin of each pixel: level_r * bins^2 + level_g * bins + level_b.
    joint = (levels * (color_bins ** np.arange(c - 1, -1, -1))).sum(-1).reshape(n, -1)
    n_color = color_bins**c
    out = []
    for i in range(n):
        shape = hog(
            gray[i],
            orientations=orientations,
            pixels_per_cell=(cell, cell),
            cells_per_block=(block, block),
            block_norm="L2-Hys",
            feature_vector=True,
        )
        hist = np.bincount(joint[i], minlength=n_color) / joint.shape[1]
        out.append(np.concatenate([shape, np.sqrt(hist)]))
    return np.asarray(out, dtype=np.float32).reshape(n, -1)


class HOGColor(nn.Module):
    """The ``"hog"`` backbone as a module: (n, C, H, W) float in [0, 1] -> (n, out_dim).

    Computed on the CPU with scikit-image whatever the input's device (the result goes back to
    that device). ``in_shape`` = (C, H, W) fixes ``out_dim``.
    """

    input_kind = "images"
    pretrained = True

    def __init__(self, in_shape, orientations=9, cell=8, block=2, color_bins=4):
        super().__init__()
        for name, v in (("orientations", orientations), ("cell", cell), ("block", block), ("color_bins", color_bins)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"hog option {name} must be a positive int, got {v!r}")
        self.options = dict(orientations=orientations, cell=cell, block=block, color_bins=color_bins)
        c, h, w = in_shape
        self.out_dim = int(hog_color_descriptor(np.zeros((1, h, w, c)), **self.options).shape[1])

    def forward(self, x):
        arr = x.detach().float().cpu().permute(0, 2, 3, 1).numpy()
        return torch.from_numpy(hog_color_descriptor(arr, **self.options)).to(x.device)

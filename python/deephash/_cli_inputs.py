"""Inputs of ``deephash train`` / ``encode`` checked at the boundary: image files, value ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["check_image_values", "load_input"]


def check_image_values(x) -> None:
    """Refuses image arrays the networks would misread: images must be uint8 (0..255) or float
    in [0, 1]; float images in 0..255 gave 70% bit agreement instead of failing."""
    if not isinstance(x, np.ndarray) or x.dtype == object or x.ndim < 3:
        return  # vectors (n, d) and texts are not images
    if x.dtype == np.uint8:
        return
    if np.issubdtype(x.dtype, np.floating):
        if x.size and (float(np.nanmax(x)) > 1.0 or float(np.nanmin(x)) < 0.0):
            raise ValueError(
                f"float images must be in [0, 1], got values in [{float(np.nanmin(x)):g}, {float(np.nanmax(x)):g}]"
                "; pass uint8 pixels (0..255) or divide by 255"
            )
        return
    raise ValueError(f"images must be uint8 (0..255) or float in [0, 1], got dtype {x.dtype}")


def load_input(path, model_path, np_array):
    """``--input``: a .npy array, or one image file decoded and resized to the model's input."""
    from .data.image_folder import IMAGE_EXTENSIONS

    p = Path(path).expanduser()
    if not p.name.lower().endswith(IMAGE_EXTENSIONS):
        return np_array(path, "input file")
    if not p.is_file():
        raise FileNotFoundError(f"no such image file: {p}")
    from .collection._encoders import method_meta
    from .collection._images import DamagedItem, open_image

    shape = method_meta(model_path).get("input_shape")
    if not shape or len(shape) not in (2, 3):
        raise ValueError(f"the model in {model_path} does not take images (its input shape is {shape})")
    try:
        im = open_image(p.read_bytes(), draft_size=max(shape[:2]))
    except DamagedItem as e:
        raise ValueError(f"{p}: {e}") from None
    from PIL import Image

    im = im.resize((int(shape[1]), int(shape[0])), Image.BILINEAR)
    if len(shape) == 2:
        im = im.convert("L")
    return np.asarray(im, dtype=np.uint8)[None]

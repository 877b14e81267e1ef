"""Small synthetic image folders for the collection tests (Pillow, seeded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLOURS = {"red": (210, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 210)}


def image(colour, seed: int, shape=(40, 52)) -> np.ndarray:
    """A noisy image of one colour with a seeded bright square: uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    a = np.array(colour, dtype=np.int16) + rng.integers(-35, 35, (*shape, 3))
    y, x = rng.integers(0, shape[0] // 2), rng.integers(0, shape[1] // 2)
    a[y : y + shape[0] // 3, x : x + shape[1] // 3] = 250
    return a.clip(0, 255).astype(np.uint8)


def make_folder(root: Path, per_class: int = 8, damaged: bool = True) -> Path:
    """root/<colour>/<i>.(jpg|png) with sizes varying per image, plus one damaged file."""
    from PIL import Image

    for c, (name, colour) in enumerate(COLOURS.items()):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = image(colour, 100 * c + i, (36 + 3 * i, 48 + 2 * i))
            Image.fromarray(arr).save(d / f"{i:02d}.{'jpg' if i % 2 else 'png'}")
    if damaged:
        (root / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    return root

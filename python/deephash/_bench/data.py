"""Benchmark code generators: uniformly random and clustered packed codes."""

from __future__ import annotations

import numpy as np

__all__ = ["clustered_codes", "random_codes"]


def random_codes(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    """n uniformly random packed codes, uint8 (n, bits // 8)."""
    return rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)


def clustered_codes(
    rng: np.random.Generator, n: int, bits: int, centres: np.ndarray, p: float = 0.1, chunk: int = 1 << 20
) -> np.ndarray:
    """n packed codes: a random centre each (rows of ``centres``, packed), every bit flipped
    with probability p (drawn as uint16 < round(p * 65536), in chunks to bound memory)."""
    out = np.empty((n, bits // 8), dtype=np.uint8)
    thr = np.uint16(round(p * 65536))
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        which = rng.integers(0, centres.shape[0], e - s)
        flips = np.packbits(rng.integers(0, 65536, (e - s, bits), dtype=np.uint16) < thr, axis=1, bitorder="little")
        out[s:e] = centres[which] ^ flips
    return out

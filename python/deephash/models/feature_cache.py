"""On-disk cache of frozen-backbone features (or activations at a backbone cut), keyed per input row.

Frozen-feature training computes a pretrained backbone's features once and trains only the
hash head on them: the way to train on a CPU. Each input row (one image) is keyed by a
128-bit BLAKE2b digest of its bytes, dtype and shape, inside a directory named after the
backbone, its weights and its input resolution. Keying rows rather than whole arrays means a
subset, a reordering or a superset of already-seen images (the CIFAR protocol's training set
is a subset of its database) reuses the cached features.

Partial fine-tuning caches the activations at a cut inside the backbone the same way: rows of
any per-row shape and dtype (float16 (h, w, c) there), memory-mapped when read; the tag names
the cut and the dtype, so feature and activation caches never mix.

Layout: ``<cache_dir>/<tag>/<digest>.keys.npy`` (uint8 (m, 16)) beside ``<digest>.feats.npy``
((m, *row_shape), the dtype the rows were added with); the keys file is written last, so a
shard whose keys exist is complete.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .._cache import cache_subdir

__all__ = ["FeatureCache", "default_cache_dir", "row_keys"]

KEY_BYTES = 16


def default_cache_dir() -> Path:
    """The ``features`` folder of deephash's cache root (``$DEEPHASH_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/deephash``, else ``~/.cache/deephash``)."""
    return cache_subdir("features")


def row_keys(x: np.ndarray) -> np.ndarray:
    """uint8 array (n, 16): the BLAKE2b digest of each row's bytes, dtype and row shape.

    A 1-D object array of texts is keyed by each text's UTF-8 bytes.
    """
    if x.dtype == object:
        out = np.empty((x.shape[0], KEY_BYTES), dtype=np.uint8)
        for i, t in enumerate(x):
            h = hashlib.blake2b(b"text:", digest_size=KEY_BYTES)
            h.update(str(t).encode("utf-8", "surrogatepass"))
            out[i] = np.frombuffer(h.digest(), dtype=np.uint8)
        return out
    x = np.ascontiguousarray(x)
    prefix = f"{x.dtype.str}{x.shape[1:]}".encode()
    flat = x.reshape(x.shape[0], -1).view(np.uint8) if x.size else x.reshape(x.shape[0], 0)
    out = np.empty((x.shape[0], KEY_BYTES), dtype=np.uint8)
    for i in range(x.shape[0]):
        h = hashlib.blake2b(prefix, digest_size=KEY_BYTES)
        h.update(flat[i].tobytes())
        out[i] = np.frombuffer(h.digest(), dtype=np.uint8)
    return out


class FeatureCache:
    """Per-row arrays (features, activations) of one configuration, in shards under ``directory / tag``.

    Parameters
    ----------
    directory : str or Path
        Cache root (see :func:`default_cache_dir`).
    tag : str
        Names the backbone, its weights and resolution; only identical tags share features.
    """

    def __init__(self, directory, tag: str):
        if not tag or "/" in tag or tag.startswith("."):
            raise ValueError(f"cache tag must be a plain name, got {tag!r}")
        self.path = Path(directory) / tag
        self._index: dict | None = None
        self._shards: list = []

    def _load_index(self) -> dict:
        if self._index is None:
            self._index = {}
            if self.path.is_dir():
                for kf in sorted(self.path.glob("*.keys.npy")):
                    self._register(kf)
        return self._index

    def _register(self, keys_file: Path) -> None:
        feats_file = keys_file.with_name(keys_file.name.replace(".keys.npy", ".feats.npy"))
        try:
            keys = np.load(keys_file)
            feats = np.load(feats_file, mmap_mode="r")
        except (OSError, ValueError):
            return  # a damaged shard is ignored; its rows get recomputed
        if keys.ndim != 2 or keys.shape[1] != KEY_BYTES or feats.shape[0] != keys.shape[0]:
            return
        s = len(self._shards)
        self._shards.append(feats)
        for r in range(keys.shape[0]):
            self._index[keys[r].tobytes()] = (s, r)

    def lookup(self, keys: np.ndarray):
        """Cached features of the rows with these keys.

        Returns
        -------
        found : bool array (n,)
        feats : array (n, *row_shape) with the found rows filled, in the stored dtype (float32
            for features); None when nothing was found
        """
        index = self._load_index()
        found = np.zeros(keys.shape[0], dtype=bool)
        hits = []
        for i in range(keys.shape[0]):
            loc = index.get(keys[i].tobytes())
            if loc is not None:
                found[i] = True
                hits.append((i, loc))
        if not hits:
            return found, None
        first = self._shards[hits[0][1][0]]
        feats = np.zeros((keys.shape[0],) + first.shape[1:], dtype=first.dtype)
        for i, (s, r) in hits:
            feats[i] = self._shards[s][r]
        return found, feats

    def add(self, keys: np.ndarray, feats: np.ndarray) -> None:
        """Stores a shard of (keys (m, 16) uint8, feats (m, ...) of any numeric dtype, kept as is)."""
        if keys.shape[0] == 0:
            return
        if feats.shape[0] != keys.shape[0]:
            raise ValueError(f"{keys.shape[0]} keys for {feats.shape[0]} rows")
        feats = np.ascontiguousarray(feats)
        self.path.mkdir(parents=True, exist_ok=True)
        name = hashlib.blake2b(keys.tobytes(), digest_size=12).hexdigest()
        kf = self.path / f"{name}.keys.npy"
        ff = self.path / f"{name}.feats.npy"
        tmp_f = self.path / f".{name}.feats.tmp.npy"
        tmp_k = self.path / f".{name}.keys.tmp.npy"
        np.save(tmp_f, feats)
        os.replace(tmp_f, ff)
        np.save(tmp_k, np.ascontiguousarray(keys, dtype=np.uint8))
        os.replace(tmp_k, kf)
        if self._index is not None:
            self._register(kf)

"""What ``deephash index --shards`` and ``deephash search`` on a sharded index do (the CLI only
parses arguments and prints)."""

from __future__ import annotations

import os

from .sharded_index import MANIFEST, ShardedIndex, ensure_ray

__all__ = ["build_sharded", "is_sharded", "open_sharded"]


def is_sharded(path) -> bool:
    """True when ``path`` is a folder written by :meth:`ShardedIndex.save`."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST))


def build_sharded(codes, kind: str, shards: int, out, address=None) -> str:
    """Adds ``codes`` to a new ShardedIndex on Ray (``address``, or a local Ray started here),
    saves it to the folder ``out`` and returns a one-line report."""
    ensure_ray(address)
    with ShardedIndex(codes.shape[1] * 8, shards, kind) as index:
        index.add(codes)
        index.save(out)
        return f"indexed {len(index)} codes of {index.bits} bits in {shards} {kind} shards on Ray -> {out}/"


def open_sharded(path, address=None) -> ShardedIndex:
    """Reopens a saved ShardedIndex on Ray (``address``, or a local Ray started here)."""
    ensure_ray(address)
    return ShardedIndex.load(path)

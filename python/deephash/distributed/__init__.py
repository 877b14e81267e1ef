"""deephash on a Ray cluster: a sharded exact index, parallel encoding (``pip install
deephash[distributed]``).

Nothing else in deephash imports this package, so ``import deephash`` never imports Ray.
"""
from __future__ import annotations

from .encode import encode
from .sharded_index import ShardedIndex, ShardUnavailableError, ensure_ray

__all__ = ["ShardUnavailableError", "ShardedIndex", "encode", "ensure_ray"]

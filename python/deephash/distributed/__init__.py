"""deephash on a Ray cluster: a sharded exact index, parallel encoding and data-parallel
training (``pip install deephash[distributed]``).

The rest of deephash imports this package only lazily (``fit`` of a deep method with
``num_workers > 1``), and this package imports Ray only when it is used, so ``import deephash``
never imports Ray.
"""

from __future__ import annotations

from .encode import encode
from .ray_support import ensure_ray
from .sharded_index import ShardedIndex, ShardUnavailableError
from .train import fit_data_parallel

__all__ = ["ShardUnavailableError", "ShardedIndex", "encode", "ensure_ray", "fit_data_parallel"]

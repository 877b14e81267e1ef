"""The one cache root of deephash and its subfolders.

``$DEEPHASH_CACHE_DIR``, else ``$XDG_CACHE_HOME/deephash``, else ``~/.cache/deephash``. Each kind
of cached data has its own subfolder: ``data/`` (decoded image arrays), ``features/`` (frozen
backbone features and activations, :class:`deephash.models.FeatureCache`), ``engines/`` (networks
exported to ONNX for the fast CPU engines, :mod:`deephash.models.engine`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root", "cache_subdir"]


def cache_root() -> Path:
    """The cache root (not created here)."""
    env = os.environ.get("DEEPHASH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "deephash"


def cache_subdir(name: str) -> Path:
    """``cache_root() / name`` (not created here)."""
    return cache_root() / name

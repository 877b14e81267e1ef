"""Where data sets and decoded caches live.

Data root, first match wins: an explicit ``path``; the ``DEEPHASH_DATA`` environment variable;
``../shared/data`` relative to the current directory (the project's layout). The cache of
decoded arrays: an explicit ``cache_dir``, else the ``data`` folder of deephash's cache root
(``DEEPHASH_CACHE_DIR``, else ``$XDG_CACHE_HOME/deephash``, else ``~/.cache/deephash``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from .._cache import cache_subdir

__all__ = ["cache_dir", "data_root", "find_data_file"]

PathLike = Union[str, "os.PathLike[str]"]


def data_root(path: Optional[PathLike] = None) -> Path:
    """The data directory (see module doc); it need not exist."""
    if path is not None:
        return Path(os.fspath(path)).expanduser()
    env = os.environ.get("DEEPHASH_DATA")
    if env:
        return Path(env).expanduser()
    return Path.cwd() / ".." / "shared" / "data"


def find_data_file(name: str, path: Optional[PathLike] = None) -> Path:
    """Resolves a data file: ``path`` itself if it names the file, else ``<data root>/<name>``.

    Raises
    ------
    FileNotFoundError
        With a message naming every place looked at and how to point elsewhere.
    """
    tried = []
    if path is not None:
        p = Path(os.fspath(path)).expanduser()
        if p.is_dir():
            p = p / name
        if p.exists():
            return p
        raise FileNotFoundError(f"{name}: no such file or directory: {p}")
    root = data_root()
    p = root / name
    if p.exists():
        return p.resolve()
    tried.append(str(p))
    where = "DEEPHASH_DATA" if os.environ.get("DEEPHASH_DATA") else "../shared/data (default)"
    raise FileNotFoundError(
        f"data set file {name!r} not found (looked in {where}: {', '.join(tried)}); "
        "pass its path explicitly or set DEEPHASH_DATA to the directory holding it"
    )


def cache_dir(path: Optional[PathLike] = None) -> Path:
    """Directory for decoded arrays (created on demand)."""
    if path is not None:
        d = Path(os.fspath(path)).expanduser()
    else:
        d = cache_subdir("data")
    d.mkdir(parents=True, exist_ok=True)
    return d

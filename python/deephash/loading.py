"""``deephash.load``: reopens any saved index; the file's kind picks the class."""

from __future__ import annotations

import os
from typing import Union

from . import _core
from ._typing import PathLike
from ._validate import MAX_BITS, as_path, check_bool
from .index import FlatIndex
from .multi_index import MultiIndex

__all__ = ["INDEX_KINDS", "load", "load_opened"]

#: The kind written in an index file -> the class that loads it. A new index kind adds a line.
INDEX_KINDS = {"flat": FlatIndex, "multi_index": MultiIndex}


def load(path: PathLike, mmap: bool = False) -> Union[FlatIndex, MultiIndex]:
    """Loads an index saved with ``index.save(path)``.

    Parameters
    ----------
    path : str or os.PathLike
    mmap : bool
        Map the codes read-only instead of copying them into memory (the first ``add`` or
        ``remove`` copies them; ``codes``/``ids`` views taken before keep the mapping alive).
        While mapped, the file must not be truncated or rewritten in
        place by another program: reading a page cut from the file kills the process with
        SIGBUS. Replacing it with ``index.save(path)`` (a new file renamed over the old one)
        is safe: the loaded index keeps the old file's pages.

    Raises
    ------
    ValueError
        The file is not a deephash index, or is truncated or corrupted; or ``path`` contains
        a NUL byte.
    OSError
        The file cannot be read (``FileNotFoundError``, ``PermissionError``, ... with
        ``errno`` and ``filename``), or is not a regular file (a directory, FIFO or device:
        refused without blocking).
    TypeError
        ``path`` is not a path or ``mmap`` is not a bool.
    """
    raw = as_path(path)
    mmap = check_bool(mmap, "mmap")
    return load_opened(_core.open_index_file(raw), mmap, os.fsdecode(raw))


def load_opened(file, mmap: bool, name: str) -> Union[FlatIndex, MultiIndex]:
    """The index in ``file`` (an opened, mapped ``_core.IndexFile``); errors name ``name``.

    For callers that must load exactly the file they opened (and checked) themselves: the
    sharded index verifies a shard file's checksum on the mapping it then loads.
    """
    if file.kind not in INDEX_KINDS:
        raise ValueError(f"{name!r} holds a {file.kind!r} index, which this build cannot load")
    if file.bits > MAX_BITS:  # the constructors' limit: a crafted file must not get around it
        raise ValueError(f"{name!r} holds {file.bits}-bit codes; indexes hold at most {MAX_BITS} bits")
    cls = INDEX_KINDS[file.kind]
    return cls._from_impl(cls._core_class.load(file, mmap))

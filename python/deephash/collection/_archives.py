"""Reading tar members by offset, compressed archives included.

A plain tar is read in place: a member's data starts at the offset recorded when the archive
was scanned, so one item costs one ``pread``. A compressed tar (gzip, bzip2, xz) has no random
access: reaching a member means decompressing everything before it, and ``tarfile`` looks a
member up by name by reading every header first — once per item, which made building from a
``.tar.xz`` quadratic and every thumbnail a full decompression. So the first read of a
compressed archive decompresses it once, streaming, into the collection's ``cache/`` folder
(``unpacked-<archive hash>-<size>-<mtime>.tar``; written like every collection file: exclusive
temporary, fsync, rename), and every read after that is a ``pread`` at the member's offset in
the decompressed stream, which is the offset ``tarfile`` reports. The copy is keyed by the
archive's size and modification time: a changed archive gets a new copy and the old one is
removed. Without a cache folder (or when it cannot be written: read-only, full) members are
read sequentially, as before: slow, but never reported as damaged for that reason.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import shutil
import tarfile
import threading
from pathlib import Path
from typing import Dict, Optional, Tuple

from ._files import atomic_file, temporary_owner

__all__ = ["compression", "read_member", "unpacked_copy"]

_OPENERS = ((b"\xfd7zXZ\x00", lzma.open), (b"\x1f\x8b", gzip.open), (b"BZh", bz2.open))

_lock = threading.Lock()
_archive_locks: Dict[str, threading.Lock] = {}
#: (path, size, mtime_ns) of a plain tar (an archive or an unpacked copy) -> {member: (offset, size)}
_member_index: Dict[Tuple[str, int, int], Dict[str, Tuple[int, int]]] = {}


def compression(archive) -> Optional[str]:
    """``"xz"``, ``"gz"`` or ``"bz2"`` for a compressed archive (by its first bytes), else None."""
    with open(archive, "rb") as f:
        head = f.read(6)
    for magic, opener in _OPENERS:
        if head.startswith(magic):
            return {lzma.open: "xz", gzip.open: "gz", bz2.open: "bz2"}[opener]
    return None


def _opener(kind: str):
    return {"xz": lzma.open, "gz": gzip.open, "bz2": bz2.open}[kind]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _tidy(cache_dir: Path, stem: str, keep: str) -> None:
    """Removes older unpacked copies of the archive ``stem`` names, and temporaries of dead
    processes."""
    for p in cache_dir.glob(f"{stem}-*"):
        name = p.name
        if name == keep:
            continue
        pid = temporary_owner(name)
        if pid is not None and _pid_alive(pid):
            continue  # another process is unpacking right now
        try:
            p.unlink()
        except OSError:
            pass


def unpacked_copy(archive: str, kind: str, cache_dir: Path) -> Path:
    """The decompressed copy of a compressed ``archive`` in ``cache_dir`` (made on first use)."""
    st = os.stat(archive)
    stem = "unpacked-" + hashlib.sha256(os.fsencode(archive)).hexdigest()[:16]
    name = f"{stem}-{st.st_size}-{st.st_mtime_ns}.tar"
    target = cache_dir / name
    if target.is_file():
        return target
    with _lock:
        lock = _archive_locks.setdefault(str(target), threading.Lock())
    with lock:  # threads of one process unpack once; processes may race, each renames a full copy
        if target.is_file():
            return target
        cache_dir.mkdir(exist_ok=True)
        with _opener(kind)(archive, "rb") as src, atomic_file(target) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)  # streaming: memory does not grow with the archive
        _tidy(cache_dir, stem, name)
    return target


def _offsets(plain: str) -> Dict[str, Tuple[int, int]]:
    """{member name: (data offset, size)} of a plain tar, read once per version of the file
    (for rows recorded without an offset)."""
    st = os.stat(plain)
    key = (plain, st.st_size, st.st_mtime_ns)
    with _lock:
        got = _member_index.get(key)
    if got is None:
        with tarfile.open(plain, "r:") as tf:
            got = {m.name: (m.offset_data, m.size) for m in tf if m.isfile()}
        with _lock:
            for k in [k for k in _member_index if k[0] == plain]:
                del _member_index[k]
            _member_index[key] = got
    return got


def _sequential(archive: str, member: str) -> bytes:
    with tarfile.open(archive, "r:*") as tf:
        for m in tf:
            if m.name == member and m.isfile():
                f = tf.extractfile(m)
                return f.read()
    raise KeyError(f"no file {member!r} in the archive")


def read_member(
    archive: str, member: str, data_offset: Optional[int], size: Optional[int], cache_dir: Optional[Path]
) -> bytes:
    """The bytes of ``member`` of the tar ``archive``: by offset in the archive (plain) or in its
    unpacked copy in ``cache_dir`` (compressed); sequentially when neither is possible.

    Raises OSError, tarfile.TarError, EOFError or KeyError (no such member); a short read is
    returned as is (the caller compares its length with ``size``).
    """
    kind = compression(archive)
    source = archive
    if kind is not None:
        if cache_dir is None:
            return _sequential(archive, member)
        try:
            source = str(unpacked_copy(archive, kind, Path(cache_dir)))
        except (lzma.LZMAError, EOFError, OSError) as e:
            # No copy: a read-only collection folder or a full disk must not make every item
            # look damaged; a damaged archive fails the sequential read too, with its reason.
            if isinstance(e, FileNotFoundError) and not os.path.exists(archive):
                raise
            return _sequential(archive, member)
    if data_offset is None or size is None:
        got = _offsets(source).get(member)
        if got is None:
            raise KeyError(f"no file {member!r} in the archive")
        data_offset, size = got
    fd = os.open(source, os.O_RDONLY)
    try:
        return os.pread(fd, size, data_offset)
    finally:
        os.close(fd)

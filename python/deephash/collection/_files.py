"""Crash-safe files of a collection folder: atomic writes, the writer lock, paths kept inside.

Every file a collection writes follows the index file's discipline: an exclusive temporary in
the same folder, fsync, rename over the target, fsync of the folder. A reader therefore sees the
old file or the new one, never a mixture, and ``kill -9`` leaves at most a stale temporary,
which the next writer removes.
"""

from __future__ import annotations

import errno
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

__all__ = [
    "CollectionBusyError",
    "WriterLock",
    "atomic_file",
    "inside",
    "read_json",
    "remove_stale_temporaries",
    "temporary_owner",
    "write_atomic",
]

_TMP_MARK = ".tmp-"


class CollectionBusyError(RuntimeError):
    """Another process (or another Collection object) is writing this collection."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: Path):
    """A binary file to fill that replaces ``path`` when the block ends without an error:
    exclusive temporary in the same folder, fsync, rename, fsync of the folder (on an error the
    temporary is removed and ``path`` is untouched)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}{_TMP_MARK}{os.getpid()}-{time.monotonic_ns()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path``: exclusive temporary, fsync, rename, fsync of the folder."""
    with atomic_file(path) as f:
        f.write(data)


def temporary_owner(name: str) -> Optional[int]:
    """The process id that wrote the temporary named ``name``; None for other names."""
    if _TMP_MARK not in name:
        return None
    pid = name.rsplit(_TMP_MARK, 1)[1].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def read_json(path: Path) -> dict:
    """A JSON object from ``path`` (ValueError naming the file when it is not one)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is damaged (not JSON: {e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} is damaged (expected a JSON object, got {type(value).__name__})")
    return value


def inside(folder: Path, name: str, what: str) -> Path:
    """``folder / name`` for a plain file name taken from a manifest; refuses anything that
    would leave the folder (separators, ``..``, absolute paths)."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{folder}: the manifest's {what} {name!r} is not a file name inside the collection")
    return folder / name


def remove_stale_temporaries(folder: Path) -> None:
    """Removes temporaries left by writers that were killed (only the writer calls this)."""
    for p in folder.iterdir():
        if _TMP_MARK in p.name:
            try:
                p.unlink()
            except OSError:
                pass


class WriterLock:
    """An exclusive ``flock`` on ``<folder>/writer.lock``: one writer per collection at a time.

    Held across processes and across Collection objects of one process (each opens its own file
    description). The kernel releases it when the holder dies, so a killed writer never leaves
    the collection locked.
    """

    def __init__(self, folder: Path, timeout: float):
        self.path = Path(folder) / "writer.lock"
        self.timeout = timeout
        self._fd = None

    def __enter__(self):
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(self.timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise CollectionBusyError(
                        f"another process is writing the collection {self.path.parent} (build, sync, add or "
                        f"remove); waited {self.timeout:g} s. Try again when it has finished."
                    ) from None
                time.sleep(0.05)
        self._fd = fd
        return self

    def __exit__(self, *exc):
        os.close(self._fd)  # closing the description releases the flock
        self._fd = None
        return False

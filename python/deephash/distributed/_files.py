"""The files of a ShardedIndex folder: their names, how they are opened and how they are written.

Everything here follows the discipline of the core's index save (``cpp/src/index_io.cpp``):

* Only names this package writes are ever opened or removed, and only inside their folder: a
  manifest (or a log's checkpoint) naming ``../x``, an absolute path or any other file is refused
  (:func:`check_shard_name`).
* Files are opened without following a symbolic link at the last component and must be regular
  files (a FIFO never blocks, a device is never read): :func:`open_regular`.
* Writes go to a temporary created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``) under an
  unpredictable name ``NAME.tmp-<pid>-<16 hex digits>``, locked with ``flock`` while written,
  fsynced, then renamed over the target (a rename replaces a symlink, never its target) and the
  folder fsynced: :func:`write_atomic`. Temporaries left by killed writers (their lock is free)
  are removed by the next write of that name.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import secrets
import stat

__all__ = [
    "FileDigest",
    "check_shard_name",
    "digest",
    "digest_fd",
    "fd_path",
    "fsync_dir",
    "open_regular",
    "read_regular",
    "shard_file_names",
    "write_atomic",
]

# shard-<5 digits>-<12 hex digits>.dhi / .seq.npy: the only shard files a folder may name.
_SHARD_FILE = re.compile(r"shard-(\d{5})-([0-9a-f]{12})\.(dhi|seq\.npy)\Z")


def shard_file_names(shard: int, token: str):
    """(index file, seq file) names of shard ``shard`` in a save with token ``token`` (12 hex)."""
    return f"shard-{shard:05d}-{token}.dhi", f"shard-{shard:05d}-{token}.seq.npy"


def check_shard_name(name, shard: int, suffix: str, where: str) -> str:
    """``name`` when it is shard ``shard``'s own file name with ``suffix`` ("dhi" or "seq.npy");
    else ValueError naming ``where`` (the manifest or log that holds the name)."""
    m = _SHARD_FILE.match(name) if isinstance(name, str) else None
    if m is None or int(m.group(1)) != shard or m.group(3) != suffix:
        raise ValueError(
            f"{where}: shard {shard} names the file {name!r}; expected 'shard-{shard:05d}-<12 hex "
            f"digits>.{suffix}' inside the folder (other names are never opened or removed)"
        )
    return name


def fsync_dir(directory: str) -> None:
    """Makes a rename inside ``directory`` durable (POSIX needs the directory fsynced too)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str, flags: int = os.O_RDONLY, follow: bool = False) -> int:
    """A descriptor of the regular file ``path`` (blocking mode), never of anything else.

    ``O_NONBLOCK`` while opening so a FIFO cannot block; a symbolic link at the last component is
    refused unless ``follow``. Raises OSError (errno and filename set) otherwise.
    """
    nofollow = 0 if follow else os.O_NOFOLLOW
    try:
        fd = os.open(path, flags | nofollow | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP and not follow:
            raise OSError(errno.ELOOP, "is a symbolic link (never followed here)", path) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
            raise OSError(code, f"is {_kind(st.st_mode)}, not a regular file", path)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str, follow: bool = False) -> bytes:
    """The whole content of the regular file ``path`` (see :func:`open_regular`)."""
    fd = open_regular(path, follow=follow)
    with os.fdopen(fd, "rb") as f:
        return f.read()


class FileDigest:
    """Size in bytes and SHA-256 (hex) of a file: what a manifest pins."""

    __slots__ = ("sha256", "size")

    def __init__(self, size: int, sha256: str):
        self.size, self.sha256 = size, sha256


def digest(path: str) -> FileDigest:
    """Size and SHA-256 of the regular file ``path`` (symlinks refused)."""
    fd = open_regular(path)
    try:
        return digest_fd(fd)
    finally:
        os.close(fd)


def digest_fd(fd: int) -> FileDigest:
    """Size and SHA-256 of the open file ``fd``, read from its start (its offset is untouched)."""
    h = hashlib.sha256()
    size = 0
    while True:
        block = os.pread(fd, 1 << 22, size)
        if not block:
            return FileDigest(size, h.hexdigest())
        h.update(block)
        size += len(block)


def fd_path(fd: int) -> str:
    """A path that opens the very file ``fd`` is open on (not whatever its name points to now)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(folder):
            return f"{folder}/{fd}"
    raise OSError(errno.ENOTSUP, "no /proc/self/fd or /dev/fd to reopen an open file by")


def _temporary_pattern(base: str):
    return re.compile(re.escape(base) + r"\.tmp-\d+-[0-9a-f]{16}\Z")


def _remove_stale_temporaries(directory: str, base: str) -> None:
    """Removes temporaries of ``base`` whose writer is gone (their flock can be taken); best
    effort, never following a link and never removing a live writer's file."""
    pattern = _temporary_pattern(base)
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        for name in os.listdir(dfd):
            if not pattern.match(name):
                continue
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
            except OSError:
                continue
            try:
                held = os.fstat(fd)
                if not stat.S_ISREG(held.st_mode):
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                now = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
                    os.unlink(name, dir_fd=dfd)
            except OSError:
                pass
            finally:
                os.close(fd)  # releases the lock
    finally:
        os.close(dfd)


def write_atomic(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically and durably (see the module docstring).

    A symbolic link at ``path`` is replaced by the new file, never written through; a directory
    there is an OSError.
    """
    path = os.path.abspath(path)
    directory, base = os.path.split(path)
    _remove_stale_temporaries(directory, base)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover - 100 collisions of 64 random bits
        raise FileExistsError(errno.EEXIST, "cannot create a temporary file beside", path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.rename(tmp, path)  # while still locked: no cleaner takes it for a stale temporary
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        os.close(fd)
        raise
    os.close(fd)
    fsync_dir(directory)

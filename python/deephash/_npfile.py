"""Reading users' numpy files with clear errors (shared by the codes-file format, saved models,
data files and the CLI).

Every reader of a user's path goes through here, so all of them:

* refuse anything but a regular file at once — a FIFO never blocks, a device is never read
  (``OSError`` with errno and filename, as ``deephash.load`` does); the file is opened
  non-blocking and checked with ``fstat`` on the open descriptor, so it cannot be swapped
  between the check and the read;
* recognise the format from the first bytes (``.npy`` magic or a zip archive) and call anything
  else "not a .npy/.npz file" — never numpy's hint to set ``allow_pickle``;
* refuse object arrays (pickled Python objects) with a message saying so;
* never allocate more for an array than its data holds: a ``.npy`` header's shape is checked
  against the bytes that follow it, and a ``.npz`` member is decompressed into a buffer that
  grows only with the bytes actually produced, after its declared size was checked against its
  compressed size (deflate expands at most ~1032x) and its header — a zip bomb or a lying size
  cannot reserve gigabytes.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["existing", "np_array", "np_load", "open_regular_file"]

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members / an empty zip


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _not_regular(p, mode: int, what: str) -> OSError:
    code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
    return OSError(code, f"{what} is {_kind(mode)}, not a regular file", str(p))


def existing(path, what: str, directories: bool = True) -> Path:
    """``path`` as a Path; ``FileNotFoundError("<what> not found", path)`` when nothing is there.

    Anything but a regular file (or a directory, when ``directories``) — a FIFO, a device, a
    socket — is an OSError at once, without opening it.
    """
    p = Path(path).expanduser()
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{what} not found", str(p)) from None
    if not (stat.S_ISREG(st.st_mode) or (directories and stat.S_ISDIR(st.st_mode))):
        raise _not_regular(p, st.st_mode, what)
    return p


def open_regular_file(p, what: str):
    """A binary file object of the regular file ``p`` (OSError for anything else, at once)."""
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{what} not found", str(p)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(p, mode, what)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_npy_header(fp, available: int, where: str):
    """Reads a ``.npy`` header from ``fp`` and checks that ``available`` bytes (the member or
    file size) hold the data it declares: a crafted shape is refused before numpy allocates it.
    Returns (shape, fortran_order, dtype, data bytes)."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fp)
        read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, fortran, dtype = read(fp, max_header_size=10000)
    except MemoryError:
        raise
    except Exception as e:  # numpy parses the header with ast/tokenize: any error means damage
        raise ValueError(f"{where} has a damaged .npy header ({type(e).__name__}: {e})") from None
    if dtype.hasobject:
        raise ValueError(f"{where} holds an object array (pickled Python objects), which deephash never loads")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if need > available - fp.tell():
        raise ValueError(
            f"{where} declares shape {shape} of {dtype} ({need} bytes) but holds only "
            f"{max(0, available - fp.tell())} bytes of data (truncated or crafted)"
        )
    return shape, fortran, dtype, need


#: Most a deflate stream expands (1032:1); a member declaring more than this over its compressed
#: size lies about its size.
_DEFLATE_MAX_RATIO = 1032
_CHUNK = 1 << 20


def _check_member_size(info: zipfile.ZipInfo, where: str) -> None:
    """The sizes a ``.npz`` member's zip entry declares must be possible for its compression."""
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise ValueError(
                f"{where} is stored uncompressed in {info.compress_size} bytes but declares "
                f"{info.file_size} (damaged or crafted)"
            )
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > info.compress_size * _DEFLATE_MAX_RATIO + 1024:
            raise ValueError(
                f"{where} declares {info.file_size} bytes from {info.compress_size} compressed bytes, "
                f"more than deflate can expand (~{_DEFLATE_MAX_RATIO}x): damaged or crafted"
            )
    else:  # numpy writes stored or deflated members only
        raise ValueError(f"{where} uses zip compression method {info.compress_type}; numpy writes 0 or 8")


def _read_member(npz_zip: zipfile.ZipFile, member: str, where: str) -> np.ndarray:
    """One ``.npy`` member, decompressed into a buffer that grows only with the data produced."""
    info = npz_zip.getinfo(member)
    _check_member_size(info, where)
    with npz_zip.open(member) as fp:
        shape, fortran, dtype, need = _check_npy_header(fp, info.file_size, where)
        if fp.tell() + need != info.file_size:
            raise ValueError(
                f"{where} declares shape {shape} of {dtype} ({need} bytes) but its member holds "
                f"{info.file_size - fp.tell()} bytes of data (damaged or crafted)"
            )
        buf = bytearray()
        while len(buf) < need:
            chunk = fp.read(min(_CHUNK, need - len(buf)))
            if not chunk:
                raise ValueError(f"{where} ends after {len(buf)} of its {need} bytes of data (truncated)")
            buf += chunk
    if dtype.itemsize == 0:
        return np.empty(shape, dtype)
    flat = np.frombuffer(buf, dtype)
    return flat.reshape(shape[::-1]).transpose() if fortran else flat.reshape(shape)


def _explain(e: Exception) -> str:
    text = str(e)
    if "allow_pickle" in text or "pickle" in text.lower():
        return "it holds an object array (pickled Python objects), which deephash never loads"
    return text


class _Archive:
    """A ``.npz`` archive whose members are read with clear errors (wraps numpy's NpzFile)."""

    def __init__(self, npz, f, p: Path, what: str):
        self._npz, self._f, self._p, self._what = npz, f, p, what
        self.files = npz.files

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            member = key if key in self._npz.zip.namelist() else key + ".npy"
            return _read_member(self._npz.zip, member, "it")
        except (KeyError, MemoryError):
            raise
        except Exception as e:
            # zlib/zip errors of a damaged member, or an object array
            raise ValueError(f"{self._p}: array {key!r} of this {self._what} is unreadable ({_explain(e)})") from None

    def __contains__(self, key) -> bool:
        return key in self.files

    def close(self) -> None:
        self._npz.close()
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def np_load(p: Path, what: str):
    """``np.load`` of a user's file (the format read from its content, not its suffix).

    Returns an array (``.npy``) or an archive (``.npz``; ``files``, ``[name]``, ``close()``,
    a context manager) whose members raise ValueError when damaged.

    Raises ValueError when the file is not a readable ``.npy`` / ``.npz`` (corrupt, pickled,
    truncated, not numpy at all), OSError when it is not a regular file.
    """
    f = open_regular_file(p, what)
    try:
        head = f.read(6)
        f.seek(0)
        if head != _NPY_MAGIC and head[:4] not in _ZIP_MAGIC:
            raise ValueError(f"{p} is not a readable {what}: it is not a .npy or .npz file (it starts with {head!r})")
        if head == _NPY_MAGIC:
            try:
                _check_npy_header(f, os.fstat(f.fileno()).st_size, "it")
            except ValueError as e:
                raise ValueError(f"{p} is not a readable {what}: {e}") from None
            f.seek(0)
        try:
            loaded = np.load(f, allow_pickle=False)
        except MemoryError:
            raise
        except Exception as e:  # OSError, EOFError, BadZipFile, header parse errors of a damaged file
            raise ValueError(f"{p} is not a readable {what} ({_explain(e)})") from None
    except BaseException:
        f.close()
        raise
    if isinstance(loaded, np.ndarray):
        f.close()
        return loaded
    return _Archive(loaded, f, p, what)


def np_array(path, what: str) -> np.ndarray:
    """One array from a ``.npy`` file; a ``.npz`` archive is a ValueError."""
    p = existing(path, what)
    loaded = np_load(p, f"{what} (.npy)")
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise ValueError(f"{p} is a .npz archive; a .npy array was expected")
    return loaded

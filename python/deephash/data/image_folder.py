"""Image-folder data sets (one subfolder per class), from a directory or a tar archive.

Layouts: ``root/<class>/<image>`` or, with ``split``, ``root/<split>/<class>/<image>``; a tar
(``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.xz``, ``.tar.bz2``) of such a tree is read directly,
without extracting it. Images are decoded once with Pillow and the arrays cached as ``.npy``
files, so later loads take a fraction of a second. The cache key covers every image file: for a
folder, the relative path, size and modification time (ns) of each one (a file replaced, added,
removed or corrupted inside a class folder gives a new key); for a tar, the archive's size and
modification time; plus the split and the image size. A damaged image raises ValueError naming
the file, never a stale cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ._paths import cache_dir as _cache_dir

__all__ = ["ImageFolder", "load_image_folder", "load_image_folder_splits"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")


class ImageFolder(NamedTuple):
    """Decoded images of an image-folder data set.

    Attributes
    ----------
    images : uint8 array (n, H, W, 3)
        RGB pixels, in order of (class name, file name).
    labels : int64 array (n,)
        Index into ``classes``.
    classes : tuple of str
        Class folder names in alphabetical order.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: Tuple[str, ...]


def _is_tar(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(TAR_SUFFIXES)


def _entry_class(parts: List[str], split: Optional[str]) -> Optional[str]:
    """Class of an archive/tree entry given its path parts, or None when it is not an image."""
    if len(parts) < 2 or not parts[-1].lower().endswith(IMAGE_EXTENSIONS):
        return None
    if parts[-1].startswith("."):
        return None
    if split is not None and (len(parts) < 3 or parts[-3] != split):
        return None
    return parts[-2]


def _scan_tar(path: Path, splits: Sequence[Optional[str]]):
    """Reads the image entries of every split in one pass over the archive."""
    entries: Dict[Optional[str], list] = {s: [] for s in splits}
    with tarfile.open(path, "r:*") as tf:
        for member in tf:
            if not member.isfile():
                continue
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            data = None
            for split in splits:
                cls = _entry_class(parts, split)
                if cls is None:
                    continue
                if data is None:
                    data = tf.extractfile(member).read()
                entries[split].append((cls, f"{path}#{member.name}", data))
    return entries


def _dir_files(path: Path, split: Optional[str]):
    """(class name, file) of every image of a folder data set, sorted."""
    base = path / split if split is not None else path
    if not base.is_dir():
        if split is None:
            raise ValueError(f"{path} is neither a folder of class folders nor a tar archive of one")
        raise FileNotFoundError(f"no {split!r} folder in {path}")
    out = []
    for cls_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(cls_dir.iterdir()):
            if f.is_file() and not f.name.startswith(".") and f.name.lower().endswith(IMAGE_EXTENSIONS):
                out.append((cls_dir.name, f))
    return out


def _scan_dir(path: Path, split: Optional[str]):
    return [(cls, str(f), f.read_bytes()) for cls, f in _dir_files(path, split)]


def _decode(entries, size: Optional[Tuple[int, int]]):
    from PIL import Image

    entries.sort(key=lambda e: (e[0], e[1]))
    classes = tuple(sorted({e[0] for e in entries}))
    index = {c: i for i, c in enumerate(classes)}
    images, shapes = [], set()
    for _cls, name, data in entries:
        try:
            with Image.open(io.BytesIO(data)) as im:
                im = im.convert("RGB")
                if size is not None:
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except Image.DecompressionBombError as e:
            raise ValueError(
                f"{name}: refused as a decompression bomb ({e}); raise PIL.Image.MAX_IMAGE_PIXELS if it is genuine"
            ) from None
        except (OSError, ValueError, SyntaxError, EOFError) as e:  # unidentified, truncated, corrupt
            raise ValueError(f"{name}: damaged image, cannot be decoded ({type(e).__name__}: {e})") from None
        shapes.add(arr.shape)
        if len(shapes) > 1:
            raise ValueError(
                f"images have different sizes ({sorted(shapes)[:3]} ..., e.g. {name}); "
                "pass size=(height, width) to resize them (deephash train/encode: --image-size S)"
            )
        images.append(arr)
    labels = np.fromiter((index[e[0]] for e in entries), dtype=np.int64, count=len(entries))
    return np.stack(images), labels, classes


def _cache_key(path: Path, split, size) -> str:
    h = hashlib.sha1()
    if path.is_dir():
        # Per file, never per folder: a folder's mtime does not change when a file inside a
        # class folder is replaced or rewritten.
        for cls, f in _dir_files(path, split):
            st = f.stat()
            h.update(json.dumps([cls, f.name, st.st_size, st.st_mtime_ns]).encode())
        listing = h.hexdigest()
    else:
        st = path.stat()
        listing = [st.st_size, st.st_mtime_ns]
    raw = json.dumps([str(path.resolve()), listing, split, size, 2])
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def _cache_files(path: Path, split, size, cache_dir) -> List[Path]:
    stem = path.name.split(".")[0] or "data"
    prefix = _cache_dir(cache_dir) / f"{stem}-{split or 'all'}-{_cache_key(path, split, size)}"
    return [Path(str(prefix) + s) for s in ("-images.npy", "-labels.npy", "-classes.json")]


def _write_cache(files: List[Path], folder: ImageFolder) -> None:
    # Write to temporary names, then rename: a concurrent or interrupted run never leaves a
    # partial cache behind.
    for f, writer in zip(
        files,
        (
            lambda fh: np.save(fh, folder.images),
            lambda fh: np.save(fh, folder.labels),
            lambda fh: fh.write(json.dumps(list(folder.classes)).encode()),
        ),
    ):
        tmp = f.with_name(f.name + f".tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            writer(fh)
        os.replace(tmp, f)


def load_image_folder_splits(
    path,
    splits: Sequence[Optional[str]],
    size: Optional[Tuple[int, int]] = None,
    cache: bool = True,
    cache_dir=None,
) -> Dict[Optional[str], ImageFolder]:
    """Loads several splits of an image-folder data set, reading a tar archive only once.

    Same parameters as :func:`load_image_folder`, with a sequence of splits; returns a dict
    split -> :class:`ImageFolder`.
    """
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"image folder or archive not found: {path}")
    if size is not None:
        size = (int(size[0]), int(size[1]))
    out: Dict[Optional[str], ImageFolder] = {}
    files = {}
    for split in splits:
        if cache:
            files[split] = _cache_files(path, split, size, cache_dir)
            if all(f.exists() for f in files[split]):
                f = files[split]
                out[split] = ImageFolder(np.load(f[0]), np.load(f[1]), tuple(json.loads(f[2].read_text())))
    missing = [s for s in splits if s not in out]
    if missing:
        if _is_tar(path):
            scanned = _scan_tar(path, missing)
        else:
            scanned = {s: _scan_dir(path, s) for s in missing}
        for split in missing:
            if not scanned[split]:
                where = f" under a {split!r} folder" if split else ""
                raise ValueError(f"no images found{where} in {path} (expected <class>/<image> entries)")
            out[split] = ImageFolder(*_decode(scanned[split], size))
            if cache:
                _write_cache(files[split], out[split])
    return out


def load_image_folder(
    path,
    split: Optional[str] = None,
    size: Optional[Tuple[int, int]] = None,
    cache: bool = True,
    cache_dir=None,
) -> ImageFolder:
    """Loads an image-folder data set from a directory or a tar archive.

    Parameters
    ----------
    path : str or os.PathLike
        A directory or a tar archive (see module doc).
    split : str, optional
        Read only ``<split>/<class>/<image>`` entries (e.g. ``"train"``); by default every
        ``<class>/<image>`` entry, whatever lies above it.
    size : (height, width), optional
        Resize every image (bilinear); needed when the images differ in size.
    cache : bool
        Read/write the decoded arrays in ``cache_dir``.
    cache_dir : str or os.PathLike, optional
        Default: the ``data`` folder of the cache root (``DEEPHASH_CACHE_DIR`` or ``~/.cache/deephash``).

    Returns
    -------
    ImageFolder

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        No images were found, their sizes differ and ``size`` was not given, or an image is
        damaged (the message names the file).
    """
    return load_image_folder_splits(path, [split], size, cache, cache_dir)[split]

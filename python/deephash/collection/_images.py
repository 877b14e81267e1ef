"""Reading and decoding collection images: bytes of an item, decode at reduced size, square crop.

Decoding is where damaged files show up; every failure becomes :class:`DamagedItem` with a
reason, which the collection records in ``col.errors`` instead of stopping.
"""

from __future__ import annotations

import io
import lzma
import tarfile
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from ._archives import read_member

__all__ = ["DamagedItem", "decode_square", "open_image", "read_item_bytes"]

#: Largest file a collection reads as one image (bytes); larger files are reported, not read.
MAX_FILE_BYTES = 512 * 1024 * 1024


class DamagedItem(Exception):
    """An item that cannot be read or decoded; the message is the reason."""


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise ImportError("image collections need Pillow (pip install 'deephash[torch]')") from None
    return Image, ImageOps


def read_item_bytes(
    path: str,
    member: Optional[str],
    data_offset: Optional[int],
    size: Optional[int],
    cache_dir: Optional[Path] = None,
) -> bytes:
    """The stored bytes of an item: a file, or a member of a tar (by offset; a compressed tar
    through its unpacked copy in ``cache_dir``, see :mod:`._archives`)."""
    try:
        if member is None:
            p = Path(path)
            st = p.stat()
            if st.st_size > MAX_FILE_BYTES:
                raise DamagedItem(f"file of {st.st_size} bytes is larger than {MAX_FILE_BYTES} bytes")
            return p.read_bytes()
        if size is not None and size > MAX_FILE_BYTES:
            raise DamagedItem(f"archive member of {size} bytes is larger than {MAX_FILE_BYTES} bytes")
        archive = path[: len(path) - len(member) - 1]
        data = read_member(archive, member, data_offset, size, cache_dir)
        if size is not None and len(data) != size:
            raise DamagedItem("archive member is truncated")
        return data
    except DamagedItem:
        raise
    except KeyError:
        raise DamagedItem(f"no file {member!r} in the archive") from None
    except (OSError, tarfile.TarError, EOFError, lzma.LZMAError) as e:
        raise DamagedItem(f"cannot read: {e.strerror if isinstance(e, OSError) and e.strerror else e}") from None


def open_image(data: bytes, draft_size: Optional[int] = None):
    """A decoded RGB PIL image; JPEGs decoded at the smallest scale >= ``draft_size`` (draft mode).

    Raises DamagedItem for anything Pillow cannot decode, truncated files and decompression
    bombs (images over twice ``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    Image, ImageOps = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if draft_size is not None and im.format == "JPEG":
                im.draft("RGB", (draft_size, draft_size))
            im.load()
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                bg = Image.new("RGB", rgba.size, (255, 255, 255))  # transparent areas on white
                bg.paste(rgba, mask=rgba.getchannel("A"))
                im = bg
            else:
                im = im.convert("RGB")
    except Image.DecompressionBombError as e:
        raise DamagedItem(
            f"decompression bomb refused ({e}); raise PIL.Image.MAX_IMAGE_PIXELS if the image is genuine"
        ) from None
    except Image.UnidentifiedImageError:
        raise DamagedItem("not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # truncated or corrupt data
        raise DamagedItem(f"damaged image: {e}") from None
    return im


def decode_square(data: bytes, size: int) -> np.ndarray:
    """Decodes ``data`` and crops the centred square, resized to ``size`` x ``size``:
    uint8 (size, size, 3)."""
    Image, ImageOps = _pil()
    im = open_image(data, draft_size=size)
    if im.width < 1 or im.height < 1:
        raise DamagedItem("empty image")
    im = ImageOps.fit(im, (size, size), method=Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def pil_to_square(im, size: int) -> np.ndarray:
    """As :func:`decode_square` for an already opened PIL image."""
    Image, ImageOps = _pil()
    buf = io.BytesIO()
    if im.mode not in ("RGB", "L", "RGBA", "LA", "P"):
        im = im.convert("RGB")
    im.save(buf, format="PNG")
    return decode_square(buf.getvalue(), size)

"""A streaming image pipeline: files -> decoded, resized uint8 batches from worker processes.

:func:`stream_images` decodes and resizes images in worker processes while the caller runs the
network on the previous batches: at most ``prefetch`` batches are decoded ahead (a bounded
queue), so memory stays bounded however many files there are, and no array of the whole set is
ever built. JPEG files are decoded in draft mode (the decoder's DCT scaling to the smallest
power-of-two reduction still at least the target size), which makes large photos several times
cheaper to decode. :func:`encode_images` puts a hashing method after it: files -> codes, batch by
batch, in order.

Workers use Python's default start method (``fork`` on Linux); a script that starts them under
``spawn`` or ``forkserver`` needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import io
import os
from collections import deque
from itertools import islice
from typing import Iterable, Iterator, NamedTuple, Optional, Tuple

import numpy as np

from .._validate import describe

__all__ = ["ImageBatch", "decode_image", "encode_images", "stream_images"]


class ImageBatch(NamedTuple):
    """One batch of :func:`stream_images`.

    Attributes
    ----------
    images : uint8 array (b, H, W, 3)
        RGB pixels, resized to ``size``.
    positions : int64 array (b,)
        Position of each image in the sources (increasing; a skipped source leaves a gap).
    errors : tuple of (int, str)
        Sources of this batch's span that could not be decoded (``on_error="skip"``): position
        and reason.
    """

    images: np.ndarray
    positions: np.ndarray
    errors: Tuple[Tuple[int, str], ...]


def _check_size(size) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise ValueError(f"size must be None, an int > 0 or (height, width) of ints > 0, got {size!r}")
    return int(size[0]), int(size[1])


def decode_image(source, size=None, draft: bool = True) -> np.ndarray:
    """Decodes one image to RGB uint8 (H, W, 3), resized (bilinear) to ``size`` = (height, width).

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A file, or the encoded bytes.
    size : int, (int, int) or None
        Target (height, width); None keeps the image's size.
    draft : bool
        JPEG only: let the decoder reduce the image by 1/2, 1/4 or 1/8 while decoding, to the
        smallest reduction at least ``size`` (Pillow's ``draft``); much faster for large photos,
        pixels slightly different from a full decode then resize.
    """
    from PIL import Image

    size = _check_size(size)
    f = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    with Image.open(f) as im:
        if draft and size is not None and im.format == "JPEG":
            im.draft("RGB", (size[1], size[0]))
        im = im.convert("RGB")
        if size is not None and im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def _decode_chunk(chunk, size, draft, on_error) -> ImageBatch:
    """Worker: decodes [(position, source), ...] into one batch."""
    images, positions, errors, shapes = [], [], [], set()
    for pos, src in chunk:
        try:
            arr = decode_image(src, size, draft)
        except Exception as e:  # Pillow raises many types for damaged files
            if on_error == "raise":
                raise ValueError(f"could not decode image {pos} ({_name(src)}): {e}") from None
            errors.append((pos, f"{type(e).__name__}: {e}"))
            continue
        shapes.add(arr.shape)
        if len(shapes) > 1:
            raise ValueError(
                f"images have different sizes ({sorted(shapes)[:2]}, e.g. {_name(src)}); pass size=(height, width)"
            )
        images.append(arr)
        positions.append(pos)
    shape = next(iter(shapes)) if shapes else (size or (0, 0)) + (3,)
    stacked = np.stack(images) if images else np.empty((0,) + tuple(shape), dtype=np.uint8)
    return ImageBatch(stacked, np.asarray(positions, dtype=np.int64), tuple(errors))


def _name(src) -> str:
    return f"{len(src)} bytes" if isinstance(src, (bytes, bytearray, memoryview)) else str(src)


def _chunks(sources, batch_size):
    it = enumerate(sources)
    while True:
        chunk = list(islice(it, batch_size))
        if not chunk:
            return
        for pos, src in chunk:
            if not isinstance(src, (str, os.PathLike, bytes, bytearray)):
                raise TypeError(f"image source {pos} must be a path or bytes, got {describe(src)}")
        yield [(pos, os.fspath(src) if isinstance(src, os.PathLike) else src) for pos, src in chunk]


def stream_images(
    sources: Iterable,
    size=None,
    *,
    batch_size: int = 128,
    workers: Optional[int] = None,
    prefetch: Optional[int] = None,
    draft: bool = True,
    on_error: str = "raise",
) -> Iterator[ImageBatch]:
    """Decoded image batches, in order, from worker processes that run ahead of the caller.

    Parameters
    ----------
    sources : iterable of str, os.PathLike or bytes
        Image files (or their bytes); read lazily, so a generator over millions of files works.
    size : int, (int, int) or None
        Every image is resized to (height, width); None needs images of one size.
    batch_size : int
        Images per batch (the last may be smaller).
    workers : int or None
        Decoding processes; 0 decodes in the calling thread (no overlap). None: the CPU count
        minus one, at least 1, at most 8.
    prefetch : int or None
        At most this many batches decoded or being decoded ahead of the one handed out (the
        bound on memory); None: 2 per worker.
    draft : bool
        JPEG draft-mode decoding (see :func:`decode_image`).
    on_error : {"raise", "skip"}
        A file that cannot be decoded raises ValueError (naming it), or is left out and listed
        in its batch's ``errors``.

    Yields
    ------
    ImageBatch
    """
    size = _check_size(size)
    for name, v, low in (("batch_size", batch_size, 1), ("workers", workers, 0), ("prefetch", prefetch, 1)):
        if v is None and name != "batch_size":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if isinstance(sources, (str, bytes, os.PathLike)):
        raise TypeError(f"sources must be an iterable of paths or bytes, got a single {describe(sources)}")
    if workers is None:
        workers = min(8, max(1, (os.cpu_count() or 2) - 1))
    ahead = int(prefetch) if prefetch is not None else 2 * int(workers)
    return _stream(_chunks(sources, int(batch_size)), size, int(workers), ahead, draft, on_error)


def _stream(chunks, size, workers, ahead, draft, on_error) -> Iterator[ImageBatch]:
    if workers == 0:
        for chunk in chunks:
            yield _decode_chunk(chunk, size, draft, on_error)
        return
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        pending = deque(pool.submit(_decode_chunk, c, size, draft, on_error) for c in islice(chunks, ahead))
        while pending:
            batch = pending.popleft().result()
            nxt = next(chunks, None)
            if nxt is not None:
                pending.append(pool.submit(_decode_chunk, nxt, size, draft, on_error))
            yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def encode_images(method, sources: Iterable, size=None, **stream_options) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Files -> packed codes, batch by batch: :func:`stream_images` feeding ``method.encode``.

    Decoding of the next batches overlaps the encoding of the current one. With
    ``DEEPHASH_ENGINE=auto``, the batches count as one large job, so the fast CPU engine runs
    them (see :mod:`deephash.models.engine`).

    Parameters
    ----------
    method : a fitted hashing method (``encode(images) -> codes``)
    sources, size, **stream_options
        As :func:`stream_images`; ``size`` must give the image size the method was trained on
        (CIFAR-10 models: 32), or be None for files of that size.

    Yields
    ------
    (positions, codes) : int64 (b,), uint8 (b, code_bits // 8)
        The sources' positions and their codes; sources skipped with ``on_error="skip"`` are
        missing from ``positions``.
    """
    from ..models.engine import large_job

    for batch in stream_images(sources, size, **stream_options):
        if batch.positions.size:
            with large_job():  # only around encode: a generator must not leave it set between yields
                codes = method.encode(batch.images)
            yield batch.positions, codes

"""CPU indexes over packed binary codes, and loading saved indexes."""

from __future__ import annotations

from typing import Callable, Optional, Union

from . import _core
from ._typing import ArrayLike, Codes, Ids, PathLike, RangeResult, SearchResult
from ._validate import as_codes, as_ids, as_path, check_bits, check_k, check_radius
from ._weights import as_weights, check_weighted_radius

__all__ = ["BinaryIndex", "FlatIndex"]

#: Makes the GPU copy for :meth:`BinaryIndex.to_gpu`: ``GpuFlatIndex.from_cpu``, registered by
#: ``deephash.gpu_index`` when it is imported (``import deephash`` does). That module builds on
#: this one, so the conversion is handed down rather than imported back: no import cycle.
_gpu_copy: Optional[Callable[["BinaryIndex", int], "BinaryIndex"]] = None


def register_gpu_copy(fn: Callable[["BinaryIndex", int], "BinaryIndex"]) -> None:
    """Sets the function ``to_gpu`` calls (``fn(index, device)``); used by ``deephash.gpu_index``."""
    global _gpu_copy
    _gpu_copy = fn


class BinaryIndex:
    """Common surface of the binary-code indexes (validation and result shapes).

    Subclasses hold a compiled implementation in ``self._impl`` exposing ``add``,
    ``remove``, ``search``, ``range_search``, ``save``, ``size`` and ``bits``.

    Thread safety: any number of threads may search at once while others call ``add``,
    ``remove`` or ``save``; a reader-writer lock in the compiled index runs each ``add`` /
    ``remove`` alone, so every search sees one consistent state (before or after each
    mutation, never a mixture). The GIL is released while waiting for the lock.
    """

    _impl = None
    #: The compiled class behind this kind (``_core.FlatIndex``, ...); set by each subclass.
    _core_class = None

    @classmethod
    def _from_impl(cls, impl) -> "BinaryIndex":
        """Wraps an existing compiled index (from ``load``, ``to_cpu``, ...) without copying it."""
        self = cls.__new__(cls)
        self._impl = impl
        return self

    @property
    def bits(self) -> int:
        """Code length in bits."""
        return self._impl.bits

    @property
    def code_size(self) -> int:
        """Bytes per code (bits // 8)."""
        return self._impl.bits // 8

    def __len__(self) -> int:
        return self._impl.size

    @property
    def ntotal(self) -> int:
        """Number of codes in the index (FAISS's name for ``len(index)``)."""
        return self._impl.size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bits={self.bits}, n={len(self)})"

    def add(self, codes: ArrayLike, ids: Optional[ArrayLike] = None) -> None:
        """Adds codes.

        Parameters
        ----------
        codes : uint8 array (n, bits // 8), C-contiguous (see :func:`deephash.pack_bits`).
        ids : int64 array (n,), optional
            Defaults to ``len(self), len(self) + 1, ...``. Ids need not be unique: entries with
            equal distance and equal id are returned in insertion order. -1 is refused: it pads
            the rows of search results that have fewer than k neighbours.
        """
        codes = as_codes(codes, self.bits)
        if ids is None:
            self._impl.add(codes, None)
        else:
            self._impl.add(codes, as_ids(ids, codes.shape[0], stored=True))

    def remove(self, ids: ArrayLike) -> int:
        """Removes every code whose id is in ``ids``; returns how many codes were removed."""
        return int(self._impl.remove(as_ids(ids, -1)))

    def search(self, queries: ArrayLike, k: int, weights: Optional[ArrayLike] = None) -> SearchResult:
        """Exact k nearest neighbours in Hamming distance (optionally weighted).

        Parameters
        ----------
        queries : uint8 array (nq, bits // 8)
        k : int >= 1
        weights : float32 array (bits,) or (nq, bits), optional
            Weighted Hamming distance: the sum of ``weights[j]`` over the bits j where query and
            code differ (per-query rows for query-adaptive weights); all >= 0 and finite; 0
            switches a bit off. Weights are quantised to fixed point so that results are
            identical at every SIMD level and thread count: with ``P = 22 - ceil(log2(bits))``
            each weight is rounded to a multiple of ``2**e``, ``e = E - P`` where
            ``2**(E-1) <= max(weights) < 2**E`` (error at most ``2**-P`` of the largest weight:
            2**-16 for 64-bit codes); the returned distance is the exact sum of the rounded
            weights. A 0/1 mask (all non-zero weights equal) runs at the unweighted speed.

        Returns
        -------
        distances : int32 array (nq, k), float32 with ``weights``
        ids : int64 array (nq, k)
            Each row sorted by (distance, id) ascending. When the index holds fewer than k
            codes, rows are padded with id -1 and distance 2**31 - 1 (``inf`` with weights).
            Work beyond the output is sized by ``min(k, len(self))``.

        Raises
        ------
        ValueError
            ``nq * k`` exceeds ``deephash._core.MAX_RESULT_ENTRIES`` (2**28): search fewer
            queries at a time.
        """
        queries = as_codes(queries, self.bits, "queries")
        k = check_k(k)
        if weights is not None:
            w = as_weights(weights, self.bits, queries.shape[0])
            return _core.weighted_search(self._impl, queries, k, w)
        return self._impl.search(queries, k)

    def range_search(
        self, queries: ArrayLike, radius: Union[int, float], weights: Optional[ArrayLike] = None
    ) -> RangeResult:
        """All codes within Hamming distance <= radius (inclusive) of each query.

        Parameters
        ----------
        queries : uint8 array (nq, bits // 8)
        radius : int >= 0, or a float >= 0 with ``weights``
        weights : float32 array (bits,) or (nq, bits), optional
            Weighted distance, as in :meth:`search`; the radius compares with the returned
            (quantised) float32 distances.

        Returns
        -------
        lims : int64 array (nq + 1,)
        distances : int32 array (lims[-1],), float32 with ``weights``
        ids : int64 array (lims[-1],)
            Results of query i are ``ids[lims[i]:lims[i + 1]]``, sorted by (distance, id).
        """
        queries = as_codes(queries, self.bits, "queries")
        if weights is not None:
            r = check_weighted_radius(radius)
            w = as_weights(weights, self.bits, queries.shape[0])
            return _core.weighted_range_search(self._impl, queries, r, w)
        radius = check_radius(radius)
        return self._impl.range_search(queries, radius)

    def save(self, path: PathLike) -> None:
        """Saves the index atomically (temporary file, fsync, rename).

        A crash (even ``kill -9``) during the save leaves the previous file whole. The
        temporary, ``PATH.tmp-<pid>-<n>`` beside the target, is locked (flock) while it is
        written; one left by a killed process is removed by the next save of the same path.
        A symbolic link at ``path`` is followed and its target replaced (the link stays).

        Raises
        ------
        OSError
            The file cannot be written, or ``path`` is a directory, a device, a FIFO or a
            socket (only regular files are replaced).
        ValueError
            ``path`` contains a NUL byte.
        """
        self._impl.save(as_path(path))

    @property
    def codes(self) -> Codes:
        """Read-only, zero-copy snapshot of the stored codes: uint8 (n, bits // 8), storage order.

        The array keeps the buffer it shows alive and never changes: a later ``add``, ``remove``
        or the first change to a memory-mapped index moves the index to a new buffer when this
        one is still viewed (copy-on-write), so ``index.add(index.codes[:n])`` is safe. While a
        view is alive a ``remove`` copies the kept codes instead of compacting in place; use
        ``np.array(index.codes)`` for a copy that does not hold the buffer.
        """
        return self._impl.codes()

    @property
    def ids(self) -> Ids:
        """Read-only, zero-copy snapshot of the stored ids: int64 (n,), storage order.

        Same lifetime rules as :attr:`codes`.
        """
        return self._impl.ids()

    def to_gpu(self, device: int = 0) -> BinaryIndex:
        """A :class:`deephash.GpuFlatIndex` copy of this index on CUDA device ``device``."""
        # Importing deephash.index runs deephash/__init__.py first, which imports gpu_index.
        return _gpu_copy(self, device)

    def memory_bytes(self) -> int:
        """Bytes held for codes and ids (0 for a memory-mapped, unmodified index)."""
        return int(self._impl.memory_bytes())


class FlatIndex(BinaryIndex):
    """Exact search by a linear scan with SIMD popcount (the reference index).

    Parameters
    ----------
    bits : int
        Code length, a positive multiple of 8, at most ``MAX_BITS`` (8192).

    Examples
    --------
    >>> import numpy as np, deephash
    >>> codes = deephash.pack_bits(np.random.default_rng(0).integers(0, 2, (1000, 64)))
    >>> index = deephash.FlatIndex(64)
    >>> index.add(codes)
    >>> distances, ids = index.search(codes[:5], k=10)
    """

    _core_class = _core.FlatIndex

    def __init__(self, bits: int) -> None:
        self._impl = _core.FlatIndex(check_bits(bits))

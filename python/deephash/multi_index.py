"""Exact sublinear k-NN in Hamming space by multi-index hashing."""

from __future__ import annotations

import numbers
from typing import NamedTuple, Optional

from . import _core
from ._validate import check_bits, describe
from .index import BinaryIndex

__all__ = ["MultiIndex", "MultiIndexStats"]

_STRATEGIES = ("auto", "hashing", "linear")


class MultiIndexStats(NamedTuple):
    """What :meth:`MultiIndex.stats` reports."""

    m: int  #: substrings (hash tables) in use
    indexed: int  #: codes in the hash tables
    hashed_queries: int  #: queries answered by probing the tables
    linear_queries: int  #: queries answered by the linear scan (the fallback)


class MultiIndex(BinaryIndex):
    """Exact search by multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012).

    Each code is cut into ``m`` substrings of consecutive bits (lengths differ by at most one
    bit) and indexed in one hash table per substring. k-NN search probes the tables with a
    growing substring radius until the pigeonhole bound guarantees the k best, checking every
    candidate with its full distance, so results are exactly those of :class:`FlatIndex` on the
    same codes and ids: same ids in the same order, ties by (distance, id, insertion order).
    When hashing cannot beat a linear scan (e.g. uniformly random codes, a large k or radius, a
    small index) the search falls back to the SIMD scan automatically; results are the same.

    Parameters
    ----------
    bits : int
        Code length, a positive multiple of 8, at most 8192 (``deephash._core.MAX_BITS``).
    m : int, optional
        Number of substrings, ``ceil(bits / 32) <= m <= bits``. By default it is chosen from the
        number of codes (about ``bits / log2(n)``) and re-tuned as the index grows or shrinks.

    Notes
    -----
    Codes added after the last table build are scanned linearly until they exceed 1/16 of the
    indexed codes; then the tables are rebuilt. Weighted searches (``weights=``) use the
    linear weighted scan. Memory: codes and ids as in FlatIndex plus, per table, 4 bytes per
    code and the bucket offsets; the automatic ``m`` grows (shorter substrings, fewer offsets)
    when the tables would take more than twice the memory of the codes and ids, so the index
    stays within about 3x a FlatIndex (about 2x for 64-bit codes).

    Examples
    --------
    >>> import numpy as np, deephash
    >>> codes = deephash.pack_bits(np.random.default_rng(0).integers(0, 2, (10000, 64)))
    >>> index = deephash.MultiIndex(64)
    >>> index.add(codes)
    >>> distances, ids = index.search(codes[:5], k=10)
    """

    _core_class = _core.MultiIndex

    def __init__(self, bits: int, m: Optional[int] = None) -> None:
        bits = check_bits(bits)
        if m is None:
            m = 0
        else:
            if isinstance(m, bool) or not isinstance(m, numbers.Integral):
                raise TypeError(f"m must be an int or None, got {describe(m)}")
            m = int(m)
            lo = -(-bits // 32)
            if not lo <= m <= bits:
                raise ValueError(
                    f"m must be in [{lo}, {bits}] for {bits}-bit codes (substrings of at most 32 bits), got {m}"
                )
        self._impl = _core.MultiIndex(bits, m)

    @property
    def m(self) -> int:
        """Number of substrings (hash tables) in use; 0 while the index is empty."""
        return int(self._impl.m)

    @property
    def strategy(self) -> str:
        """How searches run: ``"auto"`` (default: hashing, falling back to the linear scan when
        that is cheaper), ``"hashing"`` (always hash, for tests and benchmarks) or ``"linear"``.
        Results never depend on it."""
        return self._impl.strategy

    @strategy.setter
    def strategy(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"strategy must be a str, got {describe(value)}")
        if value not in _STRATEGIES:
            raise ValueError(f"strategy must be one of {_STRATEGIES}, got {value!r}")
        self._impl.strategy = value

    def rebuild(self) -> None:
        """Rebuilds the hash tables now (re-tuning ``m`` unless it was given)."""
        self._impl.rebuild()

    def stats(self) -> MultiIndexStats:
        """Counters: ``m``, indexed codes, queries answered by hashing and by the linear scan."""
        return MultiIndexStats(
            self.m, int(self._impl.indexed), int(self._impl.hashed_queries), int(self._impl.linear_queries)
        )

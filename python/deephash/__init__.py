"""deephash: deep hashing and exact, fast search over binary codes.

The index layer needs only numpy; the trainers (``deephash.methods``) need PyTorch
(``pip install deephash[torch]``).
"""

from __future__ import annotations

import os as _os
import warnings as _warnings

from . import _core
from ._core import FormatError
from .codes import pack_bits, unpack_bits
from .collection import Collection
from .gpu_index import GpuFlatIndex, cuda_available
from .index import BinaryIndex, FlatIndex
from .loading import load
from .multi_index import MultiIndex
from ._validate import as_int as _as_int
from .rerank import rerank

__version__ = "0.1.0"

__all__ = [
    "BinaryIndex",
    "Collection",
    "FlatIndex",
    "FormatError",
    "GpuFlatIndex",
    "cuda_available",
    "get_num_threads",
    "load",
    "MultiIndex",
    "SIMD_LEVELS",
    "pack_bits",
    "rerank",
    "set_num_threads",
    "simd_level",
    "unpack_bits",
]


#: The values DEEPHASH_SIMD accepts (the core's level names, lowest first).
SIMD_LEVELS = ("scalar", "avx2", "avx512")

if _os.environ.get("DEEPHASH_SIMD") is not None and _os.environ["DEEPHASH_SIMD"] not in SIMD_LEVELS:
    # The core ignores a value it does not know; say so rather than run at a level nobody chose.
    _warnings.warn(
        f"DEEPHASH_SIMD={_os.environ['DEEPHASH_SIMD']!r} is not one of {', '.join(SIMD_LEVELS)}; "
        f"ignored (running at {_core.simd_level()})",
        RuntimeWarning,
        stacklevel=2,
    )


def simd_level() -> str:
    """Name of the SIMD level the kernels use: ``"avx512"``, ``"avx2"`` or ``"scalar"``.

    The best level the CPU supports is chosen at import; the environment variable
    ``DEEPHASH_SIMD=scalar|avx2|avx512`` caps it.
    """
    return _core.simd_level()


def set_num_threads(n: int) -> None:
    """Sets the number of threads searches use (n <= 0 restores the default: all cores).

    Parameters
    ----------
    n : int
        At most ``deephash._core.MAX_THREADS`` (1024): worker threads live until the process
        exits.
    """
    n = _as_int(n, "n")
    if n > _core.MAX_THREADS:
        raise ValueError(f"n must be at most {_core.MAX_THREADS} threads, got {n}")
    _core.set_num_threads(max(n, 0))


def get_num_threads() -> int:
    """Number of threads searches use."""
    return _core.get_num_threads()

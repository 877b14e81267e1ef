"""Type aliases of the public API (numpy.typing), shared by the annotations of its modules."""

from __future__ import annotations

import os
from typing import Any, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ArrayLike",
    "Codes",
    "DeviceArrayLike",
    "Distances",
    "Ids",
    "NDArray",
    "PathLike",
    "RangeResult",
    "SearchResult",
]

#: A file path: str, bytes or ``os.PathLike``.
PathLike = Union[str, bytes, os.PathLike]
#: Packed binary codes: uint8 rows (n, bits // 8), bit j = bit (j % 8) of byte j // 8.
Codes = NDArray[np.uint8]
#: Ids of indexed codes: int64 (n,) or (nq, k).
Ids = NDArray[np.int64]
#: Search distances: int32 Hamming distances, float32 with weights.
Distances = Union[NDArray[np.int32], NDArray[np.float32]]
#: ``index.search``'s result: distances (nq, k) and ids (nq, k).
SearchResult = Tuple[Distances, Ids]
#: ``index.range_search``'s result: lims (nq + 1,), distances (lims[-1],) and ids (lims[-1],).
RangeResult = Tuple[NDArray[np.int64], Distances, Ids]
#: What GpuFlatIndex takes and gives: a host array (ArrayLike in, numpy out) or a CUDA array (torch
#: tensor, CuPy array, ``__cuda_array_interface__`` or DLPack), which no static type covers.
DeviceArrayLike = Any

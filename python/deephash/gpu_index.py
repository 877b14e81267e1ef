"""Exact Hamming search on a CUDA GPU: :class:`GpuFlatIndex`.

The compiled engine lives in the optional extension ``deephash._cuda``, built only when a CUDA
toolkit was found at build time; ``import deephash`` never needs it. :func:`cuda_available` says
whether it was built *and* a usable device exists.

Array types: numpy inputs (or torch CPU tensors) give numpy outputs; CUDA inputs (torch CUDA
tensors, CuPy arrays, anything with ``__cuda_array_interface__``, or DLPack CUDA arrays through
torch) are read in place, without a copy, and give outputs on the same device (torch tensors for
torch and DLPack input, CuPy arrays for CuPy and other ``__cuda_array_interface__`` input when
CuPy is installed, torch tensors otherwise). Work runs on the caller's current stream (torch /
CuPy) and is complete when a call returns.
"""

from __future__ import annotations

import numbers
import os
from typing import Optional, Tuple, Union

import numpy as np

from ._typing import Codes, DeviceArrayLike, Ids, PathLike
from ._validate import as_codes, as_ids, check_bits, check_k, check_radius, describe
from ._weights import as_weights, check_weighted_radius
from .index import BinaryIndex, FlatIndex, register_gpu_copy
from .loading import load

__all__ = ["GpuFlatIndex", "cuda_available", "cuda_unavailable_reason"]

_NO_BUILD = (
    "deephash was built without CUDA support (no CUDA toolkit was found when it was built); "
    "reinstall on a machine with nvcc, or use deephash.FlatIndex"
)


def _cuda_module():
    try:
        from . import _cuda
    except ImportError:
        return None
    return _cuda


def cuda_unavailable_reason() -> str | None:
    """Why GPU search is unavailable here, or None when a CUDA device is usable."""
    mod = _cuda_module()
    if mod is None:
        return _NO_BUILD
    n, reason = mod.device_count()
    return None if n > 0 else f"deephash found no usable CUDA device ({reason})"


def cuda_available() -> bool:
    """True when deephash was built with CUDA and a usable CUDA device exists."""
    return cuda_unavailable_reason() is None


def _require_cuda():
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"GpuFlatIndex needs a CUDA GPU: {reason}")
    return _cuda_module()


def _check_device(device, ndev: int) -> int:
    if isinstance(device, bool) or not isinstance(device, numbers.Integral):
        if type(device).__module__.startswith("torch") and getattr(device, "type", None) == "cuda":
            device = device.index if device.index is not None else 0
        else:
            raise TypeError(f"device must be a CUDA device ordinal (int), got {describe(device)}")
    device = int(device)
    if not 0 <= device < ndev:
        raise ValueError(f"device must be in [0, {ndev}), got {device}")
    return device


class _DeviceCodes:
    """A validated CUDA array of codes: pointer, row count, stream and how to wrap outputs."""

    def __init__(self, ptr, n, stream, kind, like):
        self.ptr, self.n, self.stream, self.kind, self.like = ptr, n, stream, kind, like

    def wrap(self, dev_array, device):
        """Wraps a DeviceArray result as a tensor/array of the input's kind, without a copy."""
        if self.kind == "torch":
            import torch

            return torch.as_tensor(dev_array, device=torch.device("cuda", device))
        try:
            import cupy

            with cupy.cuda.Device(device):
                return cupy.asarray(dev_array)
        except ImportError:
            import torch

            return torch.as_tensor(dev_array, device=torch.device("cuda", device))


def _cuda_codes(x, bits: int, device: int, name: str):
    """Returns _DeviceCodes for a CUDA array, or None when x is a host array (or not an array)."""
    nbytes = bits // 8
    mod = type(x).__module__
    if mod.startswith("torch") and hasattr(x, "is_cuda"):
        if not x.is_cuda:
            return None
        import torch

        if x.dtype != torch.uint8:
            raise TypeError(f"{name} must be packed uint8 codes (see deephash.pack_bits), got dtype {x.dtype}")
        t = x.reshape(1, -1) if x.dim() == 1 else x
        _check_shape(tuple(t.shape), nbytes, bits, name)
        if not t.is_contiguous():
            raise ValueError(f"{name} must be C-contiguous, got strides {tuple(t.stride())}; try .contiguous()")
        if t.device.index != device:
            raise ValueError(f"{name} are on {t.device} but the index is on cuda:{device}")
        stream = torch.cuda.current_stream(t.device).cuda_stream
        return _DeviceCodes(t.data_ptr(), t.shape[0], stream, "torch", t)
    cai = getattr(x, "__cuda_array_interface__", None)
    if cai is None:
        dl_device = getattr(x, "__dlpack_device__", None)
        if dl_device is not None and not isinstance(x, np.ndarray) and dl_device()[0] == 2:  # kDLCUDA
            # A DLPack-only CUDA array (JAX, ...): view it through torch, zero copy.
            try:
                import torch
            except ImportError:
                raise TypeError(f"{name}: CUDA arrays without __cuda_array_interface__ need torch") from None
            return _cuda_codes(torch.from_dlpack(x), bits, device, name)
        return None
    typestr = cai.get("typestr", "")
    if typestr not in ("|u1", "<u1", ">u1"):
        raise TypeError(f"{name} must be packed uint8 codes, got a CUDA array of typestr {typestr!r}")
    shape = tuple(cai["shape"])
    if len(shape) == 1:
        shape = (1, shape[0])
    _check_shape(shape, nbytes, bits, name)
    strides = cai.get("strides")
    contiguous = (nbytes, 1) if len(cai["shape"]) == 2 else (1,)
    if strides is not None and tuple(strides) != contiguous and shape[0] > 1:
        raise ValueError(f"{name} must be C-contiguous, got strides {tuple(strides)}")
    ptr = int(cai["data"][0])
    mod_cuda = _cuda_module()
    if shape[0] and mod_cuda.pointer_device(ptr) != device:
        raise ValueError(f"{name} are not on cuda:{device} (the index's device)")
    stream = cai.get("stream")
    stream = 0 if stream in (None, 1, 2) else int(stream)
    kind = "cupy" if mod.startswith("cupy") else "other"
    if kind == "cupy":
        import cupy

        stream = cupy.cuda.get_current_stream().ptr
    return _DeviceCodes(ptr, shape[0], stream, kind, x)


def _check_shape(shape, nbytes, bits, name):
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (n, {nbytes}), got shape {shape}")
    if shape[1] != nbytes:
        raise ValueError(
            f"{name} must have {nbytes} bytes per row for {bits}-bit codes, got {shape[1]} (shape {shape})"
        )


def _as_weights(weights, bits: int, nq: int):
    """Validated float32 weights of shape (1, bits) or (nq, bits), or None (the CPU rules)."""
    if weights is None:
        return None
    if type(weights).__module__.startswith("torch") and hasattr(weights, "detach"):
        weights = weights.detach().cpu()  # weights are quantised on the host
    w = as_weights(weights, bits, nq)
    return w.reshape(1, bits) if w.ndim == 1 else w


class GpuFlatIndex(BinaryIndex):
    """Exact k-NN, range and weighted Hamming search on one CUDA GPU.

    Same API and results as :class:`deephash.FlatIndex` (same ids, same order, ties by id),
    computed by fused CUDA kernels (distance and top-k in one pass, no distance matrix).

    Parameters
    ----------
    bits : int
        Code length, a positive multiple of 8, at most 8192 (``deephash._core.MAX_BITS``).
    device : int
        CUDA device ordinal.

    Raises
    ------
    RuntimeError
        deephash was built without CUDA, or no usable CUDA device exists (the message says which).

    Notes
    -----
    Codes are stored on the device sorted by id (stable), so ``codes``, ``ids``, :meth:`to_cpu`
    and :meth:`save` give them in id order rather than insertion order; search results are
    unaffected. Each code occupies ``ceil(bits / 32) * 4 + 8`` bytes of device memory.
    At most 2**32 - 2 codes; ``k`` up to :attr:`max_k` (24,576 on an H100).

    Thread safety: as the CPU indexes, searches run concurrently and each ``add`` / ``remove``
    runs alone (a reader-writer lock in the C++ index), so every result comes from one
    consistent state. ``codes`` and ``ids`` are host copies taken under that lock.
    """

    def __init__(self, bits: int, device: int = 0) -> None:
        mod = _require_cuda()
        bits = check_bits(bits)
        device = _check_device(device, mod.device_count()[0])
        self._impl = mod.GpuFlatIndex(bits, device)

    # -- properties (bits, code_size, len, ntotal, memory_bytes come from BinaryIndex) ----------
    @property
    def device(self) -> int:
        """CUDA device ordinal holding the index."""
        return self._impl.device

    @property
    def max_k(self) -> int:
        """Largest k :meth:`search` accepts on this device."""
        return int(_cuda_module().max_k(self.device))

    def __repr__(self) -> str:
        return f"GpuFlatIndex(bits={self.bits}, n={len(self)}, device={self.device})"

    @property
    def codes(self) -> Codes:
        """Copy of the stored codes (n, bits // 8) on the host, in storage (id) order."""
        return self._impl.copy_out()[0]

    @property
    def ids(self) -> Ids:
        """Copy of the stored ids (n,) on the host, in storage (id) order."""
        return self._impl.copy_out()[1]

    # -- modification -----------------------------------------------------------------------
    def add(self, codes: DeviceArrayLike, ids: Optional[DeviceArrayLike] = None) -> None:
        """Adds codes.

        Parameters
        ----------
        codes : uint8 array (n, bits // 8)
            numpy array, or a CUDA array on the index's device (read in place).
        ids : int64 array (n,), optional
            Defaults to ``len(self), len(self) + 1, ...``.
        """
        dev = _cuda_codes(codes, self.bits, self.device, "codes")
        if dev is None:
            codes = as_codes(codes, self.bits)
            n = codes.shape[0]
        else:
            n = dev.n
        id_arr = None if ids is None else as_ids(_host(ids), n, stored=True)
        if len(self) + n > 2**32 - 2:
            raise ValueError(f"a GpuFlatIndex holds at most 2**32 - 2 codes, got {len(self)} + {n}")
        if dev is None:
            self._impl.add_host(codes, id_arr)
        else:
            self._impl.add_device(dev.ptr, n, id_arr, dev.stream)

    def remove(self, ids: DeviceArrayLike) -> int:
        """Removes every code whose id is in ``ids``; returns how many codes were removed."""
        return int(self._impl.remove(as_ids(_host(ids), -1)))

    def reserve(self, n: int) -> None:
        """Allocates device memory for n codes up front."""
        self._impl.reserve(int(n))

    # -- search -----------------------------------------------------------------------------
    def search(
        self, queries: DeviceArrayLike, k: int, weights: Optional[DeviceArrayLike] = None
    ) -> Tuple[DeviceArrayLike, DeviceArrayLike]:
        """Exact k nearest neighbours in (weighted) Hamming distance.

        Parameters
        ----------
        queries : uint8 array (nq, bits // 8)
            numpy array (results in numpy) or CUDA array on the index's device (results on it).
        k : int, 1 <= k <= max_k
        weights : float32 array (bits,) or (nq, bits), optional
            Per-bit weights (>= 0, finite), shared or per query. Quantised exactly like the CPU
            weighted search (units of 2**e with P = 22 - ceil(log2(bits)) bits of precision
            relative to the largest weight; see deephash/weighted.hpp), so results are equal.

        Returns
        -------
        distances : int32 (nq, k), or float32 with weights
        ids : int64 (nq, k)
            Rows sorted by (distance, id); padded with id -1 and distance 2**31 - 1 (inf when
            weighted) when the index holds fewer than k codes.
        """
        k = check_k(k)
        kmax = self.max_k
        if k > kmax:
            raise ValueError(f"k must be <= {kmax} on this device, got {k}")
        dev = _cuda_codes(queries, self.bits, self.device, "queries")
        if dev is None:
            queries = as_codes(queries, self.bits, "queries")
            w = _as_weights(weights, self.bits, queries.shape[0])
            return self._impl.search_host(queries, k, w)
        w = _as_weights(weights, self.bits, dev.n)
        d, i = self._impl.search_device(dev.ptr, dev.n, k, w, dev.stream)
        return dev.wrap(d, self.device), dev.wrap(i, self.device)

    def range_search(
        self, queries: DeviceArrayLike, radius: Union[int, float], weights: Optional[DeviceArrayLike] = None
    ) -> Tuple[DeviceArrayLike, DeviceArrayLike, DeviceArrayLike]:
        """Every code within (weighted) distance <= radius of each query.

        Parameters
        ----------
        queries : uint8 array (nq, bits // 8), numpy or CUDA
        radius : int (Hamming), or float with weights (as float32, compared with the reported
            distances; ``math.inf`` allowed)
        weights : float32 array (bits,) or (nq, bits), optional

        Returns
        -------
        lims : int64 (nq + 1,)
        distances : int32 (lims[-1],), float32 with weights
        ids : int64 (lims[-1],)
            Results of query i are ``ids[lims[i]:lims[i + 1]]``, sorted by (distance, id).
        """
        r = check_radius(radius) if weights is None else check_weighted_radius(radius)
        dev = _cuda_codes(queries, self.bits, self.device, "queries")
        if dev is None:
            queries = as_codes(queries, self.bits, "queries")
            w = _as_weights(weights, self.bits, queries.shape[0])
            return self._impl.range_search(0, queries, queries.shape[0], float(r), w, 0, True)
        w = _as_weights(weights, self.bits, dev.n)
        out = self._impl.range_search(dev.ptr, None, dev.n, float(r), w, dev.stream, False)
        return tuple(dev.wrap(a, self.device) for a in out)

    # -- conversion and persistence ---------------------------------------------------------
    def to_cpu(self) -> FlatIndex:
        """A :class:`deephash.FlatIndex` with the same codes and ids (in id order)."""
        codes, ids = self._impl.copy_out()
        index = FlatIndex(self.bits)
        if codes.shape[0]:
            index.add(codes, ids)
        return index

    @classmethod
    def from_cpu(cls, index: BinaryIndex, device: int = 0) -> GpuFlatIndex:
        """A GPU copy of a CPU index (anything with ``bits``, ``codes`` and ``ids``)."""
        gpu = cls(index.bits, device)
        if len(index):
            gpu.reserve(len(index))
            gpu.add(np.ascontiguousarray(index.codes), np.ascontiguousarray(index.ids))
        return gpu

    def save(self, path: PathLike) -> None:
        """Saves in the deephash index format (loadable by :func:`deephash.load` on any machine)."""
        self.to_cpu().save(path)

    @classmethod
    def load(cls, path: PathLike, device: int = 0) -> GpuFlatIndex:
        """Loads a saved flat index onto a GPU."""
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {describe(path)}")
        return cls.from_cpu(load(path, mmap=True), device)


def _host(x):
    """Ids may come as CUDA tensors: bring them to the host (they are small next to codes)."""
    if type(x).__module__.startswith("torch") and getattr(x, "is_cuda", False):
        return x.detach().cpu().numpy()
    if hasattr(x, "__cuda_array_interface__") and not isinstance(x, np.ndarray):
        try:
            import cupy

            return cupy.asnumpy(x)
        except ImportError:
            raise TypeError("ids on the GPU need CuPy or torch to be read; pass a numpy array") from None
    return x


# BinaryIndex.to_gpu makes its copy through this module, which builds on index.py: the
# conversion is registered here rather than imported there (no import cycle).
register_gpu_copy(GpuFlatIndex.from_cpu)

"""Fast CPU inference for frozen image networks: an exported ONNX graph run by OpenVINO or ONNX Runtime.

PyTorch stays the reference and the fallback. The graph of a network (with the image conversion
of :func:`~deephash.models.images_to_tensor` inside it, so it takes the decoded images as they
are: uint8 or float32 (b, H, W, C)) is exported once per weights and input format and cached in
the ``engines`` folder of deephash's cache root (``$DEEPHASH_CACHE_DIR``, see
:mod:`deephash._cache`), under a name that is a digest of the weights, the input format, the
exporter and the network's configuration. A process loads each graph once; later calls reuse the
loaded session until the weights change (training, ``load_state_dict``).

Choosing the engine: ``DEEPHASH_ENGINE`` = ``auto`` (default), ``torch``, ``onnx`` (ONNX Runtime)
or ``openvino``, read at every call.

- ``auto``: on the CPU, for a network that declares it (``fast_engine = True``: EfficientNet-Lite0
  and its part below a cut) and a call that computes at least :data:`AUTO_MIN_ROWS` rows, the
  fastest engine installed (OpenVINO, else ONNX Runtime), else PyTorch. Smaller calls run in
  PyTorch (a first export costs seconds), unless inside :func:`large_job` (a stream of batches).
- ``onnx`` / ``openvino``: every call on the CPU, any ``torch.nn.Module`` image network.
- ``torch``: today's PyTorch path.

An engine that is asked for but not installed, or a graph that fails to export, load or agree
with PyTorch on a check batch, falls back to PyTorch with one :class:`EngineFallbackWarning`
per cause and process. On a GPU the network always runs in PyTorch.

Both engines compute in float32 (OpenVINO's bfloat16 default on AMX CPUs is turned off): codes
agree with PyTorch's on >= 99.9% of bits (see ``bench/README.md``). ``DEEPHASH_ENGINE_PRECISION=bf16``
(read at every call; default ``f32``) lets OpenVINO compute in bfloat16 where the CPU has it:
faster, with fewer agreeing bits (measured in ``bench/README.md``); ONNX Runtime ignores it.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import threading
import warnings
import weakref
from pathlib import Path

import numpy as np

from .._cache import cache_subdir
from .._torch import require_torch

__all__ = [
    "AUTO_MIN_ROWS",
    "ENGINES",
    "EngineFallbackWarning",
    "available_engines",
    "engine_cache_dir",
    "engine_runner",
    "large_job",
    "requested_engine",
    "requested_precision",
]

ENGINES = ("auto", "torch", "onnx", "openvino")
# Fastest first (measured: bench/bench_engine.py, bench/README.md).
_FAST_ORDER = ("openvino", "onnx")
AUTO_MIN_ROWS = 256
OPSET = 17
# Bumped when the exported wrapper changes, so old cached graphs are not reused.
GRAPH_FORMAT = 1


class EngineFallbackWarning(RuntimeWarning):
    """A fast engine was asked for (or chosen) but the network runs in PyTorch; says why."""


def requested_engine() -> str:
    """The engine ``DEEPHASH_ENGINE`` names (``"auto"`` when unset or empty).

    Raises ValueError for another value.
    """
    value = os.environ.get("DEEPHASH_ENGINE", "").strip().lower() or "auto"
    if value not in ENGINES:
        raise ValueError(
            f"DEEPHASH_ENGINE must be one of {', '.join(ENGINES)}, got {os.environ.get('DEEPHASH_ENGINE')!r}"
        )
    return value


def requested_precision() -> str:
    """``DEEPHASH_ENGINE_PRECISION``: ``"f32"`` (default) or ``"bf16"`` (OpenVINO only).

    Raises ValueError for another value.
    """
    value = os.environ.get("DEEPHASH_ENGINE_PRECISION", "").strip().lower() or "f32"
    if value not in ("f32", "bf16"):
        raise ValueError(
            f"DEEPHASH_ENGINE_PRECISION must be f32 or bf16, got {os.environ.get('DEEPHASH_ENGINE_PRECISION')!r}"
        )
    return value


def _importable(engine: str) -> str | None:
    """None when ``engine`` can run here, else why not."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes the graph through it)
    except ImportError:
        return "the package onnx is not installed (pip install 'deephash[torch]')"
    try:
        if engine == "onnx":
            import onnxruntime  # noqa: F401
        else:
            import openvino  # noqa: F401
    except ImportError:
        pkg = "onnxruntime" if engine == "onnx" else "openvino"
        return f"the package {pkg} is not installed (pip install 'deephash[torch]')"
    return None


def available_engines() -> list:
    """Engines that can run here: ``"torch"`` and the installed fast ones (fastest first)."""
    return ["torch"] + [e for e in _FAST_ORDER if _importable(e) is None]


def engine_cache_dir() -> Path:
    """The ``engines`` folder of deephash's cache root (exported graphs, ``<digest>.onnx``)."""
    return cache_subdir("engines")


_JOB: contextvars.ContextVar = contextvars.ContextVar("deephash_large_job", default=False)


@contextlib.contextmanager
def large_job():
    """Within this block, ``auto`` treats every call as part of one large job: the fast engine
    runs even calls of fewer than :data:`AUTO_MIN_ROWS` rows (a stream encoded batch by batch)."""
    token = _JOB.set(True)
    try:
        yield
    finally:
        _JOB.reset(token)


_WARNED: set = set()


def _warn_once(key, message: str) -> None:
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(message + "; running in PyTorch", EngineFallbackWarning, stacklevel=4)


def _choose(module, device, rows) -> str:
    """The engine for this call: "torch", "onnx" or "openvino" (warns once on a fallback)."""
    torch = require_torch()
    asked = requested_engine()
    if asked == "torch" or not isinstance(module, torch.nn.Module):
        return "torch"
    if device is not None and torch.device(device).type != "cpu":
        return "torch"
    if asked == "auto":
        small = rows is not None and rows < AUTO_MIN_ROWS and not _JOB.get()
        if not getattr(module, "fast_engine", False) or small:
            return "torch"
        for e in _FAST_ORDER:
            if _importable(e) is None:
                return e
        return "torch"  # no fast engine installed: today's path, silently (see available_engines)
    why = _importable(asked)
    if why is not None:
        _warn_once(("missing", asked), f"DEEPHASH_ENGINE={asked}: {why}")
        return "torch"
    return asked


# -- export ------------------------------------------------------------------------------
def _image_graph(module, scale: bool):
    """The network with images_to_tensor inside: (b, H, W, C) uint8 or float32 -> its output."""
    torch = require_torch()

    class ImageGraph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = module

        def forward(self, x):
            x = x.to(torch.float32)
            if scale:
                x = x / 255.0
            return self.inner(x.permute(0, 3, 1, 2))

    return ImageGraph()


def _tensors(module) -> list:
    """The tensors the module's output depends on (its ``engine_tensors()``, else its state)."""
    fn = getattr(module, "engine_tensors", None)
    if callable(fn):
        return list(fn())
    return list(module.state_dict(keep_vars=True).values())


def _digest(tensors) -> str:
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)};".encode())
        arr = t.view(require_torch().int16).numpy() if t.dtype == require_torch().bfloat16 else t.numpy()
        h.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
    return h.hexdigest()


def _export(module, row_shape, dtype, path: Path) -> None:
    """Exports the image graph of ``module`` to ``path`` (atomically: temporary, fsync, rename)."""
    torch = require_torch()
    graph = _image_graph(module, dtype == np.uint8).eval()
    sample = torch.zeros((2,) + tuple(row_shape), dtype=torch.uint8 if dtype == np.uint8 else torch.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.onnx")
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
            torch.onnx.export(
                graph,
                (sample,),
                str(tmp),
                dynamo=False,
                input_names=["images"],
                output_names=["rows"],
                dynamic_axes={"images": {0: "n"}, "rows": {0: "n"}},
                opset_version=OPSET,
                do_constant_folding=True,
            )
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _Session:
    """A loaded graph: ``session(batch)`` -> numpy rows; ``batch`` (b, H, W, C) of the graph's dtype."""

    def __init__(self, engine: str, path: Path, threads: int, precision: str = "f32"):
        self.engine = engine
        self.path = path
        if engine == "onnx":
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._ort = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        else:
            import openvino as ov

            core = ov.Core()
            config = {
                "INFERENCE_NUM_THREADS": threads,
                "INFERENCE_PRECISION_HINT": precision,
                "PERFORMANCE_HINT": "LATENCY",
            }
            self._ov = core.compile_model(core.read_model(str(path)), "CPU", config)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.engine == "onnx":
            return self._ort.run(None, {"images": batch})[0]  # thread-safe
        request = self._ov.create_infer_request()  # one per call: callers may share the session across threads
        request.infer([batch])
        return np.array(request.get_output_tensor(0).data, copy=True)


def _check(module, session: _Session, row_shape, dtype, loose: bool = False) -> str | None:
    """None when the graph agrees with PyTorch on a seeded check batch, else the difference."""
    torch = require_torch()
    rng = np.random.default_rng(0)
    shape = (3,) + tuple(row_shape)
    batch = rng.integers(0, 256, shape, dtype=np.uint8) if dtype == np.uint8 else rng.random(shape, dtype=np.float32)
    got = np.asarray(session(batch), dtype=np.float64)
    with torch.inference_mode():
        out = _image_graph(module, dtype == np.uint8)(torch.from_numpy(batch))
    half = out.dtype in (torch.float16, torch.bfloat16)
    ref = out.float().numpy().astype(np.float64)
    if got.shape != ref.shape:
        return f"output shape {got.shape}, PyTorch {ref.shape}"
    # float16 outputs (activations at a cut) may round the other way: one unit in 2^-11
    tol = (1e-1 if loose else 2e-3 if half else 1e-4) * max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    diff = float(np.abs(got - ref).max()) if ref.size else 0.0
    if not np.isfinite(diff) or diff > tol:
        return f"max abs difference {diff:.3g} from PyTorch on a check batch (tolerance {tol:.3g})"
    return None


# -- the per-process memo -----------------------------------------------------------------
class _Entry:
    def __init__(self, tensors, versions, session):
        self.tensors = tensors  # held, so that no other tensor can take their identity
        self.versions = versions
        self.session = session

    def current(self, tensors) -> bool:
        return len(tensors) == len(self.tensors) and all(
            a is b and a._version == v for a, b, v in zip(tensors, self.tensors, self.versions)
        )


_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Serialises finding, exporting and loading graphs (not running them): two threads never export
# the same graph at once.
_LOCK = threading.RLock()


def _session_for(module, engine: str, row_shape, dtype, precision: str = "f32") -> _Session | None:
    """The loaded graph of ``module`` for this input format (exported or loaded when needed)."""
    with _LOCK:
        return _find_or_export(module, engine, row_shape, dtype, precision)


def _find_or_export(module, engine, row_shape, dtype, precision) -> _Session | None:
    torch = require_torch()
    owner = getattr(module, "engine_owner", module)
    threads = max(1, torch.get_num_threads())
    config = (
        f"g{GRAPH_FORMAT}|{type(module).__module__}.{type(module).__qualname__}|{getattr(module, 'engine_key', '')}"
        f"|{tuple(int(s) for s in row_shape)}|{np.dtype(dtype).str}|opset{OPSET}|torch{torch.__version__}"
    )
    memo = _MEMO.setdefault(owner, {})
    tensors = _tensors(module)
    entry = memo.get((config, engine, threads, precision))
    if entry is not None and entry.current(tensors):
        return entry.session
    versions = [t._version for t in tensors]
    name = hashlib.blake2b(f"{config}|{_digest(tensors)}".encode(), digest_size=16).hexdigest()
    path = engine_cache_dir() / f"{name}.onnx"
    session = None
    was_training = module.training
    module.eval()
    try:
        for attempt in range(2):
            if not path.is_file():
                _export(module, row_shape, dtype, path)
            try:
                session = _Session(engine, path, threads, precision)
                break
            except Exception:
                if attempt:
                    raise
                path.unlink(missing_ok=True)  # a damaged cached graph: export it again
        problem = _check(module, session, row_shape, dtype, loose=precision != "f32")
    except Exception as e:  # the exporter and the engines raise many types
        _warn_once(("export", config, engine), f"{engine} could not run {type(module).__name__}: {e}")
        return None
    finally:
        module.train(was_training)
    if problem is not None:
        _warn_once(("check", config, engine), f"{engine} graph of {type(module).__name__} disagrees: {problem}")
        return None
    memo[(config, engine, threads, precision)] = _Entry(tensors, versions, session)
    return session


def engine_runner(module, x: np.ndarray, *, device=None, rows=None):
    """A fast engine's forward for images like ``x``, or None to run ``module`` in PyTorch.

    Parameters
    ----------
    module : torch.nn.Module or callable
        Takes float32 (b, C, H, W) in [0, 1] (as made by ``images_to_tensor``).
    x : numpy.ndarray
        Images (n, H, W) or (n, H, W, C), uint8 or float; only the per-row shape and the dtype
        are used.
    device : torch.device, str or None
        Where the module runs; a fast engine only runs for the CPU (or None).
    rows : int or None
        How many rows the call will compute (``auto`` keeps small calls in PyTorch).

    Returns
    -------
    None, or a callable: numpy images (b, H, W[, C]) of ``x``'s per-row shape and dtype -> numpy
    rows (b, ...), the module's output (float32, or its own dtype).
    """
    engine = _choose(module, device, rows)
    if engine == "torch" or x.ndim not in (3, 4):
        return None
    row_shape = tuple(x.shape[1:]) if x.ndim == 4 else tuple(x.shape[1:]) + (1,)
    dtype = np.uint8 if x.dtype == np.uint8 else np.float32
    precision = requested_precision() if engine == "openvino" else "f32"
    session = _session_for(module, engine, row_shape, dtype, precision)
    if session is None:
        return None

    def run(batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=dtype)
        return session(batch.reshape((batch.shape[0],) + row_shape))

    run.engine = engine
    return run

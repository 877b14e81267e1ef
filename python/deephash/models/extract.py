"""Running a frozen backbone over a data set in batches, through the feature cache."""

from __future__ import annotations

import numpy as np

from .._torch import require_torch
from .engine import engine_runner
from .feature_cache import FeatureCache, row_keys
from .image_input import images_to_tensor

__all__ = ["extract_features"]


def extract_features(
    module,
    x: np.ndarray,
    *,
    tag=None,
    cache_dir=None,
    batch_size: int = 128,
    device=None,
    progress: bool = True,
    flush_rows: int = 4096,
    desc: str = "features",
) -> np.ndarray:
    """Features of a frozen backbone for image arrays or texts, reusing and filling the on-disk cache.

    Parameters
    ----------
    module : torch.nn.Module or callable
        The backbone (or the part below a cut); run in eval mode in inference mode. It takes
        (b, C, H, W) float in [0, 1], or a list of str when its ``input_kind`` is ``"texts"``,
        and returns (b, ...) rows of any shape and dtype, stored as they come (a callable that
        is not a module is run as is).
    x : numpy.ndarray
        Images (n, H, W) or (n, H, W, C), uint8 or float in [0, 1]; or a 1-D object array of
        str for a text backbone.
    tag : str or None
        Cache tag of the backbone configuration; None (or ``cache_dir=None``) disables caching.
    cache_dir : str, Path or None
        Cache root directory.
    batch_size : int
        Images per forward pass.
    flush_rows : int
        New features are written to the cache every ``flush_rows`` rows, so an interrupted run
        keeps most of its work.

    Notes
    -----
    On the CPU, image modules run in a fast engine when ``DEEPHASH_ENGINE`` allows it (see
    :mod:`deephash.models.engine`: an exported ONNX graph in OpenVINO or ONNX Runtime, the same
    rows as PyTorch to ~1e-5); the export happens on the first such call and is cached.

    Returns
    -------
    numpy.ndarray (n, ...): float32 (n, out_dim) for a backbone's features; the module's output
    shape and dtype in general
    """
    torch = require_torch()
    n = x.shape[0]
    cache = FeatureCache(cache_dir, tag) if (tag is not None and cache_dir is not None) else None
    if cache is not None:
        keys = row_keys(x)
        found, feats = cache.lookup(keys)
    else:
        keys = None
        found, feats = np.zeros(n, dtype=bool), None
    todo = np.flatnonzero(~found)
    if todo.size == 0:
        return feats
    if device is None:
        # Parameter-free backbones (hand-crafted, lazily loaded) say where they are by a buffer;
        # a plain callable runs on the CPU.
        tensor = None
        if isinstance(module, torch.nn.Module):
            tensor = next(module.parameters(), None)
            if tensor is None:
                tensor = next(module.buffers(), None)
        device = tensor.device if tensor is not None else "cpu"
    is_module = isinstance(module, torch.nn.Module)
    texts = getattr(module, "input_kind", "images") == "texts"
    was_training = module.training if is_module else False
    if is_module:
        module.eval()
    # images on the CPU: the exported graph in OpenVINO / ONNX Runtime when DEEPHASH_ENGINE allows
    runner = None if texts else engine_runner(module, x, device=device, rows=int(todo.size))
    pending = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(todo.size), desc=desc, unit="text" if texts else "img", leave=False)
    try:
        with torch.inference_mode():
            for start in range(0, todo.size, batch_size):
                idx = todo[start : start + batch_size]
                if runner is not None:
                    rows = runner(x[idx])
                else:
                    # Text backbones take the strings themselves (they tokenise on their device).
                    xb = list(x[idx]) if texts else images_to_tensor(x[idx], torch).to(device)
                    rows = module(xb).cpu().numpy()
                if feats is None:
                    feats = np.zeros((n,) + rows.shape[1:], dtype=rows.dtype)
                feats[idx] = rows
                pending.append(idx)
                if bar is not None:
                    bar.update(idx.size)
                if cache is not None and sum(p.size for p in pending) >= flush_rows:
                    done = np.concatenate(pending)
                    cache.add(keys[done], feats[done])
                    pending = []
        if cache is not None and pending:
            done = np.concatenate(pending)
            cache.add(keys[done], feats[done])
    finally:
        if bar is not None:
            bar.close()
        if is_module:
            module.train(was_training)
    return feats

"""Loading saved models: ``deephash.methods.load(path)``."""

from __future__ import annotations

import json

import numpy as np

from .base import FORMAT_TAG, FORMAT_VERSION
from .config import TrainConfig
from .registry import method_class

__all__ = ["load", "method_class"]


def load(path, backbone=None, device=None):
    """Loads a model written by ``method.save(path)``.

    Parameters
    ----------
    path : str or Path
    backbone : torch.nn.Module, optional
        Required when the model was trained with a custom module backbone (only its weights are
        saved); ignored otherwise.
    device : str, optional
        Where to run the loaded network (default: a GPU when present, else the CPU).

    Returns
    -------
    HashingMethod
        A fitted model; ``encode`` gives the same codes as the saved one.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"no saved model at {path}") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} is not a deephash model file ({e})") from None
    with archive:
        if "__meta__" not in archive.files:
            raise ValueError(f"{path} is not a deephash model file (no metadata)")
        meta = json.loads(str(archive["__meta__"]))
        arrays = {k[2:]: archive[k] for k in archive.files if k.startswith("a/")}
    if meta.get("format") != FORMAT_TAG or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported model format {meta.get('format')!r} version {meta.get('version')!r}")
    cls = method_class(meta["method"])
    cfg = dict(meta["config"])
    if device is not None:
        cfg["device"] = device
    config = TrainConfig(**cfg)
    bb = meta.get("backbone")
    if bb is None:
        if backbone is None:
            raise ValueError(f"{path} was trained with a custom backbone module; pass it: load(path, backbone=module)")
        bb = backbone
    model = cls.from_saved(
        bits=meta["bits"], backbone=bb, seed=meta["seed"], config=config, hyperparameters=meta["hyperparameters"]
    )
    model._restore(meta, arrays)
    return model

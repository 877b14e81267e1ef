"""The scikit-learn-like surface every hashing method shares: fit, transform, encode, save."""

from __future__ import annotations

import json
import numbers
from typing import Optional

import numpy as np

from .._typing import ArrayLike, Codes, NDArray, PathLike
from .._validate import describe
from ..codes import pack_bits
from .config import TrainConfig

__all__ = ["HashingMethod", "FORMAT_TAG"]

FORMAT_TAG = "deephash-model"
FORMAT_VERSION = 1


class HashingMethod:
    """Base class: a hashing method maps inputs to ``bits``-bit binary codes.

    Parameters
    ----------
    bits : int
        Code length. Codes are packed in whole bytes: for a length that is not a multiple of 8
        (the literature's 12 and 24 bits), ``encode`` pads each code with zero bits up to
        ``code_bits`` (the next multiple of 8); the padding is the same in every code, so
        Hamming distances are those of the ``bits``-bit codes.
    backbone : str, dict or torch.nn.Module
        Feature extractor (see :mod:`deephash.models`).
    seed : int
        Seeds weight initialisation, batch order and random projections: the same seed on the
        same data gives the same codes.
    config : TrainConfig, optional
        Training settings; its fields may also be given as keyword arguments.
    **hyperparameters
        The method's own hyperparameters (listed in its docstring), or TrainConfig fields.

    Notes
    -----
    Subclasses define ``name``, ``hyperparameters`` (a tuple of
    :class:`~deephash.methods.hyperparameters.Hyperparameter`: name, type, range, default, doc;
    every value is checked here, at construction), ``renamed`` (old name -> new name, accepted
    with a DeprecationWarning), ``config_fields`` (the TrainConfig fields the method uses; others
    set away from their defaults are refused here) and ``supervised``, and implement ``fit``,
    ``transform``, ``_state`` and ``_restore``.

    Attributes
    ----------
    supervised : bool (class attribute)
        True when ``fit`` needs labels. Unsupervised methods are fitted with ``fit(x)`` and
        accept and ignore labels (scikit-learn's ``fit(x, y=None)``), so callers can treat every
        method alike.
    """

    name = "base"
    #: The method's hyperparameters (declarations, checked at construction).
    hyperparameters: tuple = ()
    #: name -> default, derived from ``hyperparameters`` (a subclass without declarations may set
    #: it directly; its values are then not checked).
    hyperparameter_defaults: dict = {}
    #: Hyperparameters that take one of a fixed set of values: name -> the allowed values
    #: (for subclasses without declarations; a declaration's ``choices`` does the same).
    hyperparameter_choices: dict = {}
    #: Deprecated hyperparameter names: old -> new.
    renamed: dict = {}
    #: The TrainConfig fields this method reads (None: all). Methods that do not train read only
    #: what a frozen backbone's feature extraction needs.
    config_fields = frozenset({"device", "progress", "cache_dir", "feature_batch_size"})
    default_backbone = "features"
    supervised = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "hyperparameters" in cls.__dict__:
            cls.hyperparameter_defaults = {h.name: h.default for h in cls.hyperparameters}

    def __init__(self, bits: int = 48, backbone=None, seed: int = 0, config=None, **hyperparameters):
        if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
            raise TypeError(f"bits must be an int, got {describe(bits)}")
        if not 1 <= bits <= 4096:
            raise ValueError(f"bits must be between 1 and 4096, got {bits}")
        self.bits = int(bits)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        self.backbone = self.default_backbone if backbone is None else backbone
        if config is None:
            config = TrainConfig()
        elif not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a deephash.methods.TrainConfig, got {describe(config)}")
        params = dict(self.hyperparameter_defaults)
        overrides = {}
        cfg_fields = TrainConfig.field_names()
        owner = type(self).__name__
        for old, new in self.renamed.items():
            if old in hyperparameters:
                if new in hyperparameters:
                    raise TypeError(f"{owner}: give {new}= or its deprecated name {old}=, not both")
                if not getattr(self, "_loading", False):  # saved files keep their names silently
                    import warnings

                    warnings.warn(
                        f"{owner}({old}=...) is deprecated; the hyperparameter is called {new!r}",
                        DeprecationWarning,
                        stacklevel=3,
                    )
                hyperparameters[new] = hyperparameters.pop(old)
        for key, value in hyperparameters.items():
            if key in params:
                params[key] = value
            elif key in cfg_fields:
                overrides[key] = value
            else:
                raise TypeError(
                    f"{type(self).__name__} got an unknown argument {key!r}; its hyperparameters "
                    f"are {sorted(params) or 'none'} and training settings {sorted(cfg_fields)}"
                )
        for key, allowed in self.hyperparameter_choices.items():
            if params[key] not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, got {params[key]!r}")
        for h in self.hyperparameters:
            h.check(params[h.name], owner)
        self.params = params
        self.config = config.replace(**overrides) if overrides else config
        if self.config_fields is not None and not getattr(self, "_loading", False):
            default = TrainConfig()
            unused = sorted(
                f for f in cfg_fields - set(self.config_fields) if getattr(self.config, f) != getattr(default, f)
            )
            if unused:
                raise TypeError(
                    f"{owner} does not use the training setting(s) {', '.join(unused)} (it would ignore "
                    f"them); it reads {sorted(self.config_fields) or 'none'}"
                )
        self._check_settings()
        self._fitted = False

    def _check_settings(self) -> None:
        """Checks a combination of settings at construction (a subclass's extra rules); default none."""

    @classmethod
    def from_saved(cls, *, bits, backbone, seed, config, hyperparameters):
        """The unfitted method a saved model file describes: hyperparameters under their old
        names are renamed without a warning and the config is taken as saved (files written
        before these checks keep loading)."""
        obj = cls.__new__(cls)
        obj._loading = True
        try:
            obj.__init__(bits=bits, backbone=backbone, seed=seed, config=config, **hyperparameters)
        finally:
            del obj._loading
        return obj

    # -- the public surface -------------------------------------------------------------
    def fit(self, x: ArrayLike, labels: Optional[ArrayLike] = None) -> HashingMethod:  # pragma: no cover - abstract
        """Trains on ``x`` with ``labels`` (int (n,) or multi-hot (n, c); ignored when not
        ``supervised``); returns self."""
        raise NotImplementedError

    def transform(self, x: ArrayLike) -> NDArray[np.float32]:  # pragma: no cover - abstract
        """Real-valued outputs, float32 (n, bits); the code bit is ``output > 0``."""
        raise NotImplementedError

    @property
    def code_bits(self) -> int:
        """Length of the packed codes: ``bits`` rounded up to a multiple of 8."""
        return -(-self.bits // 8) * 8

    def encode(self, x: ArrayLike) -> Codes:
        """Packed binary codes of ``x``: C-contiguous uint8 (n, code_bits // 8) (``deephash.pack_bits``).

        Bit j of a code is ``transform(x)[:, j] > 0``; bits from ``bits`` to ``code_bits`` are 0.
        """
        return self._pack(self.transform(x))

    def _pack(self, u: np.ndarray) -> Codes:
        """Packs real outputs (n, bits) into codes ``u > 0``, zero-padded to ``code_bits``."""
        if u.shape[1] != self.code_bits:
            u = np.concatenate([u, np.zeros((u.shape[0], self.code_bits - u.shape[1]), u.dtype)], 1)
        return pack_bits(u)

    def fit_encode(self, x: ArrayLike, labels: Optional[ArrayLike] = None) -> Codes:
        """``fit(x, labels).encode(x)``."""
        return self.fit(x, labels).encode(x)

    def _check_fitted(self):
        if not self._fitted:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(x, labels) first")

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Writes the model (weights and config) to ``path`` (a NumPy .npz archive, no pickle).

        ``deephash.methods.load(path)`` returns a model that encodes identically.
        """
        self._check_fitted()
        meta, arrays = self._state()
        meta = {
            "format": FORMAT_TAG,
            "version": FORMAT_VERSION,
            "method": self.name,
            "bits": self.bits,
            "seed": self.seed,
            "hyperparameters": self.params,
            "config": self.config.to_dict(),
            **meta,
        }
        payload = {"__meta__": np.array(json.dumps(meta))}
        for k, v in arrays.items():
            payload["a/" + k] = np.ascontiguousarray(v)
        with open(path, "wb") as f:
            np.savez(f, **payload)

    def _state(self):  # pragma: no cover - abstract
        """(meta dict of JSON values, dict of numpy arrays) describing the fitted model."""
        raise NotImplementedError

    def _restore(self, meta: dict, arrays: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        bb = self.backbone if not hasattr(self.backbone, "parameters") else type(self.backbone).__name__
        extra = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}(bits={self.bits}, backbone={bb!r}, seed={self.seed}{extra})"

"""The deep hashing methods' common part: build the network, train it through the one loop, encode.

A deep method is a composition trained by :mod:`deephash.training`: a backbone
(:mod:`deephash.models`), a head (``make_head``; by default :class:`deephash.models.HashHead`),
a loss (``make_loss``, composed from :mod:`deephash.losses.parts` or a class of its own) that
declares what it consumes, its miner (``make_miner``), its hooks (``make_hooks``) and, for losses
that learn target codes, ``make_targets``. A new method is one subclass naming these and a
registry line; the loop is not edited.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .._typing import ArrayLike, NDArray
from .base import HashingMethod
from .inputs import as_inputs, as_labels

__all__ = ["DeepHashingMethod"]


def _n_classes(y) -> int:
    if y is None:
        return 0
    return int(y.max()) + 1 if y.ndim == 1 else int(y.shape[1])


class DeepHashingMethod(HashingMethod):
    """A backbone, a head and a loss, trained with Adam by :func:`deephash.training.train`.

    Training: outputs ``u = head(backbone(x))``; the loop supplies the loss what it consumes
    (pairs or triplets against a memory bank of the training set's latest outputs
    (``TrainConfig.memory_bank``) or within the batch, target codes, class labels). A
    pretrained backbone is frozen unless ``TrainConfig.finetune``: its features are computed
    once (cached on disk) and only the head trains. ``TrainConfig.train_from_block`` cuts it
    instead: the activations below the cut are computed once (cached on disk, float16) and the
    blocks above train with the head (:mod:`deephash.models.partial`). Encoding: ``u > 0``.

    Subclasses define ``name``, ``hyperparameters``, ``make_loss`` and, where they
    differ from the defaults, ``head_activation``, ``frozen_head_hidden``, ``make_head``,
    ``init_head``, ``make_targets``, ``make_miner``, ``make_criterion``, ``make_hooks``,
    ``make_sampler`` and ``supervised``.
    """

    default_backbone = "mlp"
    config_fields = None  # every TrainConfig field
    head_activation = None
    supervised = True
    #: Hidden widths of the head on frozen features when ``TrainConfig.head_hidden`` is None.
    frozen_head_hidden = (256,)

    # -- what a method composes ----------------------------------------------------------
    def make_loss(self):  # pragma: no cover - abstract
        """The loss module (a :class:`deephash.losses.HashLoss`)."""
        raise NotImplementedError

    def make_head(self, in_dim: int, hidden, standardize: bool, n_classes: int = 0):
        """The head on ``in_dim`` backbone features; ``n_classes`` is the number of classes in
        the training labels (0 without labels), for heads with a classification layer.

        Default: :class:`deephash.models.HashHead` with the method's ``head_activation``.
        """
        from ..models import HashHead

        return HashHead(in_dim, self.bits, activation=self.head_activation, hidden=hidden, standardize=standardize)

    def init_head(self, head, features) -> None:
        """Initialises the head from the backbone's features of the training set (frozen
        backbones, after the head's ``fit_input``; vector inputs, from the untrained backbone;
        a seeded sample of ``INIT_HEAD_ROWS`` items when there are more).
        Not called for image and text backbones trained end to end. Default: keep the random
        initialisation."""

    def make_miner(self, loss):
        """The triplet miner of a loss that consumes triplets (None for other losses).

        Default: :class:`deephash.training.TripletMiner` with 4 triplets per anchor (graded when
        the loss consumes graded triplets), seeded by ``seed``; DNNH passes its own per_anchor.
        """
        from ..losses.base import Supervision
        from ..training import TripletMiner

        graded = Supervision.GRADED_TRIPLETS in loss.consumes
        if not graded and Supervision.TRIPLETS not in loss.consumes:
            return None
        per_anchor = getattr(loss, "triplets_per_anchor", None) or 4  # deprecated loss argument
        return TripletMiner(per_anchor, seed=self.seed, graded=graded)

    def make_criterion(self, loss, net, n: int, labels):
        """The loss with its miner, wrapped in a memory bank of the n training items' latest
        outputs when it compares items (pairs, triplets) and ``TrainConfig.memory_bank`` (None:
        the network's default) says so."""
        from ..losses.base import RELATIONAL
        from ..training import Criterion, MemoryBank

        miner = self.make_miner(loss)
        use_bank = self.config.memory_bank
        if use_bank is None:
            use_bank = net.bank_default
        if use_bank and loss.consumes & RELATIONAL and labels is not None:
            return MemoryBank(loss, n, self.bits, labels, miner)
        return Criterion(loss, miner)

    def make_hooks(self) -> list:
        """Hooks of the method's training run (see :mod:`deephash.training.hooks`); default none
        (the learning-rate schedule is added from ``TrainConfig.lr_schedule``)."""
        return []

    def make_sampler(self, n: int):
        """Which of the n training items each epoch visits (see :class:`deephash.training.Run`'s
        ``sampler``); default None: all of them, in a fresh permutation each epoch."""
        return None

    def make_targets(self, x, labels) -> np.ndarray:  # pragma: no cover - abstract
        """Target codes for losses that consume "targets": float32 (n, bits) in {-1, +1}."""
        raise NotImplementedError(f"{type(self).__name__} makes no target codes")

    # -- the network ---------------------------------------------------------------------
    def _network(self, n_classes: int):
        from ..training.network import Network

        def make_head(in_dim, hidden, standardize):
            return self.make_head(in_dim, hidden, standardize, n_classes=n_classes)

        return Network(
            self.backbone,
            self.bits,
            self.config,
            self.seed,
            make_head=make_head,
            frozen_head_hidden=self.frozen_head_hidden,
            init_head=self.init_head,
            label=self.name,
        )

    def _input_kind(self):
        return self._network(0).input_kind()

    # The fitted network's parts, read by tests and tools (the Network owns them).
    _backbone = property(lambda self: self._net.backbone)
    _head = property(lambda self: self._net.head)
    _spec = property(lambda self: self._net.spec)
    _info = property(lambda self: self._net.info)
    _frozen = property(lambda self: self._net.frozen)
    _cut = property(lambda self: self._net.cut)

    # -- training ------------------------------------------------------------------------
    def fit(self, x: ArrayLike, labels: Optional[ArrayLike] = None, *, callbacks: Sequence = ()) -> DeepHashingMethod:
        """Trains the network.

        Parameters
        ----------
        x : numpy.ndarray
            Feature vectors (n, d) for the "features"/"mlp" backbones; images (n, H, W[, C]),
            uint8 or float in [0, 1], for image backbones; a list of str for text backbones
            ("minilm", "text_cnn", "bow").
        labels : numpy.ndarray or None
            int class ids (n,) or multi-hot (n, c); a pair is similar when it shares a label.
            Required by supervised methods; unsupervised ones (``supervised = False``) ignore it.
        callbacks : sequence of hooks
            Extra hooks of the training run (:mod:`deephash.training.hooks`), after the method's
            own (``make_hooks``): schedules, continuations, logging, data-parallel training.

        Returns
        -------
        self
        """
        from ..losses.base import Supervision
        from ..models import resolve_device
        from ..training import Run, Stage, train
        from .._torch import require_torch

        if self.config.num_workers > 1:  # data-parallel over Ray workers, each running this fit
            from ..distributed.train import fit_data_parallel

            return fit_data_parallel(self, x, labels, callbacks=callbacks)
        torch = require_torch()
        x = as_inputs(x, self._input_kind())
        y = as_labels(labels, x.shape[0]) if self.supervised else None
        if x.shape[0] < 2:
            raise ValueError(f"training needs at least 2 inputs, got {x.shape[0]}")
        cfg = self.config
        device = resolve_device(cfg.device)
        self._n_classes = _n_classes(y)
        self._net = self._network(self._n_classes)
        self._net.build(x.shape, torch, x)
        self._input_shape = tuple(int(v) for v in x.shape[1:])
        n = x.shape[0]
        y_t = None
        if y is not None:
            y_t = torch.from_numpy(y.astype(np.int64) if y.ndim == 1 else y.astype(np.float32))
            y_t = y_t.to(device)
        rng = np.random.default_rng(self.seed)
        net = self._net.training_network(x, device, rng, torch)
        loss_fn = self.make_loss().to(device)
        targets = None
        if Supervision.TARGETS in loss_fn.consumes:
            t = np.asarray(self.make_targets(x, y), dtype=np.float32)
            if t.shape != (n, self.bits):
                raise ValueError(f"make_targets must return ({n}, {self.bits}), got {t.shape}")
            targets = torch.from_numpy(t).to(device)
        criterion = self.make_criterion(loss_fn, net, n, y_t)
        run = Run(
            [Stage(net, criterion, name=self.name)],
            n=n,
            config=cfg,
            rng=rng,
            device=device,
            labels=y_t,
            targets=targets,
            hooks=[*self.make_hooks(), *callbacks],
            desc=f"{self.name} {self.bits} bits",
            sampler=self.make_sampler(n),
        )
        train(run)
        self._loss = loss_fn
        self._fitted = True
        return self

    # -- encoding ------------------------------------------------------------------------
    def _head_outputs(self, x, pick, width: int, desc: str) -> np.ndarray:
        """``pick(head output)`` for every row of ``x``, float32 (n, width), in inference mode."""
        self._check_fitted()
        x = as_inputs(x, self._net.info.input_kind)
        if tuple(x.shape[1:]) != self._input_shape:
            raise ValueError(
                f"x must have per-item shape {self._input_shape} like the training data, got {tuple(x.shape[1:])}"
            )
        return self._net.outputs(x, pick, width, desc)

    def transform(self, x: ArrayLike) -> NDArray[np.float32]:
        """Real outputs of the code layer, float32 (n, bits); codes are ``outputs > 0``."""
        from ..models import code_outputs

        return self._head_outputs(x, code_outputs, self.bits, f"{self.name} encode")

    # -- persistence ---------------------------------------------------------------------
    def _state(self):
        net_meta, arrays = self._net.state()
        meta = {
            "backbone": self._spec if isinstance(self._spec, dict) else None,
            "input_kind": self._info.input_kind,
            "input_shape": list(self._input_shape),
            **net_meta,
            "n_classes": self._n_classes,
        }
        # a loss's own trained state (e.g. learned per-bit weights) is part of the model
        arrays.update({"loss/" + k: v.detach().cpu().numpy() for k, v in self._loss.state_dict().items()})
        return meta, arrays

    def _restore(self, meta, arrays):
        from .._torch import require_torch

        torch = require_torch()
        self._n_classes = int(meta.get("n_classes", 0))
        self._net = self._network(self._n_classes)
        self._input_shape = tuple(meta["input_shape"])
        self._net.restore(meta, arrays, self._input_shape)
        self._loss = self.make_loss()
        prefix = "loss/"
        self._loss.load_state_dict(
            {k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)},
            strict=True,
        )
        self._loss.to(self._net.device())
        self._fitted = True

"""The deep hashing methods' common part: build the network, train it through the one loop, encode.

A deep method is a composition trained by :mod:`deephash.training`: a backbone
(:mod:`deephash.models`), a head (``make_head``; by default :class:`deephash.models.HashHead`),
a loss (``make_loss``) that declares what it consumes, and, for losses that learn target codes,
``make_targets``. A new method is one subclass naming these, one loss class and a registry line.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .._typing import ArrayLike, NDArray
from .base import HashingMethod
from .inputs import as_inputs, as_labels
from ..training import TrainingNetwork, progress

__all__ = ["DeepHashingMethod"]


#: At most this many training items (a seeded sample) feed ``init_head``.
INIT_HEAD_ROWS = 100_000


def _init_rows(n: int, seed: int):
    """Indices of the training items ``init_head`` sees: all, or a seeded sample of INIT_HEAD_ROWS."""
    if n <= INIT_HEAD_ROWS:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(n, INIT_HEAD_ROWS, replace=False))


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

    Subclasses define ``name``, ``hyperparameter_defaults``, ``make_loss`` and, where they
    differ from the defaults, ``head_activation``, ``frozen_head_hidden``, ``make_head``,
    ``init_head``, ``make_targets`` and ``supervised``.
    """

    default_backbone = "mlp"
    head_activation = None
    supervised = True
    #: Hidden widths of the head on frozen features when ``TrainConfig.head_hidden`` is None.
    frozen_head_hidden = (256,)

    # -- what a method composes ----------------------------------------------------------
    def make_loss(self):  # pragma: no cover - abstract
        """The loss module (a :class:`deephash.losses.HashLoss`)."""
        raise NotImplementedError

    def make_head(self, in_dim: int, hidden, standardize: bool):
        """The head on ``in_dim`` backbone features (``self._n_classes`` is set when it is called).

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

    def make_targets(self, x, labels) -> np.ndarray:  # pragma: no cover - abstract
        """Target codes for losses that consume "targets": float32 (n, bits) in {-1, +1}."""
        raise NotImplementedError(f"{type(self).__name__} makes no target codes")

    # -- building ------------------------------------------------------------------------
    def _build(self, x_shape, torch, x=None):
        from ..models import build_backbone, normalize_spec
        from ..models.backbones import fit_spec

        spec = normalize_spec(self.backbone)
        if x is not None:
            spec = fit_spec(spec, x)  # e.g. the "bow" word list, saved in the spec
        # Initialise under a private seeded RNG so the global torch RNG is neither used nor changed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            backbone, info = build_backbone(spec, x_shape)
        self._cut = None
        if self.config.train_from_block is not None:
            from ..models.partial import check_cut

            if not info.pretrained:
                raise ValueError(
                    "TrainConfig.train_from_block needs a pretrained backbone "
                    "(efficientnet_lite0); one without weights trains whole"
                )
            self._cut = check_cut(backbone, self.config.train_from_block)
        self._frozen = bool(info.pretrained and not self.config.finetune and self._cut is None)
        hidden = self.config.head_hidden
        if hidden is None:
            hidden = list(self.frozen_head_hidden) if self._frozen else []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            head = self.make_head(backbone.out_dim, hidden, self._frozen)
        self._spec = spec
        self._info = info
        self._backbone = backbone
        self._head = head

    def _input_kind(self):
        from ..models.backbones import backbone_input_kind, normalize_spec

        return backbone_input_kind(normalize_spec(self.backbone))

    def _cache_dir(self):
        from ..models import default_cache_dir

        c = self.config.cache_dir
        if c is False:
            return None
        return default_cache_dir() if c is None else c

    def _features(self, x, device, desc):
        from ..models import extract_features

        self._backbone.to(device)
        return extract_features(
            self._backbone,
            x,
            tag=self._info.cache_tag,
            cache_dir=self._cache_dir(),
            batch_size=self.config.feature_batch_size,
            device=device,
            progress=self.config.progress,
            desc=desc,
        )

    def _activations(self, x, device, desc, progress=None):
        """float16 (n, h, w, c) activations of images ``x`` at the cut, through the disk cache."""
        from ..models import extract_features
        from ..models.partial import BelowCut, activation_tag

        self._backbone.to(device)
        return extract_features(
            BelowCut(self._backbone, self._cut),
            x,
            tag=activation_tag(self._info.cache_tag, self._cut),
            cache_dir=self._cache_dir(),
            batch_size=self.config.feature_batch_size,
            device=device,
            progress=self.config.progress if progress is None else progress,
            desc=desc,
        )

    def _partial_network(self, x, device, rng, torch) -> TrainingNetwork:
        """Cached activations at the cut (and of the flipped images) -> trained top blocks -> head."""
        from ..models.partial import maps_to_input, shift_maps

        cfg = self.config
        backbone, head, cut = self._backbone, self._head, self._cut
        n = x.shape[0]
        maps = [self._activations(x, device, f"{self.name} activations")]
        if cfg.flip:  # a flipped image is another image: its own cache rows, computed once too
            maps.append(
                self._activations(np.ascontiguousarray(x[:, :, ::-1]), device, f"{self.name} activations (flipped)")
            )
        acts = torch.from_numpy(np.concatenate(maps) if len(maps) > 1 else maps[0]).to(device)

        def forward(idx_np, idx):
            if cfg.flip:
                flip = torch.from_numpy((rng.random(len(idx_np)) < 0.5).astype(np.int64))
                idx = idx + n * flip.to(device)
            a = shift_maps(acts[idx], cfg.feature_shift, rng)
            return head(backbone.upper(maps_to_input(a), cut))

        for m in (backbone, head):
            m.to(device)
        groups = [
            {"params": backbone.upper_parameters(cut), "lr": cfg.lr * cfg.backbone_lr_scale},
            {"params": head.parameters(), "lr": cfg.lr},
        ]
        # trained convolutions drift like end-to-end training: no memory bank by default
        return TrainingNetwork(forward, [backbone, head], groups, False)

    def _training_network(self, x, device, rng, torch) -> TrainingNetwork:
        """How the training items reach the head: cached frozen features, cached activations
        at a cut (partial fine-tuning), or the whole network."""
        from ..models import images_to_tensor

        cfg = self.config
        backbone, head = self._backbone, self._head
        if self._cut is not None:
            return self._partial_network(x, device, rng, torch)
        if self._frozen:
            feats = torch.from_numpy(self._features(x, device, f"{self.name} features")).to(device)
            head.fit_input(feats)
            self.init_head(head, feats[_init_rows(feats.shape[0], self.seed)])
            head.to(device)
            return TrainingNetwork(
                lambda idx_np, idx: head(feats[idx]), [head], [{"params": head.parameters(), "lr": cfg.lr}], True
            )
        images = self._info.input_kind == "images"
        texts = self._info.input_kind == "texts"  # text backbones take the strings themselves
        x_dev = None if images or texts else torch.from_numpy(x).to(device)

        def forward(idx_np, idx):
            if texts:
                xb = list(x[idx_np])
            elif images:
                xb = images_to_tensor(x[idx_np], torch).to(device)
                if cfg.flip:
                    flip = torch.from_numpy(rng.random(len(idx_np)) < 0.5).to(device)
                    xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            else:
                xb = x_dev[idx]
            return head(backbone(xb))

        if x_dev is not None:  # vectors: the head can start from the untrained network's features
            with torch.no_grad():
                self.init_head(head, backbone.to(device)(x_dev[_init_rows(x_dev.shape[0], self.seed)]))
        for m in (backbone, head):
            m.to(device)
        if self._info.pretrained:
            groups = [
                {"params": backbone.parameters(), "lr": cfg.lr * cfg.backbone_lr_scale},
                {"params": head.parameters(), "lr": cfg.lr},
            ]
        else:
            groups = [{"params": list(backbone.parameters()) + list(head.parameters()), "lr": cfg.lr}]
        # an image backbone trained end to end drifts too fast for stored outputs (see TrainConfig)
        return TrainingNetwork(forward, [backbone, head], groups, not images)

    # -- training ------------------------------------------------------------------------
    def fit(self, x: ArrayLike, labels: Optional[ArrayLike] = None, *, callbacks=()) -> DeepHashingMethod:
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

            return fit_data_parallel(self, x, labels)
        torch = require_torch()
        x = as_inputs(x, self._input_kind())
        y = as_labels(labels, x.shape[0]) if self.supervised else None
        if x.shape[0] < 2:
            raise ValueError(f"training needs at least 2 inputs, got {x.shape[0]}")
        cfg = self.config
        device = resolve_device(cfg.device)
        self._n_classes = _n_classes(y)
        self._build(x.shape, torch, x)
        self._input_shape = tuple(int(v) for v in x.shape[1:])
        if self._info.input_kind == "vectors" and hasattr(self._backbone, "standardize"):
            self._backbone.standardize.fit(torch.from_numpy(x))
        n = x.shape[0]
        y_t = None
        if y is not None:
            y_t = torch.from_numpy(y.astype(np.int64) if y.ndim == 1 else y.astype(np.float32))
            y_t = y_t.to(device)
        rng = np.random.default_rng(self.seed)
        net = self._training_network(x, device, rng, torch)
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
        )
        train(run)
        self._loss = loss_fn
        self._fitted = True
        return self

    def _device(self):
        return next(self._head.parameters()).device

    # -- encoding ------------------------------------------------------------------------
    def _head_outputs(self, x, pick, width: int, desc: str) -> np.ndarray:
        """``pick(head output)`` for every row of ``x``, float32 (n, width), in inference mode."""
        from ..models import images_to_tensor
        from .._torch import require_torch

        self._check_fitted()
        torch = require_torch()
        x = as_inputs(x, self._info.input_kind)
        if tuple(x.shape[1:]) != self._input_shape:
            raise ValueError(
                f"x must have per-item shape {self._input_shape} like the training data, got {tuple(x.shape[1:])}"
            )
        device = self._device()
        if self._cut is not None:
            return self._partial_outputs(x, pick, width, desc, device, torch)
        src = self._features(x, device, f"{self.name} features") if self._frozen else x
        images = self._info.input_kind == "images" and not self._frozen
        texts = self._info.input_kind == "texts" and not self._frozen
        step = self.config.feature_batch_size if images or texts else 4096
        n = x.shape[0]
        out = np.empty((n, width), dtype=np.float32)
        bar = progress(total=n, desc=desc, unit="item", leave=False) if self.config.progress else None
        self._head.eval()
        self._backbone.eval()
        try:
            with torch.inference_mode():
                for start in range(0, n, step):
                    chunk = src[start : start + step]
                    if images:
                        t = images_to_tensor(chunk, torch).to(device)
                        o = self._head(self._backbone(t))
                    elif texts:
                        o = self._head(self._backbone(list(chunk)))
                    elif self._frozen:
                        o = self._head(torch.from_numpy(chunk).to(device))
                    else:
                        o = self._head(self._backbone(torch.from_numpy(chunk).to(device)))
                    out[start : start + step] = pick(o).float().cpu().numpy()
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return out

    def _partial_outputs(self, x, pick, width, desc, device, torch, chunk: int = 4096):
        """:meth:`_head_outputs` under partial fine-tuning: activations at the cut from the cache
        (computed and added for images not in it), then the top blocks and the head. Chunks of
        ``chunk`` images bound the memory (float16 (chunk, h, w, c) at a time)."""
        from ..models.partial import maps_to_input

        n = x.shape[0]
        step = self.config.feature_batch_size
        out = np.empty((n, width), dtype=np.float32)
        bar = progress(total=n, desc=desc, unit="item", leave=False) if self.config.progress else None
        self._head.eval()
        self._backbone.eval()
        try:
            with torch.inference_mode():
                for start in range(0, n, chunk):
                    acts = self._activations(x[start : start + chunk], device, desc, progress=False)
                    for s in range(0, acts.shape[0], step):
                        a = torch.from_numpy(acts[s : s + step]).to(device)
                        o = self._head(self._backbone.upper(maps_to_input(a), self._cut))
                        out[start + s : start + s + a.shape[0]] = pick(o).float().cpu().numpy()
                        if bar is not None:
                            bar.update(a.shape[0])
        finally:
            if bar is not None:
                bar.close()
        return out

    def transform(self, x: ArrayLike) -> NDArray[np.float32]:
        """Real outputs of the code layer, float32 (n, bits); codes are ``outputs > 0``."""
        from ..models import code_outputs

        return self._head_outputs(x, code_outputs, self.bits, f"{self.name} encode")

    # -- persistence ---------------------------------------------------------------------
    def _state(self):
        meta = {
            "backbone": self._spec if isinstance(self._spec, dict) else None,
            "input_kind": self._info.input_kind,
            "input_shape": list(self._input_shape),
            "frozen": self._frozen,
            "cut": self._cut,
            "n_classes": self._n_classes,
        }
        arrays = {"head/" + k: v.detach().cpu().numpy() for k, v in self._head.state_dict().items()}
        if not self._frozen:
            arrays.update({"backbone/" + k: v.detach().cpu().numpy() for k, v in self._backbone.state_dict().items()})
        # a loss's own trained state (e.g. learned per-bit weights) is part of the model
        arrays.update({"loss/" + k: v.detach().cpu().numpy() for k, v in self._loss.state_dict().items()})
        return meta, arrays

    def _restore(self, meta, arrays):
        from ..models import resolve_device
        from .._torch import require_torch

        torch = require_torch()
        shape = (1,) + tuple(meta["input_shape"])
        self._n_classes = int(meta.get("n_classes", 0))
        self._build(shape, torch)
        self._frozen = bool(meta["frozen"])
        self._cut = meta.get("cut")
        self._input_shape = tuple(meta["input_shape"])

        def sub(prefix):
            return {k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)}

        self._head.load_state_dict(sub("head/"), strict=True)
        if not self._frozen:
            self._backbone.load_state_dict(sub("backbone/"), strict=True)
        self._loss = self.make_loss()
        self._loss.load_state_dict(sub("loss/"), strict=True)
        device = resolve_device(self.config.device)
        self._head.to(device).eval()
        self._backbone.to(device).eval()
        self._loss.to(device)
        self._fitted = True

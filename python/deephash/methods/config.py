"""Training hyperparameters shared by the deep hashing methods."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """How a deep hashing method trains (the loss's own weights are method arguments).

    Attributes
    ----------
    epochs : int
        Passes over the training set.
    batch_size : int
        Outputs per optimisation step.
    lr : float
        Adam learning rate of the hash head (and of backbones trained from scratch).
    weight_decay : float
        L2 weight decay (Adam's, coupled).
    lr_schedule : {"constant", "cosine"}
        "constant" (default): every step at ``lr``. "cosine": each parameter group's rate decays
        from its initial value to 0 over the whole run, step by step (half a cosine) -- short
        fine-tuning runs (a few epochs) end better converged.
    finetune : bool
        Train a pretrained backbone too (a GPU job) instead of freezing it and training the head
        on cached features (the CPU way). Backbones without pretrained weights always train.
    train_from_block : int or None
        Partial fine-tuning, between frozen and ``finetune``: the pretrained backbone is cut
        before this block; the part below runs once per image (its float16 activations are
        cached on disk like frozen features) and the blocks from here up train with the head.
        For efficientnet_lite0 (16 blocks) 11 trains its last two stages (blocks 11-15 and the
        head convolution). None (default): no cut. Not with ``finetune``.
    backbone_lr_scale : float
        Learning rate of a fine-tuned pretrained backbone relative to ``lr``.
    memory_bank : bool or None
        Pair each batch with the latest outputs of the whole training set (as DPSH's reference
        implementation does) rather than only with the rest of the batch: many more pairs (and,
        for triplet losses, a larger pool to mine triplets from) per step at the cost of an
        (n, bits) buffer. Losses that consume neither pairs nor triplets never use one. None
        (default) = on when only a head or an MLP trains (frozen features, vectors), off when an
        image backbone trains end to end, whose outputs drift too fast for stored ones to stay
        comparable (measured on digits with small_cnn: stale pairs gave near-constant codes).
    head_hidden : sequence of int or None
        Hidden layer widths of the hash head. None = the method's ``frozen_head_hidden`` (one
        layer of 256 for most; none for DH and SDH) on frozen pretrained features (which the
        head also standardises), none otherwise (an "mlp" backbone has its own).
    flip : bool
        Random horizontal flips of training images: end-to-end training flips each batch;
        partial fine-tuning also caches the flipped view of each training image and picks one
        of the two views per item and step. Frozen features ignore it.
    feature_shift : int
        Partial fine-tuning: translate the cached activation maps of each training item by a
        random shift of up to this many cells per axis (edge padding); 0 = off.
    device : str or None
        None picks a CUDA GPU when present, else the CPU.
    progress : bool
        tqdm progress bars for feature extraction, epochs and encoding.
    cache_dir : str, None or False
        Feature cache for frozen pretrained backbones: None = the default directory
        (``deephash.models.default_cache_dir()``), False = no disk cache.
    feature_batch_size : int
        Images per forward pass when extracting frozen features or encoding.
    num_workers : int
        Data-parallel training over this many Ray workers (``pip install deephash[distributed]``;
        see :mod:`deephash.distributed.train`); 1 trains in this process.
    """

    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-5
    lr_schedule: str = "constant"
    finetune: bool = False
    train_from_block: int | None = None
    backbone_lr_scale: float = 0.1
    memory_bank: bool | None = None
    head_hidden: tuple | list | None = None
    flip: bool = False
    feature_shift: int = 0
    device: str | None = None
    progress: bool = True
    cache_dir: str | None | bool = None
    feature_batch_size: int = 128
    num_workers: int = 1

    def __post_init__(self):
        for name in ("epochs", "batch_size", "feature_batch_size", "num_workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {v!r}")
        for name in ("lr", "backbone_lr_scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"TrainConfig.{name} must be a positive number, got {v!r}")
        if (
            isinstance(self.weight_decay, bool)
            or not isinstance(self.weight_decay, (int, float))
            or not self.weight_decay >= 0
        ):
            raise ValueError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"TrainConfig.lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.head_hidden is not None:
            if isinstance(self.head_hidden, (str, bytes)) or not all(
                isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in self.head_hidden
            ):
                raise ValueError(
                    f"TrainConfig.head_hidden must be None or a list of positive ints, got {self.head_hidden!r}"
                )
            self.head_hidden = [int(h) for h in self.head_hidden]
        tb = self.train_from_block
        if tb is not None and (isinstance(tb, bool) or not isinstance(tb, int) or tb < 0):
            raise ValueError(f"TrainConfig.train_from_block must be None or an int >= 0, got {tb!r}")
        if tb is not None and self.finetune:
            raise ValueError(
                "TrainConfig: finetune (the whole backbone) and train_from_block "
                "(the blocks above a cut) exclude each other; set one"
            )
        fs = self.feature_shift
        if isinstance(fs, bool) or not isinstance(fs, int) or fs < 0:
            raise ValueError(f"TrainConfig.feature_shift must be an int >= 0, got {fs!r}")
        if self.cache_dir is True:
            raise ValueError("TrainConfig.cache_dir must be a path, None (default) or False (off)")

    def feature_cache_dir(self):
        """Where frozen features and activations are cached: ``cache_dir``, the default
        directory when it is None, None (no disk cache) when it is False."""
        if self.cache_dir is False:
            return None
        if self.cache_dir is None:
            from ..models import default_cache_dir

            return default_cache_dir()
        return self.cache_dir

    @classmethod
    def field_names(cls) -> set:
        return {f.name for f in dataclasses.fields(cls)}

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["cache_dir"] not in (None, False):
            d["cache_dir"] = str(d["cache_dir"])
        return d

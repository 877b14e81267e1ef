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
    finetune : bool
        Train a pretrained backbone too (a GPU job) instead of freezing it and training the head
        on cached features (the CPU way). Backbones without pretrained weights always train.
    backbone_lr_scale : float
        Learning rate of a fine-tuned pretrained backbone relative to ``lr``.
    memory_bank : bool or None
        Pair each batch with the latest outputs of the whole training set (as DPSH's reference
        implementation does) rather than only with the rest of the batch: many more pairs (and,
        for triplet losses, a larger pool to mine triplets from) per step at the cost of an
        (n, bits) buffer. Losses that consume neither pairs nor triplets never use one. None (default) = on when only a head or an MLP
        trains (frozen features, vectors), off when an image backbone trains end to end, whose
        outputs drift too fast for stored ones to stay comparable (measured on digits with
        small_cnn: stale pairs gave near-constant codes).
    head_hidden : sequence of int or None
        Hidden layer widths of the hash head. None = one layer of 256 on frozen pretrained
        features (which the head also standardises), none otherwise (an "mlp" backbone has its
        own).
    flip : bool
        Random horizontal flips of training images (end-to-end image training only).
    device : str or None
        None picks a CUDA GPU when present, else the CPU.
    progress : bool
        tqdm progress bars for feature extraction, epochs and encoding.
    cache_dir : str, None or False
        Feature cache for frozen pretrained backbones: None = the default directory
        (``deephash.models.default_cache_dir()``), False = no disk cache.
    feature_batch_size : int
        Images per forward pass when extracting frozen features or encoding.
    """

    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-5
    finetune: bool = False
    backbone_lr_scale: float = 0.1
    memory_bank: bool | None = None
    head_hidden: tuple | list | None = None
    flip: bool = False
    device: str | None = None
    progress: bool = True
    cache_dir: str | None | bool = None
    feature_batch_size: int = 128

    def __post_init__(self):
        for name in ("epochs", "batch_size", "feature_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {v!r}")
        for name in ("lr", "backbone_lr_scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"TrainConfig.{name} must be a positive number, got {v!r}")
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) \
                or not self.weight_decay >= 0:
            raise ValueError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.head_hidden is not None:
            if isinstance(self.head_hidden, (str, bytes)) or not all(
                isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in self.head_hidden
            ):
                raise ValueError(
                    f"TrainConfig.head_hidden must be None or a list of positive ints, got {self.head_hidden!r}"
                )
            self.head_hidden = [int(h) for h in self.head_hidden]
        if self.cache_dir is True:
            raise ValueError("TrainConfig.cache_dir must be a path, None (default) or False (off)")

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

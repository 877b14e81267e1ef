"""The training framework of the deep hashing methods, separate from the method presets.

- :class:`Run` / :func:`train`: the one loop (every deep method, single- and multi-network) with
  hooks (:mod:`deephash.training.hooks`: ``on_fit_start``, ``on_epoch_start``, ``on_step``,
  ``on_epoch_end``, ``on_fit_end``); the learning-rate schedule is a hook (:class:`CosineSchedule`).
- :class:`Criterion` / :class:`MemoryBank`: a loss with its miner, optionally wrapped by a
  memory bank of the training set's latest outputs.
- :class:`TripletMiner`: seeded triplet mining, an object the method passes in.
- :func:`cyclic_sign_update` / :func:`item_outputs`: codes learned beside the network by
  discrete updates in hooks (DSDH's codes, ADSH's database codes; :mod:`deephash.training.discrete`).
- :class:`Network`: a backbone and a head -- building, feature caching, training inputs,
  encoding and state -- shared by the image, text and cross-modal methods.

A method (:class:`deephash.methods.DeepHashingMethod`) composes these; a new schedule,
continuation or warm-up is a hook, not a loop edit.
"""

from __future__ import annotations

from .criterion import Criterion, CrossModalBank, MemoryBank
from .discrete import cyclic_sign_update, item_outputs
from .hooks import HOOK_POINTS, CosineSchedule, Hook
from .mining import TripletMiner, check_rankable, relevance
from .network import Network
from .run import Run, Stage, TrainingNetwork, progress, train

__all__ = [
    "HOOK_POINTS",
    "CosineSchedule",
    "Criterion",
    "CrossModalBank",
    "Hook",
    "MemoryBank",
    "Network",
    "Run",
    "Stage",
    "TrainingNetwork",
    "TripletMiner",
    "check_rankable",
    "cyclic_sign_update",
    "item_outputs",
    "relevance",
    "progress",
    "train",
]

"""Hooks: what changes during training, written outside the loop.

A hook is any object with some of the methods below; the loop (:func:`deephash.training.train`)
calls each at its point with the :class:`~deephash.training.Run`, in the order the hooks were
given. Heads, losses, schedules and methods register hooks instead of editing the loop: the
learning-rate schedule is one (:class:`CosineSchedule`), data-parallel training another
(:class:`deephash.distributed.train.DataParallel`), a continuation that sharpens ``tanh(beta z)``
a third (see ``tests/test_training.py``).

==================  ===========================================================================
``on_fit_start``    after the optimisers are made, before the first epoch
``on_epoch_start``  before each epoch (``run.epoch`` is its index from 0)
``on_step``         each optimisation step, after the loss is computed and before the optimiser
                    steps (``run.stage``, ``run.loss``, ``run.stage.step``: steps taken so far)
``on_epoch_end``    after each epoch (``run.postfix`` is shown on the progress bar)
``on_fit_end``      after the last epoch, the networks in eval mode
==================  ===========================================================================
"""

from __future__ import annotations

import math

__all__ = ["CosineSchedule", "Hook", "HOOK_POINTS"]

#: The names of the loop's hook points, in the order they happen.
HOOK_POINTS = ("on_fit_start", "on_epoch_start", "on_step", "on_epoch_end", "on_fit_end")


class Hook:
    """Base class of hooks (optional: any object with some of the ``HOOK_POINTS`` methods works).

    Every method takes the :class:`~deephash.training.Run` and returns nothing.
    """

    def on_fit_start(self, run) -> None:
        pass

    def on_epoch_start(self, run) -> None:
        pass

    def on_step(self, run) -> None:
        pass

    def on_epoch_end(self, run) -> None:
        pass

    def on_fit_end(self, run) -> None:
        pass


def cosine_factor(step: int, total: int) -> float:
    """Half a cosine from 1 at step 0 down to 0 at step ``total`` (and after)."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


class CosineSchedule(Hook):
    """Each parameter group's learning rate decays from its initial value to 0 over the run.

    ``TrainConfig(lr_schedule="cosine")`` adds it. Before step s (from 0) of a stage with T steps
    in all (``epochs * ceil(n / batch_size)``) a group's rate is ``lr0 * cosine_factor(s, T)``.
    """

    def on_fit_start(self, run) -> None:
        self._base = {id(st): [g["lr"] for g in st.optimizer.param_groups] for st in run.stages}

    def on_step(self, run) -> None:
        st = run.stage
        f = cosine_factor(st.step, run.steps_per_stage)
        for g, lr in zip(st.optimizer.param_groups, self._base[id(st)]):
            g["lr"] = lr * f

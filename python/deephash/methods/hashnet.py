"""HashNet: deep learning to hash by continuation (Cao, Long, Wang & Yu, ICCV 2017)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["HashNet", "BetaContinuation"]


class BetaContinuation:
    """Raises the head's ``beta`` during training: ``(1 + growth * t)**0.5`` with t the steps
    taken, rounded down to a multiple of ``every`` (the authors' schedule: growth 0.005, every
    200 steps). Set before each step's forward pass (``on_step`` prepares the next one)."""

    def __init__(self, head, growth: float, every: int):
        self.head, self.growth, self.every = head, float(growth), int(every)

    def beta(self, step: int) -> float:
        return (1.0 + self.growth * (step // self.every * self.every)) ** 0.5

    def on_fit_start(self, run) -> None:
        self.head.set_beta(self.beta(run.stage.step))

    def on_step(self, run) -> None:
        self.head.set_beta(self.beta(run.stage.step + 1))


class HashNet(DeepHashingMethod):
    """HashNet: class-balanced pairwise likelihood on a continuation ``tanh(beta z)``.

    Cao, Long, Wang & Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017.

    Head (:class:`deephash.models.continuation_head.ContinuationHead`): ``tanh(beta z)``, beta
    raised during training (:class:`BetaContinuation`) so the outputs converge to sign(z); the
    code is ``z > 0``. Loss (:class:`deephash.losses.HashNetLoss`): the negative log-likelihood
    of the pair similarities under ``p(s = 1) = sigmoid(alpha u_i . u_j)``, each similar pair
    weighted ``|S| / |S_1|`` and each dissimilar pair ``|S| / |S_0|`` (counted on the training
    labels), averaged over the pairs; no quantisation term.

    Hyperparameters
    ---------------
    scale : float or None, default None
        alpha; None means 10 / bits, the authors' code (the paper tunes it per dataset).
    beta_growth : float, default 0.005
        gamma of ``beta = (1 + gamma t)**0.5`` (t: training steps); the authors' code.
    beta_every : int, default 200
        Steps between raises of beta; the authors' code.
    """

    name = "HashNet"
    hyperparameters = (
        Hyperparameter(
            "scale", None, "alpha, the scale of inner products (None: 10 / bits)", low=0, open="low", none=True
        ),
        Hyperparameter("beta_growth", 0.005, "gamma of beta = (1 + gamma t)^0.5, t the training step", low=0),
        Hyperparameter("beta_every", 200, "steps between raises of beta", int, low=1),
    )

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        from ..models.continuation_head import ContinuationHead

        return ContinuationHead(in_dim, self.bits, hidden=hidden, standardize=standardize)

    def make_loss(self):
        from ..losses.hashnet import HashNetLoss

        scale = self.params["scale"]
        return HashNetLoss(10.0 / self.bits if scale is None else scale)

    def make_hooks(self):
        return [BetaContinuation(self._net.head, self.params["beta_growth"], self.params["beta_every"])]

"""DSDH: deep supervised discrete hashing (Li, Sun, He & Tan, NeurIPS 2017)."""

from __future__ import annotations

import numpy as np

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DSDH", "DiscreteCodeStep"]


def label_matrix(labels, torch):
    """Labels as a float64 (n, c) matrix: one-hot for class ids, as given for multi-hot."""
    if labels.ndim == 1:
        return torch.nn.functional.one_hot(labels.long(), int(labels.max()) + 1).double()
    return labels.double()


class DiscreteCodeStep:
    """DSDH's discrete step: the classifier W and the codes B (the run's target codes), given
    the network's outputs U of every training item.

    Each call alternates ``alternations`` times: the ridge regression
    ``W = (B^T B + nu/mu I)^-1 B^T Y`` (bits, classes), then the codes by discrete cyclic
    coordinate descent (:func:`deephash.training.cyclic_sign_update`) on
    ``mu ||Y - B W||^2 + eta ||B - U||^2``, i.e. ``P = Y W^T + (eta/mu) U``, ``G = W W^T``.
    Run before the first epoch (B from the untrained network's outputs, as from B = 0) and after
    every epoch.
    """

    def __init__(self, mu: float, nu: float, eta: float, alternations: int):
        self.mu, self.nu, self.eta, self.alternations = float(mu), float(nu), float(eta), int(alternations)
        self.W = None

    def update(self, run) -> None:
        import torch

        from ..training import cyclic_sign_update, item_outputs

        u = item_outputs(run, np.arange(run.n)).double()
        y = label_matrix(run.labels, torch)
        b = run.targets.double()
        eye = torch.eye(b.shape[1], dtype=torch.float64, device=b.device)
        for _ in range(self.alternations):
            self.W = torch.linalg.solve(b.T @ b + (self.nu / self.mu) * eye, b.T @ y)
            linear = y @ self.W.T + (self.eta / self.mu) * u
            b = cyclic_sign_update(b, linear, self.W @ self.W.T)
        run.targets.copy_(b.to(run.targets.dtype))

    def on_fit_start(self, run) -> None:
        from ..training import item_outputs

        # B from the untrained outputs (what the code step gives from B = 0, W = 0), then the steps
        u = item_outputs(run, np.arange(run.n))
        run.targets.copy_(torch_sign(u))
        self.update(run)

    def on_epoch_end(self, run) -> None:
        self.update(run)


def torch_sign(u):
    """+1 where u >= 0, else -1 (a code for every output, zeros included)."""
    import torch

    return torch.where(u >= 0, 1.0, -1.0).to(u.dtype)


class DSDH(DeepHashingMethod):
    """Deep supervised discrete hashing: pairwise likelihood and a linear classifier on discrete codes.

    Li, Sun, He & Tan, "Deep Supervised Discrete Hashing", NeurIPS 2017.

    Objective, over the network outputs U, per-item binary codes B and a linear classifier W::

        J = -sum_{s_ij} (s_ij theta_ij - log(1 + e^theta_ij)) + mu sum_i ||y_i - W^T b_i||^2
            + nu ||W||^2 + eta sum_i ||b_i - u_i||^2,       theta_ij = u_i . u_j / 2

    solved by alternation: the network by back-propagation with B fixed
    (:class:`deephash.losses.DSDHLoss`: the pair likelihood, against the memory bank when there
    is one, plus ``eta * bits / n * mean((u - b)^2)``, the same balance under mean reductions),
    then, before the first epoch and after each one (:class:`DiscreteCodeStep`), W by ridge
    regression and B by discrete cyclic coordinate descent, ``alternations`` times. B lives in
    the run's target codes. Real outputs; the codes of new items are sign(u).

    Hyperparameters
    ---------------
    mu : float, default 1.0
        Weight of the classification term.
    nu : float, default 0.1
        Weight of the classifier's ridge penalty.
    eta : float, default 55.0
        Weight of the codes-to-outputs term.
    alternations : int, default 10
        W / B alternations per discrete step (the reference code's DCC iterations).
    """

    name = "DSDH"
    hyperparameters = (
        Hyperparameter("mu", 1.0, "weight of the linear classification term", low=0, open="low"),
        Hyperparameter("nu", 0.1, "weight of the classifier's ridge penalty", low=0, open="low"),
        Hyperparameter("eta", 55.0, "weight of the codes-to-outputs term ||b - u||^2", low=0),
        Hyperparameter("alternations", 10, "W / B alternations per discrete step", int, low=1),
    )

    def make_loss(self):
        from ..losses.dsdh import DSDHLoss

        return DSDHLoss(eta=self.params["eta"])

    def make_targets(self, x, labels):
        # a placeholder: the discrete step replaces the codes before the first epoch
        return np.ones((len(x), self.bits), np.float32)

    def make_hooks(self):
        p = self.params
        return [DiscreteCodeStep(p["mu"], p["nu"], p["eta"], p["alternations"])]

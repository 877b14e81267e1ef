"""DFH loss (Li, Pei, Zha & van Gemert, "Push for Quantization: Deep Fisher Hashing", BMVC 2019)."""

from __future__ import annotations

from .base import Supervision, torch
from .pairwise_codes import PairwiseCodeLoss
from .parts import PairLikelihood, nonnegative, positive_int

__all__ = ["DFHLoss"]


def _label_matrix(labels, n_classes: int, dtype):
    if labels.ndim == 1:
        return torch.nn.functional.one_hot(labels.long(), n_classes).to(dtype)
    return labels.to(dtype)


class DFHLoss(PairwiseCodeLoss):
    r"""Deep Fisher hashing: a margin pair likelihood plus a push of the outputs to class-centred codes.

    Per step, with the batch's outputs u and label rows y (one-hot or multi-hot, (b, c)):

    1. codes: ``b = sign(mu * y C^T + u)`` -- each output pushed towards the binary centres C
       (bits, c) of its classes;
    2. centres: the relaxed centres V take ``center_steps`` gradient steps on the Fisher-like
       objective ``mean((V y^T - b^T)^2)`` (within-class: the codes near their centre) +
       ``between * mean((V^T V - bits (2I - 1))^2)`` (between-class: centres far apart) +
       ``center_quantization * mean((V - sign V)^2)``; then ``C = sign(V)``;
    3. the network's loss, with ``theta_ij = u_i . v_j / 2``::

        L = mean over pairs of [s_ij softplus(m - theta_ij) + (1 - s_ij) softplus(m + theta_ij)]
            + eta * mean over i, k of (u_ik - b_ik)^2

       (``PairLikelihood(0.5, margin=m)``: a similar pair is pushed beyond +m, a dissimilar one
       below -m), against the memory bank when there is one.

    The centres are state of the training run (made for the number of classes of the training
    labels when training starts, ``on_fit_start``; :meth:`reset_centers` for use outside a run),
    not part of the saved model.

    Parameters
    ----------
    margin : float
        m.
    mu : float
        Weight of the class centres in the codes.
    between, center_quantization : float
        Weights of the centres' between-class and quantisation terms.
    eta : float
        Weight of the outputs-to-codes term.
    center_steps : int
        Gradient steps on the centres per training step (learning rate 0.03, then x0.1 after
        75% and after 90% of them, as in the authors' code).
    """

    consumes = frozenset({Supervision.PAIRS})  # its codes come from the centres, not the run

    def __init__(
        self,
        margin: float,
        mu: float,
        between: float,
        center_quantization: float,
        eta: float,
        center_steps: int = 200,
    ):
        super().__init__(PairLikelihood(scale=0.5, margin=margin), weight=eta, weight_name="eta")
        self.mu = nonnegative("mu", mu)
        self.between = nonnegative("between", between)
        self.center_quantization = nonnegative("center_quantization", center_quantization)
        self.center_steps = positive_int("center_steps", center_steps)
        self.relaxed_centers = None  # V (bits, c)
        self.centers = None  # C = sign(V)
        self.n_classes = None

    def reset_centers(self, bits: int, n_classes: int, device=None) -> None:
        """Zero relaxed centres V (bits, n_classes) and C = sign(V) = 0 (codes then start as sign(u))."""
        self.n_classes = int(n_classes)
        self.relaxed_centers = torch.zeros(int(bits), self.n_classes, dtype=torch.float64, device=device)
        self.centers = torch.zeros_like(self.relaxed_centers)

    def on_fit_start(self, run) -> None:
        labels = run.labels
        self.n_classes = int(labels.max()) + 1 if labels.ndim == 1 else int(labels.shape[1])
        self.relaxed_centers = self.centers = None  # made at the first step, for the outputs' width

    def _ensure_centers(self, bits: int, device) -> None:
        if self.relaxed_centers is None:
            if self.n_classes is None:
                raise ValueError("DFHLoss has no class centres: call reset_centers(bits, n_classes) first")
            self.reset_centers(bits, self.n_classes, device)

    def codes_for(self, u, labels):
        """Step 1: the batch's codes in {-1, +1}, float (b, bits) of u's dtype (no gradient)."""
        self._ensure_centers(u.shape[1], u.device)
        y = _label_matrix(labels, self.centers.shape[1], torch.float64)
        z = self.mu * (y @ self.centers.T) + u.detach().double()
        return torch.where(z >= 0, 1.0, -1.0).to(u.dtype)

    def update_centers(self, codes, labels) -> None:
        """Step 2: ``center_steps`` gradient steps of the relaxed centres towards the batch's codes."""
        v = self.relaxed_centers.clone().requires_grad_(True)
        bits, c = v.shape
        y = _label_matrix(labels, c, torch.float64)
        b = codes.detach().double()
        target = bits * (2.0 * torch.eye(c, dtype=torch.float64, device=v.device) - 1.0)
        lr = 0.03
        with torch.enable_grad():
            for i in range(self.center_steps):
                if i in (int(0.75 * self.center_steps), int(0.9 * self.center_steps)):
                    lr *= 0.1
                loss = (v @ y.T - b.T).pow(2).mean() + self.between * (v.T @ v - target).pow(2).mean()
                if self.center_quantization:
                    loss = loss + self.center_quantization * (v - torch.sign(v.detach())).pow(2).mean()
                (grad,) = torch.autograd.grad(loss, v)
                with torch.no_grad():
                    v -= lr * grad
        self.relaxed_centers = v.detach()
        self.centers = torch.sign(self.relaxed_centers)

    def batch_codes(self, inputs):
        codes = self.codes_for(inputs.u, inputs.labels)
        self.update_centers(codes, inputs.labels)
        return codes

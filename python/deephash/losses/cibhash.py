"""CIBHash loss (Qiu, Su, Ye & Wang, "Unsupervised Hashing with Contrastive Information
Bottleneck", IJCAI 2021)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, Supervision, check_outputs, torch
from .parts import nonnegative, sign_straight_through, upcast

F = torch.nn.functional

__all__ = ["CIBHashLoss", "bernoulli_kl", "nt_xent"]


def nt_xent(a, b, temperature: float):
    """SimCLR's normalized-temperature cross-entropy of two views a, b (n, d), row i of each a pair.

    Over the 2n rows, each row's positive is its other view and the 2n - 2 other rows are its
    negatives: the mean over rows of ``-log softmax_j(cos(r, r_j) / temperature)[positive]``,
    the row itself left out of the softmax.
    """
    n = a.shape[0]
    r = F.normalize(torch.cat([a, b]), dim=1)
    sim = (r @ r.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=sim.device), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(sim.device)
    return F.cross_entropy(sim, positive)


def bernoulli_kl(logit_p, logit_q):
    """Mean over rows of the sum over bits of KL(Bernoulli(sigmoid(logit_p)) || Bernoulli(sigmoid(logit_q)))."""
    p = torch.sigmoid(logit_p)
    kl = p * (F.logsigmoid(logit_p) - F.logsigmoid(logit_q)) + (1 - p) * (
        F.logsigmoid(-logit_p) - F.logsigmoid(-logit_q)
    )
    return kl.sum(1).mean()


class CIBHashLoss(HashLoss):
    r"""Contrastive hashing of two augmented views with an information-bottleneck term.

    For each view the head's outputs u give bit probabilities ``p = sigmoid(u)``; the stochastic
    binary layer gives codes ``z = +1 where p > mu else -1`` with ``mu`` uniform in (0, 1) per
    bit (``stochastic=False``: mu = 0.5, i.e. the code of u, as the authors' code does), with
    a straight-through gradient (:func:`deephash.losses.parts.sign_straight_through`)::

        L = nt_xent(z1, z2, temperature)
            + beta * (KL(p1 || sg(p2)) + KL(p2 || sg(p1))) / 2

    where KL sums the bits' Bernoulli divergences (mean over items) and sg stops the gradient
    (as in the authors' code). Consumes ``"views"``: the trainer passes the batch through the
    network twice (two augmented views). Encoding: ``u > 0``, i.e. p > 0.5.

    Parameters
    ----------
    temperature : float, default 0.3
    beta : float, default 0.001
        Weight of the KL term (the authors' ``weight``).
    stochastic : bool, default True
        Draw mu per bit (the paper) rather than thresholding at 0.5.
    seed : int
        Seeds mu (its own generator; torch's global RNG is left alone).

    Parameters of forward
    ---------------------
    u1, u2 : float tensor (n, bits)
        Outputs of the two views of the same n items.
    """

    consumes = frozenset({Supervision.VIEWS})

    def __init__(self, temperature: float = 0.3, beta: float = 0.001, stochastic: bool = True, seed: int = 0):
        super().__init__()
        if not nonnegative("temperature", temperature) > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.temperature = float(temperature)
        self.beta = nonnegative("beta", beta)
        self.stochastic = bool(stochastic)
        self._gen = torch.Generator().manual_seed(int(seed))

    def step_loss(self, inputs: LossInputs):
        first, second = inputs.views  # head outputs: tensors, or HeadOutputs whose u is the code layer
        return self(getattr(first, "u", first), getattr(second, "u", second))

    def binarize(self, u):
        """The stochastic binary layer: +-1 codes of sigmoid(u) against mu, straight-through gradient."""
        p = torch.sigmoid(u)
        mu = torch.rand(u.shape, generator=self._gen).to(u.device, u.dtype) if self.stochastic else 0.5
        return sign_straight_through(p - mu)

    def forward(self, u1, u2):
        check_outputs(u1, "u1")
        check_outputs(u2, "u2")
        if u1.shape != u2.shape:
            raise ValueError(f"the two views must have one shape, got {tuple(u1.shape)} and {tuple(u2.shape)}")
        _, a, b = upcast(u1, u2)
        contrast = nt_xent(self.binarize(a), self.binarize(b), self.temperature)
        kl = 0.5 * (bernoulli_kl(a, b.detach()) + bernoulli_kl(b, a.detach()))
        return (contrast + self.beta * kl).to(u1.dtype)

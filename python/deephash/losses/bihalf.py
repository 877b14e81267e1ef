"""BiHalf loss (Li & van Gemert, "Deep Unsupervised Image Hashing by Maximizing Bit Entropy",
AAAI 2021): the bi-half layer and the similarity-preserving objective on frozen features."""

from __future__ import annotations

from .base import HashLoss, LossInputs, check_outputs, torch
from .parts import nonnegative, upcast

__all__ = ["BiHalfLoss", "bi_half"]


class _BiHalf(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, gamma):
        n = u.shape[0]
        order = torch.sort(u, dim=0, descending=True, stable=True).indices
        b = torch.full_like(u, -1.0)
        b.scatter_(0, order[: n // 2], 1.0)
        ctx.save_for_backward(u, b)
        ctx.gamma = gamma
        return b

    @staticmethod
    def backward(ctx, grad):
        u, b = ctx.saved_tensors
        return grad + ctx.gamma * (u - b) / b.numel(), None


def bi_half(u, gamma: float = 6.0):
    """The bi-half layer: per bit (column), the larger half of the batch's values -> +1, the
    rest -> -1 (the top ``n // 2``; ties by row order).

    Backward: straight through plus the paper's pull of the outputs to their codes,
    ``dL/du = dL/db + gamma * (u - b) / u.numel()``.

    Parameters
    ----------
    u : float tensor (n, bits)
    gamma : float
        The paper's gamma (6 in the authors' CIFAR-10 code).

    Returns
    -------
    float tensor (n, bits) of +-1, each column with ``n // 2`` entries +1.
    """
    return _BiHalf.apply(u, float(gamma))


class BiHalfLoss(HashLoss):
    r"""The codes' cosine similarities fit the frozen features' (outputs and features: unsupervised).

    The head's outputs u are binarised by the bi-half layer (:func:`bi_half`: every bit splits
    the batch half and half, maximising its entropy); for every pair i < j of the batch::

        L = mean over pairs of (cos(b_i, b_j) - cos(x_i, x_j))^2

    with x the head's input features (the head hands them on as ``HeadOutput.latent``; a
    constant here). The authors' CIFAR-10 code compares the first half of each batch with the
    second, pair by pair; every pair of the batch is used here (the same objective, more pairs
    per step). A batch of one item gives no pair (the step is skipped).

    Parameters
    ----------
    gamma : float, default 6.0
        The bi-half layer's gamma.

    Parameters of forward
    ---------------------
    u : float tensor (n, bits)
    features : float tensor (n, d)
    """

    consumes = frozenset()

    def __init__(self, gamma: float = 6.0):
        super().__init__()
        self.gamma = nonnegative("gamma", gamma)

    def step_loss(self, inputs: LossInputs):
        features = getattr(inputs.out, "latent", None)
        if features is None:
            raise ValueError("BiHalfLoss needs a head that hands on its input (HeadOutput(u, latent=features))")
        if inputs.u.shape[0] < 2:
            return None
        return self(inputs.u, features)

    def forward(self, u, features):
        check_outputs(u)
        check_outputs(features, "features")
        if features.shape[0] != u.shape[0]:
            raise ValueError(f"features must have one row per output ({u.shape[0]}), got {features.shape[0]}")
        if u.shape[0] < 2:
            raise ValueError("a batch needs at least 2 outputs to form pairs")
        work, z, x = upcast(u, features.detach())
        b = bi_half(z, self.gamma)
        xn = torch.nn.functional.normalize(x, dim=1)
        cos_b = (b @ b.T) / b.shape[1]
        cos_x = xn @ xn.T
        i, j = torch.triu_indices(u.shape[0], u.shape[0], 1, device=u.device)
        return (cos_b[i, j] - cos_x[i, j]).pow(2).mean().to(u.dtype)

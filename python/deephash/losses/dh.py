"""DH loss (Liong, Lu, Wang, Hu & Zhou, "Deep Hashing for Compact Binary Codes Learning", CVPR 2015)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, check_outputs, torch
from .parts import nonnegative, upcast

__all__ = ["DHLoss", "dh_terms"]


def dh_terms(u, balance: float, independence: float):
    """DH's unsupervised objective on a batch of code-layer outputs u (b, bits), a 0-d tensor.

    ``0.5 * mean((sign(u) - u)**2)`` (quantisation) ``- balance / 2 * mean_k var(u_k)``
    (the paper's variance term: a bit varies most over the batch when it is balanced)
    ``+ independence / 2 * mean((C - I)**2)`` with C = u_c^T u_c / b the bits' covariance over
    the batch (decorrelated bits).
    """
    quant = 0.5 * (torch.sign(u) - u).pow(2).mean()
    uc = u - u.mean(0, keepdim=True)
    var = uc.pow(2).mean(0)
    cov = uc.T @ uc / u.shape[0]
    eye = torch.eye(u.shape[1], dtype=u.dtype, device=u.device)
    return quant - 0.5 * balance * var.mean() + 0.5 * independence * (cov - eye).pow(2).mean()


class DHLoss(HashLoss):
    r"""DH's objective on the outputs alone (unsupervised): quantisation, balance, independence.

    The paper minimises, over a network whose top layer H has tanh units,
    :math:`\tfrac12\|B - H\|^2 - \tfrac{\lambda_1}{2N}\operatorname{tr}(HH^\top)
    + \tfrac{\lambda_2}{2}\sum_m\|W^m W^{m\top} - I\|^2 + \tfrac{\lambda_3}{2}\|W\|^2` with
    :math:`B = \operatorname{sign}(H)`. Here (see :func:`dh_terms`) the variance term is taken per
    bit over the batch, the independence term is put on the code layer's outputs (their
    covariance close to the identity: decorrelated, unit-variance bits) rather than on each
    layer's weights, and the weight penalty is ``TrainConfig.weight_decay``; all terms are means,
    so the weights do not depend on the batch size or code length.

    Parameters
    ----------
    balance : float, default 1.0
        The paper's lambda_1 (variance / bit balance).
    independence : float, default 1.0
        The paper's lambda_2 (independence).
    """

    consumes = frozenset()

    def __init__(self, balance: float = 1.0, independence: float = 1.0):
        super().__init__()
        for name, v in (("balance", balance), ("independence", independence)):
            nonnegative(name, v)
        self.balance = float(balance)
        self.independence = float(independence)

    def step_loss(self, inputs: LossInputs):
        return self(inputs.u)

    def forward(self, u):
        check_outputs(u)
        if u.shape[0] < 2:
            raise ValueError("DH's batch statistics need at least 2 outputs")
        _, work = upcast(u)
        return dh_terms(work, self.balance, self.independence).to(u.dtype)

"""DCMH loss (Jiang & Li, "Deep Cross-Modal Hashing", CVPR 2017, arXiv 1602.02255)."""

from __future__ import annotations

from .base import HashLoss, Supervision, check_labels, check_outputs, similarity_matrix, torch
from .parts import PairLikelihood, nonnegative, upcast

__all__ = ["DCMHLoss"]


def _check_outputs(t, name, bits=None):
    check_outputs(t, name)
    if bits is not None and t.shape[1] != bits:
        raise ValueError(f"{name} must have shape (n, {bits}), got {tuple(t.shape)}")


class DCMHLoss(HashLoss):
    r"""DCMH's objective for one modality's batch, the other modality held fixed.

    The full objective over n pairs, with F (n, bits) the image outputs, G (n, bits) the text
    outputs, B in {-1, +1}^(n x bits) the shared codes and :math:`\Theta_{ij} = \tfrac12 F_i^\top
    G_j`::

        J = sum_ij [softplus(Theta_ij) - S_ij Theta_ij]        (inter-modal pairwise NLL)
            + gamma (||B - F||^2 + ||B - G||^2)                (quantisation)
            + eta (||F^T 1||^2 + ||G^T 1||^2)                  (bit balance)

    ``forward`` is J restricted to the terms that depend on a batch U of one modality's outputs
    (its rows of F, or of G with the roles swapped), with the other modality's outputs V and
    the codes fixed: the pairs (batch row, every item of the other modality), the batch's
    quantisation, and the balance of the batch's modality whose column sums are
    ``u_sum = (sum of the stored outputs outside the batch) + sum of U``. Its gradient with
    respect to U_i is then exactly the paper's
    :math:`\tfrac12 \sum_j (\sigma(\Theta_{ij}) - S_{ij}) V_j + 2\gamma(U_i - B_i) + 2\eta\,u_{sum}`.
    The sum is divided by (batch size x m), as in the authors' PyTorch code, which keeps the
    step size independent of the data size without changing the relative weights.

    Consumes pairs, across modalities and with the shared codes: in the training loop each
    modality is a stage whose criterion (:class:`deephash.training.CrossModalBank`) hands it
    the other modality's stored outputs (``ref_u``), the codes and ``u_sum``.

    Parameters
    ----------
    gamma : float, default 1
        Quantisation weight (the paper's default; :class:`deephash.methods.DCMH` passes its own).
    eta : float, default 1
        Bit-balance weight (the paper's default).

    Parameters of forward
    ---------------------
    u : float tensor (b, bits)
        Outputs of the batch (with gradients).
    labels : tensor (b,) int or (b, c) multi-hot
    other : float tensor (m, bits)
        The other modality's outputs (treated as constants only if the caller detaches them).
    other_labels : tensor (m,) or (m, c), the same kind as ``labels``
    codes : float tensor (b, bits)
        The batch's rows of B (values +-1).
    u_sum : float tensor (bits,), optional
        Column sums of this modality's outputs over all n items, with the batch's part taken
        from ``u`` (so it carries the gradient); default ``u.sum(0)`` (the batch alone).
    """

    consumes = frozenset({Supervision.PAIRS})

    def __init__(self, gamma: float = 1.0, eta: float = 1.0):
        super().__init__()
        self.gamma = nonnegative("gamma", gamma)
        self.eta = nonnegative("eta", eta)
        self.pair = PairLikelihood(scale=0.5)

    def step_loss(self, inputs):
        """``ref_u`` / ``ref_labels``: the other modality's outputs and labels; ``codes``, ``u_sum``."""
        return self(inputs.u, inputs.labels, inputs.ref_u, inputs.ref_labels, inputs.codes, inputs.u_sum)

    def forward(self, u, labels, other, other_labels, codes, u_sum=None):
        _check_outputs(u, "u")
        bits = u.shape[1]
        _check_outputs(other, "other", bits)
        _check_outputs(codes, "codes", bits)
        if codes.shape[0] != u.shape[0]:
            raise ValueError(f"codes must have one row per output ({u.shape[0]}), got {codes.shape[0]}")
        check_labels(labels, u.shape[0], "labels")
        check_labels(other_labels, other.shape[0], "other_labels")
        if labels.ndim != other_labels.ndim or (labels.ndim == 2 and labels.shape[1] != other_labels.shape[1]):
            raise ValueError(
                f"labels {tuple(labels.shape)} and other_labels {tuple(other_labels.shape)} must be "
                "the same kind (both (n,) or both (n, c) with the same c)"
            )
        if u_sum is None:
            u_sum = u.sum(0)
        elif not isinstance(u_sum, torch.Tensor) or tuple(u_sum.shape) != (bits,):
            raise ValueError(
                f"u_sum must be a tensor of shape ({bits},), got "
                f"{tuple(getattr(u_sum, 'shape', ())) or type(u_sum).__name__}"
            )
        out_dtype = u.dtype
        work, u, other, codes, u_sum = upcast(u, other, codes, u_sum)
        s = similarity_matrix(labels, other_labels).to(work)
        nll = self.pair(u, other, s).sum()
        quant = (codes - u).pow(2).sum()
        balance = u_sum.pow(2).sum()
        total = nll + self.gamma * quant + self.eta * balance
        return (total / (u.shape[0] * other.shape[0])).to(out_dtype)

    @torch.no_grad()
    def objective(self, f, g, codes, labels, block: int = 1024) -> float:
        """The full objective J (above, unnormalised) of image outputs ``f`` (n, bits), text
        outputs ``g`` (n, bits), codes (n, bits) and labels (n,) / (n, c), in row blocks of
        ``block`` so that the n x n pair matrix is never held whole."""
        _check_outputs(f, "f")
        _check_outputs(g, "g", f.shape[1])
        _check_outputs(codes, "codes", f.shape[1])
        if not f.shape[0] == g.shape[0] == codes.shape[0]:
            raise ValueError(
                f"f, g and codes must have the same rows, got {f.shape[0]}, {g.shape[0]}, {codes.shape[0]}"
            )
        check_labels(labels, f.shape[0], "labels")
        f, g, codes = f.double(), g.double(), codes.double()
        nll = 0.0
        for start in range(0, f.shape[0], block):
            s = similarity_matrix(labels[start : start + block], labels).double()
            nll += float(self.pair(f[start : start + block], g, s).sum())
        quant = float((codes - f).pow(2).sum() + (codes - g).pow(2).sum())
        balance = float(f.sum(0).pow(2).sum() + g.sum(0).pow(2).sum())
        return nll + self.gamma * quant + self.eta * balance

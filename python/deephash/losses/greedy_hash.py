"""GreedyHash loss (Su, Zhang, Zhu & Tian, "Greedy Hash: Towards Fast Optimization for Accurate
Hash Coding in CNN", NeurIPS 2018)."""

from __future__ import annotations

from .base import HashLoss, LossInputs, Supervision, check_labels, check_outputs, class_cross_entropy, torch
from .parts import CubicDistance, nonnegative, positive_int, sign_straight_through, upcast

__all__ = ["GreedyHashLoss"]


class GreedyHashLoss(HashLoss):
    r"""Classification of the binary codes themselves, plus a cubic quantisation penalty.

    The hash layer's outputs ``h`` are binarised in the forward pass, ``b = sign(h)`` (+1 where
    h > 0, else -1), and the gradient passes straight through the sign (the paper's greedy
    principle: optimise as if ``b`` were ``h``). A linear classifier without bias (``bits`` ->
    classes, owned by the loss, trained with the network and saved with the model) classifies
    ``b``::

        L = softmax cross-entropy(W b, label) + alpha * mean(|h - b|^3)

    (multi-hot labels: cross-entropy against the uniform distribution over the item's labels).
    Consumes ``"classes"``.

    Parameters
    ----------
    bits, n_classes : int
        Code length and number of classes (the classifier's shape).
    alpha : float, default 0.1
        Weight of the cubic penalty (the authors' code and DeepHash-pytorch use 0.1).
    seed : int
        Seeds the classifier's initialisation (torch's global RNG is left alone).

    Parameters of forward
    ---------------------
    u : float tensor (n, bits)
        Hash-layer outputs h.
    labels : int (n,) or multi-hot (n, c)
    """

    consumes = frozenset({Supervision.CLASSES})

    def __init__(self, bits: int, n_classes: int, alpha: float = 0.1, seed: int = 0):
        super().__init__()
        bits, n_classes = positive_int("bits", bits), positive_int("n_classes", n_classes)
        self.alpha = nonnegative("alpha", alpha)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.classifier = torch.nn.Linear(bits, n_classes, bias=False)
        self.penalty = CubicDistance()

    def step_loss(self, inputs: LossInputs):
        return self(inputs.u, inputs.labels)

    def forward(self, u, labels):
        check_outputs(u)
        check_labels(labels, u.shape[0], "labels")
        if u.shape[1] != self.classifier.in_features:
            raise ValueError(f"u must have {self.classifier.in_features} columns (bits), got {u.shape[1]}")
        work, h = upcast(u)
        b = sign_straight_through(h)
        logits = torch.nn.functional.linear(b, self.classifier.weight.to(work))
        loss = class_cross_entropy(logits, labels) + self.alpha * self.penalty(h)
        return loss.to(u.dtype)

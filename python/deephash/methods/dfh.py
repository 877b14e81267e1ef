"""DFH: deep Fisher hashing (Li, Pei, Zha & van Gemert, BMVC 2019, "Push for Quantization")."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DFH"]


class DFH(DeepHashingMethod):
    """Deep Fisher hashing: a margin on pair likelihoods and a push of the outputs to class-centred codes.

    Li, Pei, Zha & van Gemert, "Push for Quantization: Deep Fisher Hashing", BMVC 2019.

    Loss (:class:`deephash.losses.DFHLoss`), per step: the batch's codes ``b = sign(mu y C^T +
    u)`` are pushed towards the binary centres C of their classes; the relaxed centres V take
    gradient steps on a Fisher-like objective (codes of a class near its centre, centres of
    different classes ``bits`` apart in inner product, V near binary), ``C = sign(V)``; the
    network's loss is the pair likelihood on ``theta = u_i . u_j / 2`` with a margin m (similar
    pairs pushed beyond +m, dissimilar below -m), plus ``eta * mean((u - b)**2)``. Real
    outputs, codes sign(u); pairs against the memory bank when there is one.

    Hyperparameters
    ---------------
    margin : float, default 0.0
        m, in half-inner-product units.
    mu : float, default 1.0
        Weight of the class centres in the codes b.
    between : float, default 1.0
        Weight of the centres' between-class term.
    center_quantization : float, default 1.0
        Weight of the centres' quantisation term.
    quantization : float, default 0.5
        eta, weight of the outputs-to-codes term.
    center_steps : int, default 200
        Gradient steps on the centres per training step.

    The defaults are the authors' code (liyunqianggyn/Push-for-Quantization-Deep-Fisher-Hashing,
    ``Main.py``: mu 1, vul 1, nta 1, eta 0.5, margin 0 -- its margin loss is written but commented
    out). DeepHash-pytorch's ``DFH.py`` uses m 3 and mu 0.1; on a validation carve of the digits
    training set (800 train / 200 queries, 32 bits, 15 epochs, seeds 0 / 1) those scored .775 /
    .775 against .895 / .896 for the authors' values (m 0.5: .865 / .883, m 1: .866 / .870).
    """

    name = "DFH"
    hyperparameters = (
        Hyperparameter("margin", 0.0, "pair margin m, half-inner-product units", low=0),
        Hyperparameter("mu", 1.0, "weight of the class centres in the codes", low=0),
        Hyperparameter("between", 1.0, "weight of the centres' between-class term", low=0),
        Hyperparameter("center_quantization", 1.0, "weight of the centres' quantisation term", low=0),
        Hyperparameter("quantization", 0.5, "eta, weight of the outputs-to-codes term", low=0),
        Hyperparameter("center_steps", 200, "gradient steps on the centres per training step", int, low=1),
    )

    def make_loss(self):
        from ..losses.dfh import DFHLoss

        p = self.params
        return DFHLoss(
            margin=p["margin"],
            mu=p["mu"],
            between=p["between"],
            center_quantization=p["center_quantization"],
            eta=p["quantization"],
            center_steps=p["center_steps"],
        )

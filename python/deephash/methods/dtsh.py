"""DTSH: deep supervised hashing with triplet labels (Wang, Shi & Kitani, ACCV 2016)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["DTSH"]


class DTSH(DeepHashingMethod):
    """Triplet-label likelihood on half inner products, plus quantisation.

    Wang, Shi & Kitani, "Deep Supervised Hashing with Triplet Labels", ACCV 2016.

    Loss (:class:`deephash.losses.DTSHLoss`): for each (anchor q, similar p, dissimilar n)
    triplet, the negative log-likelihood of ``sigmoid(theta_qp - theta_qn - margin)`` with
    ``theta_ij = u_i . u_j / 2``, averaged over the triplets, plus ``quantization * mean((u -
    sign u)**2)`` on the anchors; real outputs, codes sign(u). Triplets are mined by the trainer
    (:class:`deephash.training.TripletMiner`: for each item of the batch, ``triplets_per_anchor``
    draws of a similar and a dissimilar item from the memory bank, or the batch when there is
    none), seeded by ``seed``.

    Hyperparameters
    ---------------
    margin : float or None, default None
        alpha, in half-inner-product units; None means bits / 2, the authors' code
        (Minione/DTSH, ``DTSH.m``: ``margin = codelens / 2``).
    quantization : float, default 0.2
        Weight of the quantisation term (lambda) in the mean-reduced loss. The authors' code
        adds ``eta = 100`` times the quantisation gradient to the likelihood gradient summed
        over 50 x 50 x 9 = 22,500 triplets per anchor: with the likelihood averaged over the
        triplets that is ``lambda = eta * bits / 22500``, 0.21 at 48 bits.
    triplets_per_anchor : int, default 4
        Triplets mined per anchor and step (the authors draw all 22,500 per anchor from the
        whole training set each step; the memory bank stands in for that here).
    """

    name = "DTSH"
    hyperparameters = (
        Hyperparameter(
            "margin", None, "triplet margin alpha, half-inner-product units (None: bits/2)", low=0, none=True
        ),
        Hyperparameter("quantization", 0.2, "weight of the quantisation term", low=0),
        Hyperparameter("triplets_per_anchor", 4, "triplets mined per anchor and step", int, low=1),
    )

    def make_loss(self):
        from ..losses.dtsh import DTSHLoss

        p = self.params
        margin = self.bits / 2 if p["margin"] is None else p["margin"]
        return DTSHLoss(margin=margin, lam=p["quantization"])

    def make_miner(self, loss):
        from ..training import TripletMiner

        return TripletMiner(self.params["triplets_per_anchor"], seed=self.seed)

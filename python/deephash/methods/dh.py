"""DH: deep hashing on hand-crafted features (Liong et al., CVPR 2015), unsupervised."""

from __future__ import annotations

from .deep import DeepHashingMethod

__all__ = ["DH"]


class DH(DeepHashingMethod):
    """A multi-layer network with a tanh code layer, trained on DH's unsupervised objective.

    Loss (:class:`deephash.losses.DHLoss`): quantisation ``0.5 * mean((sign(u) - u)**2)``, minus
    the bits' variance over the batch (balance), plus the distance of their covariance from the
    identity (independence). No labels (``supervised = False``; labels given to ``fit`` are
    ignored). The paper ran it on GIST descriptors: ``backbone="hog"`` gives the project's
    hand-crafted descriptor (frozen and cached, the head trains), ``"mlp"`` input vectors.
    Like the paper's network, the head has hidden layers (``TrainConfig.head_hidden``; default
    [256] on frozen features).

    Hyperparameters
    ---------------
    balance : float, default 1.0
    independence : float, default 1.0
    """

    name = "DH"
    supervised = False
    head_activation = "tanh"
    hyperparameter_defaults = {"balance": 1.0, "independence": 1.0}

    def make_loss(self):
        from ..losses.dh import DHLoss

        return DHLoss(balance=self.params["balance"], independence=self.params["independence"])

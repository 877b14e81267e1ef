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
    On frozen features the head is standardisation + one tanh layer (``frozen_head_hidden =
    ()``; the paper's network has more layers, ``TrainConfig.head_hidden`` adds them).

    Defaults chosen on a validation split of the CIFAR-10 protocol's 5,000 training images
    (50 per class as queries, the other 4,500 as database and training set; seed 0; ``hog``
    features, 20 epochs), never on the protocol's queries: no hidden layer against one of 256
    gave mAP .155/.168/.173 against .154/.150/.150 at 12/32/48 bits (ITQ on the same split:
    .158/.162/.162); over balance {1, 2} x independence {0.3, 1} without a hidden layer,
    balance 1 / independence 0.3 had the best mean over the three lengths (.159/.169/.173).

    Hyperparameters
    ---------------
    balance : float, default 1.0
    independence : float, default 0.3
    """

    name = "DH"
    supervised = False
    head_activation = "tanh"
    frozen_head_hidden = ()
    hyperparameter_defaults = {"balance": 1.0, "independence": 0.3}

    def make_loss(self):
        from ..losses.dh import DHLoss

        return DHLoss(balance=self.params["balance"], independence=self.params["independence"])

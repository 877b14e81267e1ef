"""CIBHash: contrastive hashing with an information bottleneck (Qiu et al., IJCAI 2021)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["CIBHash"]


class CIBHash(DeepHashingMethod):
    """CIBHash (Qiu, Su, Ye & Wang, "Unsupervised Hashing with Contrastive Information
    Bottleneck", IJCAI 2021). Unsupervised: labels are ignored.

    Every batch is passed through the network twice (the loss consumes ``"views"``), each pass
    an augmented view: the paper augments images (crops, colour jitter, flips, blur); here the
    views are made from features, which the CPU can afford -- dropout and Gaussian noise on the
    head's (standardised) input features in training
    (:class:`deephash.models.feature_head.FeatureHashHead`), and with partial fine-tuning
    (``train_from_block``) also the recipe's random flips (``flip=True``) and shifts
    (``feature_shift``) of the cached activations, drawn independently for each view. The
    head (one hidden layer of 1024 on frozen features, as the authors' encoder) gives bit
    probabilities ``sigmoid(u)``; a stochastic binary layer with a straight-through gradient
    makes the codes; the loss (:class:`deephash.losses.CIBHashLoss`) is NT-Xent between the
    two views' codes plus ``beta`` times the symmetric Bernoulli KL of the views' bit
    probabilities. Codes: ``u > 0`` (probability > 0.5).

    Hyperparameters
    ---------------
    temperature : float, default 0.3
        NT-Xent temperature (the authors' default).
    beta : float, default 0.001
        Weight of the KL (information-bottleneck) term (the authors' default).
    stochastic : bool, default True
        Stochastic binary layer in training (the paper); False thresholds at 0.5.
    dropout : float, default 0.4
        Probability of zeroing each input feature in a view.
    noise : float, default 0.6
        Std of the Gaussian noise added to the standardised input features in a view.

    The feature augmentation was chosen on the digits *training* set only (800 items trained,
    the other 200 as queries against them; 32 bits, ``backbone="features"``,
    ``head_hidden=[256]``, 50 epochs, lr 3e-3, seed 0; ITQ on that split .644): no augmentation
    .494; dropout / noise 0.2 / 0.3 .632 (lr 1e-3), 0.1 / 0.2 .598, 0.2 / 0.5 .689, 0.4 / 0.6
    .715, 0.6 / 0.6 .684, 0.5 / 0.8 .693, 0.4 / 1.0 .697; ``stochastic=False`` .717.
    """

    name = "CIBHash"
    supervised = False
    default_backbone = "features"
    frozen_head_hidden = (1024,)
    hyperparameters = (
        Hyperparameter("temperature", 0.3, "NT-Xent temperature", low=0, open="low"),
        Hyperparameter("beta", 0.001, "weight of the KL (information-bottleneck) term", low=0),
        Hyperparameter("stochastic", True, "stochastic binary layer in training", bool),
        Hyperparameter("dropout", 0.4, "feature dropout of each view", low=0, high=1, open="high"),
        Hyperparameter("noise", 0.6, "std of the feature noise of each view", low=0),
    )

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        from ..models.feature_head import FeatureHashHead

        p = self.params
        return FeatureHashHead(
            in_dim,
            self.bits,
            hidden=hidden,
            standardize=standardize,
            dropout=p["dropout"],
            noise=p["noise"],
            seed=self.seed + 2,
        )

    def make_loss(self):
        from ..losses.cibhash import CIBHashLoss

        p = self.params
        return CIBHashLoss(p["temperature"], p["beta"], stochastic=p["stochastic"], seed=self.seed + 3)

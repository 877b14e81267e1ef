"""BiHalf: unsupervised hashing with the bi-half layer (Li & van Gemert, AAAI 2021)."""

from __future__ import annotations

from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["BiHalf"]


class BiHalf(DeepHashingMethod):
    """Bi-half Net (Li & van Gemert, "Deep Unsupervised Image Hashing by Maximizing Bit Entropy",
    AAAI 2021). Unsupervised: labels are ignored.

    A linear hash layer on frozen features (``backbone="features"`` for vectors, the default;
    a frozen pretrained image backbone's features otherwise); in training its outputs pass
    through the bi-half layer (:func:`deephash.losses.bihalf.bi_half`: per bit, the larger
    half of the batch -> +1, the rest -> -1, maximising every bit's entropy; straight-through
    gradient plus ``gamma * (u - b) / numel``). Loss (:class:`deephash.losses.BiHalfLoss`): the
    codes' cosine similarities fit the features' over the pairs of each batch,
    ``mean (cos(b_i, b_j) - cos(x_i, x_j))^2``, x the (standardised) input features of the
    head. Codes: ``u > 0`` (sign, as the authors encode).

    The features are the loss's constant target, so a backbone trained with the head
    (``"mlp"``, partial fine-tuning) would chase its own codes: BiHalf is meant for frozen
    features.

    Hyperparameters
    ---------------
    gamma : float, default 6.0
        The bi-half layer's gamma (the authors' CIFAR-10 code).
    """

    name = "BiHalf"
    supervised = False
    default_backbone = "features"
    frozen_head_hidden = ()  # the authors' encoder: one linear layer on the VGG features
    hyperparameters = (Hyperparameter("gamma", 6.0, "pull of the outputs to their bi-half codes", low=0),)

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        from ..models.feature_head import FeatureHashHead

        return FeatureHashHead(in_dim, self.bits, hidden=hidden, standardize=standardize, keep_input=True)

    def make_loss(self):
        from ..losses.bihalf import BiHalfLoss

        return BiHalfLoss(gamma=self.params["gamma"])

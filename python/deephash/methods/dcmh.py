"""DCMH: deep cross-modal hashing (Jiang & Li, CVPR 2017, arXiv 1602.02255)."""

from __future__ import annotations

import numpy as np

from ._modality_net import ModalityNet
from .crossmodal import MODALITIES, CrossModalMethod

__all__ = ["DCMH"]


class DCMH(CrossModalMethod):
    """Deep cross-modal hashing: an image network and a text network trained into one Hamming space.

    Objective (:class:`deephash.losses.DCMHLoss`), over the n training pairs with F, G (n, bits)
    the outputs of the image and the text network and B the shared codes: the negative
    log-likelihood of the inter-modal similarities S_ij (1 when image i and text j share a
    label) under p(S_ij = 1) = sigmoid(F_i . G_j / 2), plus ``gamma (||B - F||^2 + ||B - G||^2)``
    and the bit balance ``eta (||F^T 1||^2 + ||G^T 1||^2)``. Alternating optimisation, as in
    the paper: each epoch trains the image network one pass in batches with G and B fixed
    (pairing every batch with all n stored text outputs), then the text network with F and B
    fixed, then sets ``B = sign(F + G)`` (the exact minimiser for fixed F and G). F and G are
    buffers of the latest outputs, filled by an initial forward pass. Codes: the sign of each
    network's outputs (``encode_image`` / ``encode_text``).

    The paper uses SGD with a learning rate decaying from 10^-1.5 to 10^-3 over 500 epochs on
    raw images (CNN-F) and bag-of-words (a 2-layer MLP); here Adam (``TrainConfig.lr``) on the
    registry's backbones, default "mlp" for both sides (vectors; images via an image backbone
    such as "efficientnet_lite0", whose frozen features feed a trained head).

    Hyperparameters
    ---------------
    gamma : float, default 100
        Quantisation weight.
    eta : float, default 0.1
        Bit-balance weight.

    The paper's gamma = eta = 1 (chosen there by cross-validation, SGD, 10k-20k pairs) do not
    carry over: the objective is a sum over n^2 pairs against sums over n rows, so the weight
    of both terms relative to the pairs depends on n, and with Adam the balance gradient (the
    same large vector for every row) dominates the step normalisation. Measured on a seeded
    80/20 validation split of the Wikipedia training pairs (32 bits, 20 epochs, "mlp" both
    sides; image->text / text->image mAP): gamma = eta = 1 collapsed the image outputs to
    near 0 (mean |output| 0.06) at .16 / .13; gamma = 1, eta = 0 gave .20 / .19; gamma = 100,
    eta = 0 .26 / .21; gamma = 100, eta = 0.1 .28 / .22 (gamma = 300 .29 / .22, gamma = 1000
    .18 / .17; eta = 1 with gamma = 100 .18 / .16); the grid at 16/32/64 bits and 50 epochs is in
    bench/README.md. Retune both for much larger or smaller training sets.

    Attributes
    ----------
    history_ : list of float
        The full objective J after the initial forward pass and after each epoch (for
        monitoring; not saved).

    Examples
    --------
    >>> m = deephash.methods.DCMH(bits=32, seed=0, epochs=100)              # doctest: +SKIP
    >>> m.fit(image_train, text_train, labels_train)                        # doctest: +SKIP
    >>> q = m.encode_text(text_queries); db = m.encode_image(image_db)      # doctest: +SKIP
    """

    name = "DCMH"
    hyperparameter_defaults = {"gamma": 100.0, "eta": 0.1}
    default_image_backbone = "mlp"
    default_text_backbone = "mlp"

    def __init__(
        self,
        bits: int = 32,
        image_backbone=None,
        text_backbone=None,
        seed: int = 0,
        config=None,
        backbone=None,
        **hyperparameters,
    ):
        super().__init__(
            bits=bits,
            image_backbone=image_backbone,
            text_backbone=text_backbone,
            seed=seed,
            config=config,
            backbone=backbone,
            **hyperparameters,
        )
        if self.config.memory_bank is False:
            raise ValueError(
                "DCMH always pairs a batch with the stored outputs of all n items of "
                "the other modality (the paper's algorithm); memory_bank=False is not "
                "supported"
            )

    def _nets(self):
        # Distinct seeds per network: (seed, seed + 1) image, (seed + 2, seed + 3) text.
        return {
            m: ModalityNet(self.backbone[m], self.bits, self.config, self.seed + 2 * k, m)
            for k, m in enumerate(MODALITIES)
        }

    def make_loss(self):
        from ..losses import DCMHLoss

        return DCMHLoss(gamma=self.params["gamma"], eta=self.params["eta"])

    def _fit(self, image_x, text_x, labels):
        from ..models import resolve_device
        from .._torch import require_torch

        torch = require_torch()
        cfg = self.config
        device = resolve_device(cfg.device)
        loss_fn = self.make_loss()
        nets = self._nets()
        inputs = {"image": image_x, "text": text_x}
        n = image_x.shape[0]
        for m, net in nets.items():
            net.build(inputs[m].shape, torch)
            net.prepare(inputs[m], device, torch)
        y = torch.from_numpy(labels.astype(np.int64) if labels.ndim == 1 else labels.astype(np.float32)).to(device)
        opts = {
            m: torch.optim.Adam(net.param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay) for m, net in nets.items()
        }
        rng = np.random.default_rng(self.seed)
        bs = min(cfg.batch_size, n)
        order = np.arange(n)

        def outputs(net):
            net.train(False)
            with torch.no_grad():
                return torch.cat([net.forward(order[s : s + 4096], torch).float() for s in range(0, n, 4096)])

        bank = {m: outputs(net) for m, net in nets.items()}
        codes = torch.where(bank["image"] + bank["text"] >= 0, 1.0, -1.0)
        self.history_ = [loss_fn.objective(bank["image"], bank["text"], codes, y)]
        epochs = range(cfg.epochs)
        bar = None
        if cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(epochs, desc=f"DCMH {self.bits} bits", unit="epoch", leave=False)
        try:
            for _ in bar if bar is not None else epochs:
                for m, other in (("image", "text"), ("text", "image")):
                    net, own, opt = nets[m], bank[m], opts[m]
                    net.train(True)
                    perm = rng.permutation(n)
                    for start in range(0, n, bs):
                        idx = perm[start : start + bs]
                        idx_t = torch.from_numpy(idx).to(device)
                        u = net.forward(idx, torch, rng).float()
                        # Column sums of this modality over all n items, the batch's share live.
                        u_sum = (own.sum(0) - own[idx_t].sum(0)) + u.sum(0)
                        loss = loss_fn(u, y[idx_t], bank[other], y, codes[idx_t], u_sum)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        own[idx_t] = u.detach()
                codes = torch.where(bank["image"] + bank["text"] >= 0, 1.0, -1.0)
                self.history_.append(loss_fn.objective(bank["image"], bank["text"], codes, y))
                if bar is not None:
                    bar.set_postfix(J=f"{self.history_[-1]:.4g}")
        finally:
            if bar is not None:
                bar.close()
        for net in nets.values():
            net.train(False)
            net.release()
        self._nets_ = nets

    def _transform(self, modality, x):
        from .._torch import require_torch

        return self._nets_[modality].transform(x, require_torch())

    def _state(self):
        meta = {"backbone": {}, "nets": {}, **self._shapes_meta()}
        arrays = {}
        for m, net in self._nets_.items():
            net_meta, net_arrays = net.state(m + "/")
            meta["backbone"][m] = net.spec
            meta["nets"][m] = net_meta
            arrays.update(net_arrays)
        return meta, arrays

    def _restore(self, meta, arrays):
        from .._torch import require_torch

        torch = require_torch()
        self._restore_shapes(meta)
        self._nets_ = self._nets()
        for m, net in self._nets_.items():
            net.restore(meta["nets"][m], arrays, m + "/", self._input_shapes[m], torch)
        self._fitted = True

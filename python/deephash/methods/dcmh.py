"""DCMH: deep cross-modal hashing (Jiang & Li, CVPR 2017, arXiv 1602.02255)."""

from __future__ import annotations

import numpy as np

from .config import TrainConfig
from .crossmodal import MODALITIES, CrossModalMethod
from .hyperparameters import Hyperparameter

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
    quantization : float, default 100
        (Formerly ``gamma``, still accepted with a DeprecationWarning.)
        Quantisation weight.
    balance : float, default 0.1
        (Formerly ``eta``, still accepted with a DeprecationWarning.)
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
    hyperparameters = (
        Hyperparameter("quantization", 100.0, "weight of the quantisation term (the paper's gamma)", low=0),
        Hyperparameter("balance", 0.1, "weight of the bit-balance term (the paper's eta)", low=0),
    )
    renamed = {"gamma": "quantization", "eta": "balance"}
    # every training setting but num_workers (DCMH trains in one process)
    config_fields = frozenset(TrainConfig.field_names() - {"num_workers"})
    default_image_backbone = "mlp"
    default_text_backbone = "mlp"

    def _check_settings(self) -> None:
        if self.config.memory_bank is False:
            raise ValueError(
                "DCMH always pairs a batch with the stored outputs of all n items of "
                "the other modality (the paper's algorithm); memory_bank=False is not "
                "supported"
            )

    def _nets(self):
        from ..training.network import Network

        # Distinct seeds per network: (seed, seed + 1) image, (seed + 2, seed + 3) text.
        return {
            m: Network(self.backbone[m], self.bits, self.config, self.seed + 2 * k, label=m)
            for k, m in enumerate(MODALITIES)
        }

    def make_loss(self):
        from ..losses import DCMHLoss

        return DCMHLoss(gamma=self.params["quantization"], eta=self.params["balance"])

    def _fit(self, image_x, text_x, labels, callbacks=()):
        from .._torch import require_torch
        from ..models import resolve_device
        from ..training import CrossModalBank, Run, Stage, train

        torch = require_torch()
        cfg = self.config
        device = resolve_device(cfg.device)
        loss_fn = self.make_loss()
        nets = self._nets()
        inputs = {"image": image_x, "text": text_x}
        n = image_x.shape[0]
        rng = np.random.default_rng(self.seed)
        training = {}
        for m, net in nets.items():
            net.build(inputs[m].shape, torch)
            training[m] = net.training_network(inputs[m], device, rng, torch)
        y = torch.from_numpy(labels.astype(np.int64) if labels.ndim == 1 else labels.astype(np.float32)).to(device)
        state = _SharedCodes(loss_fn, training, n, y)
        stages = [Stage(training[m], CrossModalBank(loss_fn, m, state), name=m) for m in MODALITIES]
        run = Run(
            stages,
            n=n,
            config=cfg,
            rng=rng,
            device=device,
            labels=y,
            hooks=[state, *callbacks],
            desc=f"DCMH {self.bits} bits",
        )
        train(run)
        self.history_ = state.history
        self._nets_ = nets

    def _transform(self, modality, x):
        from ..models import code_outputs

        return self._nets_[modality].outputs(x, code_outputs, self.bits, f"DCMH encode {modality}")

    def _state(self):
        meta = {"backbone": {}, "nets": {}, **self._shapes_meta()}
        arrays = {}
        for m, net in self._nets_.items():
            if not isinstance(net.spec, dict):
                raise TypeError(
                    f"the {m} network uses a custom torch module backbone, which a cross-modal "
                    "model cannot save; use a registered backbone name (e.g. 'mlp', 'efficientnet_lite0')"
                )
            net_meta, net_arrays = net.state(m + "/")
            meta["backbone"][m] = net.spec
            meta["nets"][m] = net_meta
            arrays.update(net_arrays)
        return meta, arrays

    def _restore(self, meta, arrays):
        self._restore_shapes(meta)
        self._nets_ = self._nets()
        for m, net in self._nets_.items():
            net.restore(meta["nets"][m], arrays, self._input_shapes[m], prefix=m + "/")
        self._fitted = True


class _SharedCodes:
    """DCMH's alternating state, a hook of the run: the latest outputs F and G of both networks
    (filled by an initial pass in eval mode, then by each step), the shared codes
    ``B = sign(F + G)`` (updated after each epoch) and the objective's history."""

    def __init__(self, loss, nets, n, labels):
        import torch

        self.loss, self.labels = loss, labels
        order = np.arange(n)
        self.outputs = {}
        for m, net in nets.items():
            for module in net.modules:
                module.eval()
            with torch.no_grad():
                self.outputs[m] = torch.cat(
                    [
                        net.forward(
                            order[s : s + 4096], torch.from_numpy(order[s : s + 4096]).to(labels.device), augment=False
                        ).float()
                        for s in range(0, n, 4096)
                    ]
                )
        self._update_codes()

    def _update_codes(self):
        import torch

        f, g = self.outputs["image"], self.outputs["text"]
        self.codes = torch.where(f + g >= 0, 1.0, -1.0)
        objective = self.loss.objective(f, g, self.codes, self.labels)
        self.history = [*getattr(self, "history", []), objective]

    def on_epoch_end(self, run) -> None:
        self._update_codes()
        run.postfix = {"J": f"{self.history[-1]:.4g}"}

"""ADSH: asymmetric deep supervised hashing (Jiang & Li, AAAI 2018)."""

from __future__ import annotations

import numpy as np

from .._typing import Codes
from .deep import DeepHashingMethod
from .hyperparameters import Hyperparameter

__all__ = ["ADSH", "DatabaseCodeStep"]

#: Database columns per block of the similarity matrix in the code step (bounds its memory).
_BLOCK = 8192


class DatabaseCodeStep:
    """ADSH's rounds: which database items the query network trains on, and the database codes V.

    A round is ``epochs_per_round`` epochs over a uniform sample Omega of ``samples`` database
    items (this object is the run's sampler); after it, V (the run's target codes) is updated
    by discrete cyclic coordinate descent (:func:`deephash.training.cyclic_sign_update`) on::

        ||U~ V^T - c S||^2 + gamma ||V_Omega - U~||^2

    with U~ the query network's outputs of Omega (no augmentation), S (|Omega|, n) the
    similarities (1 or ``-dissimilar``, as in the loss): ``P = c S^T U~ + gamma U-bar`` (U-bar:
    U~ at Omega's rows, 0 elsewhere), ``G = U~^T U~``. A new sample is then drawn. V starts as
    the run's initial target codes (seeded random signs) and is updated once more at the end if
    the last round was cut short. ``on_codes(V)`` receives the final codes.
    """

    def __init__(self, samples: int, epochs_per_round: int, gamma: float, seed: int, on_codes, dissimilar=None):
        self.samples, self.epochs_per_round, self.gamma = int(samples), int(epochs_per_round), float(gamma)
        self.dissimilar = dissimilar
        self.rng = np.random.default_rng([int(seed), 0xADD5])  # apart from the run's batch order
        self.on_codes = on_codes
        self.sample = None
        self.epoch_size = None
        self._stale = False
        self._r = None  # the dissimilar pairs' target, counted once per run

    def _draw(self, n: int) -> None:
        self.sample = np.sort(self.rng.choice(n, min(self.samples, n), replace=False))
        self.epoch_size = self.sample.size

    def epoch_items(self, run):
        return run.rng.permutation(self.sample)

    def update(self, run) -> None:
        import torch

        from ..losses.adsh import InnerProductFit, dissimilar_target
        from ..losses.base import similarity_matrix
        from ..training import cyclic_sign_update, item_outputs

        if self._r is None:
            self._r = dissimilar_target(run.labels) if self.dissimilar is None else float(self.dissimilar)
        soft = InnerProductFit(1.0, self._r).similarity
        omega = torch.from_numpy(self.sample).to(run.device)
        u = item_outputs(run, self.sample).double()
        v = run.targets.double()
        c = v.shape[1]
        linear = torch.zeros_like(v)
        for start in range(0, run.n, _BLOCK):
            s = soft(similarity_matrix(run.labels[omega], run.labels[start : start + _BLOCK]).double())
            linear[start : start + _BLOCK] = c * (s.T @ u)
        linear[omega] += self.gamma * u
        v = cyclic_sign_update(v, linear, u.T @ u)
        run.targets.copy_(v.to(run.targets.dtype))
        self._stale = False

    def on_fit_start(self, run) -> None:
        self._r = None
        self._draw(run.n)

    def on_epoch_end(self, run) -> None:
        self._stale = True
        if (run.epoch + 1) % self.epochs_per_round == 0:
            self.update(run)
            self._draw(run.n)

    def on_fit_end(self, run) -> None:
        if self._stale:
            self.update(run)
        self.on_codes(run.targets.detach().cpu().numpy())


class ADSH(DeepHashingMethod):
    """Asymmetric deep supervised hashing: a query network and directly learned database codes.

    Jiang & Li, "Asymmetric Deep Supervised Hashing", AAAI 2018.

    ``fit(x, labels)`` treats ``x`` as the database: it learns a code for every item of ``x``
    (``database_codes``, packed uint8 (n, code_bits // 8), rows of ``x``, the same packing as
    ``encode``) and a query network (``encode`` gives query codes, sign of its tanh outputs).
    Search the learned database codes with query codes: the two sides are asymmetric, the
    database's labels shaped its codes directly. Objective::

        min  sum_{i in Omega} sum_j (tanh(F(x_i)) . v_j - c S_ij)^2 + gamma sum_{i in Omega} ||v_i - tanh(F(x_i))||^2

    over the network F and V in {-1, +1}^(n x c), S_ij = +-1 (similar or not), Omega a sample of
    the database. Alternation in rounds (:class:`DatabaseCodeStep`): ``epochs_per_round``
    epochs of the network on a fresh sample of ``samples`` items (:class:`deephash.losses.ADSHLoss`),
    then V by discrete bit-wise updates. ``TrainConfig.epochs`` counts all epochs (the paper's
    50 rounds of 3 epochs are ``epochs=150``).

    Hyperparameters
    ---------------
    samples : int, default 2000
        |Omega|, database items sampled per round (all when the database is smaller).
    epochs_per_round : int, default 3
        Network epochs over each sample.
    gamma : float, default 200.0
        Weight of the sampled items' outputs-to-codes term.
    dissimilar : float or None, default None
        r, a dissimilar pair's target similarity is -r: None is the authors' code's "soft
        constraint" (similar / dissimilar pairs of the database, about 1/9 on CIFAR-10); 1 is
        the paper's S in {-1, +1}.

    Attributes
    ----------
    database_codes : uint8 (n, code_bits // 8)
        The learned codes of the fitted ``x`` (saved with the model).
    """

    name = "ADSH"
    head_activation = "tanh"
    hyperparameters = (
        Hyperparameter("samples", 2000, "database items sampled per round", int, low=1),
        Hyperparameter("epochs_per_round", 3, "network epochs over each sample", int, low=1),
        Hyperparameter("gamma", 200.0, "weight of the outputs-to-codes term", low=0),
        Hyperparameter(
            "dissimilar",
            None,
            "target of dissimilar pairs is -r (None: similar/dissimilar pair ratio)",
            low=0,
            none=True,
        ),
    )

    def make_loss(self):
        from ..losses.adsh import ADSHLoss

        return ADSHLoss(self.bits, gamma=self.params["gamma"], dissimilar=self.params["dissimilar"])

    def make_criterion(self, loss, net, n, labels):
        from ..training import Criterion

        return Criterion(loss)  # its references are the database codes, not a memory bank

    def make_targets(self, x, labels):
        # V starts as seeded random signs (the authors' code starts from zeros, which target
        # codes in {-1, +1} cannot hold); the first code step follows the first round
        rng = np.random.default_rng([self.seed, 0xC0DE])
        return np.where(rng.random((len(x), self.bits)) < 0.5, -1.0, 1.0).astype(np.float32)

    def _code_step(self) -> DatabaseCodeStep:
        if getattr(self, "_step", None) is None:
            p = self.params

            def keep(v):
                self._database_codes = self._pack(v)

            self._step = DatabaseCodeStep(
                p["samples"], p["epochs_per_round"], p["gamma"], self.seed, keep, dissimilar=p["dissimilar"]
            )
        return self._step

    def make_sampler(self, n):
        step = self._code_step()  # the same object as the hook: fit makes one per run
        step.epoch_size = min(step.samples, n)
        return step

    def make_hooks(self):
        return [self._code_step()]

    def fit(self, x, labels=None, *, callbacks=()):
        """Learns the database codes of every row of ``x`` and the query network (see the class
        docstring; arguments as :meth:`DeepHashingMethod.fit`). Returns self."""
        if self.config.num_workers > 1:
            raise ValueError("ADSH trains in one process (its database codes are updated between epochs)")
        self._step = None
        try:
            super().fit(x, labels, callbacks=callbacks)
        finally:
            self._step = None
        return self

    @property
    def database_codes(self) -> Codes:
        """The learned codes of the fitted database, packed uint8 (n, code_bits // 8)."""
        self._check_fitted()
        return self._database_codes

    def _state(self):
        meta, arrays = super()._state()
        arrays["database_codes"] = self._database_codes
        return meta, arrays

    def _restore(self, meta, arrays):
        super()._restore(meta, arrays)
        codes = np.ascontiguousarray(arrays["database_codes"])
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != self.code_bits // 8:
            raise ValueError(
                f"database_codes must be uint8 (n, {self.code_bits // 8}), got {codes.dtype} {codes.shape}"
            )
        self._database_codes = codes

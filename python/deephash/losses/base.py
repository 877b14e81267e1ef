"""What every hashing loss shares: what it consumes, what the trainer hands it, input checks.

A loss declares in ``consumes`` what it needs besides the network outputs; the trainer
(:func:`deephash.training.train`) supplies exactly that in a :class:`LossInputs` and calls
:meth:`HashLoss.step_loss`. The kinds, and the ``forward`` signature of each kind's base class:

==================  =========================================================================
``"pairs"``         labels -> similar/dissimilar pairs, within the batch or against a memory
                    bank: ``PairwiseHashLoss.forward(u, labels, ref_u=None, ref_labels=None)``
``"triplets"``      (anchor, similar, dissimilar) rows mined by the trainer:
                    ``TripletHashLoss.forward(anchor, positive, negative, gains=None)``
``"graded_triplets"`` triplets from graded relevance r = shared labels, with the gain
                    2**r_pos - 2**r_neg of each (same forward, ``gains`` given)
``"targets"``       a target code in {-1, +1} per training item (computed once before training
                    by the method's ``make_targets``)
``"classes"``       the class labels of the batch (softmax heads)
``"views"``         a second, independently augmented forward pass of the batch (contrastive
                    losses): ``LossInputs.views`` holds both head outputs
(nothing)           outputs only: unsupervised losses
==================  =========================================================================

A loss may consume several kinds (``consumes = frozenset({Supervision.TRIPLETS, Supervision.PAIRS})``) and may own
trainable parameters (for example learned per-bit weights): the trainer optimises them with the
network and the method saves them with the model.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Optional

from .._torch import require_torch
from .parts import nonnegative, upcast

torch = require_torch()
nn = torch.nn

__all__ = [
    "CONSUMABLE",
    "HashLoss",
    "Supervision",
    "LossInputs",
    "PairwiseHashLoss",
    "check_labels",
    "check_outputs",
    "check_targets",
    "class_cross_entropy",
    "pair_counts",
    "similarity_matrix",
]


class Supervision(str, enum.Enum):
    """What a loss may consume besides the outputs (the table in the module docstring).

    A ``str`` enum: ``Supervision.PAIRS == "pairs"``, so ``"pairs" in loss.consumes`` works too.
    """

    PAIRS = "pairs"
    TRIPLETS = "triplets"
    GRADED_TRIPLETS = "graded_triplets"
    TARGETS = "targets"
    CLASSES = "classes"
    VIEWS = "views"

    def __str__(self) -> str:
        return self.value


#: The kinds of supervision a loss may declare in ``consumes``.
CONSUMABLE = frozenset(Supervision)
#: Kinds that need the training labels.
LABELLED = frozenset({Supervision.PAIRS, Supervision.TRIPLETS, Supervision.GRADED_TRIPLETS, Supervision.CLASSES})
#: Kinds that compare a batch with other items (and so can use a memory bank).
RELATIONAL = frozenset({Supervision.PAIRS, Supervision.TRIPLETS, Supervision.GRADED_TRIPLETS})


def _check_consumes(cls) -> None:
    """``cls.consumes`` must be a frozenset of :class:`Supervision` members (checked at class definition)."""
    consumes = cls.consumes
    if not isinstance(consumes, frozenset):
        raise TypeError(f"{cls.__name__}.consumes must be a frozenset of deephash.losses.Supervision, got {consumes!r}")
    values = {s.value for s in Supervision}
    bad = [c for c in consumes if not isinstance(c, Supervision) and not (isinstance(c, str) and c in values)]
    if bad:
        known = ", ".join(f"Supervision.{s.name}" for s in Supervision)
        raise TypeError(f"{cls.__name__}.consumes holds {bad!r}, which are not Supervision members; expected {known}")
    if any(not isinstance(c, Supervision) for c in consumes):
        import warnings

        warnings.warn(
            f"{cls.__name__}.consumes: strings are deprecated, use deephash.losses.Supervision members",
            DeprecationWarning,
            stacklevel=3,
        )
        cls.consumes = frozenset(Supervision(c) for c in consumes)


@dataclass
class LossInputs:
    """What the trainer hands a loss for one optimisation step (fields it does not consume are None).

    Attributes
    ----------
    u : float tensor (b, bits)
        Code-layer outputs of the batch (with gradients); the code bit is ``u > 0``.
    out : object
        The head's whole output: ``u`` itself, or a :class:`deephash.models.HeadOutput` with
        class logits or latent activations as well.
    labels : tensor (b,) int64 or (b, c) float, or None
        Labels of the batch.
    ref_u : float tensor (m, bits) or None
        Memory bank: the latest outputs of the training items seen so far (detached).
    ref_labels : tensor (m,) or (m, c), or None
        Their labels.
    triplets : int64 tensor (t, 3) or None
        (anchor row of ``u``, positive row, negative row); positives and negatives index
        ``ref_u`` when a memory bank is used, else ``u``.
    gains : float tensor (t,) or None
        Graded triplets: 2**r_pos - 2**r_neg.
    targets : float tensor (b, bits) or None
        Target codes in {-1, +1} of the batch.
    ids : int64 tensor (b,) or None
        Training-set positions of the batch.
    ref_ids : int64 tensor (m,) or None
        Training-set positions of the memory bank's rows.
    codes : float tensor (b, bits) or None
        Cross-modal training: the batch's rows of the codes shared by the modalities.
    u_sum : float tensor (bits,) or None
        Cross-modal training: column sums of this modality's outputs over all n items, the
        batch's share taken from ``u``.
    views : tuple of two head outputs, or None
        Losses that consume ``"views"``: the batch's head output ``out`` and a second one from
        another forward pass of the same items (its own random flips, shifts or feature noise).
    """

    u: Any
    out: Any = None
    labels: Optional[Any] = None
    ref_u: Optional[Any] = None
    ref_labels: Optional[Any] = None
    triplets: Optional[Any] = None
    gains: Optional[Any] = None
    targets: Optional[Any] = None
    ids: Optional[Any] = None
    ref_ids: Optional[Any] = None
    codes: Optional[Any] = None
    u_sum: Optional[Any] = None
    views: Optional[Any] = None

    def pool(self):
        """The rows that ``triplets[:, 1:]`` index: the memory bank, else the batch."""
        return self.u if self.ref_u is None else self.ref_u


class HashLoss(nn.Module):
    """Base of every hashing loss: declares ``consumes`` and maps :class:`LossInputs` to ``forward``.

    Subclasses set ``consumes`` (a frozenset of :class:`Supervision` members; empty for a loss
    of the outputs alone; checked when the class is defined, so a typo fails at import) and
    implement ``step_loss`` unless a kind's base class does.
    """

    consumes: frozenset = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _check_consumes(cls)

    def step_loss(self, inputs: LossInputs):  # pragma: no cover - abstract
        """The 0-d training loss of one step."""
        raise NotImplementedError


def check_outputs(u, name: str = "u"):
    """u must be a floating-point torch tensor (n, bits) with n, bits >= 1."""
    if not isinstance(u, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(u).__name__}")
    if not u.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {u.dtype}")
    if u.ndim != 2 or u.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n, bits), got {tuple(u.shape)}")


def check_labels(labels, n: int, name: str):
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(labels).__name__}")
    if labels.dtype.is_complex or labels.dtype.is_floating_point and labels.ndim == 1:
        raise TypeError(f"{name} must be int class ids (n,) or a multi-hot (n, c) matrix, got dtype {labels.dtype}")
    if labels.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (n,) or (n, c), got {tuple(labels.shape)}")
    if labels.shape[0] != n:
        raise ValueError(f"{name} must have one row per output ({n}), got {labels.shape[0]}")


def check_class_batch(u, labels, class_codes) -> None:
    """Outputs ``u`` (n, bits) and their ``labels`` against fixed per-class codes
    (:class:`~deephash.losses.parts.ClassCodes`): shapes, the code length and the class ids."""
    check_outputs(u)
    check_labels(labels, u.shape[0], "labels")
    bits = class_codes.codes.shape[1]
    if u.shape[1] != bits:
        raise ValueError(f"u must have {bits} columns (bits), got {u.shape[1]}")
    class_codes.check_labels(labels)


def check_targets(u, targets):
    """targets must be a float tensor of u's shape holding -1 and +1."""
    if not isinstance(targets, torch.Tensor) or not targets.dtype.is_floating_point:
        raise TypeError("targets must be a floating-point torch tensor of -1/+1 target codes")
    if targets.shape != u.shape:
        raise ValueError(f"targets must have the outputs' shape {tuple(u.shape)}, got {tuple(targets.shape)}")
    if not bool(((targets == 1) | (targets == -1)).all()):
        raise ValueError("targets must contain only -1 and +1")


def similarity_matrix(labels, ref_labels):
    """s_ij = 1 when item i and reference j share at least one label, else 0.

    Parameters
    ----------
    labels : tensor (n,) of ints, or (n, c) multi-hot (0/1, any dtype)
    ref_labels : tensor (m,) or (m, c), the same kind as ``labels``

    Returns
    -------
    bool tensor (n, m)
    """
    if labels.ndim == 1:
        return labels[:, None] == ref_labels[None, :]
    return (labels.float() @ ref_labels.float().T) > 0


def pair_counts(labels):
    """(similar pairs, all pairs) among the items, ordered pairs i != j.

    ``labels``: int class ids (n,) or multi-hot (n, c) tensor. Counted over the distinct label
    values / rows with their multiplicities (no (n, n) matrix).
    """
    n = labels.shape[0]
    if labels.ndim == 1:
        _, counts = torch.unique(labels, return_counts=True)
        c = counts.double()
        return float((c * (c - 1)).sum()), float(n) * (n - 1)
    rows, counts = torch.unique(labels, dim=0, return_counts=True)
    c = counts.double()
    similar = 0.0
    for start in range(0, rows.shape[0], 1024):
        block = similarity_matrix(rows[start : start + 1024], rows).double()
        similar += float((c[start : start + 1024, None] * block * c[None, :]).sum())
    # an item is not its own pair: remove each row's self-pairs (a row with a label is similar to itself)
    self_similar = (rows.float().sum(1) > 0).double()
    similar -= float((c * self_similar).sum())
    return similar, float(n) * (n - 1)


class PairwiseHashLoss(HashLoss):
    """A loss over pairs (output i, reference j) plus a quantisation term on the outputs.

    ``loss(u, labels)`` uses all ordered pairs i != j of the batch; ``loss(u, labels, ref_u,
    ref_labels)`` pairs each output with every reference output (for example a memory bank of
    the whole training set's latest outputs, as DPSH's implementation does); the references
    are treated as constants only if the caller detaches them.

    Composed by constructor (:mod:`deephash.losses.parts`): ``pair`` maps (u, v, s) to per-pair
    losses (n, m), averaged over the pairs; ``quantization`` maps u to a 0-d penalty, added times
    ``weight``. A subclass may instead override :meth:`compute_loss`. ``forward`` is the one
    template: it validates shapes and dtypes, builds the similarity matrix and the pair mask,
    upcasts once (float16 / bfloat16 to float32, so the result does not lose precision), computes
    and returns a 0-d tensor of ``u``'s dtype.

    Parameters
    ----------
    pair : callable (u, v, s) -> (n, m), optional
        E.g. ``PairLikelihood(scale=0.5)``, ``Contrastive(margin)``.
    quantization : callable u -> 0-d, optional
        E.g. ``SignSquared()``, ``LogCoshDistance()``, ``AbsDistance()``.
    weight : float
        Weight of the quantisation term.
    weight_name : str
        Its name in error messages (the loss's own argument name).

    Parameters of forward
    ---------------------
    u : float tensor (n, bits)
        Real-valued network outputs.
    labels : tensor (n,) int or (n, c) multi-hot
    ref_u : float tensor (m, bits), optional
    ref_labels : tensor (m,) or (m, c), optional (required with ``ref_u``)
    """

    consumes = frozenset({Supervision.PAIRS})

    def __init__(self, pair=None, quantization=None, weight: float = 0.0, weight_name: str = "weight"):
        super().__init__()
        self.pair = pair
        self.quantization = quantization
        self.weight = nonnegative(weight_name, weight)

    def step_loss(self, inputs: LossInputs):
        if inputs.ref_u is None:
            return self(inputs.u, inputs.labels)
        return self(inputs.u, inputs.labels, inputs.ref_u, inputs.ref_labels)

    def forward(self, u, labels, ref_u=None, ref_labels=None):
        check_outputs(u)
        check_labels(labels, u.shape[0], "labels")
        if (ref_u is None) != (ref_labels is None):
            raise ValueError("ref_u and ref_labels must be given together")
        out_dtype = u.dtype
        work, u = upcast(u)
        if ref_u is None:
            if u.shape[0] < 2:
                raise ValueError("a batch needs at least 2 outputs to form pairs")
            v, ref_labels = u, labels
            mask = ~torch.eye(u.shape[0], dtype=torch.bool, device=u.device)
        else:
            if not isinstance(ref_u, torch.Tensor) or not ref_u.dtype.is_floating_point:
                raise TypeError("ref_u must be a floating-point torch tensor")
            if ref_u.ndim != 2 or ref_u.shape[1] != u.shape[1]:
                raise ValueError(f"ref_u must have shape (m, {u.shape[1]}), got {tuple(ref_u.shape)}")
            check_labels(ref_labels, ref_u.shape[0], "ref_labels")
            if ref_labels.ndim != labels.ndim or (labels.ndim == 2 and ref_labels.shape[1] != labels.shape[1]):
                raise ValueError(
                    f"labels {tuple(labels.shape)} and ref_labels {tuple(ref_labels.shape)} "
                    "must be the same kind (both (n,) or both (n, c) with the same c)"
                )
            v = ref_u.to(work)
            mask = None
        s = similarity_matrix(labels, ref_labels).to(work)
        return self.compute_loss(u, v, s, mask).to(out_dtype)

    @staticmethod
    def pair_mean(values, mask):
        """Mean of an (n, m) pair matrix over the pairs in ``mask`` (all pairs when None)."""
        if mask is None:
            return values.mean()
        return values[mask].mean()

    def compute_loss(self, u, v, s, mask):
        """u (n, b), v (m, b), s (n, m) float {0, 1}, mask (n, m) bool or None -> 0-d tensor."""
        if self.pair is None:
            raise NotImplementedError(f"{type(self).__name__}: give pair=... or override compute_loss")
        loss = self.pair_mean(self.pair(u, v, s), mask)
        if self.quantization is not None:
            loss = loss + self.weight * self.quantization(u)
        return loss


def class_cross_entropy(logits, labels):
    """Softmax cross-entropy: int class ids (n,), or multi-hot (n, c) as a uniform distribution
    over the item's labels (items with no label contribute 0)."""
    check_outputs(logits, "logits")
    check_labels(labels, logits.shape[0], "labels")
    work, z = upcast(logits)
    if labels.ndim == 1:
        if int(labels.min()) < 0 or int(labels.max()) >= z.shape[1]:
            raise ValueError(f"class ids must be in [0, {z.shape[1]}), got [{int(labels.min())}, {int(labels.max())}]")
        return nn.functional.cross_entropy(z, labels.long())
    if labels.shape[1] != z.shape[1]:
        raise ValueError(f"multi-hot labels must have {z.shape[1]} columns (one per class), got {labels.shape[1]}")
    y = labels.to(work)
    p = y / y.sum(1, keepdim=True).clamp_min(1.0)
    return -(p * nn.functional.log_softmax(z, 1)).sum(1).mean()

"""The hashing losses against values computed by hand, gradients, stability and input checks."""

import math

import pytest

torch = pytest.importorskip("torch")

from deephash.losses import DHNLoss, DPSHLoss, DSHLoss, Supervision, log_cosh, similarity_matrix

DTYPES = [torch.float32, torch.float64, torch.bfloat16]


def softplus(t):
    return math.log1p(math.exp(t))


def tol(dtype):
    return dict(rel=1e-2, abs=1e-2) if dtype == torch.bfloat16 else dict(rel=1e-6, abs=1e-6)


# Values exactly representable in bfloat16, so every dtype sees the same inputs.
U = [[1.0, -2.0], [0.5, 1.0]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("same", [True, False])
def test_dpsh_by_hand(dtype, same):
    u = torch.tensor(U, dtype=dtype)
    labels = torch.tensor([3, 3] if same else [3, 4])
    theta = 0.5 * (1.0 * 0.5 + (-2.0) * 1.0)  # -0.75, the same for both ordered pairs
    pair = softplus(theta) - (1.0 if same else 0.0) * theta
    # (u - sign u)^2 = [0, 1, 0.25, 0] -> mean 0.3125
    expected = pair + 0.1 * 0.3125
    got = DPSHLoss()(u, labels)
    assert got.dtype == dtype
    assert float(got) == pytest.approx(expected, **tol(dtype))
    got_lam = DPSHLoss(lam=2.0)(u, labels)
    assert float(got_lam) == pytest.approx(pair + 2.0 * 0.3125, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dpsh_with_references(dtype):
    u = torch.tensor([[1.0, 1.0]], dtype=dtype)
    ref = torch.tensor([[1.0, 1.0], [-1.0, 2.0], [2.0, 2.0]], dtype=dtype)
    labels = torch.tensor([0])
    ref_labels = torch.tensor([0, 1, 1])
    # theta = [1, 0.5, 2]; s = [1, 0, 0]
    pairs = [softplus(1.0) - 1.0, softplus(0.5), softplus(2.0)]
    expected = sum(pairs) / 3 + 0.1 * 0.0  # u is already binary
    assert float(DPSHLoss()(u, labels, ref, ref_labels)) == pytest.approx(expected, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dsh_by_hand(dtype):
    u = torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=dtype)
    # squared distance 0.5; bits = 2 -> margin 4
    # | |u| - 1 | summed per row = 0.5 for both rows -> mean 0.5
    dissimilar = 0.5 * (4.0 - 0.5) + 0.01 * 0.5
    similar = 0.5 * 0.5 + 0.01 * 0.5
    loss = DSHLoss(bits=2)
    assert float(loss(u, torch.tensor([0, 1]))) == pytest.approx(dissimilar, **tol(dtype))
    assert float(loss(u, torch.tensor([1, 1]))) == pytest.approx(similar, **tol(dtype))
    # beyond the margin a dissimilar pair costs nothing
    far = torch.tensor(U, dtype=dtype)  # squared distance 9.25 > 4
    reg = (abs(1 - 1) + abs(2 - 1) + abs(0.5 - 1) + abs(1 - 1)) / 2
    assert float(loss(far, torch.tensor([0, 1]))) == pytest.approx(0.01 * reg, **tol(dtype))
    # explicit margin and alpha
    loss2 = DSHLoss(bits=2, margin=1.0, alpha=1.0)
    assert float(loss2(u, torch.tensor([0, 1]))) == pytest.approx(0.5 * 0.5 + 0.5, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("same", [True, False])
def test_dhn_by_hand(dtype, same):
    u = torch.tensor(U, dtype=dtype)
    labels = torch.tensor([[1, 0, 1], [0, 0, 1]] if same else [[1, 0, 0], [0, 1, 1]])
    theta = 1.0 * 0.5 + (-2.0) * 1.0  # -1.5: DHN uses the full inner product
    pair = softplus(theta) - (1.0 if same else 0.0) * theta
    quant = sum(math.log(math.cosh(abs(v) - 1.0)) for row in U for v in row) / 4
    expected = pair + 0.1 * quant
    assert float(DHNLoss()(u, labels)) == pytest.approx(expected, **tol(dtype))


def test_log_cosh_matches_definition_and_does_not_overflow():
    x = torch.tensor([-3.0, -0.5, 0.0, 0.25, 2.0], dtype=torch.float64)
    assert torch.allclose(log_cosh(x), torch.log(torch.cosh(x)))
    big = log_cosh(torch.tensor([1000.0, -1000.0]))
    assert torch.isfinite(big).all()
    assert float(big[0]) == pytest.approx(1000.0 - math.log(2.0))


def test_similarity_multi_hot_shares_one_label():
    a = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    s = similarity_matrix(a, a)
    assert s.tolist() == [[True, False, False], [False, True, False], [False, False, False]]
    ints = torch.tensor([2, 0, 2])
    assert similarity_matrix(ints, ints).tolist() == [[True, False, True], [False, True, False], [True, False, True]]


@pytest.mark.parametrize(
    "make", [lambda: DPSHLoss(lam=0.3), lambda: DSHLoss(bits=4, alpha=0.2), lambda: DHNLoss(lam=0.3)]
)
def test_gradcheck_float64(make):
    g = torch.Generator().manual_seed(0)
    # magnitudes kept away from 0 and 1 so sign() and |.| are differentiable where evaluated
    u = (torch.rand(5, 4, generator=g, dtype=torch.float64) * 0.6 + 0.2) * torch.where(
        torch.rand(5, 4, generator=g) < 0.5, -1.0, 1.0
    ).double()
    u.requires_grad_(True)
    labels = torch.tensor([0, 1, 0, 2, 1])
    loss = make()
    assert torch.autograd.gradcheck(lambda t: loss(t, labels), (u,))
    ref = (torch.rand(7, 4, generator=g, dtype=torch.float64) * 0.6 + 0.2).requires_grad_(True)
    ref_labels = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    assert torch.autograd.gradcheck(lambda a, b: loss(a, labels, b, ref_labels), (u, ref))


@pytest.mark.parametrize("make", [DPSHLoss, lambda: DSHLoss(bits=8), DHNLoss])
def test_stable_for_large_outputs(make):
    u = torch.tensor([[300.0] * 8, [-300.0] * 8, [250.0] * 8], requires_grad=True)
    loss = make()(u, torch.tensor([0, 0, 1]))
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(u.grad).all()


def test_input_errors():
    loss = DPSHLoss()
    u = torch.zeros(3, 8)
    with pytest.raises(ValueError, match=r"\(n, bits\)"):
        loss(torch.zeros(8), torch.tensor([0]))
    with pytest.raises(TypeError, match="floating-point"):
        loss(torch.zeros(3, 8, dtype=torch.int64), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="torch tensor"):
        loss([[0.0] * 8] * 3, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="one row per output"):
        loss(u, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="class ids"):
        loss(u, torch.tensor([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match="together"):
        loss(u, torch.tensor([0, 1, 2]), ref_u=u)
    with pytest.raises(ValueError, match=r"\(m, 8\)"):
        loss(u, torch.tensor([0, 1, 2]), torch.zeros(4, 16), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="same kind"):
        loss(u, torch.tensor([0, 1, 2]), torch.zeros(2, 8), torch.tensor([[0, 1], [1, 0]]))
    with pytest.raises(ValueError, match="at least 2"):
        loss(torch.zeros(1, 8), torch.tensor([0]))
    with pytest.raises(ValueError):
        DPSHLoss(lam=-1.0)
    with pytest.raises(ValueError):
        DSHLoss(bits=0)
    with pytest.raises(ValueError):
        DSHLoss(bits=8, margin=0.0)


def test_loss_decreases_when_codes_agree_with_labels():
    labels = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0]])
    bad = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])
    for loss in (DPSHLoss(), DSHLoss(bits=2), DHNLoss()):
        assert float(loss(good, labels)) < float(loss(bad, labels))


# ---------------------------------------------------------------- losses of the newer methods
from deephash.losses import (
    CNNHLoss,
    CNNHPlusLoss,
    DLBHCLoss,
    DNNHLoss,
    TripletHashLoss,
    class_cross_entropy,
)
from deephash.training.mining import TripletMiner, relevance


def log_softmax_at(row, k):
    return row[k] - math.log(sum(math.exp(v) for v in row))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cnnh_by_hand(dtype):
    u = torch.tensor([[0.0, 2.0], [-1.0, 1.0]], dtype=dtype)
    targets = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=dtype)
    # t = (h + 1) / 2 = [[1, 0], [0, 1]]; per bit softplus(u) - t * u
    per_bit = [softplus(0.0) - 0.0, softplus(2.0), softplus(-1.0), softplus(1.0) - 1.0]
    got = CNNHLoss()(u, targets)
    assert got.dtype == dtype
    assert float(got) == pytest.approx(sum(per_bit) / 4, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cnnh_plus_by_hand(dtype):
    u = torch.tensor([[0.0, 2.0], [-1.0, 1.0]], dtype=dtype)
    targets = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=dtype)
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]], dtype=dtype)
    labels = torch.tensor([0, 2])
    hash_term = (softplus(0.0) + softplus(2.0) + softplus(-1.0) + softplus(1.0) - 1.0) / 4
    ce = -(log_softmax_at([1.0, 0.0, 0.0], 0) + log_softmax_at([0.0, 0.0, 2.0], 2)) / 2
    assert float(CNNHPlusLoss()(u, targets, logits, labels)) == pytest.approx(hash_term + ce, **tol(dtype))
    assert float(CNNHPlusLoss(class_weight=0.5)(u, targets, logits, labels)) == pytest.approx(
        hash_term + 0.5 * ce, **tol(dtype)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_dlbhc_and_class_cross_entropy_by_hand(dtype):
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]], dtype=dtype)
    ce = -(log_softmax_at([1.0, 0.0, 0.0], 1) + log_softmax_at([0.0, 0.0, 2.0], 2)) / 2
    assert float(DLBHCLoss()(logits, torch.tensor([1, 2]))) == pytest.approx(ce, **tol(dtype))
    # multi-hot: uniform target over the item's labels; an item without labels adds 0
    multi = torch.tensor([[1, 1, 0], [0, 0, 0]])
    flat = torch.zeros(2, 3, dtype=dtype)
    assert float(class_cross_entropy(flat, multi)) == pytest.approx(math.log(3) / 2, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dnnh_by_hand(dtype):
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0]], dtype=dtype)
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=dtype)
    n = torch.tensor([[1.0, 1.0], [1.0, 0.0]], dtype=dtype)
    # triplet 0: d+ = 1, d- = 2 -> max(0, 1 - 1) = 0; triplet 1: d+ = 2, d- = 1 -> 1 + 1 = 2
    assert float(DNNHLoss()(a, p, n)) == pytest.approx(1.0, **tol(dtype))
    assert float(DNNHLoss(margin=2.0)(a, p, n)) == pytest.approx((1.0 + 3.0) / 2, **tol(dtype))
    # a shift of every code by the same constant changes nothing (the head emits F - 0.5)
    assert float(DNNHLoss()(a - 0.5, p - 0.5, n - 0.5)) == pytest.approx(1.0, **tol(dtype))


@pytest.mark.parametrize(
    "make,args",
    [
        (CNNHLoss, "targets"),
        (lambda: CNNHPlusLoss(0.7), "plus"),
        (DLBHCLoss, "classes"),
        (lambda: DNNHLoss(margin=3.0), "triplets"),
    ],
)
def test_new_losses_gradcheck_float64(make, args):
    g = torch.Generator().manual_seed(1)
    u = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    loss = make()
    if args == "targets":
        t = torch.where(torch.rand(5, 4, generator=g) < 0.5, -1.0, 1.0).double()
        assert torch.autograd.gradcheck(lambda x: loss(x, t), (u,))
    elif args == "plus":
        t = torch.where(torch.rand(5, 4, generator=g) < 0.5, -1.0, 1.0).double()
        z = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
        y = torch.tensor([0, 1, 2, 1, 0])
        assert torch.autograd.gradcheck(lambda x, zz: loss(x, t, zz, y), (u, z))
    elif args == "classes":
        assert torch.autograd.gradcheck(lambda x: loss(x, torch.tensor([0, 1, 2, 3, 1])), (u,))
    else:
        p = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
        n = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b, c: loss(a, b, c), (u, p, n))


def test_new_loss_input_errors():
    u = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="only -1 and \\+1"):
        CNNHLoss()(u, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="outputs' shape"):
        CNNHLoss()(u, torch.ones(2, 4))
    with pytest.raises(TypeError, match="floating-point"):
        CNNHLoss()(u, torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="class ids must be in"):
        DLBHCLoss()(u, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="3 columns"):
        DLBHCLoss()(u, torch.tensor([[1, 0], [0, 1]]))
    with pytest.raises(ValueError, match="one row per output"):
        DLBHCLoss()(u, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="anchor's shape"):
        DNNHLoss()(u, u, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="margin"):
        DNNHLoss(margin=0.0)
    with pytest.warns(DeprecationWarning, match="TripletMiner"), pytest.raises(ValueError, match="per_anchor"):
        DNNHLoss(triplets_per_anchor=0)
    with pytest.raises(ValueError, match="class_weight"):
        CNNHPlusLoss(class_weight=-1.0)

    class Graded(TripletHashLoss):
        consumes = frozenset({Supervision.GRADED_TRIPLETS})

        def compute_loss(self, a, p, n, gains):
            return (gains * (a - p).pow(2).sum(1)).mean()

    with pytest.raises(ValueError, match="needs gains"):
        Graded()(u, u, u)
    with pytest.raises(ValueError, match=r"gains must have shape \(2,\)"):
        Graded()(u, u, u, torch.ones(3))
    # no triplets: loss 0, still differentiable
    empty = torch.zeros(0, 3, requires_grad=True)
    out = DNNHLoss()(empty, empty, empty)
    out.backward()
    assert float(out.detach()) == 0.0


def test_miner_follows_the_rule():
    labels = torch.tensor([0, 0, 1, 1, 2])
    ids = torch.arange(5)
    miner = TripletMiner(per_anchor=50, seed=3)
    t, gains = miner.mine(labels, ids, labels, ids)
    assert gains is None and t.shape[1] == 3
    a, p, n = t.unbind(1)
    # anchor 4 (class 2) has no positive: no triplet; the others 50 each
    assert sorted(set(a.tolist())) == [0, 1, 2, 3] and t.shape[0] == 200
    assert bool((labels[a] == labels[p]).all()) and bool((a != p).all())
    assert bool((labels[a] != labels[n]).all())
    # every admissible negative gets drawn (uniform draws, 50 per anchor)
    assert set(n[a == 0].tolist()) == {2, 3, 4}
    # seeded: the same seed repeats the draws, another seed does not
    again, _ = TripletMiner(per_anchor=50, seed=3).mine(labels, ids, labels, ids)
    other, _ = TripletMiner(per_anchor=50, seed=4).mine(labels, ids, labels, ids)
    assert torch.equal(t, again) and not torch.equal(t, other)


def test_miner_graded_gains_from_shared_labels():
    # anchor 0 shares 2 labels with item 1, 1 label with item 2, none with item 3
    y = torch.tensor([[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float32)
    assert relevance(y[:1], y).tolist() == [[2, 2, 1, 0]]
    t, gains = TripletMiner(per_anchor=40, seed=0, graded=True).mine(y[:1], torch.tensor([0]), y, torch.arange(4))
    r = relevance(y[:1], y)[0]
    for (a, p, n), g in zip(t.tolist(), gains.tolist()):
        assert a == 0 and p != 0 and r[p] > r[n]
        assert g == 2.0 ** int(r[p]) - 2.0 ** int(r[n])
    assert {(p, n) for _, p, n in t.tolist()} == {(1, 2), (1, 3), (2, 3)}
    # nothing to rank (one class only): no triplets
    same = torch.tensor([1, 1, 1])
    t, _ = TripletMiner(seed=0).mine(same, torch.arange(3), same, torch.arange(3))
    assert t.shape == (0, 3)
    with pytest.raises(ValueError, match="per_anchor"):
        TripletMiner(per_anchor=0)


def test_heads_of_the_newer_methods():
    from deephash.models.divide_encode import DivideEncodeHead, piecewise_threshold
    from deephash.models.latent_head import LatentHead

    s = torch.tensor([0.1, 0.45, 0.5, 0.55, 0.9], requires_grad=True)
    g = piecewise_threshold(s, 0.1)
    assert g.tolist() == pytest.approx([0.0, 0.45, 0.5, 0.55, 1.0])
    g.sum().backward()
    assert s.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]

    torch.manual_seed(0)
    head = DivideEncodeHead(12, 4, epsilon=0.2)
    assert head.slice_width == 3
    x = torch.randn(2, 12)
    y = x.clone()
    y[:, 3:6] += 5.0  # only slice 1 changes -> only bit 1 may change
    with torch.no_grad():
        ux, uy = head(x), head(y)
    changed = (ux != uy).any(0).tolist()
    assert changed[0] is False and changed[2] is False and changed[3] is False
    assert float(ux.min()) >= -0.5 and float(ux.max()) <= 0.5
    # widths that are not a multiple of bits go through a projection to bits * ceil(w / bits)
    assert DivideEncodeHead(10, 4).slice_width == 3
    with pytest.raises(ValueError, match="epsilon"):
        DivideEncodeHead(8, 4, epsilon=0.5)

    with torch.no_grad():
        out = LatentHead(6, 5, classes=3)(torch.randn(4, 6))
    assert out.logits.shape == (4, 3) and out.latent.shape == (4, 5)
    assert torch.equal(out.u > 0, out.latent > 0.5)

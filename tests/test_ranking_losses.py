"""DRSCH's and DSRH's losses against values computed by hand; the nothing-to-rank check."""

import math

import pytest

torch = pytest.importorskip("torch")

from deephash.losses import DRSCHLoss, DSRHLoss, LossInputs
from deephash.training.mining import TripletMiner, check_rankable, relevance

DTYPES = [torch.float32, torch.float64, torch.bfloat16]


def tol(dtype):
    return {"rel": 1e-2, "abs": 1e-2} if dtype == torch.bfloat16 else {"rel": 1e-6, "abs": 1e-6}


def val(x):
    """The value of a 0-d loss (detached: the DRSCH loss owns trainable weights)."""
    return float(x.detach())


def t(rows, dtype=torch.float32):
    return torch.tensor(rows, dtype=dtype)


def drsch_with_weights(w0, w1, **kw):
    """A 2-bit DRSCH loss whose weights are (w0, w1) with w0 + w1 = 2."""
    loss = DRSCHLoss(2, **kw)
    with torch.no_grad():
        # 2 * softmax(10 * logits) = (w0, w1)  <=>  10 * (l0 - l1) = log(w0 / w1)
        loss.logits.copy_(torch.tensor([math.log(w0 / w1) / loss.weight_lr_scale, 0.0]))
    return loss


def test_drsch_weights_start_equal_and_stay_positive_summing_to_bits():
    loss = DRSCHLoss(5)
    assert torch.allclose(loss.weights, torch.ones(5))
    with torch.no_grad():
        loss.logits.copy_(torch.tensor([3.0, -3.0, 0.0, 1.0, -50.0]))
    w = loss.weights.detach()
    assert (w >= 0).all() and float(w.sum()) == pytest.approx(5.0)
    assert list(dict(loss.named_parameters())) == ["logits"]  # trained and saved


@pytest.mark.parametrize("dtype", DTYPES)
def test_drsch_triplet_term_by_hand(dtype):
    loss = drsch_with_weights(1.5, 0.5, margin=1.0)
    a = t([[0.5, -1.0], [1.0, 1.0]], dtype)
    p = t([[1.0, 1.0], [1.0, 1.0]], dtype)
    n = t([[-1.0, 0.5], [-1.0, -1.0]], dtype)
    # triplet 1: D(a,p) = 0.5 * (1.5 * 0.5 + 0.5 * 2) = 0.875; D(a,n) = 0.5 * (1.5 * 1.5 + 0.5 * 1.5)
    # = 1.5 -> hinge 0.875 - 1.5 + 1 = 0.375. Triplet 2: D = 0 and 2 -> hinge 0.
    got = loss(a, p, n)
    assert got.dtype == dtype
    assert val(got) == pytest.approx(0.375 / 2, **tol(dtype))
    # the weighted distance of binary codes is the sum of the weights of the differing bits
    d = loss.distance(t([[1.0, 1.0], [1.0, 1.0]]), t([[-1.0, 1.0], [1.0, -1.0]]))
    assert d.tolist() == pytest.approx([1.5, 0.5])


def test_drsch_default_margin_and_gradient_reaches_the_weights():
    assert DRSCHLoss(32).margin == 2.0 and DRSCHLoss(32, margin=16).margin == 16.0
    loss = drsch_with_weights(1.0, 1.0, margin=1.0)
    a = t([[0.5, -1.0]]).requires_grad_()
    out = loss(a, t([[1.0, 1.0]]), t([[-1.0, 0.5]]))
    out.backward()
    assert a.grad.abs().sum() > 0
    # bit 0 separates the triplet (a p = 0.5 > a n = -0.5), bit 1 does not (-1 < -0.5):
    # descending the loss raises the weight of bit 0
    assert loss.logits.grad[0] < 0 < loss.logits.grad[1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_drsch_laplacian_term_by_hand(dtype):
    loss = DRSCHLoss(2)
    u = t([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype)
    # within the batch: similar ordered pairs (0,1), (1,0), each ||.||^2 = 2; 6 ordered pairs
    assert val(loss.regulariser(u, torch.tensor([0, 0, 1]))) == pytest.approx(4 / 6)
    # against references: u0 vs [0,0] (similar, d = 1) and [1,1] (not similar): 1 / 2
    got = loss.regulariser(u[:1], torch.tensor([0]), t([[0.0, 0.0], [1.0, 1.0]], dtype), torch.tensor([0, 1]))
    assert val(got) == pytest.approx(0.5)
    # multi-hot labels: a shared label makes a pair similar
    mh = torch.tensor([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float32)
    assert val(loss.regulariser(u, mh)) == pytest.approx(4 / 6)


def test_drsch_step_loss_is_triplet_plus_lam_laplacian():
    loss = drsch_with_weights(1.5, 0.5, margin=1.0, lam=2.0)
    u = t([[0.5, -1.0], [1.0, 1.0], [-1.0, 0.5]])
    labels = torch.tensor([0, 0, 1])
    inputs = LossInputs(u=u, labels=labels, triplets=torch.tensor([[0, 1, 2]]))
    # triplet (0, 1, 2) is the first of test_drsch_triplet_term_by_hand: 0.375
    # Laplacian: pair (0,1) similar, ||(-0.5, -2)||^2 = 4.25, twice, over 6 ordered pairs
    assert val(loss.step_loss(inputs)) == pytest.approx(0.375 + 2.0 * 8.5 / 6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dsrh_gain_weighted_hinge_by_hand(dtype):
    loss = DSRHLoss(2, margin=0.5)
    a = t([[1.0, 1.0], [1.0, 0.0]], dtype)
    p = t([[1.0, -1.0], [0.0, 1.0]], dtype)
    n = t([[-1.0, -1.0], [1.0, 0.0]], dtype)
    gains = t([3.0, 1.0], dtype)  # 2**2 - 2**0 and 2**1 - 2**0
    # triplet 1: d+ = 0.5 * (2 - 0) = 1, d- = 0.5 * (2 + 2) = 2 -> hinge max(-0.5, 0) = 0
    # triplet 2: d+ = 1, d- = 0.5 * (2 - 1) = 0.5 -> hinge 1
    got = loss(a, p, n, gains)
    assert got.dtype == dtype
    assert val(got) == pytest.approx((3 * 0 + 1 * 1) / 4, **tol(dtype))
    # equal gains: the plain mean of the hinges
    assert val(loss(a, p, n, t([1.0, 1.0], dtype))) == pytest.approx(0.5, **tol(dtype))


def test_dsrh_regulariser_and_step_loss_by_hand():
    loss = DSRHLoss(2, margin=0.5, alpha=2.0)
    assert DSRHLoss(32).margin == 1.0
    u = t([[1.0, 0.0], [0.0, 0.5]])
    # mean code (0.5, 0.25): 0.5 * (0.25 + 0.0625)
    assert val(loss.regulariser(u)) == pytest.approx(0.15625)
    inputs = LossInputs(u=u, triplets=torch.tensor([[0, 1, 0]]), gains=t([1.0]), ref_u=t([[0.0, 1.0], [-1.0, -1.0]]))
    # triplet (u0, ref1, ref0): d+ = 0.5 * (2 + 1) = 1.5, d- = 0.5 * (2 - 0) = 1 -> hinge 1
    assert val(loss.step_loss(inputs)) == pytest.approx(1.0 + 2.0 * 0.15625)


def test_dsrh_needs_positive_gains():
    loss = DSRHLoss(2)
    x = t([[1.0, 0.0]])
    with pytest.raises(ValueError, match="needs gains"):
        loss(x, x, x)
    with pytest.raises(ValueError, match="gains must be > 0"):
        loss(x, x, x, t([0.0]))
    with pytest.raises(ValueError, match="shape"):
        loss(x, x, x, t([1.0, 1.0]))


def test_loss_argument_errors():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="bits"):
            DRSCHLoss(bad)
        with pytest.raises(ValueError, match="bits"):
            DSRHLoss(bad)
    with pytest.raises(ValueError, match="margin"):
        DRSCHLoss(4, margin=-1)
    with pytest.raises(ValueError, match="lam"):
        DRSCHLoss(4, lam=-1)
    with pytest.raises(ValueError, match="weight_lr_scale"):
        DRSCHLoss(4, weight_lr_scale=0)
    with pytest.raises(ValueError, match="alpha"):
        DSRHLoss(4, alpha=float("nan"))
    x = t([[1.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="2 columns"):
        DRSCHLoss(2)(x, x, x)
    with pytest.raises(ValueError, match="labels"):
        DRSCHLoss(3).regulariser(x, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="torch tensor"):
        DSRHLoss(3).regulariser([[1.0, 0.0, 1.0]])


@pytest.mark.parametrize(
    "labels, graded",
    [
        ([0, 1, 1], False),  # 1 and 2 are similar, 0 is not
        ([[1, 1, 0], [1, 0, 0], [1, 1, 0]], True),  # r(0, 2) = 2 > r(0, 1) = 1
        ([[1, 1, 0], [1, 0, 0], [0, 0, 1]], True),  # r(0, 1) = 1 > r(0, 2) = 0
    ],
)
def test_check_rankable_accepts(labels, graded):
    check_rankable(torch.tensor(labels), graded)


@pytest.mark.parametrize(
    "labels, graded",
    [
        ([3, 3, 3, 3], False),  # nothing dissimilar
        ([0, 1, 2, 3], False),  # nothing similar
        ([[1, 1, 0]] * 3, True),  # all identical multi-hot rows
        ([[1, 1, 0]] * 3, False),
        ([[0, 0, 0]] * 3, True),  # no labels at all
        ([[1, 1, 0], [0, 0, 1]], True),  # one item per label set
    ],
)
def test_check_rankable_refuses_with_a_clear_message(labels, graded):
    with pytest.raises(ValueError, match="nothing to rank"):
        check_rankable(torch.tensor(labels), graded)


@pytest.mark.parametrize("graded", [True, False])
def test_miner_triplets_follow_the_rule_with_dsrh_gains(graded):
    g = torch.Generator().manual_seed(0)
    labels = (torch.rand(40, 5, generator=g) < 0.35).float()
    ids = torch.arange(8)  # the batch: items 0..7, the pool: all 40
    miner = TripletMiner(3, seed=1, graded=graded)
    trip, gains = miner.mine(labels[ids], ids, labels, torch.arange(40))
    assert trip.shape[1] == 3 and trip.shape[0] > 0
    r = relevance(labels, labels)
    if not graded:
        r = r.clamp_max(1)
    a, p, n = trip[:, 0], trip[:, 1], trip[:, 2]
    assert (p != ids[a]).all() and (r[ids[a], p] >= 1).all() and (r[ids[a], n] < r[ids[a], p]).all()
    if graded:
        expected = 2.0 ** r[ids[a], p].double() - 2.0 ** r[ids[a], n].double()
        assert torch.equal(gains, expected.float()) and (gains > 0).all()
    else:
        assert gains is None
    again = TripletMiner(3, seed=1, graded=graded).mine(labels[ids], ids, labels, torch.arange(40))
    assert torch.equal(again[0], trip)  # seeded

"""GreedyHash, CSQ, DPN, OrthoHash, BiHalf and CIBHash: their parts, losses by hand, gradients,
learning on the digits, persistence; and the training layer's two-view passes."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deephash.methods as M
from deephash import data, metrics
from deephash.losses import BiHalfLoss, CIBHashLoss, CSQLoss, DPNLoss, GreedyHashLoss, OrthoHashLoss
from deephash.losses.base import HashLoss, Supervision
from deephash.losses.bihalf import bi_half
from deephash.losses.cibhash import bernoulli_kl, nt_xent
from deephash.losses.parts import ClassCodes, class_codes, hadamard, sign_straight_through

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SUPERVISED = ["greedyhash", "csq", "dpn", "orthohash"]
UNSUPERVISED = ["bihalf", "cibhash"]
# fast settings for the unsupervised methods on the digits' 64 pixels
UNSUP_FAST = {
    "bihalf": dict(epochs=50, lr=0.01),
    "cibhash": dict(epochs=50, lr=0.003, head_hidden=[256]),
}

H4 = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=np.float64)


def softplus(x):
    return np.log1p(np.exp(x))


def log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


# -- shared parts ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 44, 48, 64, 128])
def test_hadamard_is_hadamard(n):
    h = hadamard(n).astype(np.int64)
    assert h.shape == (n, n) and set(np.unique(h)) <= {-1, 1}
    np.testing.assert_array_equal(h @ h.T, n * np.eye(n, dtype=np.int64))


def test_hadamard_none_where_not_built_and_sylvester_order_4():
    assert hadamard(28) is None and hadamard(36) is None and hadamard(10) is None
    with pytest.raises(ValueError):
        hadamard(0)


def test_class_codes_hadamard_rows_then_seeded_bernoulli():
    c = class_codes(10, 4, seed=0)
    h = hadamard(4).astype(np.float32)
    np.testing.assert_array_equal(c[:8], np.concatenate([h, -h]))  # rows, then negations
    assert set(np.unique(c[8:])) <= {-1.0, 1.0}
    np.testing.assert_array_equal(c, class_codes(10, 4, seed=0))
    big = [class_codes(40, 8, seed=s)[16:] for s in (0, 1)]
    assert not np.array_equal(*big)  # the Bernoulli rows follow the seed
    np.testing.assert_array_equal(class_codes(3, 48)[:3], hadamard(48)[:3])  # orthogonal codes at 48 bits
    c28 = class_codes(5, 28, seed=3)  # no Hadamard matrix of order 28 here: all Bernoulli
    assert c28.shape == (5, 28) and set(np.unique(c28)) <= {-1.0, 1.0}


def test_class_codes_targets_for_ids_and_multi_hot():
    cc = ClassCodes(3, 4, seed=0)
    np.testing.assert_array_equal(cc.codes.numpy(), np.concatenate([H4, -H4])[:3])
    np.testing.assert_array_equal(cc.targets(torch.tensor([2, 0])).numpy(), cc.codes.numpy()[[2, 0]])
    tie = cc.tie_break.numpy()
    # labels {0, 1}: H0 + H1 = [2, 0, 2, 0] -> sign where nonzero, the tie-break code elsewhere
    # labels {0, 1, 2}: [3, 1, 1, -1]; no label: the tie-break code
    y = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 0]], dtype=torch.float32)
    want = np.array([[1, tie[1], 1, tie[3]], [1, 1, 1, -1], tie])
    np.testing.assert_array_equal(cc.targets(y).numpy(), want)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cc.targets(torch.tensor([3]))
    with pytest.raises(ValueError, match="3 columns"):
        cc.targets(torch.zeros(2, 4))


def test_sign_straight_through_values_and_gradient():
    u = torch.tensor([[-0.5, 0.0, 2.0]], requires_grad=True)
    b = sign_straight_through(u)
    np.testing.assert_array_equal(b.detach().numpy(), [[-1.0, -1.0, 1.0]])  # 0 -> -1, as encode
    (b * torch.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    np.testing.assert_array_equal(u.grad.numpy(), [[1.0, 2.0, 3.0]])  # passed through unchanged


# -- losses by hand ----------------------------------------------------------------------------

U = np.array([[0.3, -1.2, 0.8, -0.1], [-0.7, 0.4, 1.5, 0.2], [1.1, 0.9, -0.6, -1.3]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_greedy_hash_by_hand(dtype):
    loss = GreedyHashLoss(bits=4, n_classes=2, alpha=0.1, seed=0)
    w = np.array([[0.5, -0.2, 0.1, 0.3], [-0.4, 0.6, 0.2, -0.1]])
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.tensor(w))
    y = np.array([0, 1, 1])
    b = np.where(U > 0, 1.0, -1.0)
    logits = b @ w.T
    ce = -log_softmax(logits)[np.arange(3), y].mean()
    cubic = (np.abs(np.abs(U) - 1) ** 3).mean()
    got = loss(torch.tensor(U, dtype=dtype), torch.tensor(y))
    assert got.dtype == dtype
    assert float(got.detach()) == pytest.approx(ce + 0.1 * cubic, rel=1e-6)
    # the documented surrogate gradient: the cross-entropy's gradient with respect to b,
    # passed straight through the sign, plus the cubic penalty's own gradient
    u = torch.tensor(U, requires_grad=True)
    loss = loss.double()
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.tensor(w))
    loss(u, torch.tensor(y)).backward()
    p = np.exp(log_softmax(logits))
    d_ce = (p - np.eye(2)[y]) @ w / 3
    d_cubic = 3 * (np.abs(U) - 1) ** 2 * np.sign(np.abs(U) - 1) * np.sign(U) / U.size
    np.testing.assert_allclose(u.grad.numpy(), d_ce + 0.1 * d_cubic, rtol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_csq_by_hand(dtype):
    loss = CSQLoss(n_classes=2, bits=4, lam=0.5, seed=0)
    y = np.array([1, 0, 1])
    c = H4[y]  # centers: Hadamard rows 0 and 1
    h = np.tanh(U)
    p, t = (h + 1) / 2, (c + 1) / 2
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    quant = ((np.abs(h) - 1) ** 2).mean()
    got = loss(torch.tensor(U, dtype=dtype), torch.tensor(y))
    assert float(got.detach()) == pytest.approx(bce + 0.5 * quant, rel=1e-6)
    # multi-hot {0, 1}: sign of H0 + H1 = [1, tie, 1, tie]
    tie = loss.centers.tie_break.numpy()
    c2 = np.array([1, tie[1], 1, tie[3]])
    t2 = (c2 + 1) / 2
    bce2 = -(t2 * np.log(p[0]) + (1 - t2) * np.log(1 - p[0])).mean()
    got2 = loss(torch.tensor(U[:1], dtype=dtype), torch.tensor([[1.0, 1.0]]))
    assert float(got2.detach()) == pytest.approx(bce2 + 0.5 * ((np.abs(h[0]) - 1) ** 2).mean(), rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dpn_by_hand(dtype):
    loss = DPNLoss(n_classes=2, bits=4, margin=1.0, seed=0)
    y = np.array([0, 1, 1])
    want = np.maximum(1.0 - U * H4[y], 0).sum(1).mean()
    assert float(loss(torch.tensor(U, dtype=dtype), torch.tensor(y))) == pytest.approx(want, rel=1e-6)
    # multi-hot: the hinges of every label of the item are added; no label adds nothing
    ym = np.array([[1, 1], [0, 1], [0, 0]], dtype=np.float32)
    per = [np.maximum(1.0 - U * H4[k], 0).sum(1) for k in (0, 1)]
    want_m = (ym[:, 0] * per[0] + ym[:, 1] * per[1]).mean()
    assert float(loss(torch.tensor(U, dtype=dtype), torch.tensor(ym))) == pytest.approx(want_m, rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_orthohash_by_hand(dtype):
    loss = OrthoHashLoss(n_classes=3, bits=4, scale=8.0, margin=0.2, seed=0)
    w = np.concatenate([H4, -H4])[:3]
    y = np.array([2, 0, 1])
    cos = (U / np.linalg.norm(U, axis=1, keepdims=True)) @ (w / 2.0).T  # codewords have norm 2
    logits = 8.0 * (cos - 0.2 * np.eye(3)[y])
    want = -log_softmax(logits)[np.arange(3), y].mean()
    assert float(loss(torch.tensor(U, dtype=dtype), torch.tensor(y))) == pytest.approx(want, rel=1e-6)
    # multi-hot: margin on every label, cross-entropy against the uniform distribution over them
    ym = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 1]], dtype=np.float64)
    logits_m = 8.0 * (cos - 0.2 * ym)
    want_m = -((ym / ym.sum(1, keepdims=True)) * log_softmax(logits_m)).sum(1).mean()
    assert float(loss(torch.tensor(U, dtype=dtype), torch.tensor(ym))) == pytest.approx(want_m, rel=1e-6)


def test_bi_half_layer_values_and_surrogate_gradient():
    u = torch.tensor([[0.3, -0.2], [-1.0, 0.1], [2.0, 0.0], [0.5, 0.1]], dtype=torch.float64, requires_grad=True)
    b = bi_half(u, gamma=6.0)
    # per column the top half (2 of 4) -> +1; column 1 ties 0.1 / 0.1 go by row order
    np.testing.assert_array_equal(b.detach().numpy(), [[-1, -1], [-1, 1], [1, -1], [1, 1]])
    g = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]], dtype=torch.float64)
    (b * g).sum().backward()
    want = g.numpy() + 6.0 * (u.detach().numpy() - b.detach().numpy()) / 8
    np.testing.assert_allclose(u.grad.numpy(), want, rtol=1e-12)
    odd = bi_half(torch.tensor([[1.0], [3.0], [2.0]]))
    np.testing.assert_array_equal(odd.numpy(), [[-1], [1], [-1]])  # n // 2 = 1 bit set


def test_bihalf_loss_by_hand():
    x = np.array([[1.0, 0.0, 2.0], [0.5, 1.0, -1.0], [0.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    u = U[[0, 1, 2, 0]] + np.array([[0.0], [0.0], [0.0], [0.01]])
    b = np.zeros_like(u)
    for k in range(u.shape[1]):  # top 2 of 4 per column, ties by row order
        order = sorted(range(4), key=lambda i: (-u[i, k], i))
        b[order[:2], k], b[order[2:], k] = 1, -1
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    cb, cx = b @ b.T / 4, xn @ xn.T
    i, j = np.triu_indices(4, 1)
    want = ((cb[i, j] - cx[i, j]) ** 2).mean()
    got = BiHalfLoss(gamma=6.0)(torch.tensor(u), torch.tensor(x))
    assert float(got.detach()) == pytest.approx(want, rel=1e-12)


def test_nt_xent_and_bernoulli_kl_by_hand():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[1.0, 1.0], [-1.0, 1.0]])
    r = np.concatenate([a, b])
    r = r / np.linalg.norm(r, axis=1, keepdims=True)
    sim = r @ r.T / 0.5
    np.fill_diagonal(sim, -np.inf)
    pos = [2, 3, 0, 1]
    want = -np.mean([sim[i, pos[i]] - np.log(np.exp(sim[i]).sum()) for i in range(4)])
    assert float(nt_xent(torch.tensor(a), torch.tensor(b), 0.5)) == pytest.approx(want, rel=1e-12)
    lp, lq = np.array([[0.5, -1.0]]), np.array([[2.0, 0.3]])
    p, q = 1 / (1 + np.exp(-lp)), 1 / (1 + np.exp(-lq))
    kl = (p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))).sum()
    assert float(bernoulli_kl(torch.tensor(lp), torch.tensor(lq))) == pytest.approx(kl, rel=1e-12)


def test_cibhash_loss_by_hand_and_surrogate_gradient():
    u1 = torch.tensor(U, requires_grad=True)
    u2 = torch.tensor(U[::-1].copy() * 0.5 + 0.1, requires_grad=True)
    loss = CIBHashLoss(temperature=0.3, beta=0.01, stochastic=False)
    got = loss(u1, u2)
    z1, z2 = (torch.where(t > 0, 1.0, -1.0).double().requires_grad_() for t in (u1.detach(), u2.detach()))
    contrast = nt_xent(z1, z2, 0.3)
    kl = 0.5 * (bernoulli_kl(u1, u2.detach()) + bernoulli_kl(u2, u1.detach()))
    assert float(got.detach()) == pytest.approx(float((contrast + 0.01 * kl).detach()), rel=1e-12)
    got.backward()
    # straight-through: dL/du = dL/dz * sigmoid'(u) (z = sign(sigmoid(u) - 0.5)), plus the KL's gradient
    gz1, gz2 = torch.autograd.grad(contrast, (z1, z2))
    v1, v2 = (t.detach().clone().requires_grad_() for t in (u1, u2))
    gk1, gk2 = torch.autograd.grad(
        0.01 * 0.5 * (bernoulli_kl(v1, v2.detach()) + bernoulli_kl(v2, v1.detach())), (v1, v2)
    )
    for u, gz, gk in ((u1, gz1, gk1), (u2, gz2, gk2)):
        s = torch.sigmoid(u.detach())
        torch.testing.assert_close(u.grad, gz * s * (1 - s) + gk, rtol=1e-10, atol=1e-12)


def test_cibhash_stochastic_codes_follow_their_seed():
    u = torch.zeros(64, 8, dtype=torch.float64)  # p = 0.5: each bit a fair coin
    a = CIBHashLoss(seed=1).binarize(u)
    assert 0.3 < float((a > 0).double().mean()) < 0.7
    torch.testing.assert_close(a, CIBHashLoss(seed=1).binarize(u))
    assert not torch.equal(a, CIBHashLoss(seed=2).binarize(u))


SMOOTH = {
    "csq": lambda: CSQLoss(3, 4, lam=0.5),
    "dpn": lambda: DPNLoss(3, 4, margin=1.0),
    "orthohash": lambda: OrthoHashLoss(3, 4),
}


@pytest.mark.parametrize("name", SMOOTH)
def test_gradcheck_float64(name):
    make = SMOOTH[name]
    g = torch.Generator().manual_seed(0)
    u = (torch.randn(5, 4, generator=g, dtype=torch.float64) * 0.7).requires_grad_()
    loss = make().double()
    multi_hot = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1], [1, 0, 0]])
    for labels in (torch.tensor([0, 1, 2, 1, 0]), multi_hot):
        assert torch.autograd.gradcheck(lambda t: loss(t, labels), (u,))


def test_gradcheck_smooth_parts_of_cibhash():
    g = torch.Generator().manual_seed(1)
    a, b = (torch.randn(4, 6, generator=g, dtype=torch.float64).requires_grad_() for _ in range(2))
    assert torch.autograd.gradcheck(lambda x, y: nt_xent(x, y, 0.3), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: bernoulli_kl(x, y), (a, b))


def test_loss_input_errors():
    u = torch.zeros(3, 4)
    for loss in (CSQLoss(2, 4), DPNLoss(2, 4), OrthoHashLoss(2, 4), GreedyHashLoss(4, 2)):
        with pytest.raises(ValueError, match="columns"):
            loss(torch.zeros(3, 5), torch.tensor([0, 1, 1]))
        with pytest.raises(TypeError):
            loss(u, torch.tensor([0.0, 1.0, 1.0]))  # float class ids
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        DPNLoss(2, 4)(u, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="one shape"):
        CIBHashLoss()(u, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        CIBHashLoss(temperature=0)
    with pytest.raises(ValueError, match="pairs"):
        BiHalfLoss()(torch.zeros(1, 4), torch.zeros(1, 3))


# -- the training layer: two views --------------------------------------------------------------


class _ViewsLoss(HashLoss):
    consumes = frozenset({Supervision.VIEWS})

    def __init__(self):
        super().__init__()
        self.seen = []

    def step_loss(self, inputs):
        a, b = inputs.views
        assert a is inputs.out
        self.seen.append(float((a - b).detach().abs().max()))
        return (a - b).pow(2).mean()


class _ViewsMethod(M.DeepHashingMethod):
    name = "ViewsProbe"
    supervised = False
    default_backbone = "features"
    hyperparameters = ()
    noise = 0.5

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        from deephash.models.feature_head import FeatureHashHead

        return FeatureHashHead(in_dim, self.bits, hidden=hidden, standardize=standardize, noise=self.noise)

    def make_loss(self):
        self.probe = _ViewsLoss()
        return self.probe


def test_a_loss_that_consumes_views_gets_two_augmented_passes():
    split = data.digits()
    m = _ViewsMethod(bits=8, seed=0, epochs=2, batch_size=250, progress=False).fit(split.train_x[:500])
    assert len(m.probe.seen) == 4 and min(m.probe.seen) > 0  # two different views each step
    quiet = type("Quiet", (_ViewsMethod,), {"noise": 0.0})
    q = quiet(bits=8, seed=0, epochs=1, batch_size=250, progress=False).fit(split.train_x[:500])
    assert q.probe.seen == [0.0, 0.0]  # no augmentation: the two passes agree


# -- the methods -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split():
    return data.digits()


def _map(m, s):
    return metrics.mean_average_precision(m.encode(s.query_x), s.query_y, m.encode(s.db_x), s.db_y).map


@pytest.mark.parametrize("name", SUPERVISED)
def test_supervised_methods_learn_on_digits(split, name):
    lsh = _map(M.LSH(bits=32, seed=0).fit(split.train_x), split)
    m = M.method_class(name)(bits=32, seed=0, epochs=15, progress=False).fit(split.train_x, split.train_y)
    got = _map(m, split)
    assert got >= lsh + 0.2 and got >= 0.85, (name, got, lsh)


@pytest.mark.parametrize("bits", [16, 32, 64])
@pytest.mark.parametrize("name", UNSUPERVISED)
def test_unsupervised_methods_beat_itq_on_the_same_features(split, name, bits):
    itq = _map(M.ITQ(bits=bits, seed=0).fit(split.train_x), split)
    m = M.method_class(name)(bits=bits, seed=0, progress=False, **UNSUP_FAST[name]).fit(split.train_x)
    got = _map(m, split)
    assert got > itq + 0.02, (name, bits, got, itq)


def test_class_codes_are_saved_not_recomputed(split, tmp_path):
    m = M.CSQ(bits=16, seed=0, epochs=1, progress=False).fit(split.train_x[::5], split.train_y[::5])
    np.testing.assert_array_equal(m.centers, np.concatenate([hadamard(16), -hadamard(16)])[:10])
    with torch.no_grad():
        m._loss.centers.codes.neg_()  # a model whose centers differ from the seeded rule's
    m.save(tmp_path / "csq.npz")
    np.testing.assert_array_equal(M.load(tmp_path / "csq.npz").centers, m.centers)


@pytest.mark.parametrize("name", SUPERVISED)
def test_supervised_methods_take_multi_hot_labels(name):
    s = data.digits_mosaics(n_query=30, n_train=150, n_database=300, seed=0)
    m = M.method_class(name)(bits=16, seed=0, epochs=3, progress=False).fit(s.train_x, s.train_y)
    codes = m.encode(s.query_x)
    assert codes.shape == (30, 2)
    lsh = M.LSH(bits=16, seed=0).fit(s.train_x)
    got = metrics.mean_average_precision(codes, s.query_y, m.encode(s.db_x), s.db_y).map
    base = metrics.mean_average_precision(lsh.encode(s.query_x), s.query_y, lsh.encode(s.db_x), s.db_y).map
    assert got > base, (name, got, base)


def test_hyperparameters_are_checked_at_construction():
    with pytest.raises(ValueError, match="dropout"):
        M.CIBHash(bits=16, dropout=1.0)
    with pytest.raises(ValueError, match="margin"):
        M.DPN(bits=16, margin=0)
    with pytest.raises(ValueError, match="quantization"):
        M.GreedyHash(bits=16, quantization=-1)
    with pytest.raises(ValueError, match="gamma"):
        M.BiHalf(bits=16, gamma=-1.0)
    assert M.BiHalf.supervised is False and M.CIBHash.supervised is False and M.CSQ.supervised is True

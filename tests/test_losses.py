"""The hashing losses against values computed by hand, gradients, stability and input checks."""
import math

import pytest

torch = pytest.importorskip("torch")

from deephash.losses import DHNLoss, DPSHLoss, DSHLoss, log_cosh, similarity_matrix  # noqa: E402

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
    assert similarity_matrix(ints, ints).tolist() == [
        [True, False, True], [False, True, False], [True, False, True]]


@pytest.mark.parametrize("make", [lambda: DPSHLoss(lam=0.3), lambda: DSHLoss(bits=4, alpha=0.2),
                                  lambda: DHNLoss(lam=0.3)])
def test_gradcheck_float64(make):
    g = torch.Generator().manual_seed(0)
    # magnitudes kept away from 0 and 1 so sign() and |.| are differentiable where evaluated
    u = (torch.rand(5, 4, generator=g, dtype=torch.float64) * 0.6 + 0.2) * \
        torch.where(torch.rand(5, 4, generator=g) < 0.5, -1.0, 1.0).double()
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

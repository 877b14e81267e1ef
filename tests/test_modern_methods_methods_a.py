"""HashNet, DTSH, DSDH, DFH and ADSH: losses by hand, gradients, discrete steps, learning, persistence."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deephash
import deephash.methods as M
from deephash import data, metrics
from deephash.losses import ADSHLoss, DFHLoss, DSDHLoss, DTSHLoss, HashNetLoss, PairLikelihood
from deephash.losses.base import pair_counts
from deephash.methods import TrainConfig
from deephash.training import Criterion, Run, Stage, TrainingNetwork, cyclic_sign_update, train

pytestmark = pytest.mark.usefixtures("torch_one_thread")

NAMES = ["hashnet", "dsdh", "dtsh", "dfh", "adsh"]
# DFH's 200 centre steps per training step are its cost; the digits need far fewer
FAST = {"dfh": dict(center_steps=20)}


def sp(t):
    return math.log1p(math.exp(t))


U3 = [[1.0, -2.0], [0.5, 1.0], [1.0, 1.0]]


# ----------------------------------------------------------------------------------- HashNet
def test_pair_counts_int_and_multi_hot():
    assert pair_counts(torch.tensor([0, 0, 1])) == (2.0, 6.0)
    # rows {0}, {0,1}, {1}, {}: similar ordered pairs (0,1),(1,0),(1,2),(2,1); the empty row none
    y = torch.tensor([[1, 0], [1, 1], [0, 1], [0, 0]])
    assert pair_counts(y) == (4.0, 12.0)
    assert pair_counts(torch.tensor([[1, 0], [1, 0], [0, 1]])) == (2.0, 6.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hashnet_loss_by_hand(dtype):
    u = torch.tensor(U3, dtype=dtype)
    labels = torch.tensor([0, 0, 1])
    loss = HashNetLoss(scale=0.5)
    loss.set_class_weights(labels)  # 6 ordered pairs, 2 similar: weights 6/2 and 6/4
    assert loss.class_weights == (3.0, 1.5)
    # theta = 0.5 u_i.u_j: (0,1) -0.75 similar; (0,2) -0.5 and (1,2) 0.75 dissimilar
    expected = (2 * 3.0 * (sp(-0.75) + 0.75) + 2 * 1.5 * sp(-0.5) + 2 * 1.5 * sp(0.75)) / 6
    got = loss(u, labels)
    assert got.dtype == dtype and float(got) == pytest.approx(expected, rel=1e-6)
    # without weights: the plain likelihood
    plain = (2 * (sp(-0.75) + 0.75) + 2 * sp(-0.5) + 2 * sp(0.75)) / 6
    assert float(HashNetLoss(scale=0.5)(u, labels)) == pytest.approx(plain, rel=1e-6)


def test_hashnet_head_continuation_and_schedule():
    from deephash.methods.hashnet import BetaContinuation
    from deephash.models.continuation_head import ContinuationHead

    head = ContinuationHead(4, 3)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    z = torch.nn.Linear.forward(head.linear, x)
    head.set_beta(2.5)
    torch.testing.assert_close(head(x), torch.tanh(2.5 * z))
    assert "beta" in head.state_dict()
    hook = BetaContinuation(head, growth=0.005, every=200)
    assert [hook.beta(s) for s in (0, 199, 200, 450)] == [1.0, 1.0, 2.0**0.5, 3.0**0.5]
    with pytest.raises(ValueError, match="beta must be > 0"):
        head.set_beta(0.0)


def test_hashnet_raises_beta_during_training(split):
    m = M.HashNet(bits=16, seed=0, epochs=3, batch_size=100, beta_growth=0.5, beta_every=4, progress=False)
    m.fit(split.train_x, split.train_y)  # 10 steps an epoch, 30 in all: beta = (1 + 0.5 * 28)^0.5
    assert float(m._head.beta) == pytest.approx(15.0**0.5)
    np.testing.assert_array_equal(m.encode(split.query_x), deephash.pack_bits(m.transform(split.query_x) > 0))


# -------------------------------------------------------------------------------------- DTSH
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtsh_loss_by_hand(dtype):
    a, p, n = (torch.tensor([v], dtype=dtype) for v in U3)
    # x = 0.5 (a.p - a.n) - margin = 0.5 (-1.5 + 1) - 1 = -1.25; -(x - log(1 + e^x)) = softplus(1.25)
    # quantisation on the anchor [1, -2]: (0^2 + 1^2) / 2
    got = DTSHLoss(margin=1.0, lam=0.5)(a, p, n)
    tol = 1e-2 if dtype == torch.bfloat16 else 1e-6
    assert got.dtype == dtype and float(got) == pytest.approx(sp(1.25) + 0.5 * 0.5, rel=tol)


# -------------------------------------------------------------------------------------- DSDH
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dsdh_loss_by_hand(dtype):
    u = torch.tensor(U3[:2], dtype=dtype)
    codes = torch.tensor([[1.0, -1.0], [1.0, 1.0]], dtype=dtype)
    labels = torch.tensor([3, 3])
    # theta = 0.5 (0.5 - 2) = -0.75, similar: softplus(-0.75) + 0.75; (u - b)^2 = [0, 1, .25, 0]
    got = DSDHLoss(eta=55.0, weight=2.0)(u, labels, codes)
    assert got.dtype == dtype and float(got) == pytest.approx(sp(-0.75) + 0.75 + 2.0 * 0.3125, rel=1e-6)
    with pytest.raises(ValueError, match="only -1 and \\+1"):
        DSDHLoss(eta=1.0, weight=1.0)(u, labels, codes * 0.5)


def test_dsdh_weight_is_eta_bits_over_n():
    class FakeRun:
        n, targets = 400, torch.ones(400, 48)

    loss = DSDHLoss(eta=55.0)
    loss.on_fit_start(FakeRun())
    assert loss.weight == pytest.approx(55.0 * 48 / 400)


def _objective(b, linear, gram):
    return float((b @ gram * b).sum() - 2 * (b * linear).sum())


def test_cyclic_sign_update_descends_to_a_coordinate_optimum():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(5, 3, generator=g, dtype=torch.float64)
    linear = torch.randn(7, 5, generator=g, dtype=torch.float64)
    gram = m @ m.T
    b = torch.where(torch.randn(7, 5, generator=g) > 0, 1.0, -1.0).double()
    before = _objective(b, linear, gram)
    once = cyclic_sign_update(b.clone(), linear, gram)
    assert _objective(once, linear, gram) <= before + 1e-12
    fixed = cyclic_sign_update(once.clone(), linear, gram, sweeps=20)
    best = _objective(fixed, linear, gram)
    for i in range(7):  # no single flip improves it
        for k in range(5):
            flipped = fixed.clone()
            flipped[i, k] *= -1
            assert _objective(flipped, linear, gram) >= best - 1e-9
    # the objective is ||B M||^2 - 2 tr(B^T P)
    assert best == pytest.approx(float((fixed @ m).pow(2).sum() - 2 * (fixed * linear).sum()))
    with pytest.raises(ValueError, match="linear must have"):
        cyclic_sign_update(b, linear[:3], gram)


def _toy_run(n=12, bits=4, targets=None, loss=None, epochs=1):
    """A run over n vectors with a linear head, its labels three classes."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 6, generator=g)
    lin = torch.nn.Linear(6, bits)
    net = TrainingNetwork(lambda idx_np, idx, augment=True: lin(x[idx]), [lin], [{"params": lin.parameters()}])
    labels = torch.arange(n) % 3
    if targets is None:
        targets = torch.ones(n, bits)
    loss = loss if loss is not None else DSDHLoss(eta=1.0)
    cfg = TrainConfig(epochs=epochs, batch_size=4, progress=False)
    run = Run(
        [Stage(net, Criterion(loss))],
        n=n,
        config=cfg,
        rng=np.random.default_rng(0),
        device=torch.device("cpu"),
        labels=labels,
        targets=targets,
    )
    return run, lin, x, labels


def test_dsdh_code_step_follows_outputs_when_eta_dominates_and_descends():
    from deephash.methods.dsdh import DiscreteCodeStep, label_matrix

    run, lin, x, labels = _toy_run()
    with torch.no_grad():
        u = lin(x).double()
    DiscreteCodeStep(mu=1.0, nu=0.1, eta=1e6, alternations=2).on_fit_start(run)
    torch.testing.assert_close(run.targets, torch.where(u >= 0, 1.0, -1.0).float())
    # a balanced step: the objective mu ||Y - B W||^2 + nu ||W||^2 + eta ||B - U||^2 does not rise
    y = label_matrix(labels, torch)
    step = DiscreteCodeStep(mu=1.0, nu=0.1, eta=0.5, alternations=3)

    def objective(b):
        w = torch.linalg.solve(b.T @ b + 0.1 * torch.eye(4, dtype=torch.float64), b.T @ y)
        return float((y - b @ w).pow(2).sum() + 0.1 * w.pow(2).sum() + 0.5 * (b - u).pow(2).sum())

    before = objective(run.targets.double())
    step.update(run)
    after = run.targets.double()
    assert bool(((after == 1) | (after == -1)).all())
    assert objective(after) <= before + 1e-9


# --------------------------------------------------------------------------------------- DFH
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dfh_codes_and_loss_by_hand(dtype):
    loss = DFHLoss(margin=1.0, mu=1.0, between=1.0, center_quantization=1.0, eta=0.5)
    loss.reset_centers(2, 2)
    loss.centers = torch.tensor([[1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)  # class 0 [1, 1], class 1 [-1, 1]
    u = torch.tensor([[0.25, -0.5], [-0.25, 0.5]], dtype=dtype)
    labels = torch.tensor([0, 1])
    codes = loss.codes_for(u, labels)  # sign(mu * centre + u): [1.25, 0.5] -> [1, 1]; [-1.25, 1.5] -> [-1, 1]
    torch.testing.assert_close(codes, torch.tensor([[1.0, 1.0], [-1.0, 1.0]], dtype=dtype))
    assert not codes.requires_grad
    # dissimilar pair, theta = 0.5 (-0.0625 - 0.25) = -0.15625: softplus(margin + theta);
    # (u - b)^2 = [0.5625, 2.25, 0.5625, 0.25] -> mean 0.90625
    got = loss(u, labels, codes)
    assert got.dtype == dtype and float(got) == pytest.approx(sp(1.0 - 0.15625) + 0.5 * 0.90625, rel=1e-6)


def test_pair_likelihood_margin():
    u, v = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
    s = torch.tensor([[1.0, 0.0]])
    # theta = [2, -2]; similar: softplus(m - theta) = softplus(-1); dissimilar: softplus(m + theta) = softplus(-1)
    got = PairLikelihood(scale=1.0, margin=1.0)(u, v, s)
    torch.testing.assert_close(got, torch.full((1, 2), sp(-1.0)))
    torch.testing.assert_close(PairLikelihood(1.0, margin=0.0)(u, v, s), torch.tensor([[sp(-2.0), sp(-2.0)]]))


def test_dfh_centres_descend_their_objective():
    loss = DFHLoss(margin=1.0, mu=1.0, between=1.0, center_quantization=1.0, eta=0.5, center_steps=50)
    loss.reset_centers(8, 3)
    g = torch.Generator().manual_seed(0)
    loss.relaxed_centers = torch.randn(8, 3, generator=g, dtype=torch.float64) * 0.1
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    codes = torch.where(torch.randn(6, 8, generator=g) > 0, 1.0, -1.0)
    y = torch.nn.functional.one_hot(labels, 3).double()
    target = 8 * (2 * torch.eye(3, dtype=torch.float64) - 1)

    def objective(v):
        return float(
            (v @ y.T - codes.double().T).pow(2).mean()
            + (v.T @ v - target).pow(2).mean()
            + (v - torch.sign(v)).pow(2).mean()
        )

    before = objective(loss.relaxed_centers)
    loss.update_centers(codes, labels)
    assert objective(loss.relaxed_centers) < before
    torch.testing.assert_close(loss.centers, torch.sign(loss.relaxed_centers))


# -------------------------------------------------------------------------------------- ADSH
def test_adsh_loss_by_hand():
    u = torch.tensor([[0.5, -0.5]])
    v = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    # c = 2: u.v = [1, 0, -1] against targets [2, -2, 2] -> squares [1, 4, 9]; own code v_0:
    # (u - v_0)^2 = [0.25, 0.25]
    loss = ADSHLoss(bits=2, gamma=200.0, weight=3.0, dissimilar=1.0)  # the paper's S in {-1, +1}
    got = loss(u, torch.tensor([0]), v[:1], v, torch.tensor([0, 1, 0]))
    assert float(got) == pytest.approx(14 / 3 + 3.0 * 0.25, rel=1e-6)
    # the authors' code's soft constraint: a dissimilar pair's target is -r (here r = 0.25):
    # (0 + 2 * 0.25)^2 = 0.25 for the middle pair
    soft = ADSHLoss(bits=2, gamma=200.0, weight=3.0, dissimilar=0.25)
    got = soft(u, torch.tensor([0]), v[:1], v, torch.tensor([0, 1, 0]))
    assert float(got) == pytest.approx((1 + 0.25 + 9) / 3 + 3.0 * 0.25, rel=1e-6)


def test_adsh_dissimilar_target_is_the_pair_ratio():
    from deephash.losses.adsh import dissimilar_target

    # 3 classes of 4: 3 * 4 * 3 = 36 similar ordered pairs of 132
    assert dissimilar_target(torch.arange(12) % 3) == pytest.approx(36 / 96)
    assert dissimilar_target(torch.zeros(5, dtype=torch.long)) == 1.0


def test_adsh_code_step_descends_the_objective():
    from deephash.losses.base import similarity_matrix
    from deephash.methods.adsh import DatabaseCodeStep

    n, bits = 12, 4
    start = torch.where(torch.randn(n, bits, generator=torch.Generator().manual_seed(3)) > 0, 1.0, -1.0)
    run, lin, x, labels = _toy_run(n, bits, targets=start.clone())
    r = 0.375  # what dissimilar=None computes for these labels
    step = DatabaseCodeStep(samples=5, epochs_per_round=1, gamma=2.0, seed=0, on_codes=lambda v: None)
    step._draw(n)
    omega = torch.from_numpy(step.sample)
    with torch.no_grad():
        ut = lin(x[omega]).double()  # the outputs the step reads (this toy head has no tanh)
    s = similarity_matrix(labels[omega], labels).double() * (1 + r) - r

    def objective(v):
        v = v.double()
        return float((ut @ v.T - bits * s).pow(2).sum() + 2.0 * (v[omega] - ut).pow(2).sum())

    before = objective(run.targets)
    step.update(run)
    assert objective(run.targets) <= before + 1e-9
    assert bool(((run.targets == 1) | (run.targets == -1)).all())


def test_run_sampler_visits_its_items_only():
    seen = []

    class Sampler:
        epoch_size = 6

        def epoch_items(self, run):
            return np.array([4, 2, 7, 1, 9, 0])

        def on_step(self, run):
            seen.append(run.batch_ids.tolist())

    s = Sampler()
    run, *_ = _toy_run(loss=DSDHLoss(eta=1.0, weight=0.1), epochs=2)
    run = Run(
        run.stages,
        n=12,
        config=run.config,
        rng=np.random.default_rng(0),
        device=run.device,
        labels=run.labels,
        targets=run.targets,
        hooks=[s],
        sampler=s,
    )
    assert run.steps_per_stage == 2 * 2  # ceil(6 / 4) steps an epoch
    train(run)
    assert seen == [[4, 2, 7, 1], [9, 0]] * 2

    class Bad:
        def epoch_items(self, run):
            return np.array([0, 12])

    run2 = Run(
        run.stages,
        n=12,
        config=run.config,
        rng=np.random.default_rng(0),
        device=run.device,
        labels=run.labels,
        targets=run.targets,
        sampler=Bad(),
    )
    with pytest.raises(ValueError, match="must lie in"):
        train(run2)
    with pytest.raises(TypeError, match="epoch_items"):
        Run(run.stages, n=12, config=run.config, rng=np.random.default_rng(0), device=run.device, sampler=object())


# -------------------------------------------------------------------------------- gradients
def test_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    ref = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    labels, ref_labels = torch.tensor([0, 1, 0, 2, 1]), torch.tensor([0, 1, 2, 0, 1, 2])
    codes = torch.where(torch.randn(5, 4, generator=g) > 0, 1.0, -1.0).double()
    hn = HashNetLoss(scale=0.3)
    hn.set_class_weights(labels)
    assert torch.autograd.gradcheck(lambda a: hn(a, labels), (u,))
    assert torch.autograd.gradcheck(lambda a, b: hn(a, labels, b, ref_labels), (u, ref))
    dsdh = DSDHLoss(eta=1.0, weight=0.7)
    assert torch.autograd.gradcheck(lambda a, b: dsdh(a, labels, codes, b, ref_labels), (u, ref))
    dfh = DFHLoss(margin=2.0, mu=0.1, between=1.0, center_quantization=1.0, eta=0.5)
    assert torch.autograd.gradcheck(lambda a, b: dfh(a, labels, codes, b, ref_labels), (u, ref))
    adsh = ADSHLoss(bits=4, gamma=200.0, weight=0.3, dissimilar=0.2)
    assert torch.autograd.gradcheck(lambda a: adsh(a, labels, codes, ref.detach().sign(), ref_labels), (u,))
    # DTSH: smooth away from u = 0 (the quantisation's sign is piecewise constant)
    a, p, n = (torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    assert torch.autograd.gradcheck(lambda x, y, z: DTSHLoss(margin=0.5, lam=0.5)(x, y, z), (a, p, n))


def test_dfh_codes_carry_no_gradient_into_the_loss():
    # the push to codes is a target: d/du of eta * mean((u - b)^2) is 2 eta (u - b) / numel, b constant
    loss = DFHLoss(margin=0.0, mu=1.0, between=1.0, center_quantization=1.0, eta=0.5, center_steps=1)
    loss.reset_centers(3, 2)
    u = torch.tensor([[0.3, -0.2, 0.9], [0.4, 0.1, -0.7]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0])
    codes = loss.codes_for(u, labels)
    pair_only = DFHLoss(margin=0.0, mu=1.0, between=1.0, center_quantization=1.0, eta=0.0)
    (g_all,) = torch.autograd.grad(loss(u, labels, codes), u)
    (g_pair,) = torch.autograd.grad(pair_only(u, labels, codes), u)
    torch.testing.assert_close(g_all - g_pair, 2 * 0.5 * (u.detach() - codes) / u.numel())


# ------------------------------------------------------------------------ learning and files
@pytest.fixture(scope="module")
def split():
    return data.digits()


def _map(q, qy, db, dby):
    return metrics.mean_average_precision(q, qy, db, dby).map


@pytest.fixture(scope="module")
def lsh_maps(split):
    lsh = M.LSH(bits=32, seed=0).fit(split.train_x)
    q = lsh.encode(split.query_x)
    return {
        "db": _map(q, split.query_y, lsh.encode(split.db_x), split.db_y),
        "train": _map(q, split.query_y, lsh.encode(split.train_x), split.train_y),
    }


@pytest.mark.parametrize("name", ["hashnet", "dsdh", "dtsh", "dfh"])
def test_learns_on_digits(split, lsh_maps, name):
    m = M.method_class(name)(bits=32, seed=0, epochs=15, progress=False, **FAST.get(name, {}))
    m.fit(split.train_x, split.train_y)
    got = _map(m.encode(split.query_x), split.query_y, m.encode(split.db_x), split.db_y)
    assert got >= lsh_maps["db"] + 0.2, (name, got, lsh_maps["db"])


def test_adsh_learns_database_codes_on_digits(split, lsh_maps):
    # the database is the training set: its codes are learned, the queries are encoded
    m = M.ADSH(bits=32, seed=0, epochs=45, progress=False).fit(split.train_x, split.train_y)
    db = m.database_codes
    assert db.shape == (len(split.train_x), 4) and db.dtype == np.uint8 and db.flags.c_contiguous
    got = _map(m.encode(split.query_x), split.query_y, db, split.train_y)
    assert got >= lsh_maps["train"] + 0.2, (got, lsh_maps["train"])


def test_adsh_database_codes_are_the_learned_codes_in_encode_order(split):
    final = {}

    class Grab:
        def on_fit_end(self, run):
            final["v"] = run.targets.clone()

    xt, yt = split.train_x[:200], split.train_y[:200]
    m = M.ADSH(bits=12, seed=0, epochs=4, samples=50, epochs_per_round=2, progress=False)
    m.fit(xt, yt, callbacks=[Grab()])
    v = final["v"].numpy()
    assert set(np.unique(v)) == {-1.0, 1.0}
    bits = np.unpackbits(m.database_codes, axis=1, bitorder="little")
    np.testing.assert_array_equal(bits[:, :12], (v > 0).astype(np.uint8))  # bit j: bit j % 8 of byte j // 8
    assert not bits[:, 12:].any()  # padding
    np.testing.assert_array_equal(m.database_codes, m._pack(v))


def test_multi_hot_labels_and_bad_settings(split):
    xt, yt = split.train_x[:200], split.train_y[:200]
    y = np.eye(10, dtype=np.float32)[yt]
    for name in NAMES:
        m = M.method_class(name)(bits=16, seed=0, epochs=1, progress=False, **FAST.get(name, {})).fit(xt, y)
        assert m.encode(split.query_x[:5]).shape == (5, 2)
    with pytest.raises(ValueError, match="nu must be"):
        M.DSDH(nu=0.0)
    with pytest.raises(ValueError, match="samples must be"):
        M.ADSH(samples=0)
    with pytest.raises(ValueError, match="scale must be"):
        M.HashNet(scale=-1.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        M.ADSH().database_codes

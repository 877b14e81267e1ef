"""Hashing methods end to end on sklearn's digits: quality, persistence, determinism, errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deephash
import deephash.methods as M

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def hamming_map(q_codes, q_labels, db_codes, db_labels):
    """mAP over the whole ranking, ranking by (Hamming distance, database position)."""
    qb = np.unpackbits(q_codes, axis=1).astype(np.int16)
    db = np.unpackbits(db_codes, axis=1).astype(np.int16)
    dist = qb.sum(1)[:, None] + db.sum(1)[None, :] - 2 * qb @ db.T
    aps = []
    for i in range(len(q_codes)):
        order = np.argsort(dist[i], kind="stable")
        rel = (db_labels[order] == q_labels[i]).astype(np.float64)
        if rel.sum() == 0:
            aps.append(0.0)
            continue
        hits = np.cumsum(rel)
        aps.append(float((hits / np.arange(1, rel.size + 1) * rel).sum() / rel.sum()))
    return float(np.mean(aps))


FAST = dict(epochs=15, progress=False)


def test_map_helper_on_a_known_case():
    codes = deephash.pack_bits(np.array([[1] * 8, [0] * 8, [1] * 7 + [0]], dtype=np.uint8))
    q = codes[:1]
    # ranking: id 0 (d=0, relevant), id 2 (d=1, irrelevant), id 1 (d=8, relevant) -> AP = (1 + 2/3) / 2
    assert hamming_map(q, np.array([0]), codes, np.array([0, 0, 1])) == pytest.approx(5 / 6)


def test_dpsh_beats_lsh_on_digits(digits):
    xt, yt, xq, yq = digits
    for bits in (16, 32):
        lsh = M.LSH(bits=bits, seed=0).fit(xt)
        dpsh = M.DPSH(bits=bits, seed=0, progress=False).fit(xt, yt)  # default 50 epochs
        m_lsh = hamming_map(lsh.encode(xq), yq, lsh.encode(xt), yt)
        m_dpsh = hamming_map(dpsh.encode(xq), yq, dpsh.encode(xt), yt)
        assert m_dpsh > m_lsh + 0.25, (bits, m_dpsh, m_lsh)
        assert m_dpsh > 0.8


@pytest.mark.parametrize("cls", [M.DSH, M.DHN])
def test_dsh_dhn_learn_on_digits(digits, cls):
    xt, yt, xq, yq = digits
    m = cls(bits=32, seed=0, **FAST).fit(xt, yt)
    lsh = M.LSH(bits=32, seed=0).fit(xt)
    assert hamming_map(m.encode(xq), yq, m.encode(xt), yt) > hamming_map(lsh.encode(xq), yq, lsh.encode(xt), yt) + 0.2


def test_encode_returns_packed_codes(digits):
    xt, yt, xq, _ = digits
    m = M.DPSH(bits=24, seed=0, epochs=2, progress=False).fit(xt, yt)
    codes = m.encode(xq)
    assert codes.dtype == np.uint8 and codes.shape == (len(xq), 3) and codes.flags.c_contiguous
    np.testing.assert_array_equal(codes, np.packbits(m.transform(xq) > 0, axis=1, bitorder="little"))
    assert m.fit(xt, yt) is m


def test_lengths_off_whole_bytes_are_zero_padded(digits):
    xt, yt, xq, _ = digits
    for m in (M.DPSH(bits=12, seed=0, epochs=2, progress=False).fit(xt, yt), M.LSH(bits=12, seed=0).fit(xt)):
        u = m.transform(xq)
        codes = m.encode(xq)
        assert u.shape == (len(xq), 12) and m.code_bits == 16 and codes.shape == (len(xq), 2)
        bits = np.unpackbits(codes, axis=1, bitorder="little")
        np.testing.assert_array_equal(bits[:, :12], u > 0)
        assert not bits[:, 12:].any()


@pytest.mark.parametrize(
    "make",
    [
        lambda: M.DPSH(bits=16, seed=3, **FAST),
        lambda: M.DHN(bits=16, seed=3, backbone="features", **FAST),
        lambda: M.DSH(bits=16, seed=3, backbone={"name": "mlp", "hidden": [32, 16]}, **FAST),
        lambda: M.LSH(bits=16, seed=3),
    ],
)
def test_save_load_gives_identical_codes(digits, tmp_path, make):
    xt, yt, xq, _ = digits
    m = make().fit(xt, yt)
    path = tmp_path / "model.dh"
    m.save(path)
    loaded = M.load(path)
    assert type(loaded) is type(m) and loaded.bits == m.bits and loaded.params == m.params
    np.testing.assert_array_equal(loaded.encode(xq), m.encode(xq))


def test_small_cnn_on_images_and_save_load(digits, tmp_path):
    xt, yt, xq, yq = digits
    img_t = (xt.reshape(-1, 8, 8) / 16.0).astype(np.float32)
    img_q = (xq.reshape(-1, 8, 8) / 16.0).astype(np.float32)
    m = M.DSH(bits=32, backbone="small_cnn", seed=0, epochs=8, batch_size=64, progress=False).fit(img_t, yt)
    codes = m.encode(img_q)
    assert codes.shape == (len(img_q), 4)
    m.save(tmp_path / "cnn.dh")
    np.testing.assert_array_equal(M.load(tmp_path / "cnn.dh").encode(img_q), codes)
    lsh = M.LSH(bits=32, seed=0).fit(xt)
    # a few epochs from scratch beat random hyperplanes on the pixels clearly
    assert hamming_map(codes, yq, m.encode(img_t), yt) > hamming_map(lsh.encode(xq), yq, lsh.encode(xt), yt) + 0.15


def test_same_seed_same_codes_other_seed_other_codes(digits):
    xt, yt, xq, _ = digits
    state = torch.get_rng_state()
    a = M.DPSH(bits=32, seed=7, epochs=3, progress=False).fit(xt, yt).encode(xq)
    b = M.DPSH(bits=32, seed=7, epochs=3, progress=False).fit(xt, yt).encode(xq)
    c = M.DPSH(bits=32, seed=8, epochs=3, progress=False).fit(xt, yt).encode(xq)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # training leaves the global torch RNG alone
    assert torch.equal(state, torch.get_rng_state())
    la = M.LSH(bits=32, seed=7).fit(xt).encode(xq)
    np.testing.assert_array_equal(la, M.LSH(bits=32, seed=7).fit(xt).encode(xq))
    assert not np.array_equal(la, M.LSH(bits=32, seed=8).fit(xt).encode(xq))


def test_multi_hot_labels_equal_class_ids(digits):
    xt, yt, xq, _ = digits
    onehot = np.eye(10, dtype=np.uint8)[yt]
    a = M.DPSH(bits=16, seed=1, epochs=3, progress=False).fit(xt, yt).encode(xq)
    b = M.DPSH(bits=16, seed=1, epochs=3, progress=False).fit(xt, onehot).encode(xq)
    np.testing.assert_array_equal(a, b)


def test_lsh_ignores_labels_and_works_without_training(digits):
    xt, yt, xq, _ = digits
    a = M.LSH(bits=64, seed=0).fit(xt, yt).encode(xq)
    b = M.LSH(bits=64, seed=0).fit(xt).encode(xq)
    np.testing.assert_array_equal(a, b)
    # centring balances the bits of non-negative pixels
    assert 0.3 < np.unpackbits(a).mean() < 0.7


def test_bad_inputs_give_clear_errors(digits, tmp_path):
    xt, yt, xq, _ = digits
    with pytest.raises(ValueError, match="between 1 and 4096"):
        M.DPSH(bits=0)
    with pytest.raises(TypeError, match="bits must be an int"):
        M.DPSH(bits=16.0)
    with pytest.raises(TypeError, match="unknown argument 'lamda'"):
        M.DPSH(bits=16, lamda=0.1)
    with pytest.raises(ValueError, match="epochs"):
        M.DPSH(bits=16, epochs=0)
    with pytest.raises(ValueError, match="seed"):
        M.DPSH(bits=16, seed=-1)
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        M.DPSH(bits=16, backbone="resnet", **FAST).fit(xt, yt)
    with pytest.raises(ValueError, match="one entry per input"):
        M.DPSH(bits=16, **FAST).fit(xt, yt[:-1])
    with pytest.raises(ValueError, match="required"):
        M.DPSH(bits=16, **FAST).fit(xt)
    with pytest.raises(TypeError, match="class ids"):
        M.DPSH(bits=16, **FAST).fit(xt, yt + 0.5)
    with pytest.raises(ValueError, match="only 0 and 1"):
        M.DPSH(bits=16, **FAST).fit(xt, np.full((len(xt), 3), 2))
    bad = xt.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.DPSH(bits=16, **FAST).fit(bad, yt)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        M.DPSH(bits=16, **FAST).fit(xt.reshape(-1, 8, 8), yt)
    with pytest.raises(RuntimeError, match="not fitted"):
        M.DPSH(bits=16).encode(xq)
    m = M.DPSH(bits=16, seed=0, epochs=1, progress=False).fit(xt, yt)
    with pytest.raises(ValueError, match="per-item shape"):
        m.encode(xq[:, :32])
    with pytest.raises(ValueError, match="per-item shape"):
        M.LSH(bits=16).fit(xt).encode(xq[:, :32])
    with pytest.raises(FileNotFoundError):
        M.load(tmp_path / "missing.dh")
    junk = tmp_path / "junk.dh"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a deephash model"):
        M.load(junk)
    with pytest.raises(ValueError, match="unknown method"):
        M.method_class("NoSuchMethod")
    with pytest.raises(ValueError, match="random weights"):
        M.LSH(bits=16, backbone="mlp").fit(xt)


def test_methods_declare_supervised():
    assert M.LSH.supervised is False
    for name in ("dpsh", "dsh", "dhn"):
        assert M.method_class(name).supervised is True


# ------------------------------------------------------------- CNNH's stage 1 (target codes)
from deephash.methods._cnnh_targets import LabelSimilarity, objective, target_codes


def dense_similarity(labels):
    if labels.ndim == 1:
        return np.where(labels[:, None] == labels[None, :], 1.0, -1.0)
    return np.where(labels @ labels.T > 0, 1.0, -1.0)


@pytest.mark.parametrize("multi", [False, True])
def test_stage1_matches_the_dense_objective(multi):
    rng = np.random.default_rng(0)
    if multi:
        labels = (rng.random((60, 5)) < 0.3).astype(np.uint8)
        labels[0] = 0  # an item without labels is similar to nothing, itself included
    else:
        labels = rng.integers(0, 4, 60)
    s = dense_similarity(labels.astype(np.float64))
    sim = LabelSimilarity(labels)
    h = rng.uniform(-1, 1, (60, 8))
    np.testing.assert_allclose(sim.times(torch.from_numpy(h)).numpy(), s @ h, atol=1e-9)
    dense = float(((s - h @ h.T / 8) ** 2).sum())
    assert objective(sim, torch.from_numpy(h)) == pytest.approx(dense, rel=1e-12)
    codes, relaxed, history = target_codes(labels, 8, seed=1, return_relaxed=True)
    assert codes.dtype == np.float32 and set(np.unique(codes)) <= {-1.0, 1.0}
    assert np.abs(relaxed).max() <= 1.0
    assert all(b < a for a, b in zip(history, history[1:]))  # every iteration decreases it
    final = float(((s - relaxed @ relaxed.T / 8) ** 2).sum())
    assert final == pytest.approx(history[-1], rel=1e-9) and final < 0.8 * history[0]


def test_stage1_codes_follow_the_classes():
    labels = np.repeat(np.arange(2), 30)
    codes = target_codes(labels, 16, seed=0)
    # two classes: each class one code, the two codes complementary (H H^T / q = S exactly)
    assert (codes[:30] == codes[0]).all() and (codes[30:] == codes[30]).all()
    np.testing.assert_array_equal(codes[0], -codes[30])
    # deterministic for a seed
    np.testing.assert_array_equal(codes, target_codes(labels, 16, seed=0))


def test_stage1_never_forms_n_by_n():
    # 200,000 items: S would take 320 GB in float64
    labels = np.random.default_rng(0).integers(0, 10, 200_000)
    codes = target_codes(labels, 12, seed=0, iterations=1)
    assert codes.shape == (200_000, 12)


# ------------------------------------------------- CNNH, CNNH+, DLBHC and DNNH on the training layer
from deephash import data, metrics

NEW = ["cnnh", "cnnhplus", "dlbhc", "dnnh"]


@pytest.fixture(scope="module")
def split():
    return data.digits()


@pytest.fixture(scope="module")
def lsh_map(split):
    lsh = M.LSH(bits=32, seed=0).fit(split.train_x)
    return metrics.mean_average_precision(
        lsh.encode(split.query_x), split.query_y, lsh.encode(split.db_x), split.db_y
    ).map


@pytest.mark.parametrize("name", NEW)
def test_new_methods_learn_on_digits(split, lsh_map, name):
    m = M.method_class(name)(bits=32, seed=0, epochs=15, progress=False)
    m.fit(split.train_x, split.train_y)
    got = metrics.mean_average_precision(m.encode(split.query_x), split.query_y, m.encode(split.db_x), split.db_y).map
    assert got >= 0.70 and got >= lsh_map + 0.20, (name, got, lsh_map)


# the methods since the survey (their own tests: tests/test_modern_methods_*.py); fast settings
MODERN = ["hashnet", "greedyhash", "csq", "dpn", "orthohash", "dsdh", "dtsh", "dfh", "adsh", "bihalf", "cibhash"]
MODERN_FAST = {"dfh": dict(center_steps=20)}  # DFH's 200 centre steps per training step are its cost


@pytest.mark.parametrize("name", NEW + MODERN)
def test_new_methods_save_load_and_seeds(split, tmp_path, name):
    cls = M.method_class(name)
    xt, yt, xq = split.train_x[:300], split.train_y[:300], split.query_x
    kw = dict(epochs=2, progress=False, **MODERN_FAST.get(name, {}))
    state = torch.get_rng_state()
    a = cls(bits=24, seed=5, **kw).fit(xt, yt)
    b = cls(bits=24, seed=5, **kw).fit(xt, yt)
    c = cls(bits=24, seed=6, **kw).fit(xt, yt)
    assert torch.equal(state, torch.get_rng_state())  # the global torch RNG is left alone
    codes = a.encode(xq)
    assert codes.shape == (len(xq), 3) and codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, b.encode(xq))
    assert not np.array_equal(codes, c.encode(xq))
    a.save(tmp_path / "m.npz")
    loaded = M.load(tmp_path / "m.npz")
    assert type(loaded) is cls and loaded.params == a.params
    np.testing.assert_array_equal(loaded.encode(xq), codes)
    np.testing.assert_array_equal(loaded.transform(xq), a.transform(xq))
    if name == "dlbhc":
        np.testing.assert_array_equal(loaded.latent(xq), a.latent(xq))
    for attr in ("centers", "target_codes", "codewords", "database_codes"):  # saved with the model
        if hasattr(cls, attr):
            np.testing.assert_array_equal(getattr(loaded, attr), getattr(a, attr))
            np.testing.assert_array_equal(getattr(b, attr), getattr(a, attr))


def test_dlbhc_codes_are_latent_above_half(split):
    m = M.DLBHC(bits=16, seed=0, epochs=2, progress=False).fit(split.train_x, split.train_y)
    z = m.latent(split.query_x)
    assert z.shape == (len(split.query_x), 16) and z.dtype == np.float32
    assert z.min() > 0 and z.max() < 1
    np.testing.assert_array_equal(m.encode(split.query_x), deephash.pack_bits(z > 0.5))
    np.testing.assert_array_equal(m.transform(split.query_x), z - 0.5)


@pytest.mark.parametrize("name", NEW)
def test_new_methods_take_multi_hot_labels(split, name):
    rng = np.random.default_rng(0)
    y = np.eye(10, dtype=np.uint8)[split.train_y[:200]]
    y[rng.random(200) < 0.3, 0] = 1  # a second label for some items
    m = M.method_class(name)(bits=16, seed=0, epochs=1, progress=False).fit(split.train_x[:200], y)
    assert m.encode(split.query_x).shape == (len(split.query_x), 2)


def test_new_methods_bad_inputs(split):
    xt, yt = split.train_x[:100], split.train_y[:100]
    with pytest.raises(ValueError, match="stage1_iterations"):
        M.CNNH(bits=16, stage1_iterations=0)
    with pytest.raises(ValueError, match="epsilon"):
        M.DNNH(bits=16, epsilon=0.5)
    with pytest.raises(ValueError, match="triplets_per_anchor"):
        M.DNNH(bits=16, triplets_per_anchor=0)
    with pytest.raises(ValueError, match="margin"):
        M.DNNH(bits=16, margin=-1.0)
    with pytest.raises(TypeError, match="unknown argument 'class_weight'"):
        M.CNNH(bits=16, class_weight=1.0)
    for cls in (M.CNNH, M.CNNHPlus, M.DLBHC, M.DNNH):
        with pytest.raises(ValueError, match="required"):
            cls(bits=16, epochs=1, progress=False).fit(xt)
        with pytest.raises(ValueError, match="one entry per input"):
            cls(bits=16, epochs=1, progress=False).fit(xt, yt[:-1])
        with pytest.raises(ValueError, match=r"class ids \(n,\) or multi-hot"):
            cls(bits=16, epochs=1, progress=False).fit(xt, yt[:, None, None])
    with pytest.raises(RuntimeError, match="not fitted"):
        M.DLBHC(bits=16).latent(xt)
    # one class only: a triplet method has nothing to rank
    with pytest.raises(ValueError, match="no triplets"):
        M.DNNH(bits=16, epochs=1, progress=False).fit(xt, np.zeros(len(xt), dtype=np.int64))


def test_cli_trains_a_new_method(tmp_path, capsys):
    from deephash.cli import main

    out = tmp_path / "cnnh.model"
    assert (
        main(
            [
                "train",
                "--method",
                "cnnh",
                "--bits",
                "16",
                "--out",
                str(out),
                "--param",
                "epochs=1",
                "--param",
                "progress=False",
            ]
        )
        == 0
    )
    assert type(M.load(out)) is M.CNNH
    assert "CNNH" in capsys.readouterr().out


def test_cifar_protocol_accepts_the_new_names():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "bench" / "cifar_protocol.py"
    spec = importlib.util.spec_from_file_location("cifar_protocol", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with pytest.raises(ValueError, match="unknown method"):
        bench.main(["--methods", "CNNH,NOPE", "--data", "/nonexistent"])
    # known names get past method lookup to loading the (absent) data
    with pytest.raises((FileNotFoundError, ValueError)) as e:
        bench.main(["--methods", "cnnh,CNNHPlus,DLBHC,dnnh", "--data", "/nonexistent"])
    assert "unknown method" not in str(e.value)
    for name in ("CNNH", "CNNHPlus", "DNNH"):
        assert set(bench.PUBLISHED[name]) == {12, 24, 32, 48}


# ------------------------------------------- the training layer serves other kinds of methods
from deephash.losses import HashLoss, Supervision, TripletHashLoss
from deephash.training import TripletMiner


class _BalanceLoss(HashLoss):
    """Outputs only: push |u| to 1 and every bit's mean to 0 (an unsupervised toy)."""

    def step_loss(self, inputs):
        u = inputs.u
        return (u.abs() - 1).pow(2).mean() + u.mean(0).pow(2).sum()


class _Unsupervised(M.DeepHashingMethod):
    name = "Toy"
    supervised = False

    def make_loss(self):
        return _BalanceLoss()


class _WeightedTriplets(TripletHashLoss):
    """Triplets and pairs at once, with learned non-negative per-bit weights (a DRSCH-like toy)."""

    consumes = frozenset({Supervision.TRIPLETS, Supervision.PAIRS})

    def __init__(self, bits):
        super().__init__()
        self.raw = torch.nn.Parameter(torch.zeros(bits))
        self.seen = []

    def step_loss(self, inputs):
        self.seen.append((inputs.triplets is not None, inputs.ref_u is not None, inputs.ref_labels is not None))
        return super().step_loss(inputs)

    def compute_loss(self, a, p, n, gains):
        w = torch.nn.functional.softplus(self.raw)
        b = torch.tanh(a)
        d = ((b - torch.tanh(p)).pow(2) * w).sum(1) - ((b - torch.tanh(n)).pow(2) * w).sum(1)
        return (1.0 + d).clamp_min(0).mean() + 0.01 * (w - 1).pow(2).sum()


class _Weighted(M.DeepHashingMethod):
    name = "ToyWeighted"

    def make_loss(self):
        return _WeightedTriplets(self.bits)

    def make_miner(self, loss):
        return TripletMiner(2, seed=self.seed)


class _GradedLoss(TripletHashLoss):
    consumes = frozenset({Supervision.GRADED_TRIPLETS})

    def compute_loss(self, a, p, n, gains):
        d = (a - p).pow(2).sum(1) - (a - n).pow(2).sum(1)
        return (gains * (1.0 + d).clamp_min(0)).mean()


class _Graded(M.DeepHashingMethod):
    name = "ToyGraded"

    def make_loss(self):
        return _GradedLoss()


def test_unsupervised_method_ignores_labels(split):
    xt, yt, xq = split.train_x[:300], split.train_y[:300], split.query_x
    a = _Unsupervised(bits=16, seed=0, epochs=2, progress=False).fit(xt).encode(xq)
    b = _Unsupervised(bits=16, seed=0, epochs=2, progress=False).fit(xt, yt).encode(xq)
    c = _Unsupervised(bits=16, seed=0, epochs=2, progress=False).fit(xt, "not labels").encode(xq)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_loss_with_learned_weights_gets_triplets_and_pairs_and_is_saved(split):
    xt, yt, xq = split.train_x[:300], split.train_y[:300], split.query_x
    m = _Weighted(bits=16, seed=0, epochs=2, progress=False).fit(xt, yt)
    assert m._loss.seen and all(m._loss.seen[-1])  # triplets, memory bank and its labels
    w = m._loss.raw.detach().clone()
    assert not torch.equal(w, torch.zeros(16))  # trained with the network
    meta, arrays = m._state()
    assert "loss/raw" in arrays
    restored = _Weighted(bits=16, seed=0, epochs=2, progress=False)
    restored._restore(meta, arrays)
    assert torch.equal(restored._loss.raw.detach().cpu(), w.cpu())
    np.testing.assert_array_equal(restored.encode(xq), m.encode(xq))


def test_graded_triplets_from_multi_hot_labels(split):
    rng = np.random.default_rng(1)
    y = np.eye(10, dtype=np.uint8)[split.train_y[:300]]
    y[np.arange(300), rng.integers(0, 10, 300)] = 1  # up to two labels: relevance 0, 1 or 2
    m = _Graded(bits=16, seed=0, epochs=1, progress=False).fit(split.train_x[:300], y)
    assert m.encode(split.query_x).shape == (len(split.query_x), 2)


def test_cosine_schedule_decays_every_group_to_zero_and_changes_training(digits):
    from types import SimpleNamespace

    from deephash.methods.config import TrainConfig
    from deephash.training import CosineSchedule

    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([{"params": [w], "lr": 1.0}, {"params": [], "lr": 0.1}], lr=1.0)
    stage = SimpleNamespace(optimizer=opt, step=0)
    run = SimpleNamespace(stages=[stage], stage=stage, steps_per_stage=4)
    schedule = CosineSchedule()
    schedule.on_fit_start(run)
    seen = []
    for step in range(4):
        stage.step = step
        schedule.on_step(run)
        seen.append([g["lr"] for g in opt.param_groups])
    np.testing.assert_allclose(seen, [[1.0, 0.1], [0.853553, 0.0853553], [0.5, 0.05], [0.146447, 0.0146447]], rtol=1e-5)
    xt, yt, xq, _ = digits
    const = M.DPSH(bits=16, seed=0, epochs=3, progress=False).fit(xt, yt)
    cos = M.DPSH(bits=16, seed=0, epochs=3, progress=False, lr_schedule="cosine").fit(xt, yt)
    assert not np.array_equal(const.encode(xq), cos.encode(xq))
    assert cos.config.lr_schedule == "cosine"

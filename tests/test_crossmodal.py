"""Cross-modal hashing: DCMH's objective and training, CCA-ITQ, SCM, persistence, errors, eval."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import deephash.methods as M
from deephash import metrics
from deephash.losses import DCMHLoss

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def paired_set(n, seed, n_classes=4, d_image=16, d_text=6, noise=1.0):
    """Synthetic pairs: each class has an image centre and a text centre; rows are noisy copies."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1000)
    ci = centres.standard_normal((n_classes, d_image)) * 2
    ct = centres.standard_normal((n_classes, d_text)) * 2
    y = rng.integers(0, n_classes, n)
    xi = ci[y] + noise * rng.standard_normal((n, d_image))
    xt = ct[y] + noise * rng.standard_normal((n, d_text))
    return xi.astype(np.float32), xt.astype(np.float32), y


@pytest.fixture(scope="module")
def pairs():
    return paired_set(240, seed=0), paired_set(80, seed=1)


FAST = dict(epochs=8, batch_size=64, progress=False)


def hamming(a, b):
    """Row-wise Hamming distances between packed codes a[i] and b[i]."""
    return np.unpackbits(a ^ b, axis=1).sum(1)


@pytest.fixture(scope="module")
def dcmh(pairs):
    (xi, xt, y), _ = pairs
    return M.DCMH(bits=16, seed=0, **FAST).fit(xi, xt, y)


# ----------------------------------------------------------------------------- the loss


def test_dcmh_loss_gradient_is_the_papers():
    rng = np.random.default_rng(0)
    b, m, bits = 5, 7, 8
    u = torch.tensor(rng.standard_normal((b, bits)), requires_grad=True)
    v = torch.tensor(rng.standard_normal((m, bits)))
    codes = torch.tensor(np.where(rng.standard_normal((b, bits)) > 0, 1.0, -1.0))
    yu = torch.tensor(rng.integers(0, 3, b))
    yv = torch.tensor(rng.integers(0, 3, m))
    rest = torch.tensor(rng.standard_normal(bits))
    gamma, eta = 0.7, 0.3
    loss = DCMHLoss(gamma=gamma, eta=eta)(u, yu, v, yv, codes, rest + u.sum(0))
    loss.backward()
    # dJ/dU_i = 1/2 sum_j (sigmoid(Theta_ij) - S_ij) V_j + 2 gamma (U_i - B_i) + 2 eta (F^T 1),
    # divided by (b * m)
    un, vn = u.detach().numpy(), v.numpy()
    theta = 0.5 * un @ vn.T
    s = (yu.numpy()[:, None] == yv.numpy()[None, :]).astype(np.float64)
    colsum = rest.numpy() + un.sum(0)
    grad = 0.5 * (1 / (1 + np.exp(-theta)) - s) @ vn + 2 * gamma * (un - codes.numpy()) + 2 * eta * colsum[None, :]
    np.testing.assert_allclose(u.grad.numpy(), grad / (b * m), rtol=1e-10, atol=1e-12)


def test_dcmh_loss_over_all_pairs_matches_the_objective():
    rng = np.random.default_rng(1)
    n, bits = 9, 6
    f = torch.tensor(rng.standard_normal((n, bits)))
    g = torch.tensor(rng.standard_normal((n, bits)))
    codes = torch.where(f + g >= 0, 1.0, -1.0).double()
    y = torch.tensor(rng.integers(0, 2, (n, 3)))  # multi-hot
    loss = DCMHLoss(gamma=2.0, eta=0.5)
    j = loss.objective(f, g, codes, y, block=4)
    image_part = float(loss(f, y, g, y, codes)) * n * n
    text_only = 2.0 * float(((codes - g) ** 2).sum()) + 0.5 * float((g.sum(0) ** 2).sum())
    assert j == pytest.approx(image_part + text_only, rel=1e-12)
    # by hand, one pair: softplus(theta) - s theta
    t = 0.5 * float(f[0] @ g[1])
    s = float((y[0] * y[1]).sum() > 0)
    pair = np.log1p(np.exp(t)) - s * t
    assert 0 < pair < j


def test_dcmh_loss_rejects_bad_shapes():
    loss = DCMHLoss()
    u, v = torch.zeros(3, 4), torch.zeros(5, 4)
    y3, y5 = torch.zeros(3, dtype=torch.long), torch.zeros(5, dtype=torch.long)
    with pytest.raises(ValueError, match="other"):
        loss(u, y3, torch.zeros(5, 8), y5, torch.ones(3, 4))
    with pytest.raises(ValueError, match="codes"):
        loss(u, y3, v, y5, torch.ones(2, 4))
    with pytest.raises(ValueError, match="same kind"):
        loss(u, y3, v, torch.zeros(5, 2), torch.ones(3, 4))
    with pytest.raises(ValueError, match="gamma"):
        DCMHLoss(gamma=-1)


# ----------------------------------------------------------------------------- DCMH training


def test_alternating_optimisation_decreases_the_objective(dcmh):
    h = dcmh.history_
    assert len(h) == FAST["epochs"] + 1
    assert h[-1] < 0.5 * h[0]
    # after the first epochs the decrease is steady: no later epoch undoes it
    assert max(h[3:]) < h[1]


def test_paired_codes_agree_more_than_random_pairs(dcmh, pairs):
    _, (xi, xt, y) = pairs
    ci, ct = dcmh.encode_image(xi), dcmh.encode_text(xt)
    assert ci.shape == ct.shape == (len(y), 2) and ci.dtype == np.uint8
    shuffled = np.random.default_rng(0).permutation(len(y))
    paired, random = hamming(ci, ct).mean(), hamming(ci, ct[shuffled]).mean()
    assert paired < 0.5 * random
    # 4 balanced classes: random codes give about 0.25-0.3; 32 steps of training get well above
    r = metrics.cross_modal_map(ci, ct, y, ci, ct, y)
    assert r.image_to_text.map > 0.7 and r.text_to_image.map > 0.7


def test_cross_modal_map_is_the_two_directions(dcmh, pairs):
    _, (xi, xt, y) = pairs
    ci, ct = dcmh.encode_image(xi), dcmh.encode_text(xt)
    r = metrics.cross_modal_map(ci[:30], ct[:30], y[:30], ci, ct, y, ties="id")
    want = metrics.mean_average_precision(ci[:30], y[:30], ct, y, ties="id")
    np.testing.assert_array_equal(r.image_to_text.ap, want.ap)
    assert r.text_to_image.map == metrics.mean_average_precision(ct[:30], y[:30], ci, y, ties="id").map


def test_training_is_seeded(pairs, dcmh):
    (xi, xt, y), (qi, qt, _) = pairs
    again = M.DCMH(bits=16, seed=0, **FAST).fit(xi, xt, y)
    np.testing.assert_array_equal(again.encode_text(qt), dcmh.encode_text(qt))
    other = M.DCMH(bits=16, seed=1, **FAST).fit(xi, xt, y)
    assert not np.array_equal(other.encode_image(qi), dcmh.encode_image(qi))


def test_multi_hot_labels_equal_class_ids(pairs, dcmh):
    (xi, xt, y), (qi, _, _) = pairs
    onehot = np.eye(4, dtype=np.uint8)[y]
    m = M.DCMH(bits=16, seed=0, **FAST).fit(xi, xt, onehot)
    np.testing.assert_array_equal(m.encode_image(qi), dcmh.encode_image(qi))


# ----------------------------------------------------------------------------- persistence


@pytest.mark.parametrize(
    "make",
    [
        lambda: M.DCMH(bits=12, seed=3, **FAST),
        lambda: M.CCAITQ(bits=24, seed=2),
        lambda: M.SCM(bits=16),
    ],
)
def test_save_load_gives_identical_codes(pairs, tmp_path, make):
    (xi, xt, y), (qi, qt, _) = pairs
    m = make().fit(xi, xt, y)
    m.save(tmp_path / "m.dh")
    back = M.load(tmp_path / "m.dh")
    assert type(back) is type(m) and back.bits == m.bits and back.params == m.params
    np.testing.assert_array_equal(back.encode_image(qi), m.encode_image(qi))
    np.testing.assert_array_equal(back.encode_text(qt), m.encode_text(qt))
    assert M.method_class(m.name) is type(m)


def test_image_backbone_from_the_registry(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 48)
    # class 0: bright top half, class 1: bright bottom half; text: the class as a noisy vector
    img = rng.random((48, 8, 8)).astype(np.float32) * 0.3
    img[y == 0, :4] += 0.7
    img[y == 1, 4:] += 0.7
    txt = (np.eye(2)[y] + 0.1 * rng.standard_normal((48, 2))).astype(np.float32)
    m = M.DCMH(
        bits=8, image_backbone="small_cnn", text_backbone="mlp", seed=0, epochs=4, batch_size=16, progress=False
    ).fit(img, txt, y)
    ci, ct = m.encode_image(img), m.encode_text(txt)
    assert hamming(ci, ct).mean() < hamming(ci, ct[::-1]).mean()
    m.save(tmp_path / "cnn.dh")
    np.testing.assert_array_equal(M.load(tmp_path / "cnn.dh").encode_image(img), ci)


# ----------------------------------------------------------------------------- baselines


def test_ccaitq_is_cca_then_gaussian_map_then_one_itq_rotation(pairs):
    from sklearn.cross_decomposition import CCA

    from deephash.methods._itq import itq_rotation

    (xi, xt, y), (qi, qt, _) = pairs
    xi, xt, qi, qt = (a.astype(np.float64) for a in (xi, xt, qi, qt))
    m = M.CCAITQ(bits=16, seed=5).fit(xi, xt)  # labels are optional (unsupervised)
    cca = CCA(n_components=6, max_iter=1000).fit(xi, xt)
    a, b = cca.transform(xi, xt)
    sa, sb = a.std(0), b.std(0)
    w = np.random.default_rng(5).standard_normal((6, 16))
    r = itq_rotation(np.vstack([a / sa @ w, b / sb @ w]), seed=5)
    qa, qb = cca.transform(qi, qt)
    np.testing.assert_allclose(m.transform_image(qi), qa / sa @ w @ r, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(m.transform_text(qt), qb / sb @ w @ r, rtol=1e-4, atol=1e-4)


def test_shallow_baselines_hash_pairs_together(pairs):
    (xi, xt, y), (qi, qt, qy) = pairs
    for m in (M.CCAITQ(bits=8).fit(xi, xt, y), M.SCM(bits=8).fit(xi, xt, y)):
        ci, ct = m.encode_image(qi), m.encode_text(qt)
        shuffled = np.random.default_rng(0).permutation(len(qy))
        assert hamming(ci, ct).mean() < 0.6 * hamming(ci, ct[shuffled]).mean(), m.name
    # SCM is supervised: pairs of one class meet
    r = metrics.cross_modal_map(ci, ct, qy, ci, ct, qy)
    assert r.image_to_text.map > 0.9 and r.text_to_image.map > 0.9


# ----------------------------------------------------------------------------- errors


def test_bad_inputs_give_clear_errors(pairs, dcmh):
    (xi, xt, y), _ = pairs
    with pytest.raises(ValueError, match="paired rows"):
        M.DCMH(bits=16, **FAST).fit(xi, xt[:-1], y)
    with pytest.raises(ValueError, match="one entry per input"):
        M.DCMH(bits=16, **FAST).fit(xi, xt, y[:-1])
    with pytest.raises(ValueError, match=r"class ids \(n,\) or multi-hot"):
        M.DCMH(bits=16, **FAST).fit(xi, xt, y[:, None, None])
    with pytest.raises(ValueError, match="labels are required"):
        M.SCM(bits=16).fit(xi, xt)
    images = np.zeros((len(y), 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="text_x must be feature vectors"):
        M.DCMH(bits=16, **FAST).fit(xi, images, y)
    with pytest.raises(ValueError, match="text_x must be feature vectors"):
        dcmh.encode_text(images)
    with pytest.raises(ValueError, match=r"per-item shape \(6,\)"):
        dcmh.encode_text(xt[:, :5])
    with pytest.raises(TypeError, match="encode_image"):
        dcmh.encode(xi)
    with pytest.raises(RuntimeError, match="not fitted"):
        M.DCMH(bits=16).encode_image(xi)
    with pytest.raises(ValueError, match="'features'"):
        M.CCAITQ(bits=16, image_backbone="mlp")
    with pytest.raises(TypeError, match="unknown argument"):
        M.DCMH(bits=16, lam=0.1)
    with pytest.raises(ValueError, match="memory_bank"):
        M.DCMH(bits=16, memory_bank=False)


# ----------------------------------------------------------------------------- command line


def test_cli_trains_and_evaluates_both_directions(pairs, tmp_path, capsys):
    from deephash.cli import main

    (xi, xt, y), (qi, qt, qy) = pairs
    f = tmp_path / "pairs.npz"
    np.savez(
        f,
        image_x=np.concatenate([xi, qi]),
        text_x=np.concatenate([xt, qt]),
        labels=np.concatenate([y, qy]),
        is_test=np.arange(len(y) + len(qy)) >= len(y),
    )
    model = tmp_path / "scm.model"
    assert main(["train", "--method", "scm", "--bits", "16", "--data", str(f), "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["eval", "--cross-modal", str(model), "--data", str(f)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "mAP@ALL (average)" in lines[0] and "mAP@ALL (id)" in lines[0]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[1]) for r in rows] == [
        ("image->text", "test"),
        ("text->image", "test"),
        ("image->text", "train+test"),
        ("text->image", "train+test"),
    ]
    m = M.load(model)
    r = metrics.cross_modal_map(m.encode_image(qi), m.encode_text(qt), qy, m.encode_image(qi), m.encode_text(qt), qy)
    assert rows[0][5] == f"{r.image_to_text.map:.4f}" and rows[1][5] == f"{r.text_to_image.map:.4f}"
    lsh = tmp_path / "lsh.model"
    assert main(["train", "--method", "lsh", "--bits", "16", "--out", str(lsh)]) == 0
    capsys.readouterr()
    assert main(["eval", "--cross-modal", str(lsh), "--data", str(f)]) == 2
    assert "one modality" in capsys.readouterr().err
    assert (
        main(["train", "--method", "dcmh", "--bits", "16", "--data", "digits", "--out", str(tmp_path / "x.model")]) == 2
    )
    assert "paired data" in capsys.readouterr().err

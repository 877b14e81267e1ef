"""The CLI's collection commands and the dead ends a newcomer met (encode without --data, image
files as --input, float images, --bits range, raw texts from train/encode)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")
from PIL import Image

from deephash.cli import main
from _collection_data import make_folder


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_collection_build_search_sync_info(tmp_path, capsys):
    src = make_folder(tmp_path / "photos", per_class=4)
    col = tmp_path / "col"
    args = ["--bits", "16", "--image-size", "32", "--quiet"]
    rc, out, err = _run(["collection", "build", src, "--out", col, *args], capsys)
    assert rc == 0, err
    assert "built a collection of 12 images (16-bit codes, default: efficientnet_lite0" in out
    assert "broken.jpg" in err  # the damaged file is named
    q = src / "blue" / "02.png"
    rc, out, err = _run(["collection", "search", col, q, "-k", "3"], capsys)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"query: {q}" and len(lines) == 4
    rank, dist, path = lines[1].split()[:3]
    assert rank == "1" and dist == "0"
    rc, out, err = _run(
        ["collection", "search", col, q, "id:1", "-k", "2", "--json", "--grid", tmp_path / "g.png"], capsys
    )
    assert rc == 0, err
    doc = json.loads(out)  # stdout is one JSON document and nothing else
    assert [len(x["results"]) for x in doc["queries"]] == [2, 2]
    assert doc["queries"][0]["results"][0]["distance"] == 0
    assert set(doc["queries"][0]["results"][0]) == {"rank", "distance", "path", "id", "label"}
    with Image.open(tmp_path / "g.png") as im:
        assert im.size[0] > 3 * 96
    rc, out, err = _run(["collection", "search", col, "a photo of a cat"], capsys)
    assert rc == 2 and "holds images" in err and "Traceback" not in err
    rc, out, err = _run(["collection", "search", col, "id:999"], capsys)
    assert rc == 2 and "no item with id 999" in err
    (src / "green" / "00.png").unlink()
    (src / "green" / "new.jpg").write_bytes(b"\xff\xd8\xff not a jpeg either")
    rc, out, err = _run(["collection", "sync", col, "--quiet"], capsys)
    # the damaged new file is counted as damaged only (with broken.jpg, still damaged), not as added
    assert rc == 0 and "0 added, 0 updated, 1 removed, 11 unchanged, 0 encoded, 2 damaged (skipped" in out, out
    assert "new.jpg" in err and "broken.jpg" in err
    rc, out, err = _run(["collection", "info", col], capsys)
    assert rc == 0 and "11 images" in out and "generation  2" in out
    rc, out, err = _run(["collection", "info", col, "--json"], capsys)
    assert json.loads(out)["items"] == 11
    rc, out, err = _run(["collection", "build", src, "--out", col, *args], capsys)
    assert rc == 2 and "already holds a collection" in err


def test_encode_needs_data_and_takes_image_files(tmp_path, capsys):
    root = tmp_path / "tree"
    rng = np.random.default_rng(0)
    for c in range(2):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"c{c}" / f"{i}.png")
    model = tmp_path / "itq.model"
    rc, out, err = _run(
        ["train", "--method", "itq", "--backbone", "hog", "--bits", "8", "--data", root, "--out", model], capsys
    )
    assert rc == 0, err
    rc, out, err = _run(["encode", "--model", model, "--out", tmp_path / "c.npz"], capsys)
    assert rc == 2 and "give --data" in err
    # one image file, of another size: decoded and resized to the model's input
    Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "one.jpg")
    rc, out, err = _run(
        ["encode", "--model", model, "--input", tmp_path / "one.jpg", "--out", tmp_path / "c.npz"], capsys
    )
    assert rc == 0, err
    with np.load(tmp_path / "c.npz") as z:
        assert z["codes"].shape == (1, 1)
    # float images in 0..255 are refused instead of giving wrong codes
    np.save(tmp_path / "f.npy", rng.integers(0, 255, (2, 16, 16, 3)).astype(np.float32))
    rc, out, err = _run(
        ["encode", "--model", model, "--input", tmp_path / "f.npy", "--out", tmp_path / "c.npz"], capsys
    )
    assert rc == 2 and "float images must be in [0, 1]" in err


def test_bits_range_and_raw_texts(tmp_path, capsys):
    rc, out, err = _run(["train", "--method", "itq", "--bits", "5000", "--out", tmp_path / "m"], capsys)
    assert rc == 2 and "between 1 and 4096" in err
    texts = tmp_path / "texts.txt"
    words = ["apple pie recipe", "banana bread recipe", "stock market news", "bond market news"]
    texts.write_text("\n".join(f"{w} {i}" for i in range(10) for w in words) + "\n")
    model = tmp_path / "t.model"
    args = ["train", "--method", "itq", "--backbone", "tfidf", "--bits", "8", "--data", texts, "--out", model]
    rc, out, err = _run(args, capsys)
    assert rc == 0, err
    rc, out, err = _run(
        ["encode", "--model", model, "--data", texts, "--part", "all", "--out", tmp_path / "c.npz"], capsys
    )
    assert rc == 0, err
    rc, out, err = _run(["train", "--method", "itq", "--bits", "8", "--out", tmp_path / "d.model"], capsys)
    assert rc == 0 and "no --data given: the bundled digits" in out

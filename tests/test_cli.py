"""Smoke tests of the `deephash` command (via cli.main(argv)) and its error messages."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import deephash
from deephash import cli, metrics
from deephash.codes import save_codes
from deephash.data import load_split

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _codes_file(path, rng, n, bits=32, n_classes=4, centers=None):
    """Codes clustered around one random center per class, saved as a codes .npz."""
    labels = rng.integers(0, n_classes, n)
    if centers is None:
        centers = rng.integers(0, 2, (n_classes, bits))
    noise = rng.random((n, bits)) < 0.15
    codes = deephash.pack_bits(centers[labels] ^ noise)
    save_codes(path, codes, labels)
    return codes, labels, centers


def _run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_user_error(rc, err, pattern):
    assert rc == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "error:" in lines[0] and pattern in lines[0], lines[0]


def test_index_search_eval(tmp_path, capsys):
    rng = np.random.default_rng(0)
    qc, ql, centers = _codes_file(tmp_path / "q.npz", rng, 40)
    dc, dl, _ = _codes_file(tmp_path / "db.npz", rng, 300, centers=centers)
    rc, out, _ = _run(["index", "--codes", tmp_path / "db.npz", "--out", tmp_path / "db.dhx"], capsys)
    assert rc == 0 and "300 codes of 32 bits" in out
    rc, out, _ = _run(
        [
            "search",
            "--index",
            tmp_path / "db.dhx",
            "--queries",
            tmp_path / "q.npz",
            "-k",
            "5",
            "--out",
            tmp_path / "res.npz",
        ],
        capsys,
    )
    assert rc == 0 and "40 queries (k=5)" in out
    ref = deephash.FlatIndex(32)
    ref.add(dc)
    ref_d, ref_i = ref.search(qc, 5)
    with np.load(tmp_path / "res.npz") as z:
        np.testing.assert_array_equal(z["ids"], ref_i)
        np.testing.assert_array_equal(z["distances"], ref_d)
    first = " ".join(f"{j}:{d}" for j, d in zip(ref_i[0].tolist(), ref_d[0].tolist()))
    assert f"query 0: {first}" in out
    rc, out, _ = _run(
        ["search", "--index", tmp_path / "db.dhx", "--queries", tmp_path / "q.npz", "--radius", "3"], capsys
    )
    assert rc == 0 and "radius 3" in out
    rc, out, _ = _run(
        [
            "eval",
            "--queries",
            tmp_path / "q.npz",
            "--database",
            tmp_path / "db.npz",
            "--name",
            "toy-32",
            "--out",
            tmp_path / "plots",
        ],
        capsys,
    )
    assert rc == 0
    expected = metrics.mean_average_precision(qc, ql, dc, dl).map
    p2 = metrics.precision_at_radius(qc, ql, dc, dl, radius=2).precision
    assert "mAP@ALL (average)" in out and f"{expected:.4f}" in out and f"{p2:.4f}" in out
    for name in ("pr_curve.png", "precision_at_n.png", "map_vs_bits.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == PNG_MAGIC
    rc, out, _ = _run(
        [
            "eval",
            "--queries",
            tmp_path / "q.npz",
            "--database",
            tmp_path / "db.npz",
            "--topk",
            "50",
            "--ties",
            "id",
            "--no-plots",
        ],
        capsys,
    )
    expected = metrics.mean_average_precision(qc, ql, dc, dl, topk=50, ties="id").map
    assert rc == 0 and "mAP@50 (id)" in out and f"{expected:.4f}" in out


def test_index_kind_multi_gives_the_flat_answers(tmp_path, capsys):
    rng = np.random.default_rng(2)
    qc, _, centers = _codes_file(tmp_path / "q.npz", rng, 20)
    dc, _, _ = _codes_file(tmp_path / "db.npz", rng, 500, centers=centers)
    rc, out, _ = _run(
        ["index", "--kind", "multi", "--codes", tmp_path / "db.npz", "--out", tmp_path / "db.dhx"], capsys
    )
    assert rc == 0 and "MultiIndex" in out
    assert isinstance(deephash.load(tmp_path / "db.dhx"), deephash.MultiIndex)
    rc, _, _ = _run(
        [
            "search",
            "--index",
            tmp_path / "db.dhx",
            "--queries",
            tmp_path / "q.npz",
            "-k",
            "7",
            "--out",
            tmp_path / "res.npz",
        ],
        capsys,
    )
    ref = deephash.FlatIndex(32)
    ref.add(dc)
    ref_d, ref_i = ref.search(qc, 7)
    with np.load(tmp_path / "res.npz") as z:
        np.testing.assert_array_equal(z["ids"], ref_i)
        np.testing.assert_array_equal(z["distances"], ref_d)


def test_user_errors(tmp_path, capsys):
    rng = np.random.default_rng(1)
    _codes_file(tmp_path / "q.npz", rng, 10)
    _codes_file(tmp_path / "db.npz", rng, 30)
    rc, _, err = _run(["index", "--codes", tmp_path / "missing.npz", "--out", tmp_path / "x.dhx"], capsys)
    _assert_user_error(rc, err, "codes file not found")
    rc, _, err = _run(["train", "--method", "dpsh", "--bits", "0", "--out", tmp_path / "m"], capsys)
    assert rc == 2 and "between 1 and 4096" in err and "Traceback" not in err
    rc, _, err = _run(["train", "--method", "nosuchmethod", "--bits", "16", "--out", tmp_path / "m"], capsys)
    _assert_user_error(rc, err, "unknown method 'nosuchmethod'")
    rc, _, err = _run(
        ["train", "--method", "lsh", "--bits", "16", "--data", "nosuchdata", "--out", tmp_path / "m"], capsys
    )
    _assert_user_error(rc, err, "unknown data set 'nosuchdata'")
    np.save(tmp_path / "short.npy", np.zeros(29, np.int64))
    rc, _, err = _run(
        [
            "eval",
            "--queries",
            tmp_path / "q.npz",
            "--database",
            tmp_path / "db.npz",
            "--db-labels",
            tmp_path / "short.npy",
            "--no-plots",
        ],
        capsys,
    )
    _assert_user_error(rc, err, "db_labels must have one row per code in db_codes (30), got 29")
    rc, _, err = _run(
        ["eval", "--queries", tmp_path / "q.npz", "--database", tmp_path / "db.npz", tmp_path / "db.npz"], capsys
    )
    _assert_user_error(rc, err, "one --database file per --queries file")
    save_codes(tmp_path / "q64.npz", np.zeros((3, 8), np.uint8), np.zeros(3, int))
    rc, _, err = _run(["eval", "--queries", tmp_path / "q64.npz", "--database", tmp_path / "db.npz"], capsys)
    _assert_user_error(rc, err, "64-bit codes")
    save_codes(tmp_path / "nolab.npz", np.zeros((3, 4), np.uint8))
    rc, _, err = _run(["eval", "--queries", tmp_path / "nolab.npz", "--database", tmp_path / "db.npz"], capsys)
    _assert_user_error(rc, err, "holds no labels")
    rc, _, err = _run(["search", "--index", tmp_path / "none.dhx", "--queries", tmp_path / "q.npz"], capsys)
    _assert_user_error(rc, err, "index file not found")
    rc, _, err = _run(["frobnicate"], capsys)
    assert rc == 2 and "invalid choice" in err


def test_data_specs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DEEPHASH_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((90, 6)).astype(np.float32)
    y = np.repeat(np.arange(3), 30)
    np.savez(tmp_path / "xy.npz", x=x, labels=y)
    split = load_split(str(tmp_path / "xy.npz"), seed=0, n_query=5, n_train=10)
    assert split.query_x.shape == (15, 6) and split.train_x.shape == (30, 6)
    assert split.db_x.shape == (75, 6) and np.all(np.bincount(split.query_y) == 5)
    six = {"query_x": x[:4], "query_y": y[:4], "train_x": x[4:50], "train_y": y[4:50], "db_x": x[4:], "db_y": y[4:]}
    np.savez(tmp_path / "six.npz", **six)
    split = load_split(str(tmp_path / "six.npz"))
    np.testing.assert_array_equal(split.db_x, x[4:])
    assert split.classes == ("0", "1", "2")
    np.savez(tmp_path / "bad.npz", x=x, labels=y[:-1])
    rc, _, err = _run(
        ["train", "--method", "lsh", "--bits", "8", "--data", tmp_path / "bad.npz", "--out", tmp_path / "m"], capsys
    )
    _assert_user_error(rc, err, "'labels' has 89 entries for 90 rows")
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    split = load_split(str(tmp_path / "imgs"), n_query=2, n_train=3)
    assert split.query_x.shape == (4, 4, 4, 3) and split.db_x.shape == (16, 4, 4, 3)
    assert split.classes == ("a", "b")
    assert any(f.name.endswith("-images.npy") for f in (tmp_path / "cache" / "data").iterdir())


def test_bench_hook(monkeypatch, capsys):
    seen = []
    fake = types.ModuleType("deephash._bench")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "deephash._bench", fake)
    monkeypatch.setattr(deephash, "_bench", fake, raising=False)
    assert cli.main(["bench", "--help", "--n", "1000"]) == 0
    assert seen == [["--help", "--n", "1000"]]


def test_python_dash_m(tmp_path):
    repo_python = Path(deephash.__file__).resolve().parent.parent
    res = subprocess.run(
        [sys.executable, "-m", "deephash", "--help"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(repo_python), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert res.returncode == 0
    for cmd in ("train", "encode", "index", "search", "eval", "bench", "demo"):
        assert cmd in res.stdout


def test_train_encode_pipeline(tmp_path, capsys):
    pytest.importorskip("torch")
    d = tmp_path
    for method, extra in (("lsh", []), ("dpsh", ["--param", "epochs=3"])):
        rc, out, err = _run(
            ["train", "--method", method, "--bits", "16", "--out", d / f"{method}.model", *extra], capsys
        )
        assert rc == 0, err
        for part in ("query", "database"):
            rc, out, err = _run(
                [
                    "encode",
                    "--model",
                    d / f"{method}.model",
                    "--data",
                    "digits",
                    "--part",
                    part,
                    "--out",
                    d / f"{method}-{part}.npz",
                ],
                capsys,
            )
            assert rc == 0, err
    with np.load(d / "dpsh-query.npz") as z:
        assert z["codes"].shape == (200, 2) and z["labels"].shape == (200,)
        query_codes = z["codes"]
    # --input: raw vectors from a .npy file give the same codes as the data set's rows.
    from deephash.data import digits

    np.save(d / "x.npy", digits().query_x)
    rc, out, err = _run(["encode", "--model", d / "dpsh.model", "--input", d / "x.npy", "--out", d / "raw.npz"], capsys)
    assert rc == 0, err
    with np.load(d / "raw.npz") as z:
        np.testing.assert_array_equal(z["codes"], query_codes)
        assert "labels" not in z.files
    rc, out, err = _run(
        [
            "eval",
            "--queries",
            d / "lsh-query.npz",
            d / "dpsh-query.npz",
            "--database",
            d / "lsh-database.npz",
            d / "dpsh-database.npz",
            "--name",
            "lsh-16",
            "dpsh-16",
            "--out",
            d,
        ],
        capsys,
    )
    assert rc == 0, err
    assert "lsh-16" in out and "dpsh-16" in out
    rc, out, err = _run(
        ["train", "--method", "dpsh", "--bits", "16", "--param", "no_such_option=1", "--out", d / "bad.model"], capsys
    )
    _assert_user_error(rc, err, "no_such_option")


@pytest.mark.slow
def test_demo(tmp_path, capsys):
    rc, out, err = _run(["demo", "--out", tmp_path, "--bits", "16", "32", "--epochs", "12"], capsys)
    assert rc == 0, err
    rows = json.loads((tmp_path / "demo_results.json").read_text())
    assert [(r["method"], r["bits"]) for r in rows] == [("DPSH", 16), ("DPSH", 32), ("LSH", 16), ("LSH", 32)]
    for r in rows:
        assert 0.0 < r["mAP"] <= 1.0 and r["search us/query"] > 0
    # The demo's point: supervised DPSH beats the LSH baseline by a clear margin at each length.
    by = {(r["method"], r["bits"]): r["mAP"] for r in rows}
    for bits in (16, 32):
        assert by["DPSH", bits] > by["LSH", bits] + 0.1, by
    for name in ("pr_curve.png", "precision_at_n.png", "map_vs_bits.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    assert "mAP" in out and "P@r=2" in out


@pytest.mark.parametrize(
    "text, expected",
    [
        ("progress=false", ("progress", False)),
        ("flip=True", ("flip", True)),
        ("head_hidden=None", ("head_hidden", None)),
        ("epochs=30", ("epochs", 30)),
        ("lr=3e-4", ("lr", 3e-4)),
        ("optimizer=adam", ("optimizer", "adam")),
    ],
)
def test_param_values(text, expected):
    assert cli._param(text) == expected


def test_internal_error_is_reported_as_a_bug(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("invariant broken")

    monkeypatch.setattr(cli, "cmd_bench", broken)
    rc, out, err = _run(["bench"], capsys)
    assert rc == 1 and "Traceback" not in err
    assert "internal error: RuntimeError: invariant broken at test_cli.py:" in err
    assert "DEEPHASH_DEBUG=1" in err
    monkeypatch.setenv("DEEPHASH_DEBUG", "1")
    with pytest.raises(RuntimeError, match="invariant broken"):
        cli.main(["bench"])


def test_train_accepts_12_bits(tmp_path, capsys):
    out = tmp_path / "lsh12.model"
    rc, _, err = _run(["train", "--method", "lsh", "--bits", "12", "--data", "digits", "--out", out], capsys)
    assert rc == 0, err
    from deephash import methods

    model = methods.load(out)
    assert model.bits == 12 and model.code_bits == 16

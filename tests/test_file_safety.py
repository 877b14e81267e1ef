"""Every reader of a user's file refuses what it cannot trust (codes, models, .npy inputs, CLI file arguments).

FIFOs and devices are refused at once (nothing blocks), random bytes are "not a .npy/.npz file"
(never numpy's allow_pickle hint), crafted model metadata cannot make ``methods.load`` allocate
beyond the weights it stores, huge class ids are refused before anything is sized by them, and an
index file storing the padding id -1 does not load.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time

import numpy as np
import pytest

import deephash
from deephash import _core, cli
from deephash.codes import read_codes, save_codes

torch = pytest.importorskip("torch", reason="the model tests need PyTorch")


def _returns_quickly(fn, fifo, seconds=5.0):
    """Runs fn() in a thread; True when it returned (or raised) within `seconds`. A call blocked
    on the FIFO is released afterwards by opening the FIFO's write end, so no thread is left."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    quick = not t.is_alive()
    while t.is_alive():
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        t.join(0.2)
    return quick, out


@pytest.fixture()
def fifo(tmp_path):
    p = tmp_path / "fifo.npz"
    os.mkfifo(p)
    return str(p)


# ---- 9. FIFOs never block a reader --------------------------------------------------------------
def test_library_readers_refuse_a_fifo_at_once(fifo):
    from deephash import methods

    for fn in (lambda: methods.load(fifo), lambda: read_codes(fifo)):
        quick, out = _returns_quickly(fn, fifo)
        assert quick, "blocked on a FIFO"
        assert isinstance(out.get("error"), OSError) and "FIFO" in str(out["error"]), out


@pytest.mark.parametrize(
    "argv",
    [
        ["index", "--codes", "{fifo}", "--out", "{tmp}/i.dhx"],
        ["encode", "--model", "{fifo}", "--out", "{tmp}/c.npz"],
        ["encode", "--model", "{model}", "--input", "{fifo}", "--out", "{tmp}/c.npz"],
        ["eval", "--queries", "{codes}", "--database", "{codes}", "--query-labels", "{fifo}", "--no-plots"],
        ["train", "--method", "lsh", "--bits", "16", "--data", "{fifo}", "--out", "{tmp}/m.npz"],
    ],
    ids=["index-codes", "encode-model", "encode-input", "eval-query-labels", "train-data"],
)
def test_cli_file_arguments_refuse_a_fifo_at_once(tmp_path, fifo, argv, capsys):
    from deephash import methods

    x = np.random.default_rng(0).random((30, 8)).astype(np.float32)
    methods.LSH(bits=16, seed=0).fit(x).save(tmp_path / "m.npz")
    save_codes(tmp_path / "c.npz", np.zeros((4, 2), np.uint8), np.arange(4))
    subs = {"fifo": fifo, "tmp": str(tmp_path), "model": str(tmp_path / "m.npz"), "codes": str(tmp_path / "c.npz")}
    args = [a.format(**subs) for a in argv]
    quick, out = _returns_quickly(lambda: cli.main(args), fifo)
    assert quick, f"deephash {argv[0]} blocked on a FIFO"
    err = capsys.readouterr().err
    assert out.get("value") == 2 and "FIFO" in err and "internal error" not in err, (out, err)


# ---- 10. crafted model metadata -----------------------------------------------------------------
def _dpsh_file(tmp_path):
    from deephash import methods

    rng = np.random.default_rng(0)
    x = rng.random((60, 16)).astype(np.float32)
    m = methods.DPSH(bits=16, seed=0, epochs=1, progress=False).fit(x, rng.integers(0, 3, 60))
    m.save(tmp_path / "dpsh.npz")
    with np.load(tmp_path / "dpsh.npz") as z:
        arrays = dict(z)
    return arrays, json.loads(str(arrays["__meta__"]))


def _write(tmp_path, arrays, meta, name="crafted.npz"):
    arrays = dict(arrays, __meta__=np.array(json.dumps(meta)))
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


@pytest.mark.parametrize(
    "change",
    [
        {"input_shape": [300_000]},  # a 1.2 GB first layer from a 32 KB file
        {"input_shape": [2**40]},
        {"bits": 10**9},
        {"backbone": {"name": "mlp", "hidden": [2**22, 2**22]}},
        {"n_classes": 10**9},
        {"hyperparameters": {"no_such_option": 1}},
        {"config": {"no_such_field": 1}},
        {"frozen": True},
        {"method": ["dpsh"]},
        {"input_shape": "64"},
        {"n_classes": [1]},  # values of the wrong type: damage, not a bug
        {"backbone": {"name": 3}},
        {"hyperparameters": {"alpha": [1]}},
    ],
    ids=lambda c: next(iter(c)),
)
def test_crafted_model_metadata_is_refused_before_building(tmp_path, change, capsys):
    from deephash import methods

    arrays, meta = _dpsh_file(tmp_path)
    path = _write(tmp_path, arrays, {**meta, **change})
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match="crafted.npz"):
        methods.load(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: no big allocation
    rc = cli.main(["encode", "--model", str(path), "--out", str(tmp_path / "c.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "internal error" not in err, err


def test_intact_model_still_loads(tmp_path):
    from deephash import methods

    arrays, meta = _dpsh_file(tmp_path)
    path = _write(tmp_path, arrays, meta, "same.npz")
    x = np.random.default_rng(1).random((5, 16)).astype(np.float32)
    np.testing.assert_array_equal(methods.load(path).encode(x), methods.load(tmp_path / "dpsh.npz").encode(x))


def test_huge_class_ids_are_refused_before_allocating():
    from deephash import methods

    x = np.random.default_rng(0).random((10, 8)).astype(np.float32)
    y = np.zeros(10, np.int64)
    y[-1] = 10**9
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=r"class ids in \[0, 1048575\], got 1000000000"):
        methods.DLBHC(bits=16, seed=0, epochs=1, progress=False).fit(x, y)
    y[-1] = -2
    with pytest.raises(ValueError, match="got -2"):
        methods.DPSH(bits=16, seed=0, epochs=1, progress=False).fit(x, y)
    assert time.monotonic() - t0 < 30


# ---- 11. random bytes as a model or codes file ----------------------------------------------------
@pytest.mark.parametrize(
    "content",
    [np.random.default_rng(0).bytes(300), b"\x93NUMPY\x01\x00garbage", b"PK\x03\x04junk", b""],
    ids=["random", "npy-magic", "zip-magic", "empty"],
)
def test_random_bytes_give_no_allow_pickle_hint(tmp_path, content, capsys):
    from deephash import methods

    p = tmp_path / "junk.npz"
    p.write_bytes(content)
    for fn in (methods.load, read_codes):
        with pytest.raises(ValueError) as e:
            fn(p)
        assert "pickle" not in str(e.value) and str(p) in str(e.value)
    for argv in (["encode", "--model", str(p), "--out", str(tmp_path / "c.npz")], ["index", "--codes", str(p)]):
        rc = cli.main([*argv, "--out", str(tmp_path / "o")] if argv[0] == "index" else argv)
        err = capsys.readouterr().err
        assert rc == 2 and "pickle" not in err and "internal error" not in err, err


def test_object_arrays_are_named_as_such(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="object array .*never loads"):
        read_codes(p)
    q = tmp_path / "obj.npz"
    np.savez(q, codes=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="object array"):
        read_codes(q)


def test_npy_declaring_a_huge_shape_is_refused_before_allocating(tmp_path):
    header = b"{'descr': '|u1', 'fortran_order': False, 'shape': (10000000000, 8), }"
    header += b" " * (118 - len(header)) + b"\n"
    p = tmp_path / "big.npy"
    p.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(16))
    with pytest.raises(ValueError, match="declares shape .* holds only 16 bytes"):
        read_codes(p)


# ---- 12. an index file storing id -1 --------------------------------------------------------------
@pytest.mark.parametrize("mmap", [False, True])
def test_index_file_storing_id_minus_one_is_refused(tmp_path, mmap):
    index = deephash.FlatIndex(64)
    index.add(np.zeros((3, 8), np.uint8), [5, 6, 7])
    index.save(tmp_path / "x.dhx")
    b = bytearray((tmp_path / "x.dhx").read_bytes())
    ids_off = struct.unpack_from("<Q", b, 48)[0]
    struct.pack_into("<q", b, ids_off + 8, -1)
    c = _core._checksum64(bytes(b[128 : 128 + 24]))
    struct.pack_into("<Q", b, 64, _core._checksum64(bytes(b[ids_off : ids_off + 24]), c))
    struct.pack_into("<Q", b, 120, _core._checksum64(bytes(b[:120])))
    (tmp_path / "y.dhx").write_bytes(bytes(b))
    with pytest.raises(ValueError, match="stores id -1"):
        deephash.load(tmp_path / "y.dhx", mmap=mmap)


def test_model_with_a_damaged_array_name_is_refused_at_load(tmp_path, capsys):
    # Found by tools/fuzz_files.py: a zeroed member name loaded, then encode raised KeyError.
    from deephash import methods

    x = np.random.default_rng(0).random((40, 8)).astype(np.float32)
    methods.LSH(bits=16, seed=0).fit(x).save(tmp_path / "l.npz")
    with np.load(tmp_path / "l.npz") as z:
        arrays = dict(z)
    name = next(k for k in arrays if k.startswith("a/m/"))
    arrays["b" + name] = arrays.pop(name)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="unexpected arrays"):
        methods.load(tmp_path / "bad.npz")
    np.save(tmp_path / "x.npy", x)
    argv = ["encode", "--model", str(tmp_path / "bad.npz"), "--input", str(tmp_path / "x.npy")]
    rc = cli.main([*argv, "--out", str(tmp_path / "c.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "unexpected arrays" in err and "internal error" not in err, err


def test_weights_left_out_of_a_crafted_file_do_not_get_it_past_the_check(tmp_path):
    # Small buffers an older file lacks are filled by the module; large missing tensors are not.
    from deephash import methods

    arrays, meta = _dpsh_file(tmp_path)
    arrays = {k: v for k, v in arrays.items() if not k.startswith("a/backbone/")}
    path = _write(tmp_path, arrays, {**meta, "input_shape": [300_000]})
    with pytest.raises(ValueError, match="crafted.npz.*backbone/"):
        methods.load(path)


def _npz_declaring_more_than_it_holds(path, declared_rows, real_rows=500_000):
    """A deflated codes.npy member whose header and zip sizes declare ``declared_rows`` codes of
    8 bytes while its (highly compressible) data holds ``real_rows``: a zip bomb's lie."""
    import io
    import zipfile

    from numpy.lib import format as npformat

    buf = io.BytesIO()  # the header alone: np.save would allocate the declared array
    npformat.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (declared_rows, 8)})
    header = buf.getvalue()
    content = header + bytes(real_rows * 8)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("codes.npy", content)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local and central sizes
        at = data.index(signature) + offset
        assert struct.unpack_from("<I", data, at)[0] == len(content)
        struct.pack_into("<I", data, at, len(header) + declared_rows * 8)
    path.write_bytes(bytes(data))


def test_npz_member_declaring_gigabytes_is_refused_before_allocating(tmp_path):
    import tracemalloc

    path = tmp_path / "bomb.npz"
    _npz_declaring_more_than_it_holds(path, 500_000_000)  # 4 GB declared, 4 MB of zeros stored
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="bomb.npz: array 'codes'.*more than deflate can expand"):
            read_codes(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"reading the member reserved {peak >> 20} MiB"
    # A member whose sizes agree is read as before, and one whose data ends early is refused.
    _npz_declaring_more_than_it_holds(path, 500_000)
    assert read_codes(path)[0].shape == (500_000, 8)
    _npz_declaring_more_than_it_holds(path, 510_000)
    with pytest.raises(ValueError, match="bomb.npz: array 'codes'"):
        read_codes(path)


def test_a_bug_while_restoring_a_model_is_not_reported_as_a_damaged_file(tmp_path, monkeypatch):
    # Only the errors damage causes become "not a deephash model file"; a bug propagates as itself.
    from deephash import methods

    x = np.random.default_rng(0).random((40, 8)).astype(np.float32)
    methods.LSH(bits=16, seed=0).fit(x).save(tmp_path / "l.npz")

    def buggy_restore(self, meta, arrays):
        raise AttributeError("a bug in the restore code")

    monkeypatch.setattr(methods.LSH, "_restore", buggy_restore)
    with pytest.raises(AttributeError, match="a bug in the restore code"):
        methods.load(tmp_path / "l.npz")

    def refusing_restore(self, meta, arrays):
        raise KeyError("a/m/projection")  # what a file missing an array causes

    monkeypatch.setattr(methods.LSH, "_restore", refusing_restore)
    with pytest.raises(ValueError, match="l.npz is not a deephash model file.*KeyError"):
        methods.load(tmp_path / "l.npz")

"""Errors a user meets at the Python boundary and in the command line: right type, one line."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

import deephash
from deephash import cli
from deephash._validate import MAX_BITS, PADDING_ID


@pytest.mark.parametrize("cls", [deephash.FlatIndex, deephash.MultiIndex])
@pytest.mark.parametrize("bits", [2**64, 2**31, MAX_BITS + 8])
def test_bits_above_the_cap_are_a_clear_value_error(cls, bits):
    # 2**64 used to reach the binding (a raw conversion error), 2**31 failed later in search.
    with pytest.raises(ValueError, match=f"at most {MAX_BITS}, got {bits}"):
        cls(bits)


def test_bits_at_the_cap_work():
    index = deephash.FlatIndex(MAX_BITS)
    codes = np.random.default_rng(0).integers(0, 256, (3, MAX_BITS // 8), dtype=np.uint8)
    index.add(codes)
    dist, ids = index.search(codes[:1], 2)
    assert dist[0, 0] == 0 and ids[0, 0] == 0


@pytest.mark.parametrize("cls", [deephash.FlatIndex, deephash.MultiIndex])
def test_padding_id_cannot_be_stored(cls):
    index = cls(16)
    codes = np.zeros((3, 2), np.uint8)
    with pytest.raises(ValueError, match="must not contain -1.*position 1"):
        index.add(codes, np.array([5, PADDING_ID, 7]))
    assert len(index) == 0
    index.add(codes, [-2, 0, 2**62])  # other negative ids are fine
    assert index.remove([PADDING_ID]) == 0  # removing -1 is harmless


def test_scalar_ids_and_weights_get_their_own_message():
    index = deephash.FlatIndex(16)
    code = np.zeros((1, 2), np.uint8)
    index.add(code, 7)  # one id for one code
    index.add(code, np.int64(8))
    assert index.ids.tolist() == [7, 8]
    assert index.remove(7) == 1
    for bad in ("7", 7.0, object()):
        with pytest.raises(TypeError) as e:
            index.add(code, bad)
        assert "uint8 codes" not in str(e.value) and "ids" in str(e.value)
    with pytest.raises(TypeError) as e:
        index.search(code, 1, weights=0.5)
    assert "uint8 codes" not in str(e.value) and "weights" in str(e.value)


def test_flags_and_bits_refuse_truthy_non_bools():
    codes = np.zeros((2, 1), np.uint8)
    for bad in (True, 8.0, "8"):
        with pytest.raises(TypeError, match="bits must be an int"):
            deephash.unpack_bits(codes, bad)
    assert deephash.unpack_bits(codes, np.int64(8)).shape == (2, 8)


# ----------------------------------------------------------------------------- command line


def _one_line_error(argv, capsys, pattern):
    rc = cli.main([str(a) for a in argv])
    _, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and "Traceback" not in err and len(lines) == 1, err
    assert "error:" in lines[0] and pattern in lines[0], lines[0]


def test_cli_reads_codes_by_content_and_refuses_an_npz_where_npy_is_expected(tmp_path, capsys):
    codes = np.random.default_rng(0).integers(0, 256, (20, 4), dtype=np.uint8)
    labels = np.arange(20) % 3
    np.savez(tmp_path / "c.npz", codes=codes, labels=labels)
    (tmp_path / "c_npz.npy").write_bytes((tmp_path / "c.npz").read_bytes())  # misnamed
    rc = cli.main(["index", "--codes", str(tmp_path / "c_npz.npy"), "--out", str(tmp_path / "i.dhx")])
    assert rc == 0 and len(deephash.load(tmp_path / "i.dhx")) == 20
    capsys.readouterr()
    _one_line_error(
        [
            "eval",
            "--queries",
            tmp_path / "c.npz",
            "--database",
            tmp_path / "c.npz",
            "--query-labels",
            tmp_path / "c_npz.npy",
            "--no-plots",
        ],
        capsys,
        "is a .npz archive; a .npy array was expected",
    )
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    _one_line_error(
        ["index", "--codes", tmp_path / "junk.npy", "--out", tmp_path / "j.dhx"], capsys, "is not a readable"
    )


def test_cli_corrupt_archive_is_one_line(tmp_path, capsys):
    rng = np.random.default_rng(1)
    (tmp_path / "bad.tar").write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    _one_line_error(
        ["train", "--method", "lsh", "--bits", "16", "--data", tmp_path / "bad.tar", "--out", tmp_path / "m"],
        capsys,
        "is not a readable image folder or tar archive",
    )
    # A compressed archive cut short.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tf:
        for i in range(4):
            data = rng.integers(0, 256, 20000, dtype=np.uint8).tobytes()
            info = tarfile.TarInfo(f"c{i % 2}/img{i}.png")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    (tmp_path / "cut.tar.xz").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _one_line_error(
        ["train", "--method", "lsh", "--bits", "16", "--data", tmp_path / "cut.tar.xz", "--out", tmp_path / "m"],
        capsys,
        "is not a readable image folder or tar archive",
    )


def test_cli_k_too_large_to_allocate_is_one_line(tmp_path, capsys, monkeypatch):
    codes = np.zeros((1000, 8), np.uint8)
    np.savez(tmp_path / "q.npz", codes=codes)
    index = deephash.FlatIndex(64)
    index.add(codes[:10])
    index.save(tmp_path / "i.dhx")
    # A (1000, 2e9) result is 24 TB: numpy's MemoryError, or the core's size limit.
    rc = cli.main(
        ["search", "--index", str(tmp_path / "i.dhx"), "--queries", str(tmp_path / "q.npz"), "-k", "2000000000"]
    )
    _, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err

    def no_memory(self, queries, k, weights=None):
        raise MemoryError("Unable to allocate 7.28 TiB for an array with shape (1000, 2000000000)")

    monkeypatch.setattr(deephash.FlatIndex, "search", no_memory)
    _one_line_error(
        ["search", "--index", tmp_path / "i.dhx", "--queries", tmp_path / "q.npz", "-k", "5"],
        capsys,
        "out of memory: Unable to allocate 7.28 TiB",
    )

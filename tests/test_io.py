"""Saving and loading: round trips, mmap, atomic replacement, and rejection of bad files."""
import os
import subprocess
import sys

import numpy as np
import pytest

import deephash
from conftest import random_codes


def _index(bits=64, n=500, seed=0):
    rng = np.random.default_rng(seed)
    index = deephash.FlatIndex(bits)
    index.add(random_codes(rng, n, bits), rng.permutation(10 * n)[:n].astype(np.int64))
    return index, random_codes(rng, 10, bits)


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("bits", [8, 72, 256])
def test_round_trip(tmp_path, bits, mmap):
    index, q = _index(bits)
    path = tmp_path / "a.dhx"
    index.save(path)
    loaded = deephash.load(path, mmap=mmap)
    assert isinstance(loaded, deephash.FlatIndex)
    assert loaded.bits == bits and len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.codes, index.codes)
    np.testing.assert_array_equal(loaded.ids, index.ids)
    for a, b in zip(loaded.search(q, 20), index.search(q, 20)):
        np.testing.assert_array_equal(a, b)


def test_mmap_copy_on_write(tmp_path):
    index, q = _index()
    path = tmp_path / "a.dhx"
    index.save(path)
    before = path.read_bytes()
    m = deephash.load(path, mmap=True)
    assert m.memory_bytes() == 0  # mapped, not copied
    m.add(np.zeros((1, 8), np.uint8), [123456])
    assert m.memory_bytes() > 0 and len(m) == len(index) + 1
    assert m.remove([123456]) == 1
    assert path.read_bytes() == before  # the file is never written through the map
    for a, b in zip(m.search(q, 5), index.search(q, 5)):
        np.testing.assert_array_equal(a, b)


def test_empty_index_round_trip(tmp_path):
    index = deephash.FlatIndex(32)
    index.save(tmp_path / "e.dhx")
    loaded = deephash.load(tmp_path / "e.dhx", mmap=True)
    assert len(loaded) == 0 and loaded.bits == 32


def test_save_replaces_atomically_and_leaves_no_temp(tmp_path):
    a, _ = _index(seed=1)
    b, _ = _index(n=50, seed=2)
    path = tmp_path / "x.dhx"
    a.save(path)
    b.save(path)
    assert len(deephash.load(path)) == 50
    assert sorted(os.listdir(tmp_path)) == ["x.dhx"]


def test_failed_save_keeps_previous_file(tmp_path):
    # A write that fails half-way (file size limit, as on a full disk) must leave the old file.
    a, _ = _index(n=50)
    path = tmp_path / "x.dhx"
    a.save(path)
    before = path.read_bytes()
    script = f"""
import resource, signal, numpy as np, deephash
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
big = deephash.FlatIndex(64)
big.add(np.ones((10000, 8), np.uint8))
try:
    big.save({str(path)!r})
except OSError as e:
    print("OSError", e)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("OSError")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["x.dhx"]  # the temporary file was removed


@pytest.mark.parametrize("cut", [0, 10, 127, 128, 200, -1])
def test_truncated_file_rejected(tmp_path, cut):
    index, _ = _index()
    path = tmp_path / "t.dhx"
    index.save(path)
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut >= 0 else data[:-1])
    for mmap in (False, True):
        with pytest.raises(ValueError):
            deephash.load(path, mmap=mmap)


@pytest.mark.parametrize("offset", [0, 9, 16, 24, 130, -9, -1])
def test_corrupted_byte_rejected(tmp_path, offset):
    index, _ = _index()
    path = tmp_path / "c.dhx"
    index.save(path)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        deephash.load(path)


def test_trailing_garbage_rejected(tmp_path):
    index, _ = _index()
    path = tmp_path / "g.dhx"
    index.save(path)
    with open(path, "ab") as f:
        f.write(b"\0" * 8)
    with pytest.raises(ValueError, match="truncated or has trailing"):
        deephash.load(path)


def test_foreign_files_rejected(tmp_path):
    (tmp_path / "npy").write_bytes(b"\x93NUMPY" + b"\0" * 300)
    with pytest.raises(ValueError, match="not a deephash index"):
        deephash.load(tmp_path / "npy")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ValueError):
        deephash.load(tmp_path / "empty")
    with pytest.raises(OSError):
        deephash.load(tmp_path / "missing")
    with pytest.raises(OSError):
        deephash.load(tmp_path)  # a directory
    with pytest.raises(TypeError):
        deephash.load(42)

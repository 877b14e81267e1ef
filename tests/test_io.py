"""Saving and loading: round trips, mmap, atomic replacement, and rejection of bad files."""

import errno
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

import deephash
from conftest import random_codes
from deephash import _core


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


# ----------------------------------------------------------------------------- temporaries


def _temporaries(folder, target="x.dhx"):
    """Names of save temporaries of `target`: TARGET.tmp-<pid>-<n>."""
    pattern = re.compile(re.escape(target) + r"\.tmp-\d+-\d+")
    return sorted(n for n in os.listdir(folder) if pattern.fullmatch(n))


def _run_child(script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, check=False)


def test_save_succeeds_over_a_dead_process_temporary_with_our_pid(tmp_path):
    # A restarted container runs its server with the PID of the killed one (often 1), whose
    # PATH.tmp-<pid>-0 is still there: the first save must not fail with "File exists".
    path = tmp_path / "x.dhx"
    other = tmp_path / "y.dhx.tmp-1-0"  # another target's temporary: never touched
    other.write_bytes(b"y")
    (tmp_path / "x.dhx.tmp-backup").write_bytes(b"z")  # not a temporary name: kept
    script = f"""
import os, numpy as np, deephash
path = {str(path)!r}
for n in range(3):
    with open(f"{{path}}.tmp-{{os.getpid()}}-{{n}}", "wb") as f:
        f.write(b"left by a killed process")
index = deephash.FlatIndex(64)
index.add(np.ones((10, 8), np.uint8))
index.save(path)
print(len(deephash.load(path)))
"""
    out = _run_child(script)
    assert out.returncode == 0 and out.stdout.strip() == "10", out.stderr
    assert _temporaries(tmp_path) == []  # the stale ones are removed
    assert other.read_bytes() == b"y" and (tmp_path / "x.dhx.tmp-backup").exists()


def test_live_writer_temporary_is_kept_until_its_lock_is_released(tmp_path):
    # A temporary is stale only when no writer holds its lock: one that is still being
    # written (here: locked by this process) must survive another process's save.
    fcntl = pytest.importorskip("fcntl")
    path = tmp_path / "x.dhx"
    live = tmp_path / "x.dhx.tmp-4242-0"
    index, _ = _index(n=20)
    with open(live, "wb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        index.save(path)
        assert live.exists()
    index.save(path)  # the lock is gone: now it is stale
    assert not live.exists() and _temporaries(tmp_path) == []
    assert len(deephash.load(path)) == 20


def test_concurrent_saves_from_threads_and_processes(tmp_path):
    # Writers of one target never remove each other's temporaries and never collide.
    path = tmp_path / "x.dhx"
    script = f"""
import threading, numpy as np, deephash
index = deephash.FlatIndex(64)
index.add(np.full((2000, 8), 7, np.uint8))
def run():
    for _ in range(15):
        index.save({str(path)!r})
threads = [threading.Thread(target=run) for _ in range(3)]
for t in threads: t.start()
for t in threads: t.join()
"""
    procs = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert len(deephash.load(path)) == 2000
    assert _temporaries(tmp_path) == []


# ----------------------------------------------------------------------------- what a path names


def test_save_through_a_symlink_replaces_its_target(tmp_path):
    v3 = tmp_path / "v3.dhx"
    latest = tmp_path / "latest.dhx"
    a, _ = _index(n=30, seed=1)
    a.save(v3)
    latest.symlink_to("v3.dhx")  # relative, as `ln -s v3.dhx latest.dhx` makes it
    b, _ = _index(n=40, seed=2)
    b.save(latest)
    assert latest.is_symlink() and os.readlink(latest) == "v3.dhx"
    assert len(deephash.load(v3)) == 40 and len(deephash.load(latest)) == 40
    # A chain of links, one of them absolute and into another folder.
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "link2").symlink_to(latest)
    (tmp_path / "link1").symlink_to("sub/link2")
    a.save(tmp_path / "link1")
    assert len(deephash.load(v3)) == 30 and (sub / "link2").is_symlink()
    # A dangling link: the save creates its target.
    (tmp_path / "dangling").symlink_to("new.dhx")
    a.save(tmp_path / "dangling")
    assert (tmp_path / "dangling").is_symlink() and len(deephash.load(tmp_path / "new.dhx")) == 30
    assert [n for n in os.listdir(tmp_path) if ".tmp-" in n] == []
    # A loop of links is an OSError (ELOOP), not a hang.
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    with pytest.raises(OSError):
        a.save(tmp_path / "loop1")


def test_save_refuses_what_is_not_a_regular_file(tmp_path):
    index, _ = _index(n=10)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        with pytest.raises(OSError, match="FIFO"):
            index.save(fifo)
        with pytest.raises(OSError, match="socket"):
            index.save(sock_path)
        with pytest.raises(IsADirectoryError):
            index.save(folder)
        (tmp_path / "to_fifo").symlink_to("fifo")
        with pytest.raises(OSError, match="FIFO"):
            index.save(tmp_path / "to_fifo")
    finally:
        sock.close()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    assert stat.S_ISDIR(os.lstat(folder).st_mode) and os.listdir(folder) == []
    assert [n for n in os.listdir(tmp_path) if ".tmp-" in n] == []


def test_save_refuses_a_device(tmp_path):
    # A device node made here (mknod needs root; the FIFO test above covers the rest otherwise).
    dev = tmp_path / "null"
    try:
        os.mknod(dev, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot create a device node here: {e}")
    index, _ = _index(n=10)
    with pytest.raises(OSError, match="character device"):
        index.save(dev)
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    with pytest.raises(OSError, match="character device"):
        deephash.load(dev)


def test_load_of_a_fifo_fails_at_once(tmp_path):
    # Opening a FIFO for reading waits for a writer; load must check the type first.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    script = f"""
import deephash
try:
    deephash.load({str(fifo)!r})
except OSError as e:
    print("OSError:", e)
"""
    try:
        out = _run_child(script, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("load() of a FIFO blocked")
    assert out.stdout.startswith("OSError:") and "FIFO" in out.stdout, out.stderr


# ----------------------------------------------------------------------------- one open per load


def test_load_reads_kind_and_content_from_one_open(tmp_path):
    # Deterministic form of the race: the file is replaced by an index of the other kind after
    # it was opened; the load still gives the index that was opened.
    path = tmp_path / "x.dhx"
    flat, q = _index(n=60)
    flat.save(path)
    opened = _core.open_index_file(os.fsencode(path))
    multi = deephash.MultiIndex(64)
    multi.add(flat.codes[:5])
    multi.save(path)
    assert opened.kind == "flat"
    loaded = deephash.FlatIndex._from_impl(_core.FlatIndex.load(opened, False))
    assert len(loaded) == 60
    np.testing.assert_array_equal(loaded.search(q, 3)[1], flat.search(q, 3)[1])
    assert isinstance(deephash.load(path), deephash.MultiIndex)


def test_load_during_atomic_replaces_by_the_other_kind(tmp_path):
    # A writer keeps replacing the file (rename, as save does) with a flat or a multi-index;
    # every load must succeed and give one of the two, whole.
    path = tmp_path / "x.dhx"
    flat, _ = _index(n=50)
    multi = deephash.MultiIndex(64)
    multi.add(flat.codes[:20])
    flat.save(tmp_path / "flat.src")
    multi.save(tmp_path / "multi.src")
    flat.save(path)
    stop = threading.Event()

    def replace():
        i = 0
        while not stop.is_set():
            src = tmp_path / ("flat.src" if i % 2 else "multi.src")
            shutil.copyfile(src, tmp_path / "next")
            os.replace(tmp_path / "next", path)
            i += 1

    writer = threading.Thread(target=replace)
    writer.start()
    errors, kinds = [], set()
    try:
        for _ in range(1500):
            try:
                got = deephash.load(path)
            except ValueError as e:
                errors.append(str(e))
                continue
            kinds.add((type(got).__name__, len(got)))
    finally:
        stop.set()
        writer.join()
    assert errors == []
    assert kinds <= {("FlatIndex", 50), ("MultiIndex", 20)}


# ----------------------------------------------------------------------------- error quality


def test_missing_file_is_file_not_found_with_errno_and_filename(tmp_path):
    missing = tmp_path / "missing.dhx"
    with pytest.raises(FileNotFoundError) as e:
        deephash.load(missing)
    assert e.value.errno == errno.ENOENT and e.value.filename == str(missing)
    with pytest.raises(FileNotFoundError) as e:  # the folder of the target is missing
        _index(n=3)[0].save(tmp_path / "nowhere" / "x.dhx")
    assert e.value.errno == errno.ENOENT and "nowhere" in e.value.filename
    with pytest.raises(IsADirectoryError) as e:
        deephash.load(tmp_path)
    assert e.value.filename == str(tmp_path)


def test_path_with_a_nul_byte_is_refused(tmp_path):
    # The OS would read "a" (the path cut at the NUL); Python's open raises ValueError.
    index, _ = _index(n=3)
    index.save(tmp_path / "a")
    for bad in (str(tmp_path / "a") + "\0.dhx", os.fsencode(tmp_path / "a") + b"\0x"):
        with pytest.raises(ValueError, match="NUL"):
            deephash.load(bad)
        with pytest.raises(ValueError, match="NUL"):
            index.save(bad)
    assert sorted(os.listdir(tmp_path)) == ["a"]


def test_load_flags_must_be_bools(tmp_path):
    index, _ = _index(n=3)
    index.save(tmp_path / "a.dhx")
    for bad in ("no", 1, None, "False"):
        with pytest.raises(TypeError, match="mmap must be True or False"):
            deephash.load(tmp_path / "a.dhx", mmap=bad)
    assert len(deephash.load(tmp_path / "a.dhx", mmap=np.bool_(True))) == 3


def test_non_utf8_file_name_round_trips(tmp_path):
    name = os.fsdecode(b"idx-\xff.dhx")  # surrogate-escaped, as os.listdir gives it
    index, _ = _index(n=4)
    index.save(tmp_path / name)
    assert len(deephash.load(tmp_path / name)) == 4
    assert os.listdir(tmp_path) == [name]


def test_file_over_the_bits_cap_is_refused_at_load(tmp_path):
    # A crafted header (checksum repaired) must not get around the constructors' bits limit.
    from deephash._validate import MAX_BITS

    for kind in (deephash.FlatIndex, deephash.MultiIndex):
        path = tmp_path / "big.dhx"
        kind(8).save(path)  # empty: the layout stays consistent whatever the code length
        data = bytearray(path.read_bytes())
        data[16:24] = (MAX_BITS + 8).to_bytes(8, "little")
        data[120:128] = _core._checksum64(bytes(data[:120])).to_bytes(8, "little")
        path.write_bytes(bytes(data))
        with pytest.raises(ValueError, match=f"at most {MAX_BITS}"):
            deephash.load(path)

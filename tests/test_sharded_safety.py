"""The sharded index is as safe as the single index: paths, log damage, pinned files, timeouts.

Path-safe saves and loads, temporaries that follow no symlink, a write-ahead log that refuses
damage (only a torn tail is dropped), shard files pinned by the manifest, ids at 2**63 - 1, the
nq * k cap, timeouts on every actor wait, fork refusal and clear errors for damaged folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import random_codes

import deephash
from deephash.distributed import _files, _log
from deephash.distributed._shard import Shard


def _saved(tmp_path, n=40, shards=2, name="idx"):
    """A saved 2-shard index of n random 64-bit codes; returns (folder, codes)."""
    from deephash.distributed import ShardedIndex

    codes = random_codes(np.random.default_rng(n), n, 64)
    with ShardedIndex(64, shards) as sh:
        sh.add(codes)
        sh.save(tmp_path / name)
    return tmp_path / name, codes


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


# ---- 1. only the project's own shard file names inside the folder ------------------------------
def test_save_never_deletes_and_load_never_opens_files_a_manifest_names_outside(ray_local, tmp_path):
    from deephash.distributed import ShardedIndex

    folder, codes = _saved(tmp_path)
    victims = [tmp_path / "victim.txt", tmp_path / "abs-victim.txt"]
    for v in victims:
        v.write_text("keep me")
    m = _manifest(folder)
    m["shards"][0]["index"] = "../victim.txt"
    m["shards"][1]["seq"] = str(victims[1])
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="manifest.json.*shard 0 names the file '../victim.txt'"):
        ShardedIndex.load(folder)
    with ShardedIndex(64, 2) as sh:
        sh.add(codes)
        with pytest.raises(ValueError, match="refusing to save into"):
            sh.save(folder)
    assert all(v.read_text() == "keep me" for v in victims)
    # Names of the right form but another shard's, or another suffix, are refused too.
    m = _manifest(folder)
    m["shards"][0]["index"] = "../victim.txt"
    m["shards"][0]["index"] = m["shards"][1]["index"]
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="shard 0 names the file 'shard-00001-"):
        ShardedIndex.load(folder)


def test_cli_index_shards_refuses_a_planted_manifest(ray_local, tmp_path, capsys):
    from deephash import cli

    out = tmp_path / "idx"
    out.mkdir()
    (tmp_path / "victim").write_text("keep")
    planted = {"format": "deephash.ShardedIndex", "version": 2, "bits": 64, "kind": "flat", "options": {}}
    planted.update(num_shards=1, next_seq=0, shards=[{"index": str(tmp_path / "victim"), "seq": "../victim"}])
    (out / "manifest.json").write_text(json.dumps(planted))
    np.save(tmp_path / "db.npy", random_codes(np.random.default_rng(0), 10, 64))
    rc = cli.main(["index", "--codes", str(tmp_path / "db.npy"), "--shards", "1", "--out", str(out)])
    assert rc == 2 and "refusing to save into" in capsys.readouterr().err
    assert (tmp_path / "victim").read_text() == "keep"


# ---- 2. temporaries: exclusive, unpredictable, never through a symlink -------------------------
def test_write_atomic_never_writes_through_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    target = tmp_path / "manifest.json"
    # Every name the old code could have used (PATH.tmp<pid>) and a symlink at the target itself.
    os.symlink(victim, f"{target}.tmp{os.getpid()}")
    os.symlink(victim, target)
    _files.write_atomic(str(target), b"new")
    assert victim.read_bytes() == b"precious"
    assert target.read_bytes() == b"new" and not target.is_symlink()
    # A write-ahead log swapped for a symlink is never appended through.
    log = tmp_path / "s.log"
    _log.WriteAheadLog.create(str(log), {"index": None, "op": 0})
    log.unlink()
    os.symlink(victim, log)
    with pytest.raises(OSError, match="symbolic link"):
        _log.WriteAheadLog(str(log)).append(_log.REMOVE, 1, b"\0" * 8)
    assert victim.read_bytes() == b"precious"


def test_write_atomic_temporaries_are_random_and_stale_ones_removed(tmp_path, monkeypatch):
    target = tmp_path / "f"
    names = []
    real_open = os.open

    def spy(path, flags, *a, **kw):
        if ".tmp-" in str(path) and flags & os.O_CREAT:
            names.append(os.path.basename(path))
            assert flags & os.O_EXCL and flags & os.O_NOFOLLOW
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", spy)
    stale = tmp_path / "f.tmp-1-0123456789abcdef"  # left by a killed writer: its lock is free
    stale.write_bytes(b"x")
    _files.write_atomic(str(target), b"1")
    _files.write_atomic(str(target), b"2")
    assert len(set(names)) == 2 and all(n.startswith(f"f.tmp-{os.getpid()}-") for n in names)
    assert not stale.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_sharded_save_ignores_symlinks_at_the_old_temporary_names(ray_local, tmp_path):
    folder, codes = _saved(tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    os.symlink(victim, folder / f"manifest.json.tmp{os.getpid()}")
    from deephash.distributed import ShardedIndex

    with ShardedIndex.load(folder) as sh:
        sh.save(folder)
        assert len(sh) == len(codes)
    assert victim.read_bytes() == b"precious"


# ---- 3. the write-ahead log: only a torn tail is dropped ---------------------------------------
CHECKPOINT_SIZE = len(_log._encode(_log.CHECKPOINT, 0, _log.encode_checkpoint({"index": None, "op": 0})))


def _log_with_records(tmp_path, n_adds=3):
    rng = np.random.default_rng(1)
    log = str(tmp_path / "s.log")
    _log.WriteAheadLog.create(log, {"index": None, "op": 0})
    s = Shard(64, "flat", {}, log)
    codes = random_codes(rng, 100 * n_adds, 64)
    for i in range(n_adds):
        part = slice(100 * i, 100 * (i + 1))
        s.add(i + 1, codes[part], np.arange(part.start, part.stop), np.arange(part.start, part.stop))
    return log, s, codes


@pytest.mark.parametrize("where", ["middle record payload", "middle record header", "checkpoint", "last record"])
def test_damaged_log_raises_naming_the_file_and_is_left_untouched(tmp_path, where):
    log, _, _ = _log_with_records(tmp_path)
    data = bytearray(Path(log).read_bytes())
    ck = CHECKPOINT_SIZE
    rec = (len(data) - ck) // 3  # one add record's size
    pos = {
        "middle record payload": ck + rec + 200,
        "middle record header": ck + rec + 14,
        "checkpoint": ck - 3,
        "last record": len(data) - 5,
    }[where]
    data[pos] ^= 0x10
    Path(log).write_bytes(bytes(data))
    restarted = Shard(64, "flat", {}, log)
    with pytest.raises(ValueError, match=f"write-ahead log '{log}' is corrupted at byte"):
        restarted.info()
    with pytest.raises(ValueError, match="corrupted"):
        restarted.search(random_codes(np.random.default_rng(0), 1, 64), 5)
    assert Path(log).read_bytes() == bytes(data)  # untouched for inspection


def test_bad_record_followed_by_data_is_corruption_but_a_torn_tail_is_dropped(tmp_path):
    log, s, codes = _log_with_records(tmp_path)
    whole = Path(log).read_bytes()
    torn = _log._encode(_log.ADD, 4, _log.encode_add(codes[:2], np.arange(2), np.arange(300, 302)))
    for cut in (3, 20, len(torn) - 1):  # inside the header, just after it, one byte short
        Path(log).write_bytes(whole + torn[:cut])
        assert Shard(64, "flat", {}, log).info()["n"] == 300
        assert Path(log).read_bytes() == whole  # only the torn tail was cut
    # The same short record followed by a whole one is not a tail: corruption.
    after = _log._encode(_log.REMOVE, 5, np.array([1], np.int64).tobytes())
    Path(log).write_bytes(whole + torn[:20] + after)
    with pytest.raises(ValueError, match="corrupted"):
        Shard(64, "flat", {}, log).info()
    # Trailing garbage that does not start a record is corruption too.
    Path(log).write_bytes(whole + b"xy")
    with pytest.raises(ValueError, match="do not start a record"):
        Shard(64, "flat", {}, log).info()


def test_log_that_lost_acknowledged_records_is_detected(tmp_path):
    log, s, codes = _log_with_records(tmp_path)
    first_two = CHECKPOINT_SIZE + 2 * ((os.path.getsize(log) - CHECKPOINT_SIZE) // 3)
    with open(log, "r+b") as f:  # whole records cut off: replays cleanly, but op 3 was acked
        f.truncate(first_two)
    restarted = Shard(64, "flat", {}, log)
    assert restarted.info()["n"] == 200
    with pytest.raises(ValueError, match="ends at op 2, but op 3 was acknowledged"):
        restarted.search(codes[:1], 3, min_op=3)


def test_corrupted_log_on_ray_fails_loudly_instead_of_answering_from_half_a_shard(ray_local, tmp_path):
    from deephash.distributed import ShardedIndex

    rng = np.random.default_rng(3)
    codes = random_codes(rng, 300, 64)
    with ShardedIndex(64, 2, log_dir=tmp_path / "logs", max_restarts=2) as sh:
        for part in np.array_split(np.arange(300), 3):
            sh.add(codes[part])
        log = tmp_path / "logs" / "shard-00000.log"
        data = bytearray(log.read_bytes())
        data[len(data) // 2] ^= 0xFF
        log.write_bytes(bytes(data))
        pid = ray_local.get(sh.actors[0].info.remote())["pid"]
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ValueError, match="shard-00000.log' is corrupted"):
            for _ in range(50):  # until Ray has restarted the actor
                sh.search(codes[:3], 10)
                time.sleep(0.1)
        assert log.read_bytes() == bytes(data)


# ---- 4. every shard file pinned ---------------------------------------------------------------
def test_swapped_shard_index_file_is_refused(ray_local, tmp_path):
    from deephash.distributed import ShardedIndex

    a, _ = _saved(tmp_path, n=40, name="a")
    b, _ = _saved(tmp_path, n=40 + 2, name="b")  # another valid index of the same layout
    m = _manifest(a)
    name_a, name_b = m["shards"][0]["index"], _manifest(b)["shards"][0]["index"]
    shutil.copyfile(b / name_b, a / name_a)
    with pytest.raises(ValueError, match=f"{name_a}.*(checksum|bytes)"):
        ShardedIndex.load(a)


@pytest.mark.parametrize("mmap", [True, False])
def test_shard_loads_the_bytes_it_verified_even_if_the_file_is_swapped_in_between(tmp_path, monkeypatch, mmap):
    # The checksum is taken and the file loaded through one descriptor: a file renamed over the
    # checked one between the check and the load is never what the shard serves.
    rng = np.random.default_rng(8)
    shards = {}
    for name in ("a", "b"):
        log = str(tmp_path / f"{name}.log")
        _log.WriteAheadLog.create(log, {"index": None, "op": 0})
        s = Shard(64, "flat", {}, log)
        s.add(1, random_codes(rng, 30, 64), np.arange(30), np.arange(30))
        (tmp_path / name).mkdir()
        shards[name] = (s, s.save(str(tmp_path / name), 0, "0123456789ab"), log)
    a, entry, log = shards["a"]
    index_a = tmp_path / "a" / entry["index"]
    swapped = {}
    real_sha256 = hashlib.sha256

    class Swapping:  # swaps b's (valid, same-sized) index file in once a's has been hashed
        def __init__(self, *args):
            self._h = real_sha256(*args)

        def update(self, data):
            self._h.update(data)

        def hexdigest(self):
            out = self._h.hexdigest()
            if out == entry["index_sha256"] and not swapped:
                swapped["done"] = True
                shutil.copyfile(tmp_path / "b" / shards["b"][1]["index"], tmp_path / "swap")
                os.replace(tmp_path / "swap", index_a)
            return out

    checkpoint = _log.decode_checkpoint(_log.WriteAheadLog(log).records()[0].payload)
    _log.WriteAheadLog.create(log, {**checkpoint, "mmap": mmap})
    monkeypatch.setattr(hashlib, "sha256", Swapping)
    restarted = Shard(64, "flat", {}, log)
    monkeypatch.undo()
    assert swapped, "the swap did not happen"
    q = random_codes(rng, 4, 64)
    equal = [np.array_equal(x, y) for x, y in zip(restarted.search(q, 30), a.search(q, 30))]
    assert all(equal), "the shard serves the file swapped in after its check"


def test_missing_shard_file_and_bad_manifest_name_the_file(ray_local, tmp_path):
    from deephash.distributed import ShardedIndex, ShardUnavailableError

    folder, _ = _saved(tmp_path)
    m = _manifest(folder)
    (folder / m["shards"][1]["seq"]).unlink()
    with pytest.raises(ValueError, match=f"shard file .*{m['shards'][1]['seq']}.* is missing"):
        ShardedIndex.load(folder)
    for broken in ({k: v for k, v in m.items() if k != "bits"}, {**m, "shards": [{}] * 2}, [1, 2], {**m, "kind": 3}):
        (folder / "manifest.json").write_text(json.dumps(broken))
        with pytest.raises(ValueError, match="manifest.json"):
            ShardedIndex.load(folder)
    (folder / "manifest.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="manifest.json.*not valid JSON"):
        ShardedIndex.load(folder)
    assert not issubclass(ShardUnavailableError, ValueError)


# ---- 5. ids at 2**63 - 1 ----------------------------------------------------------------------
def test_duplicate_ids_at_int64_max(tmp_path):
    log = str(tmp_path / "s.log")
    _log.WriteAheadLog.create(log, {"index": None, "op": 0})
    s = Shard(64, "flat", {}, log)
    codes = random_codes(np.random.default_rng(2), 6, 64)
    top = 2**63 - 1
    ids = np.array([top, top, 5, top, -(2**63), -(2**63)], np.int64)
    s.add(1, codes, ids, np.arange(6, dtype=np.int64))
    flat = deephash.FlatIndex(64)
    flat.add(codes, ids)
    d, i, seq = s.search(codes[:2], 6)
    np.testing.assert_array_equal(i, flat.search(codes[:2], 6)[1])
    assert sorted(seq[0].tolist()) == list(range(6))


# ---- 6. the nq * k cap --------------------------------------------------------------------------
def test_search_caps_nq_times_k_before_allocating(ray_local):
    from deephash.distributed import ShardedIndex

    with ShardedIndex(64, 2) as sh:
        sh.add(random_codes(np.random.default_rng(0), 100, 64))
        q = np.zeros((16, 8), np.uint8)
        with pytest.raises(ValueError, match=r"at most 268435456 \(nq \* k\) entries"):
            sh.search(q, 2**24 + 1)
        assert sh.search(q, 1000)[0].shape == (16, 1000)


# ---- 7. timeouts ----------------------------------------------------------------------------------
def test_unschedulable_actors_time_out_clearly(ray_local):
    from deephash.distributed import ShardedIndex, ShardUnavailableError

    t0 = time.monotonic()
    with pytest.raises(ShardUnavailableError, match="did not answer within 2 s.*unschedulable"):
        ShardedIndex(64, 1, actor_options={"num_cpus": 64}, timeout=2)
    assert time.monotonic() - t0 < 30
    for bad in (0, -1, float("nan"), "5", True):
        with pytest.raises(ValueError, match="timeout"):
            ShardedIndex(64, 1, timeout=bad)


# ---- 8. fork ---------------------------------------------------------------------------------------
def test_forked_child_is_refused_at_once_even_while_a_thread_adds(ray_local):
    from deephash.distributed import ShardedIndex

    codes = random_codes(np.random.default_rng(0), 2000, 64)
    with ShardedIndex(64, 2) as sh:
        stop = threading.Event()

        def adder():
            while not stop.is_set():
                sh.add(codes[:50])

        t = threading.Thread(target=adder)
        t.start()
        results = []
        try:
            for _ in range(5):
                time.sleep(0.05)
                pid = os.fork()
                if pid == 0:  # the child: must fail fast, never hang on the parent's lock
                    try:
                        len(sh)
                        code = 3
                    except RuntimeError as e:
                        code = 0 if "forked child" in str(e) else 4
                    os._exit(code)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        results.append(os.waitstatus_to_exitcode(status))
                        break
                    time.sleep(0.02)
                else:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    results.append("hung")
        finally:
            stop.set()
            t.join()
    assert results == [0] * 5


def test_cli_reports_sharded_failures_as_one_line(ray_local, tmp_path, capsys):
    from deephash import cli
    from deephash.distributed import ShardUnavailableError

    assert issubclass(ShardUnavailableError, (RuntimeError, OSError))
    folder, codes = _saved(tmp_path)
    np.save(tmp_path / "q.npy", codes[:2])
    m = _manifest(folder)
    (folder / m["shards"][0]["index"]).write_bytes(b"\0" * m["shards"][0]["index_size"])  # same size
    rc = cli.main(["search", "--index", str(folder), "--queries", str(tmp_path / "q.npy")])
    err = capsys.readouterr().err
    assert rc == 2 and "checksum" in err and m["shards"][0]["index"] in err and "internal error" not in err, err


def test_parallel_encode_times_out_clearly(ray_local):
    from deephash import methods
    from deephash.distributed import encode

    x = np.random.default_rng(0).random((20, 8)).astype(np.float32)
    lsh = methods.LSH(bits=16, seed=0).fit(x)
    with pytest.raises(TimeoutError, match="did not come back within 2 s"):
        encode(lsh, x, num_workers=1, actor_options={"num_cpus": 64}, timeout=2)
    with pytest.raises(ValueError, match="timeout"):
        encode(lsh, x, timeout=0)

"""ShardedIndex.recover(log_dir): the index comes back from its log folder after its driver died.

The driver record (driver.json) holds the configuration, the shards' logs everything else; a
mutation only some shards logged (the driver died mid-call, so it never acknowledged it) is cut;
a damaged, missing or mismatched driver record is refused with a ValueError naming the file.
(tests/test_kill_corrupt.py kills real drivers with -9 at random moments.)
"""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
from conftest import random_codes

import deephash
from deephash.distributed import _driver, _log
from deephash.distributed._shard import Shard


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _oracle(codes, ids, removed=()):
    flat = deephash.FlatIndex(64)
    flat.add(codes, ids)
    if len(removed):
        flat.remove(np.asarray(removed, np.int64))
    return flat


def test_recover_brings_back_every_acknowledged_mutation_and_goes_on(ray_local, tmp_path):
    from deephash.distributed import ShardedIndex

    rng = np.random.default_rng(5)
    codes = random_codes(rng, 60, 64)
    ids = rng.integers(0, 25, 60)  # duplicates: their order across shards is the insertion order
    logs = tmp_path / "logs"
    with ShardedIndex(64, 3, log_dir=logs) as sh:
        sh.add(codes[:30], ids[:30])
        sh.add(codes[30:31], ids[30:31])  # fewer codes than shards
        sh.remove([3, 4])
        sh.save(tmp_path / "save")  # the logs restart from checkpoints naming the saved files
        sh.add(codes[31:50], ids[31:50])
    with pytest.raises(FileExistsError, match=r"ShardedIndex.recover\(log_dir\)"):
        ShardedIndex(64, 3, log_dir=logs)
    with ShardedIndex.recover(logs) as sh:
        assert (sh.bits, sh.num_shards, sh.kind) == (64, 3, "flat")
        flat = _oracle(codes[:31], ids[:31], [3, 4])
        flat.add(codes[31:50], ids[31:50])
        assert len(sh) == len(flat)
        _same(sh.search(codes[:6], 70), flat.search(codes[:6], 70))
        # Insertion numbers go on above the recovered ones: ties still break by insertion order.
        with pytest.raises(OSError) as busy:
            ShardedIndex.recover(logs)  # one live driver per log_dir
        assert busy.value.errno == errno.EBUSY
        sh.add(codes[50:], ids[50:])
        flat.add(codes[50:], ids[50:])
        _same(sh.search(codes[:6], 70), flat.search(codes[:6], 70))
        _same(sh.range_search(codes[:6], 28), flat.range_search(codes[:6], 28))


def _append_to_log(path, kind, payload):
    """Appends one record after the log's last op, as a shard that logged a mutation the driver
    never saw acknowledged by the other shards leaves it."""
    last = _log.WriteAheadLog(str(path)).records()[-1].op
    with open(path, "ab") as f:
        f.write(_log._encode(kind, last + 1, payload))


def test_a_mutation_only_some_shards_logged_is_cut_not_half_kept(ray_local, tmp_path):
    from deephash.distributed import ShardedIndex

    codes = random_codes(np.random.default_rng(6), 40, 64)
    logs = tmp_path / "logs"
    with ShardedIndex(64, 2, log_dir=logs) as sh:
        sh.add(codes[:30], np.arange(30))
    log0 = logs / "shard-00000.log"
    size = os.path.getsize(log0)
    # The driver died while adding codes 30..39: shard 0 logged its half, shard 1 nothing.
    part = slice(30, 40, 2)
    payload = _log.encode_add(codes[part], np.arange(40)[part], np.arange(40)[part].astype(np.int64))
    _append_to_log(log0, _log.ADD, payload)
    with ShardedIndex.recover(logs) as sh:
        assert len(sh) == 30
        _same(sh.search(codes[:5], 45), _oracle(codes[:30], np.arange(30)).search(codes[:5], 45))
    assert os.path.getsize(log0) == size  # the unacknowledged record is gone from the log
    # A remove that only shard 1 logged is cut as well; one that both logged is kept whole.
    _append_to_log(logs / "shard-00001.log", _log.REMOVE, np.array([1, 2], np.int64).tobytes())
    with ShardedIndex.recover(logs) as sh:
        assert len(sh) == 30
    for s in range(2):
        _append_to_log(logs / f"shard-{s:05d}.log", _log.REMOVE, np.array([1, 2], np.int64).tobytes())
    with ShardedIndex.recover(logs) as sh:
        assert len(sh) == 28
        _same(sh.search(codes[:5], 45), _oracle(codes[:30], np.arange(30), [1, 2]).search(codes[:5], 45))
    # A log that lost two records off its end (more than one mutation in flight) is refused.
    with ShardedIndex.recover(logs) as sh:
        sh.add(codes[30:32], [30, 31])
        sh.add(codes[32:34], [32, 33])
    log1 = logs / "shard-00001.log"
    records = _log.WriteAheadLog(str(log1)).records()
    with open(log1, "r+b") as f:
        f.truncate(os.path.getsize(log1) - sum(32 + len(r.payload) for r in records[-2:]))
    before = (log0.read_bytes(), log1.read_bytes())
    with pytest.raises(ValueError, match="shard-00001.log' ends at op .* lost mutations the driver acknowledged"):
        ShardedIndex.recover(logs)
    assert (log0.read_bytes(), log1.read_bytes()) == before  # left as found, for inspection
    # Logs no single driver's run can leave (one shard's checkpoint is past the other's last op)
    # are refused, not reconciled.
    _log.WriteAheadLog.create(str(log0), {"index": None, "op": 99, "next_seq": 0})
    with pytest.raises(ValueError, match="shard-00001.log' ends at op .* shard 0's log holds op 99"):
        ShardedIndex.recover(logs)


def _log_dir(tmp_path, num_shards=2):
    logs = tmp_path / "logs"
    logs.mkdir()
    for s in range(num_shards):
        _log.WriteAheadLog.create(str(logs / f"shard-{s:05d}.log"), {"index": None, "op": 0})
    _driver.write_driver_record(str(logs), 64, "flat", {}, num_shards)
    return logs


def test_damaged_missing_or_mismatched_driver_record_is_refused_naming_the_file(tmp_path):
    pytest.importorskip("ray")
    from deephash.distributed import ShardedIndex

    logs = _log_dir(tmp_path)
    record = logs / "driver.json"
    good = record.read_bytes()
    # (these are refused before any actor starts: no Ray needed)
    record.write_bytes(good.replace(b'"bits": 64', b'"bits": 72'))  # valid JSON, wrong checksum
    with pytest.raises(ValueError, match=r"driver.json' is damaged: its content does not match its SHA-256"):
        ShardedIndex.recover(logs)
    record.write_bytes(good[:-7])
    with pytest.raises(ValueError, match=r"driver.json' is damaged: not valid JSON"):
        ShardedIndex.recover(logs)
    record.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="driver.json' is not a ShardedIndex driver record"):
        ShardedIndex.recover(logs)
    record.unlink()
    with pytest.raises(ValueError, match="holds no driver.json"):
        ShardedIndex.recover(logs)
    (tmp_path / "elsewhere.json").write_bytes(good)
    os.symlink(tmp_path / "elsewhere.json", record)
    with pytest.raises(ValueError, match="driver.json' cannot be read.*symbolic link"):
        ShardedIndex.recover(logs)
    record.unlink()
    # A valid record that does not match the logs beside it.
    _driver.write_driver_record(str(logs), 64, "flat", {}, 1)
    with pytest.raises(ValueError, match="holds shard-00001.log, but its driver.json says 1 shards"):
        ShardedIndex.recover(logs)
    _driver.write_driver_record(str(logs), 64, "flat", {}, 3)
    with pytest.raises(ValueError, match="shard log '.*shard-00002.log' is missing"):
        ShardedIndex.recover(logs)
    with pytest.raises(ValueError, match="is not a folder"):
        ShardedIndex.recover(tmp_path / "nothing-here")


def test_a_log_dir_in_use_is_refused_at_once(tmp_path):
    pytest.importorskip("ray")
    from deephash.distributed import ShardedIndex

    logs = _log_dir(tmp_path)
    fd = _driver.lock_log_dir(str(logs))  # a live driver holds it
    try:
        with pytest.raises(OSError, match="in use by another live ShardedIndex") as e:
            ShardedIndex.recover(logs)
        assert e.value.errno == errno.EBUSY
    finally:
        os.close(fd)


def test_shard_log_lock_and_discard_last(tmp_path):
    log = str(tmp_path / "s.log")
    _log.WriteAheadLog.create(log, {"index": None, "op": 0, "next_seq": 7})
    first = Shard(64, "flat", {}, log, lock_timeout=1.0)
    codes = random_codes(np.random.default_rng(1), 4, 64)
    first.add(1, codes, np.arange(4), np.arange(7, 11))
    info = first.info()
    assert (info["next_seq"], info["last_logged"], info["previous_op"]) == (11, 1, 0)
    # A second shard on the same log waits for the first one's lock, then says why it gave up.
    second = Shard(64, "flat", {}, log, lock_timeout=0.2)
    with pytest.raises(OSError, match="holds this log's lock"):
        second.info()
    with pytest.raises(ValueError, match="does not end with mutation op 2"):
        first.discard_last(2)
    info = first.discard_last(1)
    assert (info["n"], info["op"], info["next_seq"], info["last_logged"]) == (0, 0, 7, None)
    assert [r.op for r in _log.WriteAheadLog(log).records()] == [0]

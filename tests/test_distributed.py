"""deephash.distributed: the sharded index on a local Ray equals one FlatIndex holding every code.

The Ray tests share one local Ray (``ray.init(num_cpus=2)``, started once per session) and skip
with a reason when Ray is not installed; the log and shard tests need no Ray.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import clustered_codes, random_codes

import deephash
from deephash.distributed import _log
from deephash.distributed._shard import Shard


def _sharded(bits, num_shards, kind="flat", **kw):
    from deephash.distributed import ShardedIndex

    return ShardedIndex(bits, num_shards, kind, **kw)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


def _check_all(flat, sh, queries, ks, rng):
    """Every search kind of `sh` equals `flat`: k-NN, weighted (shared and per-query), range."""
    bits = flat.bits
    for k in ks:
        _same(flat.search(queries, k), sh.search(queries, k))
    w = rng.random(bits).astype(np.float32)
    w[rng.random(bits) < 0.2] = 0
    wq = rng.random((queries.shape[0], bits)).astype(np.float32)
    for weights in (w, wq):
        for k in (1, ks[-1]):
            _same(flat.search(queries, k, weights=weights), sh.search(queries, k, weights=weights))
        r = float(np.median(flat.search(queries, 10, weights=weights)[0][:, -1]))
        _same(flat.range_search(queries, r, weights=weights), sh.range_search(queries, r, weights=weights))
    radius = int(np.median(flat.search(queries, 20)[0][:, -1]))
    _same(flat.range_search(queries, radius), sh.range_search(queries, radius))


# ---- the core property: identical to one FlatIndex -------------------------------------------
# Each kind meets both code lengths and both kinds of data (actor start-up is the cost here).
@pytest.mark.parametrize(
    ("kind", "bits", "data"),
    [("flat", 64, "random"), ("multi", 64, "clustered"), ("flat", 256, "clustered"), ("multi", 256, "random")],
)
def test_equals_one_flat_index(ray_local, kind, bits, data):
    rng = np.random.default_rng([bits, len(kind), len(data)])
    make = random_codes if data == "random" else clustered_codes
    codes = make(rng, 600, bits)
    queries = np.concatenate([codes[:5], make(rng, 7, bits)])
    flat = deephash.FlatIndex(bits)
    with _sharded(bits, 3, kind) as sh:
        # Two adds of uneven sizes: placement continues round-robin across calls.
        for part in (codes[:250], codes[250:]):
            flat.add(part)
            sh.add(part)
        assert len(sh) == len(flat) == 600
        # k = 1, 100, more than a shard holds (200), more than the index holds.
        _check_all(flat, sh, queries, [1, 100, 250, 700], rng)
        drop = rng.choice(600, 150, replace=False)
        assert sh.remove(drop) == flat.remove(drop) == 150
        # Default ids continue from len(index), as in FlatIndex.
        more = make(rng, 40, bits)
        flat.add(more)
        sh.add(more)
        assert len(sh) == len(flat)
        _check_all(flat, sh, queries, [1, 100, 250, 700], rng)


def test_duplicate_ids_keep_insertion_order_across_shards(ray_local):
    # Few distinct codes and few distinct ids: most results tie on (distance, id) and only the
    # global insertion order separates them, across shards.
    rng = np.random.default_rng(7)
    base = random_codes(rng, 4, 64)
    codes = base[rng.integers(0, 4, 300)]
    ids = rng.integers(-5, 5, 300)  # unsorted, negative and repeated
    ids[ids == -1] = -7  # -1 pads missing results and cannot be stored
    flat = deephash.FlatIndex(64)
    with _sharded(64, 2, "multi") as sh:
        for lo, hi in ((0, 101), (101, 300)):
            flat.add(codes[lo:hi], ids[lo:hi])
            sh.add(codes[lo:hi], ids[lo:hi])
        _check_all(flat, sh, np.concatenate([base, random_codes(rng, 3, 64)]), [1, 100, 400], rng)
        assert sh.remove([0, 3]) == flat.remove([0, 3])
        _check_all(flat, sh, base, [1, 100, 400], rng)


def test_empty_and_one_shard(ray_local):
    rng = np.random.default_rng(3)
    q = random_codes(rng, 4, 64)
    flat = deephash.FlatIndex(64)
    with _sharded(64, 1) as one, _sharded(64, 3) as three:
        for sh in (one, three):
            _same(flat.search(q, 5), sh.search(q, 5))
            _same(flat.range_search(q, 64), sh.range_search(q, 64))
        codes = random_codes(rng, 2, 64)  # fewer codes than shards
        flat.add(codes)
        for sh in (one, three):
            sh.add(codes)
            _same(flat.search(q, 5), sh.search(q, 5))


def test_validation(ray_local):
    from deephash.distributed import ShardedIndex

    with pytest.raises(ValueError, match="num_shards"):
        ShardedIndex(64, 0)
    with pytest.raises(ValueError, match="kind"):
        ShardedIndex(64, 2, "ivf")
    with pytest.raises(ValueError, match="multiple of 8"):
        ShardedIndex(63, 2)
    with pytest.raises(ValueError, match="takes no index options"):
        ShardedIndex(64, 2, m=2)
    with _sharded(64, 2) as sh:
        with pytest.raises(TypeError, match="uint8"):
            sh.add(np.zeros((2, 8), np.int32))
        with pytest.raises(ValueError, match="8 bytes per row"):
            sh.search(np.zeros((2, 4), np.uint8), 3)
        with pytest.raises(ValueError, match="k must be >= 1"):
            sh.search(np.zeros((2, 8), np.uint8), 0)
        with pytest.raises(ValueError, match="one entry per code"):
            sh.add(np.zeros((2, 8), np.uint8), ids=[1])
        with pytest.raises(ValueError, match="must not contain -1"):
            sh.add(np.zeros((2, 8), np.uint8), ids=[3, -1])


def test_searches_from_another_thread_see_whole_adds(ray_local):
    rng = np.random.default_rng(8)
    batches = [random_codes(rng, 40, 64) for _ in range(6)]
    q = random_codes(rng, 3, 64)
    expected = []  # the answer after each number of whole batches
    flat = deephash.FlatIndex(64)
    expected.append(flat.search(q, 30))
    for b in batches:
        flat.add(b)
        expected.append(flat.search(q, 30))
    seen = []
    with _sharded(64, 2) as sh:

        def searcher():
            for _ in range(12):
                seen.append(sh.search(q, 30))

        t = threading.Thread(target=searcher)
        t.start()
        for b in batches:
            sh.add(b)
        t.join()
    for d, i in seen:
        assert any(np.array_equal(d, e[0]) and np.array_equal(i, e[1]) for e in expected)


# ---- persistence -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["flat", "multi"])
def test_save_load(ray_local, tmp_path, kind):
    from deephash.distributed import ShardedIndex

    rng = np.random.default_rng(11)
    codes = clustered_codes(rng, 500, 64)
    ids = rng.permutation(1000)[:500]
    flat = deephash.FlatIndex(64)
    flat.add(codes, ids)
    q = codes[:6]
    with _sharded(64, 2, kind) as sh:
        sh.add(codes, ids)
        sh.save(tmp_path / "a")
    names = sorted(os.listdir(tmp_path / "a"))
    assert "manifest.json" in names and len(names) == 5  # 2 x (index file, insertion numbers)
    with ShardedIndex.load(tmp_path / "a", mmap=True) as sh:
        infos = [ray_local.get(a.info.remote()) for a in sh.actors]
        if kind == "flat":  # each actor maps its own shard file (a MultiIndex builds tables)
            assert all(i["memory_bytes"] == 0 for i in infos)
        _check_all(flat, sh, q, [1, 100, 600], rng)
        more = clustered_codes(rng, 30, 64)
        flat.add(more)
        sh.add(more)  # default ids continue from len(index) after a load too
        _check_all(flat, sh, q, [1, 100], rng)
        sh.save(tmp_path / "a")  # over the previous save: its files are replaced
    assert len(os.listdir(tmp_path / "a")) == 5
    with ShardedIndex.load(tmp_path / "a", mmap=False) as sh:
        _check_all(flat, sh, q, [1, 100, 600], rng)


def test_load_rejects_damage(ray_local, tmp_path):
    from deephash.distributed import ShardedIndex

    with pytest.raises(ValueError, match="no manifest.json"):
        ShardedIndex.load(tmp_path)
    with _sharded(64, 2) as sh:
        sh.add(random_codes(np.random.default_rng(0), 20, 64))
        sh.save(tmp_path)
    seq = next(p for p in tmp_path.iterdir() if p.name.endswith(".seq.npy"))
    data = bytearray(seq.read_bytes())
    data[-1] ^= 1
    seq.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        ShardedIndex.load(tmp_path)


# ---- faults ------------------------------------------------------------------------------
def test_killed_shard_restarts_and_loses_nothing(ray_local, tmp_path):
    """Kills shard actors in the middle of a workload of adds, removes and searches: from another
    thread at an arbitrary moment, and inside a mutation just before and just after it is logged.
    Every search must equal the single-index oracle and no acknowledged add may be lost."""
    rng = np.random.default_rng(5)
    flat = deephash.FlatIndex(64)
    queries = random_codes(rng, 6, 64)
    with _sharded(64, 2, max_restarts=10) as sh:
        pids = [ray_local.get(a.info.remote())["pid"] for a in sh.actors]
        killer = None
        for step in range(20):
            codes = clustered_codes(rng, 30, 64, centres=2)
            if step == 3:
                sh.save(tmp_path)  # recovery = this checkpoint + the log after it
            if step == 5:
                ray_local.kill(sh.actors[0], no_restart=False)
            if step == 8:
                killer = threading.Timer(0.02, ray_local.kill, (sh.actors[1],), {"no_restart": False})
                killer.start()
            if step == 11:
                ray_local.get(sh.actors[0]._crash_on_next_mutation.remote("after_log"))
            if step == 14:
                ray_local.get(sh.actors[1]._crash_on_next_mutation.remote("before_log"))
            sh.add(codes)
            flat.add(codes)
            if step == 16:
                ray_local.get(sh.actors[0]._crash_on_next_mutation.remote("after_log"))
                drop = rng.choice(len(flat), 25, replace=False)
                assert sh.remove(drop) == flat.remove(drop)
            _same(flat.search(queries, 40), sh.search(queries, 40))
        killer.join()
        after = [ray_local.get(a.info.remote()) for a in sh.actors]
        assert all(p != i["pid"] for p, i in zip(pids, after)), "every shard was restarted"
        assert sum(i["n"] for i in after) == len(flat)
        _check_all(flat, sh, queries, [1, 100, len(flat) + 5], rng)


def test_dead_shard_fails_clearly(ray_local):
    from deephash.distributed import ShardUnavailableError

    rng = np.random.default_rng(2)
    codes = random_codes(rng, 50, 64)
    with _sharded(64, 2, max_restarts=0) as sh:
        sh.add(codes)
        ray_local.kill(sh.actors[1], no_restart=True)
        with pytest.raises(ShardUnavailableError, match="shard 1 is dead.*no partial answer"):
            sh.search(codes[:3], 5)
        with pytest.raises(ShardUnavailableError, match="shard 1"):
            sh.add(codes[:4])


# ---- the shard and its log, without Ray ----------------------------------------------------
def _state(shard, queries):
    return shard.info()["n"], shard.search(queries, 30), shard.range_search(queries, 30)


def test_shard_replays_its_log_and_ignores_a_torn_tail(tmp_path):
    rng = np.random.default_rng(9)
    codes = random_codes(rng, 60, 64)
    ids = rng.integers(0, 20, 60)
    seq = np.arange(0, 120, 2, dtype=np.int64)
    log = str(tmp_path / "s.log")
    _log.WriteAheadLog.create(log, {"index": None, "op": 0})
    s = Shard(64, "multi", {}, log)
    s.add(1, codes[:30], ids[:30], seq[:30])
    assert s.remove(2, np.array([3, 4])) == (2, int(np.isin(ids[:30], [3, 4]).sum()))
    s.add(3, codes[30:], ids[30:], seq[30:])
    s.add(3, codes[30:], ids[30:], seq[30:])  # a retried op is answered, not applied twice
    expected = _state(s, codes[:4])
    assert expected[0] == 60 - int(np.isin(ids[:30], [3, 4]).sum())
    # What a restarted actor does: rebuild from the log.
    size = os.path.getsize(log)
    with open(log, "ab") as f:  # a mutation torn by a crash: never acknowledged
        f.write(_log._encode(_log.ADD, 4, _log.encode_add(codes[:2], ids[:2], seq[:2]))[:-3])
    r = Shard(64, "multi", {}, log)
    assert os.path.getsize(log) == size  # the torn record is cut off
    got = _state(r, codes[:4])
    assert got[0] == expected[0]
    for a, b in zip(got[1:], expected[1:]):
        _same(a, b)
    # After a save the log restarts from the checkpoint; later mutations replay on top of it.
    r.save(str(tmp_path), 0, "0123456789ab")
    r.add(4, codes[:5], ids[:5], np.arange(200, 205, dtype=np.int64))
    again = Shard(64, "multi", {}, log)
    assert again.info()["n"] == expected[0] + 5
    _same(again.search(codes[:4], 100), r.search(codes[:4], 100))


def test_import_deephash_does_not_import_ray():
    code = "import sys, deephash, deephash.distributed; print('ray' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(deephash.__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


# ---- parallel encoding -------------------------------------------------------------------
def test_parallel_encode_equals_one_process_and_fills_the_index(ray_local):
    pytest.importorskip("torch", reason="the deep methods need PyTorch")
    from sklearn.datasets import load_digits

    from deephash import methods as M
    from deephash.distributed import encode

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    dpsh = M.DPSH(bits=32, seed=0, epochs=2, progress=False).fit(x[:500], y[:500])
    lsh = M.LSH(bits=24, seed=0).fit(x[:500])
    expected = dpsh.encode(x)
    flat = deephash.FlatIndex(dpsh.code_bits)
    flat.add(expected)
    with _sharded(dpsh.code_bits, 2) as sh:
        got = encode(dpsh, x, num_workers=2, batch_size=256, index=sh)
        np.testing.assert_array_equal(got, expected)
        _same(flat.search(expected[:5], 50), sh.search(expected[:5], 50))
    ids = np.arange(len(x))[::-1].copy()
    flat = deephash.FlatIndex(lsh.code_bits)
    flat.add(lsh.encode(x), ids)
    with _sharded(lsh.code_bits, 2) as sh:
        assert encode(lsh, x, num_workers=1, batch_size=500, index=sh, ids=ids, return_codes=False) is None
        q = lsh.encode(x[:7])
        _same(flat.search(q, 30), sh.search(q, 30))


# ---- command line ------------------------------------------------------------------------
def test_cli_index_shards_and_search(ray_local, tmp_path, capsys):
    from deephash import cli

    rng = np.random.default_rng(4)
    codes = clustered_codes(rng, 300, 64)
    np.save(tmp_path / "db.npy", codes)
    np.save(tmp_path / "q.npy", codes[:9])
    assert (
        cli.main(
            [
                "index",
                "--codes",
                str(tmp_path / "db.npy"),
                "--shards",
                "2",
                "--kind",
                "multi",
                "--out",
                str(tmp_path / "idx"),
            ]
        )
        == 0
    )
    assert "300 codes of 64 bits in 2 multi shards" in capsys.readouterr().out
    flat = deephash.FlatIndex(64)
    flat.add(codes)
    assert (
        cli.main(
            [
                "search",
                "--index",
                str(tmp_path / "idx"),
                "--queries",
                str(tmp_path / "q.npy"),
                "-k",
                "25",
                "--out",
                str(tmp_path / "r.npz"),
            ]
        )
        == 0
    )
    with np.load(tmp_path / "r.npz") as z:
        _same(flat.search(codes[:9], 25), (z["distances"], z["ids"]))


# ---- data-parallel training --------------------------------------------------------------
@pytest.mark.slow
def test_data_parallel_training_is_reproducible_and_matches_one_process(ray_local, tmp_path):
    pytest.importorskip("torch", reason="training needs PyTorch")
    from deephash import cli
    from deephash import methods as M
    from deephash.data import load_split
    from deephash.distributed.train import fit_data_parallel

    split = load_split("digits", 1)  # the split `deephash train --seed 1` trains on
    xt, yt, xq = split.train_x, split.train_y, split.query_x

    def dpsh(**kw):
        return M.DPSH(bits=16, seed=1, epochs=2, progress=False, **kw)

    single = dpsh().fit(xt, yt).encode(xq)
    # One worker runs exactly the single-process computation.
    np.testing.assert_array_equal(fit_data_parallel(dpsh(), xt, yt, num_workers=1).encode(xq), single)
    two = dpsh(num_workers=2).fit(xt, yt)
    codes = two.encode(xq)
    # Same effective batch and whole-batch loss: equal up to float summation order.
    agree = (np.unpackbits(codes) == np.unpackbits(single)).mean()
    assert agree >= 0.98, agree
    # Reproducible for a seed, here through `deephash train --workers 2`.
    out = tmp_path / "m.npz"
    assert (
        cli.main(
            [
                "train",
                "--method",
                "dpsh",
                "--bits",
                "16",
                "--seed",
                "1",
                "--workers",
                "2",
                "--param",
                "epochs=2",
                "--param",
                "progress=False",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(M.load(out).encode(xq), codes)
    # Batch norm: each worker normalises its part; running statistics are averaged at the end so
    # the workers finish identical (fit_data_parallel checks) and close to one process.
    img_t = (xt[:400].reshape(-1, 8, 8) / 16.0).astype(np.float32)
    img_q = (xq.reshape(-1, 8, 8) / 16.0).astype(np.float32)
    cnn = dict(bits=16, backbone="small_cnn", seed=0, epochs=1, batch_size=64, progress=False)
    one = M.DSH(**cnn).fit(img_t, yt[:400]).encode(img_q)
    par = M.DSH(num_workers=2, **cnn).fit(img_t, yt[:400]).encode(img_q)
    assert (np.unpackbits(one) == np.unpackbits(par)).mean() >= 0.8

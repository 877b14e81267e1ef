"""Stress test of the thread-safety contract: searching threads and one mutating thread.

Searches (plain, weighted, range), views and saves run in several threads while one thread adds
and removes codes. The mutating thread logs every state before it applies it and commits it
after, so a call that starts when ``committed == lo`` and ends when the log holds ``hi + 1``
states saw one of the states ``lo..hi``; every result must equal the brute-force answer of one
of them (the contract: each search sees one consistent state).
"""

import os
import threading
import time

import deephash
import numpy as np
import pytest
from conftest import clustered_codes, knn_oracle, num_threads, range_oracle

K = 10
RADIUS = 12
# A longer run: DEEPHASH_STRESS_SECONDS=30 pytest -s tests/test_concurrent_mutation.py
SECONDS = float(os.environ.get("DEEPHASH_STRESS_SECONDS", "1.5"))


class StateLog:
    """States the index passes through; states[v] after v mutations."""

    def __init__(self, codes, ids):
        self.states = [(codes, ids)]
        self.committed = 0
        self.lock = threading.Lock()

    def begin(self, codes, ids) -> int:
        with self.lock:
            self.states.append((codes, ids))
            return len(self.states) - 1

    def commit(self, v: int) -> None:
        self.committed = v

    def since(self, lo: int):
        with self.lock:
            return list(range(lo, len(self.states)))


def mutate(index, log, rng, deadline, errors):
    try:
        next_id = len(log.states[0][1])
        while time.monotonic() < deadline:
            codes, ids = log.states[-1]
            if rng.random() < 0.6 or len(ids) < 2000:
                n = int(rng.integers(100, 400))
                new = clustered_codes(rng, n, 64, centres=8)
                new_ids = np.arange(next_id, next_id + n, dtype=np.int64)
                next_id += n
                v = log.begin(np.concatenate([codes, new]), np.concatenate([ids, new_ids]))
                index.add(new, new_ids)
            else:
                drop = rng.random(len(ids)) < 0.2
                v = log.begin(codes[~drop], ids[~drop])
                assert index.remove(ids[drop]) == int(drop.sum())
            log.commit(v)
    except Exception as e:  # any failure, surfaced by the test through `errors`
        errors.append(e)


def search(index, log, queries, seed, deadline, records, errors, tmp_path):
    rng = np.random.default_rng(seed)
    try:
        while time.monotonic() < deadline:
            b = int(rng.integers(len(queries)))
            q = queries[b]
            what = ("knn", "weighted", "range", "codes", "ids", "save")[int(rng.integers(6))]
            lo = log.committed
            if what == "knn":
                out = index.search(q, K)
            elif what == "weighted":
                out = index.search(q, K, weights=np.ones(64, np.float32))
            elif what == "range":
                out = index.range_search(q, RADIUS)
            elif what == "codes":  # each view is a snapshot of its own
                out = index.codes
            elif what == "ids":
                out = index.ids
            else:
                path = tmp_path / f"stress-{seed}.dhx"
                index.save(path)
                loaded = deephash.load(path)
                out = (np.array(loaded.codes), np.array(loaded.ids))
            records.append((what, b, lo, log.since(lo), out))
    except Exception as e:  # any failure, surfaced by the test through `errors`
        errors.append(e)


def consistent(what, q, state, out):
    codes, ids = state
    if what == "knn":
        ed, ei = knn_oracle(q, codes, ids, K)
        return np.array_equal(out[0], ed) and np.array_equal(out[1], ei)
    if what == "weighted":
        ed, ei = knn_oracle(q, codes, ids, K)
        expected_d = np.where(ei >= 0, ed.astype(np.float32), np.float32(np.inf))
        return np.array_equal(out[0], expected_d) and np.array_equal(out[1], ei)
    if what == "range":
        return all(np.array_equal(a, b) for a, b in zip(out, range_oracle(q, codes, ids, RADIUS)))
    if what == "codes":
        return np.array_equal(out, codes)
    if what == "ids":
        return np.array_equal(out, ids)
    return np.array_equal(out[0], codes) and np.array_equal(out[1], ids)


@pytest.mark.parametrize("kind", ["flat", "multi-auto", "multi-hashing", pytest.param("gpu", marks=pytest.mark.cuda)])
def test_searches_see_one_consistent_state(kind, tmp_path):
    rng = np.random.default_rng(14)
    codes = clustered_codes(rng, 5000, 64, centres=8)
    ids = np.arange(len(codes), dtype=np.int64)
    if kind == "flat":
        index = deephash.FlatIndex(64)
    elif kind == "gpu":  # stores codes in id order: ids here increase in insertion order
        index = deephash.GpuFlatIndex(64)
    else:
        index = deephash.MultiIndex(64)
        index.strategy = kind.split("-")[1].replace("multi", "auto")
    index.add(codes, ids)
    log = StateLog(codes, ids)
    queries = [clustered_codes(rng, 4, 64, centres=8) for _ in range(4)]
    records, errors = [], []
    deadline = time.monotonic() + SECONDS
    with num_threads(2):
        threads = [threading.Thread(target=mutate, args=(index, log, rng, deadline, errors))]
        threads += [
            threading.Thread(target=search, args=(index, log, queries, s, deadline, records, errors, tmp_path))
            for s in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert len(log.states) > 5 and len(records) > 20, (len(log.states), len(records))
    wrong = [
        (what, lo, versions)
        for what, b, lo, versions, out in records
        if not any(consistent(what, queries[b], log.states[v], out) for v in reversed(versions))
    ]
    print(
        f"\n{kind}: 4 searching threads x {SECONDS:g} s: {len(records)} calls, "
        f"{len(log.states) - 1} mutations, {len(wrong)} wrong"
    )
    assert not wrong, f"{len(wrong)} of {len(records)} results match no state: {wrong[:5]}"

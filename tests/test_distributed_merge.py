"""merge_knn (no Ray): the shards' rows merged equal one FlatIndex over every code, on the
one-sort path (ids in [0, 2**32), unique (distance, id) pairs) and on the general path."""

import numpy as np
import pytest

import deephash
from deephash.distributed._merge import merge_knn


def shard_parts(codes, ids, queries, k, shards, weights=None):
    """Each shard's rows with insertion numbers, as the shard actors return them: its codes
    ranked by (distance, id, insertion number), the first min(k, size) kept."""
    parts = []
    seq = np.arange(len(codes))
    for s in range(shards):
        take = np.arange(s, len(codes), shards)
        index = deephash.FlatIndex(codes.shape[1] * 8)
        index.add(np.ascontiguousarray(codes[take]), np.arange(len(take)))
        d_all, pos = index.search(queries, len(take), weights=weights)  # every code's distance
        kk = min(k, len(take))
        rows = [np.lexsort((seq[take][p], ids[take][p], dr))[:kk] for dr, p in zip(d_all, pos)]
        sel = np.array([p[r] for p, r in zip(pos, rows)]).reshape(len(queries), kk)
        d = np.array([dr[r] for dr, r in zip(d_all, rows)]).reshape(len(queries), kk)
        parts.append((d, ids[take][sel], seq[take][sel]))
    return parts


def oracle(codes, ids, queries, k, weights=None):
    index = deephash.FlatIndex(codes.shape[1] * 8)
    index.add(codes, ids)
    return index.search(queries, k, weights=weights)


@pytest.mark.parametrize(
    "id_kind",
    [
        "unique",  # the one-sort path
        "duplicates",  # (distance, id) pairs repeat across shards: insertion numbers decide
        "large",  # ids >= 2**32: the general path
        "negative",
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_merge_equals_one_index(id_kind, weighted):
    rng = np.random.default_rng(3)
    n, bits, k = 3000, 16, 40  # short codes: many ties at every distance
    codes = rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)
    queries = rng.integers(0, 256, (25, bits // 8), dtype=np.uint8)
    ids = {
        "unique": rng.permutation(n).astype(np.int64) * 7,
        "duplicates": rng.integers(0, 50, n).astype(np.int64),
        "large": rng.permutation(n).astype(np.int64) + 2**40,
        "negative": rng.permutation(n).astype(np.int64) - 2 * n,  # all below -1 (the padding id)
    }[id_kind]
    w = rng.random(bits).astype(np.float32) if weighted else None
    for shards in (2, 3):
        d, i = merge_knn(shard_parts(codes, ids, queries, k, shards, w), len(queries), k, weighted)
        ref_d, ref_i = oracle(codes, ids, queries, k, w)
        assert d.dtype == ref_d.dtype and i.dtype == np.int64
        np.testing.assert_array_equal(d, ref_d)
        np.testing.assert_array_equal(i, ref_i)


def test_merge_pads_when_shards_hold_fewer_than_k():
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, (7, 8), dtype=np.uint8)
    ids = np.arange(7, dtype=np.int64)
    queries = codes[:3]
    d, i = merge_knn(shard_parts(codes, ids, queries, 10, 2), 3, 10, False)
    ref_d, ref_i = oracle(codes, ids, queries, 10)
    np.testing.assert_array_equal(d, ref_d)
    np.testing.assert_array_equal(i, ref_i)
    assert (i[:, 7:] == -1).all()

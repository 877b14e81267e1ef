"""deephash.rerank: exact Euclidean re-ranking of a Hamming shortlist, against brute force."""

from __future__ import annotations

import deephash
import numpy as np
import pytest


def _data(seed=0, n=500, nq=12, dim=6, bits=16):
    rng = np.random.default_rng(seed)
    dbv = rng.standard_normal((n, dim))
    qv = rng.standard_normal((nq, dim))
    proj = rng.standard_normal((dim, bits))
    return qv, dbv, deephash.pack_bits(qv @ proj), deephash.pack_bits(dbv @ proj)


def _brute(qv, dbv, candidates, k, ids_of_rows):
    """Per query: sort its candidate ids by (float32 Euclidean distance, id), first k."""
    d_out = np.full((len(candidates), k), np.inf, np.float32)
    i_out = np.full((len(candidates), k), -1, np.int64)
    row_of = {int(i): r for r, i in enumerate(ids_of_rows)}
    for qi, cand in enumerate(candidates):
        pairs = sorted((np.float32(np.linalg.norm(qv[qi] - dbv[row_of[int(c)]])), int(c)) for c in cand)[:k]
        for j, (d, c) in enumerate(pairs):
            d_out[qi, j], i_out[qi, j] = d, c
    return d_out, i_out


@pytest.mark.parametrize("kind", ["flat", "multi"])
@pytest.mark.parametrize("shortlist", [5, 40, 600])
def test_rerank_equals_brute_force_within_the_shortlist(kind, shortlist):
    qv, dbv, qc, dbc = _data()
    index = deephash.FlatIndex(16) if kind == "flat" else deephash.MultiIndex(16)
    index.add(dbc)
    _, cand = index.search(qc, shortlist)
    cand_lists = [row[row >= 0] for row in cand]
    k = 10
    d, i = deephash.rerank(index, qc, qv, dbv, k, shortlist=shortlist)
    ed, ei = _brute(qv, dbv, cand_lists, k, np.arange(dbv.shape[0]))
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_allclose(d, ed, rtol=1e-6)
    assert d.dtype == np.float32 and i.dtype == np.int64 and d.shape == (12, k)
    if shortlist < k:
        assert (i[:, shortlist:] == -1).all() and np.isinf(d[:, shortlist:]).all()
    if shortlist >= dbv.shape[0]:
        # The whole database as shortlist: exact Euclidean k-NN.
        full = np.linalg.norm(qv[:, None, :] - dbv[None, :, :], axis=2).astype(np.float32)
        np.testing.assert_array_equal(i, np.lexsort((np.tile(np.arange(500), (12, 1)), full))[:, :k])


def test_rerank_with_radius_db_ids_and_weights():
    qv, dbv, qc, dbc = _data(1)
    rng = np.random.default_rng(2)
    ids = rng.permutation(10_000)[:500].astype(np.int64)  # arbitrary ids; row r has ids[r]
    index = deephash.FlatIndex(16)
    index.add(dbc, ids)
    lims, _, found = index.range_search(qc, 4)
    cand = [found[lims[j] : lims[j + 1]] for j in range(12)]
    d, i = deephash.rerank(index, qc, qv, dbv, 7, radius=4, db_ids=ids)
    ed, ei = _brute(qv, dbv, cand, 7, ids)
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_allclose(d, ed, rtol=1e-6)
    # Weighted shortlist: candidates from the weighted search.
    w = rng.random(16).astype(np.float32)
    _, wc = index.search(qc, 30, weights=w)
    d, i = deephash.rerank(index, qc, qv, dbv, 7, shortlist=30, db_ids=ids, weights=w)
    ed, ei = _brute(qv, dbv, list(wc), 7, ids)
    np.testing.assert_array_equal(i, ei)
    # float32 vectors and a torch-free path give the same ids.
    _, i2 = deephash.rerank(
        index,
        qc,
        qv.astype(np.float32),
        dbv.astype(np.float32),
        7,
        shortlist=30,
        db_ids=ids,
        weights=w,
    )
    np.testing.assert_array_equal(i2, i)


def test_rerank_rows_are_sorted_by_distance_then_id():
    # Duplicated vectors give exact distance ties: ids must come in increasing order.
    qv, dbv, qc, dbc = _data(3, n=100)
    dbv = np.repeat(dbv[:10], 10, axis=0)
    index = deephash.FlatIndex(16)
    index.add(dbc)
    d, i = deephash.rerank(index, qc, qv, dbv, 30, shortlist=100)
    for dr, ir in zip(d, i):
        keys = list(zip(dr.tolist(), ir.tolist()))
        assert keys == sorted(keys)


def test_rerank_bad_arguments():
    qv, dbv, qc, dbc = _data(4, n=50)
    index = deephash.FlatIndex(16)
    index.add(dbc)
    with pytest.raises(ValueError, match="has 49 rows"):
        deephash.rerank(index, qc, qv, dbv[:49], 5)
    with pytest.raises(ValueError, match="no row in db_vectors"):
        deephash.rerank(index, qc, qv, dbv, 5, db_ids=np.arange(1, 51))
    with pytest.raises(ValueError, match="one entry per code"):
        deephash.rerank(index, qc, qv, dbv, 5, db_ids=np.arange(49))
    with pytest.raises(ValueError, match="unique"):
        deephash.rerank(index, qc, qv, dbv, 5, db_ids=np.zeros(50, np.int64))
    with pytest.raises(ValueError, match="not both"):
        deephash.rerank(index, qc, qv, dbv, 5, shortlist=10, radius=2)
    with pytest.raises(ValueError, match="same dimension"):
        deephash.rerank(index, qc, qv[:, :3], dbv, 5)
    with pytest.raises(ValueError, match="one row per query code"):
        deephash.rerank(index, qc, qv[:3], dbv, 5)
    with pytest.raises(TypeError, match="float32 or float64"):
        deephash.rerank(index, qc, qv.astype(np.int64), dbv, 5)
    with pytest.raises(ValueError, match="finite"):
        deephash.rerank(index, qc, qv * np.nan, dbv, 5)
    with pytest.raises(ValueError, match="k must be >= 1"):
        deephash.rerank(index, qc, qv, dbv, 0)
    with pytest.raises(TypeError, match="shortlist must be an int"):
        deephash.rerank(index, qc, qv, dbv, 5, shortlist=2.0)
    with pytest.raises(TypeError, match="index must be"):
        deephash.rerank(dbc, qc, qv, dbv, 5)
    with pytest.raises(TypeError, match="uint8"):
        deephash.rerank(index, qc.astype(np.int32), qv, dbv, 5)

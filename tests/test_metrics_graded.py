"""Graded metrics (ACG@k, NDCG@k, weighted mAP), weighted-Hamming mAP and metrics of given
rankings, against brute-force references that enumerate every order within tie groups."""

from __future__ import annotations

import itertools
import math

import deephash
import numpy as np
import pytest
from deephash import metrics
from deephash.metrics._weighted import quantize_weights


def _dist(q, db):
    qb = np.unpackbits(q, axis=1, bitorder="little").astype(int)
    dbb = np.unpackbits(db, axis=1, bitorder="little").astype(int)
    return np.abs(qb[:, None, :] - dbb[None, :, :]).sum(axis=2)


def _grades(ql, dl):
    if ql.ndim == 1:
        return (ql[:, None] == dl[None, :]).astype(int)
    return (ql[:, None, :].astype(int) * dl[None, :, :]).sum(axis=2)


def _engine_distances(q, db, weights):
    """Weighted distances as FlatIndex.search reports them, (nq, n) float64 by position."""
    index = deephash.FlatIndex(db.shape[1] * 8)
    index.add(db)
    d, i = index.search(q, db.shape[0], weights=weights)
    out = np.empty(d.shape)
    np.put_along_axis(out, i, d.astype(np.float64), axis=1)
    return out


# Reference metrics of one ranked sequence of grades.
def _acg(seq, k):
    return sum(seq[:k]) / k


def _dcg(seq, k):
    return sum((2.0**g - 1) / math.log2(i + 2) for i, g in enumerate(seq[:k]))


def _wap(seq, k):
    total, hits, cum = 0.0, 0, 0
    for p, g in enumerate(seq[:k], start=1):
        cum += g
        if g > 0:
            hits += 1
            total += cum / p
    return total / hits if hits else 0.0


def _ap(seq, k):
    return _wap([int(g > 0) for g in seq], k)


def _by_id(metric, d_row, g_row, k):
    order = sorted(range(len(d_row)), key=lambda i: (d_row[i], i))
    return metric([g_row[i] for i in order], k)


def _average(metric, d_row, g_row, k):
    """Exact mean of the metric over every order within each group of equal distance."""
    groups = []
    for d in sorted(set(d_row.tolist())):
        members = [int(g_row[i]) for i in range(len(d_row)) if d_row[i] == d]
        groups.append(sorted(set(itertools.permutations(members))))
    acc, count = 0.0, 0
    for combo in itertools.product(*groups):
        acc += metric([g for part in combo for g in part], k)
        count += 1
    return acc / count


def _case(seed, nq=5, n=11, bits=8, multi_hot=True, distinct=4):
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, size=(distinct, bits // 8), dtype=np.uint8)
    q = pool[rng.integers(0, distinct, nq)].copy()
    db = pool[rng.integers(0, distinct, n)].copy()
    rows = rng.random(n) < 0.5
    cols = rng.integers(0, bits, n)
    db[rows, cols[rows] // 8] ^= (1 << (cols[rows] % 8)).astype(np.uint8)
    if multi_hot:
        ql = (rng.random((nq, 4)) < 0.5).astype(np.uint8)
        dl = (rng.random((n, 4)) < 0.4).astype(np.uint8)
    else:
        ql = rng.integers(0, 3, nq)
        dl = rng.integers(0, 3, n)
    return q, ql, db, dl


@pytest.fixture(params=["engine", "sort"])
def ranking_backend(request, monkeypatch):
    """ties="id" rankings from FlatIndex.search, then from sorting."""
    from deephash.metrics import _ranking

    monkeypatch.setattr(_ranking, "ENGINE_MAX_FRACTION", 1.0 if request.param == "engine" else 0.0)
    return request.param


def _weights(case: str, bits: int, nq: int, seed: int):
    rng = np.random.default_rng(seed)
    if case == "none":
        return None
    if case == "shared":
        # Few distinct values, so that weighted distances still tie.
        return rng.choice(np.array([0.0, 0.5, 1.25, 2.0], np.float32), size=bits)
    return rng.choice(np.array([0.25, 1.0, 3.0], np.float32), size=(nq, bits))


@pytest.mark.parametrize("weights", ["none", "shared", "per_query"])
@pytest.mark.parametrize("multi_hot", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_graded_metrics_match_brute_force(seed, multi_hot, weights, ranking_backend):
    q, ql, db, dl = _case(seed, multi_hot=multi_hot)
    w = _weights(weights, 8, q.shape[0], seed)
    d = _dist(q, db) if w is None else _engine_distances(q, db, w)
    g = _grades(np.asarray(ql), np.asarray(dl))
    n = db.shape[0]
    for k in (1, 4, 7, n, 50):
        kk = min(k, n)
        for ties, ref in (("id", _by_id), ("average", _average)):
            acg = metrics.acg_at_k(q, ql, db, dl, k=k, ties=ties, weights=w)
            exp_acg = [ref(_acg, d[i], g[i], kk) for i in range(q.shape[0])]
            np.testing.assert_allclose(acg.per_query, exp_acg, rtol=1e-12, atol=1e-12)
            assert acg.k == kk and acg.ties == ties

            ndcg = metrics.ndcg_at_k(q, ql, db, dl, k=k, ties=ties, weights=w)
            idcg = [_dcg(sorted(g[i], reverse=True), kk) for i in range(q.shape[0])]
            exp_ndcg = [ref(_dcg, d[i], g[i], kk) / idcg[i] if idcg[i] > 0 else 0.0 for i in range(q.shape[0])]
            np.testing.assert_allclose(ndcg.per_query, exp_ndcg, rtol=1e-10, atol=1e-12)
            assert ndcg.value == pytest.approx(np.mean(exp_ndcg), abs=1e-12)
            assert ndcg.n_no_relevant == sum(x == 0 for x in idcg)

            topk = None if k == 50 else k
            wm = metrics.weighted_map(q, ql, db, dl, topk=topk, ties=ties, weights=w)
            exp_w = [ref(_wap, d[i], g[i], kk) for i in range(q.shape[0])]
            np.testing.assert_allclose(wm.ap, exp_w, rtol=1e-10, atol=1e-12)

            m = metrics.mean_average_precision(q, ql, db, dl, topk=topk, ties=ties, weights=w)
            exp_m = [ref(_ap, d[i], g[i], kk) for i in range(q.shape[0])]
            np.testing.assert_allclose(m.ap, exp_m, rtol=1e-10, atol=1e-12)


def test_graded_metrics_on_a_larger_case_with_many_ties():
    # Hamming path in blocks of queries and the sorted (weighted) path must agree when the
    # weights are all ones; weighted mAP equals mAP for class ids.
    rng = np.random.default_rng(7)
    centers = rng.integers(0, 2, (5, 16))
    dl = (rng.random((2000, 6)) < 0.3).astype(np.uint8)
    ql = (rng.random((150, 6)) < 0.3).astype(np.uint8)
    db = deephash.pack_bits(centers[rng.integers(0, 5, 2000)] ^ (rng.random((2000, 16)) < 0.1))
    q = deephash.pack_bits(centers[rng.integers(0, 5, 150)] ^ (rng.random((150, 16)) < 0.1))
    ones = np.ones(16, np.float32)
    for fn in (metrics.acg_at_k, metrics.ndcg_at_k):
        for ties in ("average", "id"):
            a = fn(q, ql, db, dl, k=100, ties=ties)
            b = fn(q, ql, db, dl, k=100, ties=ties, weights=ones)
            np.testing.assert_allclose(a.per_query, b.per_query, rtol=1e-12, atol=1e-12)
    for ties in ("average", "id"):
        for topk in (None, 250):
            a = metrics.weighted_map(q, ql, db, dl, topk=topk, ties=ties)
            b = metrics.weighted_map(q, ql, db, dl, topk=topk, ties=ties, weights=ones * 3)
            np.testing.assert_allclose(a.ap, b.ap, rtol=1e-12, atol=1e-12)
            c = metrics.mean_average_precision(q, ql, db, dl, topk=topk, ties=ties)
            d = metrics.mean_average_precision(q, ql, db, dl, topk=topk, ties=ties, weights=ones)
            np.testing.assert_allclose(c.ap, d.ap, rtol=1e-12, atol=1e-12)
    qi, di = ql.argmax(axis=1), dl.argmax(axis=1)
    for ties in ("average", "id"):
        a = metrics.weighted_map(q, qi, db, di, ties=ties)
        b = metrics.mean_average_precision(q, qi, db, di, ties=ties)
        np.testing.assert_allclose(a.ap, b.ap, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bits", [8, 24, 64, 136])
def test_weight_quantisation_matches_the_engine(bits):
    rng = np.random.default_rng(bits)
    w = (rng.random((3, bits)) * rng.choice([1e-6, 1.0, 1e6], size=(3, 1))).astype(np.float32)
    w[0, : bits // 2] = 0
    q = rng.integers(0, 256, (3, bits // 8), dtype=np.uint8)
    db = rng.integers(0, 256, (50, bits // 8), dtype=np.uint8)
    got = _engine_distances(q, db, w)
    units = quantize_weights(w, bits)
    diff = np.unpackbits(q[:, None, :] ^ db[None, :, :], axis=2, bitorder="little").astype(np.int64)
    totals = (diff * units[:, None, :]).sum(axis=2)
    p = 22 - math.ceil(math.log2(bits))
    e = np.array([math.frexp(float(m))[1] - p for m in w.max(axis=1)])
    np.testing.assert_array_equal(np.ldexp(totals.astype(np.float64), e[:, None]), got)
    # And the metrics' own distance blocks give the same integers, shared and per query.
    from deephash.metrics._weighted import WeightedDistances

    np.testing.assert_array_equal(WeightedDistances(db, bits, w, 3).block(q, 0), totals)
    shared = WeightedDistances(db, bits, w[1], 3).block(q, 0)
    np.testing.assert_array_equal(shared, (diff * quantize_weights(w[1], bits)).sum(axis=2))


def test_weighted_id_ranking_is_the_engines(ranking_backend):
    from deephash.metrics import _ranking
    from deephash.metrics._weighted import WeightedDistances

    rng = np.random.default_rng(1)
    db = rng.integers(0, 4, (400, 2), dtype=np.uint8)  # few distinct codes: many ties
    q = rng.integers(0, 4, (6, 2), dtype=np.uint8)
    w = rng.choice(np.array([0.5, 1.0, 1.5], np.float32), size=16)
    index = deephash.FlatIndex(16)
    index.add(db)
    _, ids = index.search(q, 400, weights=w)
    monkey = 1.0 if ranking_backend == "engine" else 0.0
    assert _ranking.ENGINE_MAX_FRACTION == monkey
    ((_, _, pos),) = list(_ranking.ranking(q, db, 16, 400, WeightedDistances(db, 16, w, 6)))
    np.testing.assert_array_equal(pos, ids)


def test_graded_results_do_not_depend_on_database_order_with_average_ties():
    q, ql, db, dl = _case(4, nq=8, n=60)
    perm = np.random.default_rng(0).permutation(60)
    for fn in (metrics.acg_at_k, metrics.ndcg_at_k):
        a, b = fn(q, ql, db, dl, k=10), fn(q, ql, db[perm], dl[perm], k=10)
        np.testing.assert_allclose(a.per_query, b.per_query, rtol=1e-12)
    a, b = metrics.weighted_map(q, ql, db, dl, topk=10), metrics.weighted_map(q, ql, db[perm], dl[perm], topk=10)
    np.testing.assert_allclose(a.ap, b.ap, rtol=1e-12)


@pytest.mark.parametrize("multi_hot", [False, True])
def test_ranking_metrics_of_given_ids(multi_hot):
    q, ql, db, dl = _case(2, nq=7, n=30, multi_hot=multi_hot)
    index = deephash.FlatIndex(8)
    index.add(db)
    _, ids = index.search(q, 40)  # 10 padding slots (-1) per row
    assert (ids[:, 30:] == -1).all()
    got = metrics.ranking_map(ids, ql, dl)
    ref = metrics.mean_average_precision(q, ql, db, dl, ties="id")
    np.testing.assert_allclose(got.ap, ref.ap, rtol=1e-12)
    assert got.topk == 40 and got.ties == "given"
    g = _grades(np.asarray(ql), np.asarray(dl))
    for k in (1, 5, 12):
        got = metrics.ranking_map(ids, ql, dl, topk=k)
        exp = [_ap([g[i, j] for j in ids[i, :k]], k) for i in range(7)]
        np.testing.assert_allclose(got.ap, exp, rtol=1e-12)
        assert got.topk == k
    pn = metrics.ranking_precision_at_n(ids, ql, dl, ns=[1, 5, 30, 40])
    ref = metrics.precision_at_n(q, ql, db, dl, ns=[1, 5, 30], ties="id")
    np.testing.assert_allclose(pn.precision[:3], ref.precision, rtol=1e-12)
    np.testing.assert_allclose(pn.recall[:3], ref.recall, rtol=1e-12)
    assert pn.precision[3] == pytest.approx(pn.precision[2] * 30 / 40)
    # A re-ordered shortlist: relevant items first gives AP 1 wherever one is relevant.
    rel = g > 0
    best = np.argsort(~rel, axis=1, kind="stable")[:, :10]
    res = metrics.ranking_map(best, ql, dl)
    assert np.all(res.ap[rel[np.arange(7)[:, None], best].any(axis=1)] == 1.0)


def test_bad_arguments():
    q, ql, db, dl = _case(0)
    with pytest.raises(ValueError, match="ties"):
        metrics.acg_at_k(q, ql, db, dl, ties="first")
    with pytest.raises(ValueError, match="k must be >= 1"):
        metrics.ndcg_at_k(q, ql, db, dl, k=0)
    with pytest.raises(TypeError, match="k must be an int"):
        metrics.ndcg_at_k(q, ql, db, dl, k=2.5)
    with pytest.raises(ValueError, match=">= 0"):
        metrics.weighted_map(q, ql, db, dl, weights=-np.ones(8, np.float32))
    with pytest.raises(ValueError, match="shape"):
        metrics.mean_average_precision(q, ql, db, dl, weights=np.ones(9, np.float32))
    with pytest.raises(TypeError, match="float32"):
        metrics.mean_average_precision(q, ql, db, dl, weights=np.ones(8, np.int64))
    with pytest.raises(ValueError, match="too large"):
        metrics.mean_average_precision(q, ql, db, dl, weights=np.full(8, 3e38, np.float32))
    with pytest.raises(ValueError, match="same kind"):
        metrics.acg_at_k(q, ql, db, dl.argmax(axis=1))
    ids = np.zeros((q.shape[0], 3), np.int64)
    with pytest.raises(TypeError, match="integer"):
        metrics.ranking_map(ids.astype(np.float32), ql, dl)
    with pytest.raises(ValueError, match="2-D"):
        metrics.ranking_map(ids[0], ql, dl)
    with pytest.raises(ValueError, match="one row per code"):
        metrics.ranking_map(ids[:2], ql, dl)
    with pytest.raises(ValueError, match="-1"):
        metrics.ranking_map(ids + db.shape[0], ql, dl)
    with pytest.raises(ValueError, match="ranking length"):
        metrics.ranking_precision_at_n(ids, ql, dl, ns=[4])

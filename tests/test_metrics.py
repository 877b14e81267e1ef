"""deephash.metrics against brute-force references on small cases with many ties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import deephash
from deephash import metrics


def _relevant(ql, dl):
    if ql.ndim == 1:
        return ql[:, None] == dl[None, :]
    return (ql[:, None, :] & dl[None, :, :]).any(axis=2)


def _dist(q, db):
    qb = np.unpackbits(q, axis=1, bitorder="little").astype(int)
    dbb = np.unpackbits(db, axis=1, bitorder="little").astype(int)
    return np.abs(qb[:, None, :] - dbb[None, :, :]).sum(axis=2)


def _ap_of_sequence(rel_seq, k):
    """AP@k of one ranked relevance sequence, normalised by relevant items within k."""
    rel_seq = list(rel_seq)[:k]
    hits, total = 0, 0.0
    for i, r in enumerate(rel_seq, start=1):
        if r:
            hits += 1
            total += hits / i
    return total / hits if hits else 0.0


def _ref_ap_id(d_row, rel_row, k):
    order = sorted(range(len(d_row)), key=lambda i: (d_row[i], i))
    return _ap_of_sequence([rel_row[i] for i in order], k)


def _ref_ap_average(d_row, rel_row, k):
    """Exact expectation over every placement of relevant items inside each tie group."""
    groups = []
    for d in sorted(set(d_row.tolist())):
        members = [i for i in range(len(d_row)) if d_row[i] == d]
        groups.append((len(members), sum(bool(rel_row[i]) for i in members)))
    choices = [list(itertools.combinations(range(n), r)) for n, r in groups]
    acc, count = 0.0, 0
    for combo in itertools.product(*choices):
        seq = []
        for (n, _r), pos in zip(groups, combo):
            seq.extend(p in pos for p in range(n))
        acc += _ap_of_sequence(seq, k)
        count += 1
    return acc / count


def _case(seed, nq=6, n=14, bits=8, multi_hot=False, distinct=5):
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, size=(distinct, bits // 8), dtype=np.uint8)
    q = pool[rng.integers(0, distinct, nq)].copy()
    db = pool[rng.integers(0, distinct, n)].copy()
    # Flip one random bit in some codes so that ties are frequent but not total.
    for arr in (q, db):
        rows = rng.random(arr.shape[0]) < 0.5
        cols = rng.integers(0, bits, arr.shape[0])
        arr[rows, cols[rows] // 8] ^= (1 << (cols[rows] % 8)).astype(np.uint8)
    if multi_hot:
        ql = (rng.random((nq, 4)) < 0.35).astype(np.uint8)
        dl = (rng.random((n, 4)) < 0.35).astype(np.uint8)
    else:
        ql = rng.integers(0, 3, nq)
        dl = rng.integers(0, 3, n)
    return q, ql, db, dl


@pytest.fixture(params=["engine", "sort"])
def ranking_backend(request, monkeypatch):
    """Runs a test with ties="id" rankings from FlatIndex.search, then from the stable sort."""
    from deephash.metrics import _ranking

    monkeypatch.setattr(_ranking, "ENGINE_MAX_FRACTION", 1.0 if request.param == "engine" else 0.0)
    return request.param


@pytest.mark.parametrize("multi_hot", [False, True])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("topk", [None, 1, 3, 7, 13, 14, 100])
def test_map_matches_brute_force(seed, multi_hot, topk, ranking_backend):
    q, ql, db, dl = _case(seed, multi_hot=multi_hot)
    d = _dist(q, db)
    rel = _relevant(np.asarray(ql), np.asarray(dl))
    k = db.shape[0] if topk is None else topk
    ref_id = [_ref_ap_id(d[i], rel[i], k) for i in range(q.shape[0])]
    ref_avg = [_ref_ap_average(d[i], rel[i], k) for i in range(q.shape[0])]
    got_id = metrics.mean_average_precision(q, ql, db, dl, topk=topk, ties="id")
    got_avg = metrics.mean_average_precision(q, ql, db, dl, topk=topk, ties="average")
    np.testing.assert_allclose(got_id.ap, ref_id, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_avg.ap, ref_avg, rtol=1e-10, atol=1e-12)
    assert got_avg.map == pytest.approx(np.mean(ref_avg), abs=1e-12)
    assert float(got_id) == pytest.approx(np.mean(ref_id), abs=1e-12)
    assert got_avg.ties == "average" and got_avg.topk == topk


def test_ties_average_is_order_invariant_and_id_is_not():
    rng = np.random.default_rng(3)
    # Two distinct codes only: every query sees two big tie groups.
    pool = rng.integers(0, 256, size=(2, 2), dtype=np.uint8)
    db = pool[rng.integers(0, 2, 300)]
    dl = rng.integers(0, 4, 300)
    q = pool[rng.integers(0, 2, 20)]
    ql = rng.integers(0, 4, 20)
    perm = rng.permutation(300)
    a = metrics.mean_average_precision(q, ql, db, dl)
    b = metrics.mean_average_precision(q, ql, db[perm], dl[perm])
    assert a.map == pytest.approx(b.map, abs=1e-12)
    # Class-sorted database with ties="id": relevant items of low classes come first, which
    # changes the AP of those queries -- the pitfall tie-aware AP avoids.
    order = np.argsort(dl, kind="stable")
    c = metrics.mean_average_precision(q, ql, db[order], dl[order], ties="id")
    assert abs(c.map - a.map) > 1e-3


def test_large_tie_group_closed_form_matches_sampling():
    # One tie group of 2,000 items with 500 relevant: expected AP against a Monte Carlo mean.
    rng = np.random.default_rng(0)
    n, r = 2000, 500
    db = np.zeros((n, 1), np.uint8)
    dl = np.zeros(n, np.int64)
    dl[:r] = 1
    q = np.zeros((1, 1), np.uint8)
    ql = np.array([1])
    got = metrics.mean_average_precision(q, ql, db, dl, topk=300).map
    samples = []
    for _ in range(400):
        seq = rng.permutation(dl)[:300] == 1
        samples.append(_ap_of_sequence(seq, 300))
    assert got == pytest.approx(np.mean(samples), abs=4 * np.std(samples) / 20 + 1e-3)
    full = metrics.mean_average_precision(q, ql, db, dl).map
    # Random order of a single group: expected AP is close to r / n for large n.
    assert full == pytest.approx(r / n, abs=0.01)


def test_no_relevant_counts_zero():
    q = np.array([[0], [255]], np.uint8)
    db = np.array([[0], [1], [3]], np.uint8)
    res = metrics.mean_average_precision(q, np.array([5, 0]), db, np.array([0, 0, 1]))
    assert res.n_no_relevant == 1
    assert res.ap[0] == 0.0
    assert res.ap[1] > 0.0
    assert res.map == pytest.approx(res.ap[1] / 2)


@pytest.mark.parametrize("bits", [8, 16, 24, 64, 72, 128, 264])
def test_hamming_distances(bits):
    rng = np.random.default_rng(bits)
    q = rng.integers(0, 256, (7, bits // 8), dtype=np.uint8)
    db = rng.integers(0, 256, (11, bits // 8), dtype=np.uint8)
    np.testing.assert_array_equal(metrics.hamming_distances(q, db), _dist(q, db))


def test_hamming_distances_rejects_unpacked_codes():
    q = np.zeros((2, 8), dtype=np.uint8)
    with pytest.raises(TypeError, match="query_codes must be a numpy array of packed uint8 codes.*float"):
        metrics.hamming_distances(q.astype(np.float32), q)
    with pytest.raises(TypeError, match="db_codes .* got list"):
        metrics.hamming_distances(q, [[0] * 8])


@pytest.mark.parametrize("multi_hot", [False, True])
@pytest.mark.parametrize("bits", [8, 16, 40])
def test_histograms_and_radius(bits, multi_hot):
    q, ql, db, dl = _case(11, nq=9, n=40, bits=bits, multi_hot=multi_hot)
    d = _dist(q, db)
    rel = _relevant(np.asarray(ql), np.asarray(dl))
    h = metrics.distance_histograms(q, ql, db, dl)
    for i in range(q.shape[0]):
        np.testing.assert_array_equal(h.total[i], np.bincount(d[i], minlength=bits + 1))
        np.testing.assert_array_equal(h.relevant[i], np.bincount(d[i][rel[i]], minlength=bits + 1))
    for radius in (0, 1, 2, 3, bits + 5):
        within = d <= radius
        cnt = within.sum(1)
        prec = np.where(cnt > 0, (within & rel).sum(1) / np.maximum(cnt, 1), 0.0)
        nrel = rel.sum(1)
        rec = ((within & rel).sum(1)[nrel > 0] / nrel[nrel > 0]).mean()
        res = metrics.precision_at_radius(q, ql, db, dl, radius=radius)
        assert res.precision == pytest.approx(prec.mean(), abs=1e-12)
        assert res.recall == pytest.approx(rec, abs=1e-12)
        assert res.n_empty == int((cnt == 0).sum())
        assert res.radius == radius
    pr = metrics.precision_recall_curve(q, ql, db, dl)
    assert pr.radius.tolist() == list(range(bits + 1))
    r2 = metrics.precision_at_radius(q, ql, db, dl, radius=2)
    assert pr.precision[2] == pytest.approx(r2.precision)
    assert pr.recall[-1] == pytest.approx(1.0)
    assert np.all(np.diff(pr.recall) >= -1e-12)
    assert pr.n_empty[2] == r2.n_empty


@pytest.mark.parametrize("multi_hot", [False, True])
def test_precision_at_n(multi_hot, ranking_backend):
    q, ql, db, dl = _case(5, nq=5, n=12, multi_hot=multi_hot, distinct=3)
    d = _dist(q, db)
    rel = _relevant(np.asarray(ql), np.asarray(dl))
    ns = [1, 2, 5, 11, 12]
    got_id = metrics.precision_at_n(q, ql, db, dl, ns=ns, ties="id")
    got_avg = metrics.precision_at_n(q, ql, db, dl, ns=ns, ties="average")
    for j, cut in enumerate(ns):
        p_id, p_avg = [], []
        for i in range(q.shape[0]):
            order = sorted(range(12), key=lambda t: (d[i][t], t))
            p_id.append(sum(rel[i][t] for t in order[:cut]) / cut)
            # Expected precision: within the straddling group, each slot is relevant with
            # probability (relevant in group) / (group size).
            exp = 0.0
            for t in range(12):
                dd = d[i][t]
                before = (d[i] < dd).sum()
                size = (d[i] == dd).sum()
                inside = min(max(cut - before, 0), size)
                exp += rel[i][t] * inside / size
            p_avg.append(exp / cut)
        assert got_id.precision[j] == pytest.approx(np.mean(p_id), abs=1e-12)
        assert got_avg.precision[j] == pytest.approx(np.mean(p_avg), abs=1e-12)
    assert got_avg.recall[-1] == pytest.approx(got_id.recall[-1])


def test_matches_index_search_for_ties_id(ranking_backend):
    # ties="id" ranks as FlatIndex.search does: by (distance, id) with ids = positions.
    rng = np.random.default_rng(1)
    db = deephash.pack_bits(rng.integers(0, 2, (200, 16)))
    q = deephash.pack_bits(rng.integers(0, 2, (10, 16)))
    dl = rng.integers(0, 5, 200)
    ql = rng.integers(0, 5, 10)
    index = deephash.FlatIndex(16)
    index.add(db)
    _, ids = index.search(q, 50)
    ref = [_ap_of_sequence(dl[ids[i]] == ql[i], 50) for i in range(10)]
    got = metrics.mean_average_precision(q, ql, db, dl, topk=50, ties="id")
    np.testing.assert_allclose(got.ap, ref, atol=1e-12)


def test_input_errors():
    q = np.zeros((3, 2), np.uint8)
    db = np.zeros((5, 2), np.uint8)
    ql, dl = np.zeros(3, int), np.zeros(5, int)
    with pytest.raises(ValueError, match="one row per code"):
        metrics.mean_average_precision(q, ql[:2], db, dl)
    with pytest.raises(ValueError, match="one row per code"):
        metrics.mean_average_precision(q, ql, db, dl[:4])
    with pytest.raises(ValueError, match="ties"):
        metrics.mean_average_precision(q, ql, db, dl, ties="random")
    with pytest.raises(ValueError, match="topk"):
        metrics.mean_average_precision(q, ql, db, dl, topk=0)
    with pytest.raises(TypeError, match="uint8"):
        metrics.mean_average_precision(q.astype(np.int32), ql, db, dl)
    with pytest.raises(ValueError, match="bytes per row"):
        metrics.mean_average_precision(np.zeros((3, 3), np.uint8), ql, db, dl)
    with pytest.raises(ValueError, match="same kind"):
        metrics.mean_average_precision(q, ql, db, np.zeros((5, 2), np.uint8))
    with pytest.raises(TypeError, match="class ids"):
        metrics.precision_at_radius(q, ql.astype(float), db, dl)
    with pytest.raises(ValueError, match="radius"):
        metrics.precision_at_radius(q, ql, db, dl, radius=-1)
    with pytest.raises(ValueError, match="cut-offs"):
        metrics.precision_at_n(q, ql, db, dl, ns=[0, 3])

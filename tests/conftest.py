"""Shared fixtures: NumPy oracles, every SIMD level this machine supports, thread counts."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
from hypothesis import settings

import deephash
from deephash import _core

# One hypothesis profile for every test (CI included): derandomised, so a run is reproducible and
# a failure shows up on every run; HYPOTHESIS_PROFILE=explore searches with fresh randomness.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config, items):
    """The ``cuda`` marker implies the skip: such tests run only where a CUDA device is usable."""
    if deephash.cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


_ORDER = ["scalar", "avx2", "avx512"]
SUPPORTED_LEVELS = _ORDER[: _ORDER.index(_core.detected_simd_level()) + 1]


@contextlib.contextmanager
def simd_level(name: str):
    """Runs the block with the kernels capped at `name`, then restores the previous level."""
    previous = _core.simd_level()
    got = _core._set_simd_level(name)
    assert got == name, f"could not select SIMD level {name}"
    try:
        yield
    finally:
        _core._set_simd_level(_core.detected_simd_level())
        _core._set_simd_level(previous)


@contextlib.contextmanager
def num_threads(n: int):
    previous = deephash.get_num_threads()
    deephash.set_num_threads(n)
    try:
        yield
    finally:
        deephash.set_num_threads(previous)


@pytest.fixture(params=SUPPORTED_LEVELS)
def level(request):
    with simd_level(request.param):
        yield request.param


@pytest.fixture(params=[1, 2])
def threads(request):
    with num_threads(request.param):
        yield request.param


def hamming_oracle(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(nq, n) int64 Hamming distances: popcount of XOR, in NumPy."""
    x = np.bitwise_xor(queries[:, None, :], codes[None, :, :])
    return np.bitwise_count(x).sum(axis=2, dtype=np.int64)


def knn_oracle(queries, codes, ids, k):
    """Expected (distances, ids) of FlatIndex.search: sorted by (distance, id, position)."""
    d = hamming_oracle(queries, codes)
    nq, n = d.shape
    out_d = np.full((nq, k), 2**31 - 1, dtype=np.int32)
    out_i = np.full((nq, k), -1, dtype=np.int64)
    pos = np.arange(n)
    for q in range(nq):
        order = np.lexsort((pos, ids, d[q]))[:k]
        out_d[q, : len(order)] = d[q, order]
        out_i[q, : len(order)] = ids[order]
    return out_d, out_i


def range_oracle(queries, codes, ids, radius):
    d = hamming_oracle(queries, codes)
    lims, dist, out = [0], [], []
    pos = np.arange(codes.shape[0])
    for q in range(queries.shape[0]):
        sel = np.nonzero(d[q] <= radius)[0]
        order = sel[np.lexsort((pos[sel], ids[sel], d[q, sel]))]
        dist.append(d[q, order])
        out.append(ids[order])
        lims.append(lims[-1] + len(order))
    return (
        np.array(lims, dtype=np.int64),
        np.concatenate(dist).astype(np.int32) if dist else np.zeros(0, np.int32),
        np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64),
    )


def random_codes(rng, n, bits):
    return rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)


def clustered_codes(rng, n, bits, centres=10, flip=0.1):
    """Codes near a few random centres (each bit flipped with probability `flip`)."""
    c = rng.integers(0, 2, size=(centres, bits), dtype=np.uint8)
    which = rng.integers(0, centres, size=n)
    noise = (rng.random((n, bits)) < flip).astype(np.uint8)
    return np.packbits(c[which] ^ noise, axis=1, bitorder="little")


# -- shared by the method tests ---------------------------------------------------------------


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny networks: one torch thread avoids oversubscription on a shared CI machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits, shuffled with seed 0: (train x, train y, query x, query y), 300 queries."""
    from sklearn import datasets

    x, y = datasets.load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm].astype(np.float32), y[perm]
    return x[300:], y[300:], x[:300], y[:300]


@pytest.fixture(scope="session")
def snippets():
    """A few hundred SearchSnippets texts: 60 per class for the database, 8 per class as queries."""
    from deephash import data

    ds = data.load_stc2("SearchSnippets")
    rng = np.random.default_rng(0)
    db, q = [], []
    for c in range(ds.n_classes):
        members = rng.permutation(np.flatnonzero(ds.labels == c))
        q.extend(members[:8])
        db.extend(members[8:68])
    texts = np.asarray(ds.texts, dtype=object)
    return list(texts[db]), ds.labels[db], list(texts[q]), ds.labels[q]


def tie_map(model, xq, yq, xdb, ydb) -> float:
    """Tie-aware mAP@ALL of a fitted model's codes (queries against the database)."""
    from deephash import metrics

    return metrics.mean_average_precision(model.encode(xq), yq, model.encode(xdb), ydb).map


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray (2 CPUs) for the distributed tests, started once per session."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install deephash[distributed])")
    # Workers must import this deephash, not another copy on their path.
    root = os.path.dirname(os.path.dirname(os.path.abspath(deephash.__file__)))
    os.environ["PYTHONPATH"] = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()

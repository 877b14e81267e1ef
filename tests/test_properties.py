"""Property tests: FlatIndex equals the oracle for arbitrary small inputs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import deephash
from conftest import knn_oracle, range_oracle


@st.composite
def problems(draw):
    nbytes = draw(st.sampled_from([1, 3, 4, 8, 9, 16, 32, 64]))
    n = draw(st.integers(0, 60))
    nq = draw(st.integers(1, 4))
    # A small alphabet of byte values makes ties likely.
    alphabet = st.sampled_from([0, 1, 0x0F, 0xFF, 0xA5])
    db = np.array(
        draw(st.lists(st.lists(alphabet, min_size=nbytes, max_size=nbytes), min_size=n, max_size=n)), dtype=np.uint8
    ).reshape(n, nbytes)
    q = np.array(
        draw(st.lists(st.lists(alphabet, min_size=nbytes, max_size=nbytes), min_size=nq, max_size=nq)), dtype=np.uint8
    ).reshape(nq, nbytes)
    # Negative ids are allowed, except -1 (it pads missing results; add() refuses it).
    ids = np.array(
        draw(st.lists(st.integers(-5, 40).filter(lambda v: v != -1), min_size=n, max_size=n)), dtype=np.int64
    )
    k = draw(st.integers(1, 70))
    radius = draw(st.integers(0, 8 * nbytes))
    return db, q, ids, k, radius


@settings(max_examples=150)
@given(problems())
def test_flat_index_equals_oracle(problem):
    db, q, ids, k, radius = problem
    index = deephash.FlatIndex(8 * db.shape[1])
    index.add(db, ids)
    d, i = index.search(q, k)
    ed, ei = knn_oracle(q, db, ids, k)
    np.testing.assert_array_equal(d, ed)
    np.testing.assert_array_equal(i, ei)
    for a, b in zip(index.range_search(q, radius), range_oracle(q, db, ids, radius)):
        np.testing.assert_array_equal(a, b)

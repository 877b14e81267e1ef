"""The shared ITQ rotation: orthogonal, deterministic, and it lowers the quantisation error."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.methods._itq import itq_rotation, quantization_error


def _projections(seed=0, n=500, c=8):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, c)) @ rng.standard_normal((c, c))
    return v - v.mean(0)


def test_rotation_is_orthogonal_and_seeded():
    v = _projections()
    r = itq_rotation(v, n_iter=20, seed=3)
    np.testing.assert_allclose(r.T @ r, np.eye(v.shape[1]), atol=1e-10)
    np.testing.assert_array_equal(r, itq_rotation(v, n_iter=20, seed=3))
    assert not np.array_equal(r, itq_rotation(v, n_iter=20, seed=4))


def test_iterations_lower_the_quantisation_error():
    v = _projections(1)
    errors = [quantization_error(v, itq_rotation(v, n_iter=k, seed=0)) for k in (0, 1, 5, 50)]
    assert all(later <= earlier + 1e-9 for earlier, later in zip(errors, errors[1:]))
    assert errors[-1] < errors[0]


def test_recovers_a_hidden_rotation_of_binary_codes():
    # Rotated +-1 codes plus a little noise: ITQ finds a rotation back to near-binary values.
    rng = np.random.default_rng(2)
    b = np.where(rng.random((400, 6)) < 0.5, -1.0, 1.0)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    v = (b + 0.05 * rng.standard_normal(b.shape)) @ q.T
    start = quantization_error(v, np.eye(6))
    found = [quantization_error(v, itq_rotation(v, n_iter=50, seed=s)) for s in range(4)]
    assert max(found) < 0.5 * start  # ITQ is a local method: every start improves a lot ...
    assert min(found) < 0.05  # ... and some start finds the hidden rotation


def test_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        itq_rotation(np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        itq_rotation(np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="n_iter"):
        itq_rotation(np.ones((4, 2)), n_iter=-1)

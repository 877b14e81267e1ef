"""Bad input raises TypeError / ValueError that say what was expected and what came."""

import numpy as np
import pytest

import deephash


@pytest.fixture
def index():
    ix = deephash.FlatIndex(64)
    ix.add(np.zeros((10, 8), np.uint8))
    return ix


@pytest.mark.parametrize(
    "bits,exc",
    [(0, ValueError), (12, ValueError), (-8, ValueError), (64.0, TypeError), ("64", TypeError), (True, TypeError)],
)
def test_bad_bits(bits, exc):
    with pytest.raises(exc, match="bits"):
        deephash.FlatIndex(bits)


def test_wrong_dtype(index):
    with pytest.raises(TypeError, match="uint8.*got dtype int64"):
        index.add(np.zeros((2, 8), np.int64))
    with pytest.raises(TypeError, match="got dtype float32"):
        index.search(np.zeros((2, 8), np.float32), 1)
    with pytest.raises(TypeError):
        index.search([[0] * 8], 1)


def test_wrong_width_or_ndim(index):
    with pytest.raises(ValueError, match=r"8 bytes per row.*got 4"):
        index.add(np.zeros((2, 4), np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        index.search(np.zeros((2, 2, 8), np.uint8), 1)
    with pytest.raises(ValueError, match="shape"):
        index.search(np.zeros(7, np.uint8), 1)


def test_non_contiguous_rejected_with_hint(index):
    q = np.zeros((4, 16), np.uint8)[:, ::2]
    with pytest.raises(ValueError, match="ascontiguousarray"):
        index.search(q, 1)


@pytest.mark.parametrize(
    "k,exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (None, TypeError), (True, TypeError)]
)
def test_bad_k(index, k, exc):
    with pytest.raises(exc, match="k"):
        index.search(np.zeros((1, 8), np.uint8), k)


def test_numpy_integer_k_accepted(index):
    d, i = index.search(np.zeros((1, 8), np.uint8), np.int64(3))
    assert d.shape == (1, 3)


@pytest.mark.parametrize("r,exc", [(-1, ValueError), (1.5, TypeError), ("2", TypeError)])
def test_bad_radius(index, r, exc):
    with pytest.raises(exc, match="radius"):
        index.range_search(np.zeros((1, 8), np.uint8), r)


def test_bad_ids(index):
    with pytest.raises(ValueError, match="one entry per code"):
        index.add(np.zeros((2, 8), np.uint8), [1, 2, 3])
    with pytest.raises(TypeError, match="integers"):
        index.add(np.zeros((2, 8), np.uint8), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="1-D"):
        index.add(np.zeros((2, 8), np.uint8), np.zeros((2, 1), np.int64))


def test_torch_cuda_tensor_message():
    torch = pytest.importorskip("torch")
    ix = deephash.FlatIndex(64)
    t = torch.zeros((2, 8), dtype=torch.uint8)
    ix.add(t)  # CPU tensors work
    assert len(ix) == 2

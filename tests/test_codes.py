import numpy as np
import pytest

import deephash


@pytest.mark.parametrize("bits", [8, 16, 24, 64, 72, 256, 4096])
def test_pack_matches_numpy_and_roundtrips(bits):
    rng = np.random.default_rng(bits)
    x = rng.integers(0, 2, size=(13, bits), dtype=np.uint8)
    codes = deephash.pack_bits(x)
    assert codes.dtype == np.uint8 and codes.shape == (13, bits // 8) and codes.flags.c_contiguous
    np.testing.assert_array_equal(codes, np.packbits(x, axis=1, bitorder="little"))
    np.testing.assert_array_equal(deephash.unpack_bits(codes, bits), x)


def test_bit_order_is_little_endian_within_bytes():
    x = np.zeros((1, 16), dtype=np.uint8)
    x[0, 0] = 1  # bit 0 -> byte 0, bit 0
    x[0, 9] = 1  # bit 9 -> byte 1, bit 1
    np.testing.assert_array_equal(deephash.pack_bits(x), [[0b00000001, 0b00000010]])


def test_pm1_and_real_inputs_threshold_at_zero():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((7, 32)).astype(np.float32)
    pm1 = np.where(real > 0, 1, -1).astype(np.int8)
    expected = np.packbits(real > 0, axis=1, bitorder="little")
    np.testing.assert_array_equal(deephash.pack_bits(real), expected)
    np.testing.assert_array_equal(deephash.pack_bits(pm1), expected)
    # exactly 0 is not > 0: bit 0
    np.testing.assert_array_equal(deephash.pack_bits(np.zeros((1, 8))), [[0]])


def test_1d_input_gives_one_row():
    assert deephash.pack_bits(np.ones(16)).shape == (1, 2)


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    t = torch.randn(5, 48, requires_grad=True)
    np.testing.assert_array_equal(deephash.pack_bits(t), np.packbits(t.detach().numpy() > 0, axis=1, bitorder="little"))


@pytest.mark.parametrize(
    "bad,exc",
    [
        (np.ones((3, 12)), ValueError),
        (np.ones((2, 3, 8)), ValueError),
        (np.ones((3, 0)), ValueError),
        (np.array([["a"] * 8]), TypeError),
        (np.ones((1, 8), dtype=complex), TypeError),
    ],
)
def test_pack_rejects(bad, exc):
    with pytest.raises(exc):
        deephash.pack_bits(bad)


def test_unpack_rejects():
    with pytest.raises(TypeError, match="uint8"):
        deephash.unpack_bits(np.zeros((2, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="bits"):
        deephash.unpack_bits(np.zeros((2, 2), dtype=np.uint8), 24)

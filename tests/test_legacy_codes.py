"""The generalised training layer reproduces the codes of the original pairwise trainer."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

FIXTURES = Path(__file__).with_name("fixtures")

# Least bit agreement with the stored codes, per recipe. The vector recipes (an MLP, one thread)
# reproduce the fixture exactly on every CPU measured. The image recipe trains a small CNN whose
# convolutions run in oneDNN kernels chosen per instruction set, so its float rounding differs
# between CPUs and two epochs amplify it: on an Intel Xeon (AVX-512 VPOPCNTDQ) DHN agreed .9956 with
# the AVX-512 kernels, .9981 with ONEDNN_MAX_CPU_ISA=AVX2 and .9998 with SSE41 (the fixture was
# written on another machine). A changed recipe (seed + 10) agrees ~.49-.54, so .99 still catches
# any change to the training layer while allowing twice the spread measured across kernels.
MIN_AGREEMENT = {"DPSH": 0.999, "DSH": 0.999, "DHN": 0.99}


def _recipes():
    spec = importlib.util.spec_from_file_location("make_legacy_codes", FIXTURES / "make_legacy_codes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def regenerated():
    return _recipes().legacy_codes()


def _agreement(a, b):
    a, b = np.unpackbits(a, axis=1), np.unpackbits(b, axis=1)
    assert a.shape == b.shape == (200, 32)
    return float((a == b).mean())


def test_dpsh_dsh_dhn_codes_unchanged(regenerated):
    expected = np.load(FIXTURES / "legacy_codes.npz")
    assert set(regenerated) == set(expected.files) == set(MIN_AGREEMENT)
    for name in expected.files:
        agreement = _agreement(expected[name], regenerated[name])
        assert agreement >= MIN_AGREEMENT[name], (name, agreement)


def test_recipes_bit_exact_on_one_machine(regenerated):
    # What is deterministic on one machine (same kernels, one thread) is checked bit for bit:
    # training again in the same process gives the same codes exactly.
    again = _recipes().legacy_codes()
    for name, codes in regenerated.items():
        np.testing.assert_array_equal(again[name], codes, err_msg=name)

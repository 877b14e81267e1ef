"""The generalised training layer reproduces the codes of the original pairwise trainer."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

FIXTURES = Path(__file__).with_name("fixtures")


def _recipes():
    spec = importlib.util.spec_from_file_location("make_legacy_codes", FIXTURES / "make_legacy_codes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dpsh_dsh_dhn_codes_unchanged():
    expected = np.load(FIXTURES / "legacy_codes.npz")
    got = _recipes().legacy_codes()
    assert set(got) == set(expected.files) == {"DPSH", "DSH", "DHN"}
    for name in expected.files:
        a = np.unpackbits(expected[name], axis=1)
        b = np.unpackbits(got[name], axis=1)
        assert a.shape == b.shape == (200, 32), name
        agreement = float((a == b).mean())
        assert agreement >= 0.999, (name, agreement)

"""Model files written by earlier versions keep loading and encode as they did.

The files in ``fixtures/models`` were written by ``fixtures/models/make_models.py`` with the code
before the training refactor (commit bd777ef): one tiny model per deep method and DCMH.
"""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import deephash.methods as M

FIXTURES = Path(__file__).parent / "fixtures" / "models"
EXPECTED = np.load(FIXTURES / "expected_codes.npz")
KEYS = sorted(k for k in EXPECTED.files if k != "queries")


def _texts():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_models", FIXTURES / "make_models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_deep_method_has_a_fixture():
    names = {M.load(FIXTURES / f"{k}.npz").name.lower() for k in KEYS}
    assert names == {"dpsh", "dsh", "dhn", "cnnh", "cnnhplus", "dlbhc", "dnnh", "dh", "sdh", "drsch", "dsrh"} | {
        "semantichashing",
        "dcmh",
    }


@pytest.mark.parametrize("key", KEYS)
def test_old_model_files_load_and_encode_as_before(key):
    model = M.load(FIXTURES / f"{key}.npz")
    xq = EXPECTED["queries"]
    if key == "dcmh":
        got = np.concatenate([model.encode_image(xq[:, :32]), model.encode_text(xq[:, 32:])], 1)
    elif key == "semantichashing":
        got = model.encode(_texts().texts()[1])
    else:
        got = model.encode(xq)
    np.testing.assert_array_equal(got, EXPECTED[key])

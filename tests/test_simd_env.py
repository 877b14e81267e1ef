"""DEEPHASH_SIMD caps the level chosen at import."""
import os
import subprocess
import sys

import pytest

from conftest import SUPPORTED_LEVELS


@pytest.mark.parametrize("name", SUPPORTED_LEVELS)
def test_env_caps_level(name):
    env = dict(os.environ, DEEPHASH_SIMD=name)
    out = subprocess.run([sys.executable, "-c", "import deephash; print(deephash.simd_level())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == name


def test_unknown_env_value_ignored():
    env = dict(os.environ, DEEPHASH_SIMD="sse9")
    out = subprocess.run([sys.executable, "-c", "import deephash; print(deephash.simd_level())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == SUPPORTED_LEVELS[-1]

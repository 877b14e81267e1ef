"""DEEPHASH_SIMD caps the level chosen at import."""

import os
import subprocess
import sys

import pytest

from conftest import SUPPORTED_LEVELS


@pytest.mark.parametrize("name", SUPPORTED_LEVELS)
def test_env_caps_level(name):
    env = dict(os.environ, DEEPHASH_SIMD=name)
    out = subprocess.run(
        [sys.executable, "-c", "import deephash; print(deephash.simd_level())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == name


def test_unknown_env_value_ignored_with_a_warning():
    env = dict(os.environ, DEEPHASH_SIMD="sse9")
    out = subprocess.run(
        [sys.executable, "-c", "import deephash; print(deephash.simd_level())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == SUPPORTED_LEVELS[-1]
    assert "RuntimeWarning" in out.stderr and "'sse9' is not one of scalar, avx2, avx512" in out.stderr


@pytest.mark.parametrize("name", SUPPORTED_LEVELS)
def test_known_env_value_no_warning(name):
    env = dict(os.environ, DEEPHASH_SIMD=name)
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import deephash"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stderr == ""


def test_simd_levels_are_the_core_names():
    import deephash

    assert deephash.SIMD_LEVELS == ("scalar", "avx2", "avx512")
    assert deephash.simd_level() in deephash.SIMD_LEVELS
    assert issubclass(deephash.FormatError, ValueError)

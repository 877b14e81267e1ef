"""Saves killed with SIGKILL at random (seeded) moments: the previous file stays whole, temporaries
do not accumulate, and a process with a reused PID saves (see tools/crash_save.py)."""

from __future__ import annotations

import sys

import pytest

from _tools import tool

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL and flock (POSIX)")


def test_killed_saves_leave_a_whole_file_and_no_growing_temporaries(tmp_path):
    crash = tool("crash_save")
    result = crash.run(tmp_path, kills=5, seed=1, n=1_000_000, bits=128)
    assert result["kills"] == 5 and result["pid_reuse_save"] == "ok"
    assert result["file_was_A"] + result["file_was_B"] == 5


@pytest.mark.slow
def test_many_killed_saves(tmp_path):
    crash = tool("crash_save")
    result = crash.run(tmp_path, kills=20, seed=2, n=1_500_000, bits=128)
    # Some kills must land inside the write, or the test proves nothing.
    assert result["killed_mid_write"] > 0
    assert result["file_was_A"] + result["file_was_B"] == 20

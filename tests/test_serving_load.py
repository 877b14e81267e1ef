"""A small version of the load test (bench/serve_load.py): concurrent searching clients against
``deephash serve`` on 127.0.0.1 while one client adds items; no errors, and every answer is the
index's top k for one state the collection had during the request."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "serve_load.py"


def load_script():
    spec = importlib.util.spec_from_file_location("serve_load", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checker_rejects_wrong_answers():
    check = load_script().matches_a_state
    ids = np.array([5, 2, 9, 7], dtype=np.int64)
    d = np.array([3, 1, 1, 0])
    before = np.array([True, True, True, False])  # item 7 not added yet
    after = np.ones(4, bool)
    assert check([(1, 2), (1, 9)], d, ids, [before], 2)
    assert check([(0, 7), (1, 2)], d, ids, [before, after], 2)
    assert not check([(0, 7), (1, 2)], d, ids, [before], 2)  # an item of a later state
    assert not check([(1, 9), (1, 2)], d, ids, [before], 2)  # ties not by id
    assert not check([(1, 2), (3, 5)], d, ids, [before], 2)  # an item skipped
    assert not check([(1, 2)], d, ids, [before], 2)  # too few


def test_concurrent_searches_while_adding(tmp_path):
    bench = load_script()
    argv = ["--synthetic", "45", "--clients", "8", "--requests", "12", "--adds", "6", "--add-interval", "0.1"]
    argv += ["--max-seconds", "120", "--json", str(tmp_path / "load.json")]
    assert bench.main(argv) == 0
    res = json.loads((tmp_path / "load.json").read_text())
    assert res["errors"] == 0 and res["mismatches"] == 0 and res["failures"] == []
    assert res["searches"] == 8 * 12 and res["adds"] == 6 and not res["stopped_by_time_limit"]
    assert res["searches_during_adds"] > 0  # the searches did run while adds were committing
    assert res["latency"]["image"]["n"] > 0 and res["latency"]["id"]["n"] > 0 and res["latency"]["code"]["n"] > 0

"""Searches from several Python threads at once give the sequential answers."""

import threading

import numpy as np

import deephash
from conftest import clustered_codes


def test_concurrent_searches_match_sequential():
    rng = np.random.default_rng(21)
    db = clustered_codes(rng, 50_000, 128, centres=20)
    qs = [clustered_codes(rng, 16, 128, centres=20) for _ in range(8)]
    index = deephash.FlatIndex(128)
    index.add(db)
    expected = [index.search(q, 25) for q in qs]
    expected_range = [index.range_search(q, 20) for q in qs]
    results = [None] * len(qs)
    errors = []

    def worker(j):
        try:
            for _ in range(3):
                results[j] = (index.search(qs[j], 25), index.range_search(qs[j], 20))
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(j,)) for j in range(len(qs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for j in range(len(qs)):
        (d, i), rng_res = results[j]
        np.testing.assert_array_equal(d, expected[j][0])
        np.testing.assert_array_equal(i, expected[j][1])
        for a, b in zip(rng_res, expected_range[j]):
            np.testing.assert_array_equal(a, b)


def test_search_after_fork_does_not_hang():
    # The worker pool of the parent does not exist in a forked child: the child must start its own.
    import os
    import subprocess
    import sys

    script = """
import os, numpy as np, deephash
deephash.set_num_threads(2)
index = deephash.FlatIndex(64)
index.add(np.random.default_rng(0).integers(0, 256, (400_000, 8), dtype=np.uint8))
q = index.codes[:1].copy()
expected = index.search(q, 5)
pid = os.fork()
if pid == 0:
    d, i = index.search(q, 5)
    os._exit(0 if (d == expected[0]).all() and (i == expected[1]).all() else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"

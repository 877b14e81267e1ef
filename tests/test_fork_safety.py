"""fork() while other threads use an index: a child never hangs on a lock
its parent's threads held. An index a reader was searching is usable in the child (the lock is
reinitialised, the data was consistent); one a writer was modifying raises RuntimeError there."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np

import deephash


def _wait(pid, seconds=20.0):
    """The child's exit code, or "hung" (then it is killed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"


def _child(index, queries, n_choices):
    """In the child: 0 when the index answers exactly (or refuses with the fork error), else 3/4."""
    try:
        try:
            d, i = index.search(queries, 3)
        except RuntimeError as e:
            os._exit(0 if "forked" in str(e) else 4)
        codes, ids = np.asarray(index.codes), np.asarray(index.ids)
        if len(index) not in n_choices:
            os._exit(3)
        flat = deephash.FlatIndex(index.bits)
        flat.add(codes, ids)
        want = flat.search(queries, 3)
        index.add(queries[:1], [123])  # the child may mutate its own copy
        os._exit(0 if np.array_equal(d, want[0]) and np.array_equal(i, want[1]) else 3)
    except BaseException:
        os._exit(4)


def test_fork_while_another_thread_adds_and_removes_never_hangs():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (100_000, 8), dtype=np.uint8)
    index = deephash.FlatIndex(64)
    index.add(codes)
    n0, batch = len(index), 20_000
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            index.add(codes[:batch], np.arange(10**6, 10**6 + batch))
            index.remove(np.arange(10**6, 10**6 + batch))

    t = threading.Thread(target=writer)
    t.start()
    results = []
    try:
        for _ in range(10):
            time.sleep(0.01)
            pid = os.fork()
            if pid == 0:
                _child(index, codes[:2], (n0, n0 + batch))
            results.append(_wait(pid))
    finally:
        stop.set()
        t.join()
    assert results == [0] * 10, results


def test_child_forked_during_a_search_can_search_and_add():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (200_000, 8), dtype=np.uint8)
    index = deephash.MultiIndex(64)
    index.add(codes)
    threads = deephash.get_num_threads()
    deephash.set_num_threads(1)
    try:
        t = threading.Thread(target=index.search, args=(codes[:3000], 50))  # holds the read lock
        t.start()
        time.sleep(0.05)
        pid = os.fork()
        if pid == 0:
            _child(index, codes[:2], (len(codes),))
        code = _wait(pid)
        t.join()
    finally:
        deephash.set_num_threads(threads)
    assert code == 0

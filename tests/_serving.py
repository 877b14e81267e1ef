"""Helpers of the serving tests: a small image collection built in seconds, and ``deephash serve``
started as a subprocess on a free 127.0.0.1 port (stopped, never left running)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from _collection_data import make_folder

#: A fast image model for tests: LSH on HOG descriptors (no network to run), 32 x 32 inputs.
FAST_IMAGES = dict(method="lsh", method_params={"backbone": "hog"}, bits=32, image_size=32, progress=False)


def build_images(root: Path, per_class: int = 6, damaged: bool = False):
    """(source folder, Collection) of 3 * per_class Pillow-drawn images in class folders."""
    from deephash.collection import Collection

    src = make_folder(Path(root) / "photos", per_class=per_class, damaged=damaged)
    return src, Collection.build(src, Path(root) / "col", **FAST_IMAGES)


def get_json(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def serve(collection: Path, *args: str, timeout: float = 120.0):
    """Runs ``deephash serve COLLECTION --port 0 ARGS`` and yields its base URL
    (``http://127.0.0.1:PORT/``) once ``/health`` answers; stops it on exit."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with tempfile.TemporaryFile(mode="w+") as err:
        cmd = [sys.executable, "-m", "deephash", "serve", str(collection), "--port", "0", "--log-level", "warning"]
        proc = subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        try:
            line = proc.stdout.readline()  # the server prints its URL first (or exits)
            m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if not m:
                proc.wait(timeout=30)
                err.seek(0)
                raise RuntimeError(f"deephash serve did not start (exit {proc.returncode}): {line}{err.read()}")
            url = m.group(1)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    get_json(url + "health", timeout=5)
                    break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err.seek(0)
                        raise RuntimeError(f"deephash serve never answered /health: {err.read()}") from None
                    time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()

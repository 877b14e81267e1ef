"""Load test of ``deephash serve`` on 127.0.0.1: many concurrent searching clients while one
client adds items; latency percentiles, errors, and every result checked against the index.

    PYTHONPATH=python python bench/serve_load.py --synthetic 300                 # a Pillow-drawn collection
    PYTHONPATH=python python bench/serve_load.py --collection COL --clients 32   # a copy of COL

The server (``python -m deephash serve COPY --port 0``) runs on a copy of the collection (adds
never change the original) and is stopped at the end. Bounded: ``--clients`` x ``--requests``
searches and ``--adds`` adds, stopped after ``--max-seconds`` whatever is left; loopback only.

Queries: image uploads (multipart ``file``, drawn from the collection's own images), item ids
and hex codes, mixed by ``--mix``. Every answer is checked exactly: the server returns the code
it searched with (``query_code``); an uploaded image's code must equal the Python API's
``Collection.encode`` of the same bytes, an id's the item's stored code, and the results must be
the top k by (distance, id) of that code over one state the collection had while the request
ran: the items before the build plus the first j adds, where j lies between the adds answered
before the request was sent and the adds sent before it was answered. The index after the run
gives every item's code. Exit status 1 on any error or mismatch.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

import deephash
from deephash.collection import Collection

FAST_MODEL = dict(method="lsh", method_params={"backbone": "hog"}, bits=32, image_size=32, progress=False)


def drawn_image(rng: np.random.Generator, size=(48, 40)) -> bytes:
    """A PNG of a random colour with a bright rectangle (Pillow)."""
    from PIL import Image

    w, h = size
    a = rng.integers(0, 256, 3) + rng.integers(-30, 30, (h, w, 3))
    y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
    a[y : y + h // 3, x : x + w // 3] = rng.integers(180, 256, 3)
    buf = io.BytesIO()
    Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def synthetic_collection(n: int, root: Path) -> Path:
    rng = np.random.default_rng(1)
    src = root / "photos"
    for i in range(n):
        d = src / f"class{i % 5}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:05d}.png").write_bytes(drawn_image(rng, (int(rng.integers(32, 64)), int(rng.integers(32, 64)))))
    Collection.build(src, root / "col", **FAST_MODEL).close()
    return root / "col"


def multipart(data: bytes, name: str = "file"):
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="q.png"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Server:
    """``python -m deephash serve COL --port 0`` as a subprocess (127.0.0.1)."""

    def __init__(self, col: Path, threads=None):
        cmd = [sys.executable, "-m", "deephash", "serve", str(col), "--port", "0", "--log-level", "warning"]
        if threads:
            cmd += ["--threads", str(threads)]
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"at http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.stop()
            raise RuntimeError(f"the server did not start: {line}{self.stderr()}")
        self.port = int(m.group(1))
        deadline = time.monotonic() + 120
        while True:
            conn = self.connect()
            try:
                status, _ = request(conn, "GET", "/health")
                if status == 200:
                    break
            except OSError:
                pass
            finally:
                conn.close()
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server never answered /health: {self.stderr()}")
            time.sleep(0.1)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


def request(conn, method, path, body=None, ctype=None):
    headers = {"Content-Type": ctype} if ctype else {}
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)


def matches_a_state(got, distances, ids, states, k: int) -> bool:
    """Whether ``got`` ([(distance, id), ...]) is the top k by (distance, id) over the items of one
    of ``states`` (boolean masks over ``ids``); ``distances``: each item's distance to the query."""
    for m in states:
        order = np.lexsort((ids[m], distances[m]))[:k]
        if got == list(zip(distances[m][order].tolist(), ids[m][order].tolist())):
            return True
    return False


def percentile(values, q):
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="deephash-load-"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args, work: Path) -> dict:
    t_setup = time.perf_counter()
    if args.collection:
        col_path = work / "col"
        shutil.copytree(args.collection, col_path)
    else:
        col_path = synthetic_collection(args.synthetic, work)
    col = Collection.open(col_path)
    index0 = deephash.load(col.path / col.manifest["index"])
    initial = set(np.asarray(index0.ids).tolist())
    rng = np.random.default_rng(args.seed)
    ids0 = sorted(initial)
    pick = rng.choice(len(ids0), size=min(args.query_images, len(ids0)), replace=False)
    queries = []  # (bytes, code) from the collection's own images, encoded by the Python API
    for i in pick.tolist():
        item = col.item(ids0[i])
        data = Path(item.path).read_bytes() if "#" not in item.path else None
        if data is not None:
            queries.append((data, col.encode(data).tobytes()))
    to_add = [drawn_image(rng, (56, 44)) for _ in range(args.adds)]
    add_codes = [col.encode(d).tobytes() for d in to_add]
    col.close()
    setup_s = time.perf_counter() - t_setup

    kinds = [k for k, w in args.mix for _ in range(w)]
    server = Server(col_path, args.threads)
    searches, adds, health, failures = [], [], [], []
    lock = threading.Lock()
    deadline = time.monotonic() + args.max_seconds
    t_start = time.perf_counter()

    def client(c: int):
        r = np.random.default_rng([args.seed, c])
        conn = server.connect()
        for _ in range(args.requests):
            if time.monotonic() > deadline:
                break
            kind = kinds[int(r.integers(len(kinds)))]
            if kind == "image":
                qi = int(r.integers(len(queries)))
                body, ctype = multipart(queries[qi][0])
                sent = {"image": qi}
            elif kind == "id":
                sent = {"id": int(ids0[int(r.integers(len(ids0)))])}
                body, ctype = json.dumps(sent).encode(), "application/json"
            else:
                sent = {"code": queries[int(r.integers(len(queries)))][1].hex()}
                body, ctype = json.dumps(sent).encode(), "application/json"
            t0 = time.perf_counter()
            try:
                status, answer = request(conn, "POST", f"/search?k={args.k}", body, ctype)
            except (OSError, http.client.HTTPException, ValueError) as e:
                status, answer = -1, {"error": repr(e)}
                conn.close()
                conn = server.connect()
            t1 = time.perf_counter()
            with lock:
                searches.append((kind, sent, t0, t1, status, answer))
        conn.close()

    def adder():
        conn = server.connect()
        for i, data in enumerate(to_add):
            if time.monotonic() > deadline:
                break
            time.sleep(args.add_interval)
            body, ctype = multipart(data)
            t0 = time.perf_counter()
            try:
                status, answer = request(conn, "POST", "/items", body, ctype)
            except (OSError, http.client.HTTPException, ValueError) as e:
                status, answer = -1, {"error": repr(e)}
            t1 = time.perf_counter()
            with lock:
                adds.append((i, t0, t1, status, answer))
        conn.close()

    def prober(stop: threading.Event):
        conn = server.connect()
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                status, _ = request(conn, "GET", "/health")
            except (OSError, http.client.HTTPException, ValueError):
                status = -1
                conn.close()
                conn = server.connect()
            health.append((time.perf_counter() - t0, status))
            stop.wait(0.05)
        conn.close()

    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    threads.append(threading.Thread(target=adder))
    probe = threading.Thread(target=prober, args=(stop,))
    probe.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    stop.set()
    probe.join()
    server.proc.terminate()
    server.proc.wait(timeout=30)
    server_err = server.stderr()
    server.stop()

    # -- the check: every answer against a state the collection had during the request ------
    col = Collection.open(col_path)
    final = deephash.load(col.path / col.manifest["index"])
    all_ids = np.asarray(final.ids, dtype=np.int64)
    all_codes = np.asarray(final.codes)
    paths = {}
    added_ids = []
    for i, t0, t1, status, answer in sorted(adds, key=lambda a: a[1]):
        if status != 201:
            failures.append(f"add {i}: HTTP {status}: {answer}")
            continue
        (new_id,) = answer["ids"]
        added_ids.append((new_id, t0, t1))
        if col.encode(new_id).tobytes() != add_codes[i]:
            failures.append(f"add {i}: the stored code differs from the Python API's encoding")
    in_state = [np.isin(all_ids, ids0)]  # state j: the initial items and the first j adds
    for new_id, _t0, _t1 in added_ids:
        in_state.append(in_state[-1] | (all_ids == new_id))
    mismatches = overlapping = 0
    for kind, sent, t0, t1, status, answer in searches:
        if status != 200:
            failures.append(f"search {kind} {sent}: HTTP {status}: {answer}")
            continue
        q = bytes.fromhex(answer["query_code"])
        want_q = (
            queries[sent["image"]][1]
            if kind == "image"
            else (col.encode(sent["id"]).tobytes() if kind == "id" else bytes.fromhex(sent["code"]))
        )
        if q != want_q:
            mismatches += 1
            failures.append(f"search {kind}: the server's query code {q.hex()} is not {want_q.hex()}")
            continue
        d = np.bitwise_count(np.bitwise_xor(all_codes, np.frombuffer(q, np.uint8))).sum(axis=1)
        lo = sum(1 for _i, _a, e in added_ids if e < t0)
        hi = sum(1 for _i, s, _e in added_ids if s < t1)
        overlapping += lo != hi
        got = [(r["distance"], r["id"]) for r in answer["results"]]
        ok = matches_a_state(got, d, all_ids, in_state[lo : hi + 1], args.k)
        for r in answer["results"]:
            if r["id"] not in paths:
                paths[r["id"]] = col.item(r["id"]).path
            ok = ok and r["path"] == paths[r["id"]]
        if not ok:
            mismatches += 1
            failures.append(f"search {kind} {sent}: results match no state {lo}..{hi}: {got}")
    col.close()

    span = (max(x[3] for x in searches) - min(x[2] for x in searches)) if searches else 0.0
    lat = {}
    for kind in ("image", "id", "code"):
        ms = [1000 * (t1 - t0) for k, _s, t0, t1, st, _a in searches if k == kind and st == 200]
        lat[kind] = {"n": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99)}
    all_ms = [1000 * (t1 - t0) for _k, _s, t0, t1, st, _a in searches if st == 200]
    add_ms = [1000 * (t1 - t0) for _i, t0, t1, st, _a in adds if st == 201]
    health_ms = [1000 * s for s, st in health if st == 200]
    return {
        "command": " ".join(sys.argv),
        "machine": cpu_model(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "deephash_simd": deephash.simd_level(),
        "python": platform.python_version(),
        "items_before": len(ids0),
        "clients": args.clients,
        "k": args.k,
        "searches": len(searches),
        "adds": len(adds),
        "wall_s": wall,
        "setup_s": setup_s,
        # over the searches' own span (the adder may run on after the last search)
        "searches_per_s": len(searches) / span if span else float("nan"),
        "latency": {"all": {"n": len(all_ms), "p50_ms": percentile(all_ms, 50), "p99_ms": percentile(all_ms, 99)}}
        | lat,
        "add_p50_ms": percentile(add_ms, 50),
        "add_max_ms": max(add_ms) if add_ms else float("nan"),
        "health_p50_ms": percentile(health_ms, 50),
        "health_p99_ms": percentile(health_ms, 99),
        "searches_during_adds": overlapping,
        "errors": sum(1 for f in failures if "HTTP" in f),
        "mismatches": mismatches,
        "failures": failures[:20],
        "server_stderr": server_err[-2000:],
        "stopped_by_time_limit": time.monotonic() > deadline,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_mix(text: str):
    out = []
    for part in text.split(","):
        name, _, w = part.partition("=")
        if name not in ("image", "id", "code") or not w.isdigit():
            raise argparse.ArgumentTypeError(f"--mix takes image=W,id=W,code=W with integer weights, got {text!r}")
        out.append((name, int(w)))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--collection", type=Path, help="a collection folder (copied; the copy is served)")
    src.add_argument("--synthetic", type=int, help="build a collection of N Pillow-drawn images (fast LSH model)")
    p.add_argument("--clients", type=int, default=16, help="concurrent searching clients (16)")
    p.add_argument("--requests", type=int, default=40, help="searches per client (40)")
    p.add_argument("--adds", type=int, default=10, help="items added, one per request, meanwhile (10)")
    p.add_argument("--add-interval", type=float, default=0.2, help="seconds between adds (0.2)")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--mix", type=parse_mix, default=parse_mix("image=2,id=1,code=1"))
    p.add_argument("--query-images", type=int, default=50, help="distinct query images (50)")
    p.add_argument("--threads", type=int, default=None, help="the server's --threads")
    p.add_argument("--max-seconds", type=float, default=300, help="stop sending after this long (300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the figures here too")
    args = p.parse_args(argv)
    res = run(args)
    lat = res["latency"]
    print(f"{res['machine']}, {res['cores']} cores, load average {res['load_average'][0]:.2f} (at the end)")
    print(
        f"{res['items_before']} items, {res['clients']} clients, k={res['k']}: {res['searches']} searches "
        f"and {res['adds']} adds in {res['wall_s']:.1f} s ({res['searches_per_s']:.1f} searches/s while searching)"
    )
    print(f"{'query':<8}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}")
    for kind in ("all", "image", "id", "code"):
        print(f"{kind:<8}{lat[kind]['n']:>6}{lat[kind]['p50_ms']:>10.1f}{lat[kind]['p99_ms']:>10.1f}")
    print(f"adds: p50 {res['add_p50_ms']:.1f} ms, max {res['add_max_ms']:.1f} ms")
    print(f"GET /health during the load: p50 {res['health_p50_ms']:.1f} ms, p99 {res['health_p99_ms']:.1f} ms")
    print(f"searches answered while an add was in flight: {res['searches_during_adds']}")
    print(f"errors: {res['errors']}, results not matching the index: {res['mismatches']}")
    for f in res["failures"]:
        print("  " + f)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 1 if res["errors"] or res["mismatches"] or res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

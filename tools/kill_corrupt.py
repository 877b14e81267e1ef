#!/usr/bin/env python3
"""Kill-and-corrupt test of the sharded index: never a silent loss.

Each round starts a *driver* process that opens a ShardedIndex (from the last save, else empty)
on a running Ray and performs random actions, journalling each one (fsynced) before and after:

* ``add``      a batch of codes with fresh unique ids; "acked" is journalled once ``add`` returns;
* ``save``     to the round-independent save folder ("saving" before, "saved" after);
* ``kill``     kill -9 of a shard actor's process (Ray restarts it; it replays its log);
* ``corrupt``  a random byte flip or truncation of a shard's write-ahead log, then kill -9 of that
  actor: the next call must raise ValueError (the driver then rolls back to the last save and
  journals it) — answering anyway is a silent loss;
* ``check``    every search equals one FlatIndex holding exactly the acknowledged codes.

Meanwhile this process kills the driver with SIGKILL at a random moment (during adds and saves
alike). It then, half of the time, flips or truncates a random file of the save folder, and loads
the save: either ``load`` raises ValueError, or the index holds exactly the codes acknowledged
before the last completed save (or before a save in flight when the driver died — the manifest
is replaced atomically, so either is possible) and every search is exact. Anything else — a
refused intact save, a missing acknowledged add, an extra code, a wrong search — is a finding.

A second mode kills the driver of an index with an explicit ``log_dir`` and recovers it from the
logs alone (``ShardedIndex.recover``): each round starts a driver process that recovers the
index (or creates it, the first time) and adds, removes, saves and kills shard actors at random,
journalling each mutation (fsynced) before and after; it is killed with SIGKILL at a random
moment. This process then recovers the index itself: every acknowledged mutation must be there,
the one in flight either wholly or not at all, and every search exact against a FlatIndex of
what the journal says; an error on an undamaged log folder is a finding too.

    python tools/kill_corrupt.py --rounds 20 --seed 1      # figures for the closing note
    python tools/kill_corrupt.py --recover-rounds 20 --rounds 0

tests/test_kill_corrupt.py runs short rounds of both on the test session's Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BITS = 64
SHARDS = 2


def codes_of(ids: np.ndarray) -> np.ndarray:
    """The code of each id (splitmix64 of the id): the oracle never reads the files' own ids."""
    x = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return np.ascontiguousarray(x.astype("<u8").view(np.uint8).reshape(-1, 8))


def _exact(index, ids, queries) -> bool:
    """index's k-NN and range answers equal one FlatIndex holding codes_of(ids)."""
    import deephash

    flat = deephash.FlatIndex(BITS)
    if len(ids):
        flat.add(codes_of(np.sort(ids)), np.sort(ids))
    for k in (1, 10, len(ids) + 3):
        a, b = flat.search(queries, k), index.search(queries, k)
        if not all(np.array_equal(x, y) for x, y in zip(a, b)):
            return False
    a, b = flat.range_search(queries, 24), index.range_search(queries, 24)
    return all(np.array_equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- the driver


def driver(state: Path, address: str, seed: int, steps: int) -> None:
    import ray

    from deephash.distributed import ShardedIndex

    ray.init(address=address, log_to_driver=False)
    rng = np.random.default_rng(seed)
    journal = open(state / "journal.jsonl", "a")

    def note(**event):
        journal.write(json.dumps(event) + "\n")
        journal.flush()
        os.fsync(journal.fileno())

    save = state / "save"
    logs = state / f"logs-{seed}"

    def open_index():
        if (save / "manifest.json").exists():
            return ShardedIndex.load(save, log_dir=logs / str(time.monotonic_ns()), max_restarts=-1, timeout=60)
        return ShardedIndex(BITS, SHARDS, log_dir=logs / str(time.monotonic_ns()), max_restarts=-1, timeout=60)

    index = open_index()
    acked = np.array(sorted(json.loads((state / "start.json").read_text())), np.int64)
    queries = codes_of(np.arange(-5, 0) - seed * 1000)
    note(event="start", n=len(index))
    for step in range(steps):
        action = rng.choice(["add", "save", "kill", "corrupt", "check"], p=[0.5, 0.2, 0.1, 0.1, 0.1])
        if action == "add":
            n = int(rng.integers(1, 60))
            ids = seed * 10**7 + step * 100 + np.arange(n)
            note(event="adding", ids=[int(ids[0]), int(ids[-1]) + 1])
            index.add(codes_of(ids), ids)
            acked = np.concatenate([acked, ids])
            note(event="acked", ids=[int(ids[0]), int(ids[-1]) + 1])
        elif action == "save":
            note(event="saving")
            index.save(save)
            note(event="saved")
        elif action == "kill":
            s = int(rng.integers(SHARDS))
            pid = ray.get(index.actors[s].info.remote(), timeout=60)["pid"]
            os.kill(pid, signal.SIGKILL)
            note(event="killed_actor")
        elif action == "corrupt":
            s = int(rng.integers(SHARDS))
            log = Path(index._log_dir) / f"shard-{s:05d}.log"
            data = bytearray(log.read_bytes())
            if rng.random() < 0.5:
                data[int(rng.integers(len(data)))] ^= int(rng.integers(1, 256))
                how = "flip"
            else:
                data = data[: int(rng.integers(len(data)))]
                how = "truncate"
            pid = ray.get(index.actors[s].info.remote(), timeout=60)["pid"]
            log.write_bytes(bytes(data))
            os.kill(pid, signal.SIGKILL)
            try:
                for _ in range(20):  # until the restarted actor answers
                    ok = _exact(index, acked, queries)
                    time.sleep(0.1)
                note(event="corruption_missed", how=how, exact=bool(ok))
            except ValueError as e:
                note(event="corruption_detected", how=how, message=str(e)[:200])
                index.close()
                index = open_index()
                note(event="rollback", n=len(index))
                _, candidates, _ = _replay(state)
                acked = np.array(sorted(candidates[0] if candidates else ()), np.int64)
        else:
            note(event="check", exact=bool(_exact(index, acked, queries)))
    note(event="done")
    index.close()


def recover_driver(state: Path, address: str, seed: int, steps: int) -> None:
    """The driver of the recovery mode: recovers (or creates) the index of ``state/logs`` and
    mutates it at random until it is killed, journalling in ``state/rjournal.jsonl``."""
    import ray

    from deephash.distributed import ShardedIndex

    ray.init(address=address, log_to_driver=False)
    rng = np.random.default_rng(seed)
    journal = open(state / "rjournal.jsonl", "a")

    def note(**event):
        journal.write(json.dumps(event) + "\n")
        journal.flush()
        os.fsync(journal.fileno())

    logs = state / "logs"
    if (logs / "driver.json").exists():
        index = ShardedIndex.recover(logs, max_restarts=-1, timeout=60)
    else:
        index = ShardedIndex(BITS, SHARDS, log_dir=logs, max_restarts=-1, timeout=60)
    held = list(json.loads((state / "start.json").read_text()))
    note(event="start", n=len(index))
    for step in range(steps):
        action = rng.choice(["add", "remove", "save", "kill"], p=[0.65, 0.2, 0.05, 0.1])
        if action == "add" or (action == "remove" and not held):
            n = int(rng.integers(1, 40))
            ids = seed * 10**7 + step * 100 + np.arange(n)
            note(event="adding", ids=[int(ids[0]), int(ids[-1]) + 1])
            index.add(codes_of(ids), ids)
            held.extend(ids.tolist())
            note(event="acked")
        elif action == "remove":
            gone = rng.choice(held, size=min(len(held), int(rng.integers(1, 8))), replace=False).tolist()
            note(event="removing", ids=gone)
            index.remove(gone)
            held = sorted(set(held) - set(gone))
            note(event="acked")
        elif action == "save":
            index.save(state / "save")  # the logs restart from checkpoints naming these files
        else:
            s = int(rng.integers(SHARDS))
            os.kill(ray.get(index.actors[s].info.remote(), timeout=60)["pid"], signal.SIGKILL)
    note(event="done")
    index.close()


def _replay_recover(state: Path):
    """(ids acknowledged, ids if the mutation in flight is applied too, or None; figures)."""
    held = set(json.loads((state / "start.json").read_text()))
    pending, figures = None, {}
    path = state / "rjournal.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            break  # the driver died while writing this line
        figures[e["event"]] = figures.get(e["event"], 0) + 1
        if e["event"] == "adding":
            pending = held | set(range(*e["ids"]))
        elif e["event"] == "removing":
            pending = held - set(e["ids"])
        elif e["event"] == "acked":
            held, pending = pending, None
    return held, pending, figures


def verify_recovered(state: Path, seed: int, figures: dict) -> set:
    """After the driver's death: recovers the index in this process and checks it against the
    journal (see the module doc). Returns the ids it holds (the next round's start)."""
    from deephash.distributed import ShardedIndex

    acked, pending, events = _replay_recover(state)
    for k in ("adding", "removing", "acked"):
        figures["recover_" + k] = figures.get("recover_" + k, 0) + events.get(k, 0)
    queries = codes_of(np.arange(-9, 0))
    figures["half_logged_cut"] = figures.get("half_logged_cut", 0) + _half_logged(state / "logs")
    try:
        index = ShardedIndex.recover(state / "logs", timeout=60)
    except ValueError as e:
        figures["findings"].append(f"seed {seed}: recovery refused an undamaged log folder: {e}")
        return acked
    with index:
        ids = np.asarray(index.search(queries[:1], len(index) + 1)[1][0])
        held = set(ids[ids >= 0].tolist())
        figures["recoveries"] = figures.get("recoveries", 0) + 1
        if held == acked:
            figures["in_flight_absent"] = figures.get("in_flight_absent", 0) + (pending is not None)
        elif pending is not None and held == pending:
            figures["in_flight_present"] = figures.get("in_flight_present", 0) + 1
        else:
            lost, extra = len(acked - held), len(held - acked - (pending or set()))
            figures["findings"].append(
                f"seed {seed}: recovered {len(held)} codes, {lost} acknowledged missing, {extra} never added"
            )
            return acked
        if not _exact(index, np.array(sorted(held), np.int64), queries):
            figures["findings"].append(f"seed {seed}: a search of the recovered index is not exact")
        figures["recovered_codes_verified"] = figures.get("recovered_codes_verified", 0) + len(held)
    return held


def _half_logged(logs: Path) -> bool:
    """Whether the shards' logs end at different operations: a mutation in flight that only
    some shards logged, which recovery must cut (read-only; damage is recover's to report)."""
    from deephash.distributed import _log
    from deephash.distributed._shard import _lock_log

    last = set()
    for path in sorted(logs.glob("shard-*.log")):
        try:
            fd = _lock_log(str(path), 60.0)  # as a shard does: the dead driver's actor is gone
        except OSError:
            return False
        try:
            last.add(_log.WriteAheadLog(str(path)).records()[-1].op)
        except (OSError, ValueError):
            return False
        finally:
            os.close(fd)
    return len(last) > 1


def run_recover(rounds: int, seed: int, address: str, state: Path, max_kill_after: float = 6.0) -> dict:
    """``rounds`` drivers of one log folder, each killed with -9 and recovered; returns figures."""
    figures = {"recover_rounds": 0, "recover_drivers_killed": 0, "findings": []}
    rng = np.random.default_rng(seed + 7)
    state.mkdir(parents=True, exist_ok=True)
    content = set()
    for r in range(rounds):
        (state / "start.json").write_text(json.dumps(sorted(content)))
        (state / "rjournal.jsonl").unlink(missing_ok=True)
        round_seed = seed * 1000 + 500 + r
        cmd = [sys.executable, __file__, "--recover-driver", str(state), "--address", address]
        cmd += ["--seed", str(round_seed)]
        with open(state / f"rdriver-{round_seed}.err", "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            journal, start = state / "rjournal.jsonl", time.monotonic()
            while proc.poll() is None and time.monotonic() - start < STARTUP_TIMEOUT:
                if journal.exists() and '"acked"' in journal.read_text():
                    break
                time.sleep(0.05)
            try:
                proc.wait(timeout=float(rng.uniform(0.2, max_kill_after)))
                if proc.returncode != 0:
                    figures["findings"].append(f"seed {round_seed}: the driver failed (see {err.name})")
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                figures["recover_drivers_killed"] += 1
        content = verify_recovered(state, round_seed, figures)
        figures["recover_rounds"] += 1
    return figures


# ----------------------------------------------------------------------------- the oracle


def _replay(state: Path):
    """(acked set now, candidate sets a save may hold, figures) from the journal."""
    acked = set(json.loads((state / "start.json").read_text()))
    saved = [set(acked)] if (state / "save" / "manifest.json").exists() else []
    figures = {}
    pending_save = None
    path = state / "journal.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            break  # the driver died while writing this line
        kind = e["event"]
        figures[kind] = figures.get(kind, 0) + 1
        if kind == "acked":
            acked |= set(range(*e["ids"]))
        elif kind == "saving":
            pending_save = set(acked)
        elif kind == "saved":
            saved = [pending_save]
            pending_save = None
        elif kind == "rollback":
            acked = set(saved[-1]) if saved else set()
    candidates = saved + ([pending_save] if pending_save is not None else [])
    return acked, candidates, figures


def _corrupt_save(save: Path, rng) -> str:
    files = sorted(p for p in save.iterdir() if p.is_file())
    victim = files[int(rng.integers(len(files)))]
    data = bytearray(victim.read_bytes())
    if rng.random() < 0.5 and data:
        data[int(rng.integers(len(data)))] ^= int(rng.integers(1, 256))
        how = "flip"
    else:
        data = data[: int(rng.integers(len(data) + 1)) - 1 if data else 0]
        how = "truncate"
    victim.write_bytes(bytes(data))
    return f"{how} {victim.name}"


#: Longest wait for a driver's first acknowledged add before its kill clock starts anyway.
STARTUP_TIMEOUT = 120.0


def run_round(state: Path, address: str, seed: int, kill_after: float, corrupt: bool, figures: dict) -> set:
    """One driver run, its kill, the optional corruption of the save and the check. Returns the
    ids the save holds afterwards (empty when there is none or it was refused and removed)."""
    (state / "journal.jsonl").unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--driver", str(state), "--address", address, "--seed", str(seed)]
    with open(state / f"driver-{seed}.err", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        # The kill clock starts at the driver's first acknowledged add, so a slow start (a loaded
        # machine, Ray's first actors) does not turn a round into a kill before any work.
        journal, start = state / "journal.jsonl", time.monotonic()
        while proc.poll() is None and time.monotonic() - start < STARTUP_TIMEOUT:
            if journal.exists() and '"acked"' in journal.read_text():
                break
            time.sleep(0.05)
        try:
            proc.wait(timeout=kill_after)
            figures["drivers_finished"] += 1
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            figures["drivers_killed"] += 1
    return verify(state, seed, corrupt, figures)


def verify(state: Path, seed: int, corrupt: bool, figures: dict) -> set:
    """After a driver's death: the journal's events counted, the save optionally damaged, then
    loaded and checked against what the journal says was acknowledged (see the module doc)."""
    from deephash.distributed import ShardedIndex

    rng = np.random.default_rng(seed + 10**6)
    _, candidates, events = _replay(state)
    for k in ("acked", "saved", "killed_actor", "corruption_detected", "corruption_missed", "check", "rollback"):
        figures[k] = figures.get(k, 0) + events.get(k, 0)
    if events.get("corruption_missed"):
        figures["findings"].append(f"seed {seed}: a corrupted log was answered from")
    journal = (state / "journal.jsonl").read_text() if (state / "journal.jsonl").exists() else ""
    if '"exact": false' in journal:
        figures["findings"].append(f"seed {seed}: a live search was not exact")
    save = state / "save"
    if not (save / "manifest.json").exists():
        return set()
    damage = _corrupt_save(save, rng) if corrupt else None
    figures["save_corruptions"] += damage is not None
    queries = codes_of(np.arange(-7, 0))
    try:
        index = ShardedIndex.load(save, timeout=60)
    except ValueError as e:
        if damage is None:
            figures["findings"].append(f"seed {seed}: an intact save was refused: {e}")
        else:
            figures["corruptions_refused"] += 1
        shutil.rmtree(save)  # the next driver starts afresh
        return set()
    with index:
        ids = np.asarray(index.search(queries[:1], len(index) + 1)[1][0])
        held = set(ids[ids >= 0].tolist())
        figures["loads_checked"] += 1
        figures["corruptions_harmless"] += damage is not None  # e.g. a file the manifest does not name
        if not any(held == c for c in candidates):
            lost = min((len(c - held) for c in candidates), default=0)
            figures["findings"].append(f"seed {seed}: the save holds {len(held)} codes, {lost} acknowledged missing")
        elif not _exact(index, np.array(sorted(held), np.int64), queries):
            figures["findings"].append(f"seed {seed}: a search of the loaded save is not exact")
        else:
            figures["acked_codes_verified"] += len(held)
    return held


def run(rounds: int, seed: int, address: str, state: Path, max_kill_after: float = 12.0) -> dict:
    """``rounds`` driver runs on one save folder; returns the figures (findings must be [])."""
    figures = {
        "rounds": 0,
        "drivers_killed": 0,
        "drivers_finished": 0,
        "save_corruptions": 0,
        "corruptions_refused": 0,
        "corruptions_harmless": 0,
        "loads_checked": 0,
        "acked_codes_verified": 0,
        "findings": [],
    }
    rng = np.random.default_rng(seed)
    state.mkdir(parents=True, exist_ok=True)
    content = set()
    for r in range(rounds):
        (state / "start.json").write_text(json.dumps(sorted(content)))
        kill_after = float(rng.uniform(min(4.0, max_kill_after), max_kill_after))
        content = run_round(state, address, seed * 1000 + r + 1, kill_after, bool(rng.random() < 0.5), figures)
        figures["rounds"] += 1
    return figures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-kill-after", type=float, default=12.0, help="seconds before the driver is killed (max)")
    ap.add_argument("--recover-rounds", type=int, default=0, help="rounds of the driver-recovery mode")
    ap.add_argument("--driver", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--recover-driver", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--address", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=400, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.driver:
        driver(Path(args.driver), args.address, args.seed, args.steps)
        return 0
    if args.recover_driver:
        recover_driver(Path(args.recover_driver), args.address, args.seed, args.steps)
        return 0
    import tempfile

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t0 = time.monotonic()
    address = ray.get_runtime_context().gcs_address
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(args.rounds, args.seed, address, Path(tmp) / "saves", args.max_kill_after)
        if args.recover_rounds:
            more = run_recover(args.recover_rounds, args.seed, address, Path(tmp) / "logs", args.max_kill_after)
            figures["findings"] += more.pop("findings")
            figures.update(more)
    figures["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(figures, indent=1))
    return 1 if figures["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Kill-and-corrupt test of the sharded index (tools/kill_corrupt.py): drivers killed with -9
during adds and saves, shard actors killed, write-ahead logs and saved files flipped and
truncated — afterwards every acknowledged add is present and search is exact, or a clear
ValueError is raised; never a silent loss. Drivers of an index with a log_dir are killed with -9
while they mutate it, and the index is recovered from its logs in another process. A short
bounded run here (`python tools/kill_corrupt.py --rounds 20 --recover-rounds 20` for the
figures)."""

from __future__ import annotations

import json

import numpy as np

from _tools import tool


def test_kill_and_corrupt_never_loses_acknowledged_adds_silently(ray_local, tmp_path):
    kc = tool("kill_corrupt")
    address = ray_local.get_runtime_context().gcs_address
    figures = kc.run(3, seed=3, address=address, state=tmp_path, max_kill_after=9.0)
    assert figures["findings"] == [], figures
    assert figures["rounds"] == 3 and figures.get("acked", 0) > 0, figures


def test_oracle_flags_a_save_missing_acknowledged_adds(ray_local, tmp_path):
    # The check can fail: a journal acknowledging (and saving) ids the save does not hold.
    from deephash.distributed import ShardedIndex

    kc = tool("kill_corrupt")
    ids = np.arange(10)
    with ShardedIndex(kc.BITS, kc.SHARDS) as sh:
        sh.add(kc.codes_of(ids[:8]), ids[:8])  # two of the ten acknowledged ids are missing
        sh.save(tmp_path / "save")
    (tmp_path / "start.json").write_text("[]")
    events = [{"event": "acked", "ids": [0, 10]}, {"event": "saving"}, {"event": "saved"}]
    (tmp_path / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    figures = {k: 0 for k in ("save_corruptions", "corruptions_refused", "corruptions_harmless", "loads_checked")}
    figures.update(acked_codes_verified=0, findings=[])
    kc.verify(tmp_path, 1, False, figures)
    assert len(figures["findings"]) == 1 and "2 acknowledged missing" in figures["findings"][0]


def test_killed_driver_is_recovered_from_its_logs_with_every_acknowledged_mutation(ray_local, tmp_path):
    kc = tool("kill_corrupt")
    address = ray_local.get_runtime_context().gcs_address
    figures = kc.run_recover(2, seed=4, address=address, state=tmp_path, max_kill_after=3.0)
    assert figures["findings"] == [], figures
    assert figures["recoveries"] == 2 and figures["recover_acked"] > 0, figures


def test_recovery_oracle_flags_a_missing_acknowledged_add(ray_local, tmp_path):
    # The check can fail: a journal acknowledging ids the recovered index does not hold.
    from deephash.distributed import ShardedIndex

    kc = tool("kill_corrupt")
    ids = np.arange(10)
    with ShardedIndex(kc.BITS, kc.SHARDS, log_dir=tmp_path / "logs") as sh:
        sh.add(kc.codes_of(ids[:8]), ids[:8])
    (tmp_path / "start.json").write_text("[]")
    events = [{"event": "adding", "ids": [0, 10]}, {"event": "acked"}]
    (tmp_path / "rjournal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    figures = {"findings": []}
    kc.verify_recovered(tmp_path, 1, figures)
    assert len(figures["findings"]) == 1 and "2 acknowledged missing" in figures["findings"][0], figures

"""Kill-and-corrupt test of the sharded index (tools/kill_corrupt.py): drivers killed with -9
during adds and saves, shard actors killed, write-ahead logs and saved files flipped and
truncated — afterwards every acknowledged add is present and search is exact, or a clear
ValueError is raised; never a silent loss. A short bounded run here (`python
tools/kill_corrupt.py --rounds 20` for the figures)."""

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

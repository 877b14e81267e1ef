"""A bounded, derandomised run of every target of tools/fuzz_files.py (model files, codes files,
ShardedIndex manifests, write-ahead logs, driver records, the CLI's file arguments);
`python tools/fuzz_files.py --seconds 300` is the longer run."""

from __future__ import annotations

import numpy as np
import pytest

from _tools import tool

pytest.importorskip("hypothesis", reason="fuzzing needs hypothesis")

EXAMPLES = {"model": 60, "codes": 120, "manifest": 120, "wal": 150, "driver": 150, "cli": 60}


@pytest.mark.parametrize("target", sorted(EXAMPLES))
def test_fuzz_target_bounded_run(tmp_path, target):
    fuzz = tool("fuzz_files")
    before, ok_before = fuzz.stats[target], fuzz.accepted[target]
    fuzz.hypothesis_tests(tmp_path, max_examples=EXAMPLES[target], derandomize=True)[target]()
    assert fuzz.stats[target] - before >= EXAMPLES[target]
    assert fuzz.accepted[target] > ok_before  # some mutations pass the reader and meet the oracle


def test_wal_oracle_finds_a_silent_loss(tmp_path, monkeypatch):
    # The oracle can fail: a recovery that drops the last intact record without saying so.
    fuzz = tool("fuzz_files")
    from deephash.distributed import _log

    seeds = fuzz.Seeds(tmp_path)
    (tmp_path / "w").mkdir()
    fuzz.wal_target(seeds, [], tmp_path / "w")  # the intact log: no finding
    real = _log.WriteAheadLog.records
    monkeypatch.setattr(_log.WriteAheadLog, "records", lambda self, cs=None: real(self, cs)[:-1])
    with pytest.raises(fuzz.Finding):
        fuzz.wal_target(seeds, [], tmp_path / "w")


def test_codes_oracle_catches_a_wrong_search(tmp_path, monkeypatch):
    fuzz = tool("fuzz_files")
    seeds = fuzz.Seeds(tmp_path)
    (tmp_path / "w").mkdir()
    fuzz.codes_target(seeds, 0, [], tmp_path / "w")
    real = fuzz.deephash.FlatIndex.search

    def wrong(self, queries, k, weights=None):
        d, i = real(self, queries, k, weights)
        return d, np.roll(i, 1, axis=1)

    monkeypatch.setattr(fuzz.deephash.FlatIndex, "search", wrong)
    with pytest.raises(fuzz.Finding):
        fuzz.codes_target(seeds, 0, [], tmp_path / "w")


def test_driver_oracle_flags_a_changed_configuration_that_is_accepted(tmp_path, monkeypatch):
    # The oracle can fail: a record check that ignores the SHA-256 accepts changed bits.
    fuzz = tool("fuzz_files")
    from deephash.distributed import _driver

    seeds = fuzz.Seeds(tmp_path)
    (tmp_path / "w").mkdir()
    where = [p for p in fuzz._paths(seeds.driver) if p].index(("bits",))  # as mutate_json counts
    change = [(where, fuzz.INTERESTING.index(8), 1)]  # bits := 8
    fuzz.driver_target(seeds, change, [], tmp_path / "w")  # refused by the checksum: no finding
    monkeypatch.setattr(_driver, "_body_digest", lambda body: seeds.driver["sha256"])
    with pytest.raises(fuzz.Finding, match="another configuration"):
        fuzz.driver_target(seeds, change, [], tmp_path / "w")

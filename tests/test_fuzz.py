"""A short, derandomised run of the fuzz targets of tools/fuzz.py (the loader and the search
entry points) from the committed seeds in tests/fuzz_corpus; `python tools/fuzz.py --seconds 600`
is the longer run."""

from __future__ import annotations

import pytest

from _tools import tool


def test_corpus_seeds_are_what_the_fuzzer_expects():
    fuzz = tool("fuzz")
    seeds = fuzz.corpus()
    assert 5 <= len(seeds) <= 20 and max(map(len, seeds)) < 4096


@pytest.mark.parametrize("target", ["load", "search"])
def test_fuzz_targets_bounded_run(tmp_path, target):
    fuzz = tool("fuzz")
    before = dict(fuzz.stats)
    fuzz.hypothesis_tests(tmp_path, max_examples=150, derandomize=True)[target]()
    assert fuzz.stats[target] - before[target] >= 150
    if target == "load":
        assert fuzz.stats["loaded"] > before["loaded"]  # the repaired mutations reach the payload


def test_load_target_finds_a_wrong_result(tmp_path, monkeypatch):
    # The oracle check can fail: a search that returns a wrong id is a finding.
    fuzz = tool("fuzz")
    seed = (fuzz.CORPUS / "flat_64bit_5codes.seed").read_bytes()
    fuzz.load_target(bytes([0]) + seed, tmp_path)  # a valid file: no finding
    real = fuzz.deephash.FlatIndex.search

    def wrong(self, queries, k, weights=None):
        d, i = real(self, queries, k, weights)
        i = i.copy()
        i[0, 0] += 1
        return d, i

    monkeypatch.setattr(fuzz.deephash.FlatIndex, "search", wrong)
    with pytest.raises(fuzz.Finding):
        fuzz.load_target(bytes([0]) + seed, tmp_path)

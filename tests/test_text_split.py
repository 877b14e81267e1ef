"""The STC2 text split: 10% of each class as queries, drawn per class by one seeded generator."""

import numpy as np
import pytest

from deephash import data


def write_stc2(folder, texts, labels, name="SearchSnippets"):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (folder / f"{name}_gnd.txt").write_text("\n".join(str(v + 1) for v in labels) + "\n")


def test_text_query_split_rule():
    labels = np.array([2] * 30 + [0] * 50 + [1] * 24)
    idx = data.text_query_split(labels, 0.1, seed=3)
    # Reference: classes in label order, one default_rng(seed), choice without replacement.
    rng = np.random.default_rng(3)
    expect = np.concatenate(
        [rng.choice(np.flatnonzero(labels == c), n, replace=False) for c, n in ((0, 5), (1, 2), (2, 3))]
    )
    np.testing.assert_array_equal(idx.query, expect)
    assert idx.query.dtype == np.int64 and idx.database.dtype == np.int64
    np.testing.assert_array_equal(idx.train, idx.database)
    np.testing.assert_array_equal(np.sort(np.concatenate([idx.query, idx.database])), np.arange(104))
    assert np.all(np.diff(idx.database) > 0)
    other = data.text_query_split(labels, 0.1, seed=4)
    assert not np.array_equal(other.query, idx.query)
    with pytest.raises(ValueError, match="query_fraction"):
        data.text_query_split(labels, 1.5)
    with pytest.raises(ValueError, match="too few"):
        data.text_query_split(np.array([0, 0, 1]), 0.5)


def test_stc2_text_split_keeps_texts(tmp_path):
    texts = [f"text number {i}" for i in range(40)]
    labels = [i % 2 for i in range(40)]
    write_stc2(tmp_path / "stc2", texts, labels)
    s = data.stc2_text_split("SearchSnippets", path=tmp_path / "stc2", seed=1)
    assert len(s.query_x) == 4 and len(s.db_x) == 36 and s.train_x is s.db_x
    assert s.query_x.dtype == object and all(isinstance(t, str) for t in s.query_x)
    for part, ids, ys in ((s.query_x, s.indices.query, s.query_y), (s.db_x, s.indices.database, s.db_y)):
        assert list(part) == [texts[i] for i in ids]
        np.testing.assert_array_equal(ys, np.asarray(labels)[ids])
    again = data.stc2_text_split("SearchSnippets", path=tmp_path / "stc2", seed=1)
    assert list(again.query_x) == list(s.query_x)

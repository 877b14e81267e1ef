"""Short-text topic data sets from the STC2 release (SearchSnippets, StackOverflow)."""
from __future__ import annotations

from typing import List, NamedTuple

import numpy as np

from ._paths import find_data_file

__all__ = ["STC2_NAMES", "TextDataset", "load_stc2"]

STC2_NAMES = ("SearchSnippets", "StackOverflow")


class TextDataset(NamedTuple):
    """Texts and topic labels.

    Attributes
    ----------
    texts : list of str
    labels : int64 array (n,)
        Zero-based (the files count from 1).
    name : str
    """

    texts: List[str]
    labels: np.ndarray
    name: str

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0


def load_stc2(name: str = "SearchSnippets", path=None) -> TextDataset:
    """Loads ``<name>.txt`` (one text per line) and ``<name>_gnd.txt`` (its labels).

    Parameters
    ----------
    name : {"SearchSnippets", "StackOverflow"}
    path : str or os.PathLike, optional
        The directory holding the two files (default: ``<data root>/stc2``).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing files; texts and labels of different lengths.
    """
    if name not in STC2_NAMES:
        raise ValueError(f"name must be one of {STC2_NAMES}, got {name!r}")
    if path is None:
        folder = find_data_file("stc2")
    else:
        folder = find_data_file(f"{name}.txt", path).parent
    text_file = find_data_file(f"{name}.txt", folder)
    gnd_file = find_data_file(f"{name}_gnd.txt", folder)
    texts = text_file.read_text(encoding="utf-8").splitlines()
    raw = gnd_file.read_text(encoding="utf-8").split()
    labels = np.asarray([int(v) for v in raw], dtype=np.int64) - 1
    # A trailing empty line in the text file is not a text.
    while len(texts) > len(labels) and texts and texts[-1] == "":
        texts.pop()
    if len(texts) != len(labels):
        raise ValueError(
            f"{text_file} has {len(texts)} lines but {gnd_file} has {len(labels)} labels"
        )
    return TextDataset(texts, labels, name)

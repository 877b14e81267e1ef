"""Hyperparameters declared per method: name, type, range, default and one line of doc.

A method lists its :class:`Hyperparameter` s in ``hyperparameters``; :class:`HashingMethod`
checks every value when the method is constructed (never first in ``fit``), refuses unknown
names, and accepts a renamed one under its old name for a while with a DeprecationWarning
(``renamed = {"old": "new"}``). ``describe_hyperparameters(cls)`` prints the table.

One name per concept across methods: ``quantization`` is the weight of the quantisation term
(DPSH, DHN, DSH, DCMH), ``balance`` that of the bit-balance term (DH, SDH, DSRH, DCMH),
``itq_iterations`` the alternations of an ITQ rotation (ITQ, CCA-ITQ, DH, SDH, SemanticHashing,
TextCNNHash).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional, Tuple

__all__ = ["Hyperparameter", "describe_hyperparameters"]

_KINDS = {int: "an int", float: "a number", bool: "a bool", str: "a str", list: "a list of positive ints"}


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a method.

    Parameters
    ----------
    name : str
    default : object
    doc : str
        One line.
    kind : {int, float, bool, str, list}
        ``float`` accepts ints too (never bools); ``list``: a list of positive ints.
    low, high : float, optional
        Range bounds; ``open`` says which are excluded: "" (both included), "low", "high", "both".
    choices : tuple, optional
        The allowed values (then ``kind`` is not checked).
    none : bool
        None is allowed (meaning: the documented default rule).
    """

    name: str
    default: Any
    doc: str
    kind: type = float
    low: Optional[float] = None
    high: Optional[float] = None
    open: str = ""
    choices: Optional[Tuple] = None
    none: bool = False

    def range_text(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.open in ('low', 'both') else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.open in ('high', 'both') else '<='} {self.high:g}")
        text = _KINDS[self.kind] + (" " + " and ".join(parts) if parts else "")
        return text + (" or None" if self.none else "")

    def check(self, value, owner: str) -> None:
        """Raises TypeError / ValueError (saying what was expected and what came) for a bad value."""
        if value is None and self.none:
            return
        if self.choices is not None:
            if value not in self.choices or isinstance(value, bool) != any(isinstance(c, bool) for c in self.choices):
                raise ValueError(f"{owner}: {self.name} must be one of {self.choices}, got {value!r}")
            return
        bad = ValueError(f"{owner}: {self.name} must be {self.range_text()}, got {value!r}")
        if self.kind is bool:
            if not isinstance(value, bool):
                raise bad
            return
        if self.kind is str:
            if not isinstance(value, str):
                raise bad
            return
        if self.kind is list:
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise bad
            if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value):
                raise bad
            return
        numeric = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, numeric) or math.isnan(float(value)):
            raise bad
        v = float(value)
        if self.low is not None and (v < self.low or (v == self.low and self.open in ("low", "both"))):
            raise bad
        if self.high is not None and (v > self.high or (v == self.high and self.open in ("high", "both"))):
            raise bad


def describe_hyperparameters(cls) -> str:
    """The table of ``cls``'s hyperparameters: name, default, range, doc (one line each)."""
    rows = [f"{h.name} = {h.default!r}  ({h.range_text()}): {h.doc}" for h in cls.hyperparameters]
    for old, new in getattr(cls, "renamed", {}).items():
        rows.append(f"{old}: deprecated name of {new}")
    return "\n".join(rows) or "(none)"

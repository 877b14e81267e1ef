"""One row of the engine benchmark table, and its printing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

__all__ = ["BenchRow", "print_header", "print_row", "print_table"]


@dataclass
class BenchRow:
    """A measured case: deephash's time, faiss's (None without faiss-cpu) and a note."""

    case: str
    simd: str
    threads: int
    deephash_s: float
    faiss_s: Optional[float]
    note: str = ""

    @property
    def ratio(self) -> Optional[float]:
        """faiss time / deephash time."""
        return None if self.faiss_s is None else self.faiss_s / self.deephash_s


CASE_WIDTH = 44


def _time(seconds: Optional[float]) -> str:
    """A time in exactly 11 characters, right-aligned: ms up to 99999.99 ms, then s."""
    if seconds is None:
        return f"{'-':>11}"
    ms = seconds * 1e3
    return f"{ms:9.2f}ms" if ms < 1e5 else f"{seconds:10.1f}s"[-11:].rjust(11)


def print_header(file=None) -> None:
    head = f"{'case':<{CASE_WIDTH}} {'simd':<7} {'thr':>3} {'deephash':>11} {'faiss':>11} {'faiss/dh':>9}  note"
    print(head, file=file)
    print("-" * len(head), file=file, flush=True)


def print_row(r: BenchRow, file=None) -> None:
    # Columns stay aligned whatever the values: a case name too long for its column gets a line
    # of its own, times switch from ms to s before they outgrow theirs.
    case = r.case
    if len(case) > CASE_WIDTH:
        print(case, file=file)
        case = ""
    ratio = "-" if r.ratio is None else f"{r.ratio:8.2f}x"
    times = f"{_time(r.deephash_s)} {_time(r.faiss_s)}"
    print(
        f"{case:<{CASE_WIDTH}} {r.simd:<7} {r.threads:>3} {times} {ratio:>9}  {r.note}",
        file=file,
        flush=True,
    )


def print_table(rows: List[BenchRow], file=None) -> None:
    print_header(file)
    for r in rows:
        print_row(r, file)

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


def print_header(file=None) -> None:
    head = f"{'case':<44} {'simd':<7} {'thr':>3} {'deephash':>11} {'faiss':>11} {'faiss/dh':>9}  note"
    print(head, file=file)
    print("-" * len(head), file=file, flush=True)


def print_row(r: BenchRow, file=None) -> None:
    f = "-" if r.faiss_s is None else f"{r.faiss_s * 1e3:9.2f}ms"
    ratio = "-" if r.ratio is None else f"{r.ratio:8.2f}x"
    print(
        f"{r.case:<44} {r.simd:<7} {r.threads:>3} {r.deephash_s * 1e3:9.2f}ms {f:>11} {ratio:>9}  {r.note}",
        file=file,
        flush=True,
    )


def print_table(rows: List[BenchRow], file=None) -> None:
    print_header(file)
    for r in rows:
        print_row(r, file)

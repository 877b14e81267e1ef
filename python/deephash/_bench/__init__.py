"""The engine microbenchmark behind ``deephash bench`` (private; the scripts in ``bench/`` use it).

Imports go one way: ``timing`` and ``data`` (no deephash indexes) <- ``rows`` <- ``flat``, ``mih``
<- ``main``.
"""

from __future__ import annotations

from .data import clustered_codes, random_codes
from .main import main
from .rows import BenchRow, print_header, print_row, print_table
from .timing import faiss_module, median_time, per_query_time, threads

__all__ = [
    "BenchRow",
    "clustered_codes",
    "faiss_module",
    "main",
    "median_time",
    "per_query_time",
    "print_header",
    "print_row",
    "print_table",
    "random_codes",
    "threads",
]

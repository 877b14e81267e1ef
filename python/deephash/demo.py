"""``deephash demo``: the main job, end to end on data that needs no download.

Trains DPSH (supervised deep hashing) and LSH (random hyperplanes, the baseline) at several
code lengths on scikit-learn's bundled 8x8 digits, indexes the database codes in a
:class:`deephash.FlatIndex`, and reports tie-aware mAP@ALL, precision within Hamming radius 2 and
query latency, plus three PNG plots (PR curve, precision@N, mAP vs bits) and a picture of what
the search returns (``retrieval_grid.png``: one row per query, its top 10 framed green or red).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from . import plots
from .data import digits
from .index import FlatIndex
from .methods import method_class
from .report import Curves, evaluate_codes, print_table

__all__ = ["run_demo"]


def _latency_us(index, queries: np.ndarray, k: int = 10, repeats: int = 5) -> float:
    """Best-of-repeats wall time of one batched search, per query, in microseconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        index.search(queries, k)
        best = min(best, time.perf_counter() - t0)
    return best / queries.shape[0] * 1e6


def run_demo(
    out="demo_results",
    bits: Sequence[int] = (16, 32, 64),
    methods: Sequence[str] = ("dpsh", "lsh"),
    seed: int = 0,
    epochs: Optional[int] = None,
    verbose: bool = True,
) -> List[dict]:
    """Runs the demo; returns one dict of results per (method, bits).

    Parameters
    ----------
    out : directory for ``pr_curve.png``, ``precision_at_n.png``, ``map_vs_bits.png``,
        ``retrieval_grid.png`` and ``demo_results.json`` (created if needed).
    bits : code lengths (multiples of 8).
    methods : names among dpsh, dsh, dhn, lsh.
    seed : seeds the split and every model.
    epochs : training epochs for the deep methods (default: each method's own default).
    """

    def say(*a):
        if verbose:
            print(*a, flush=True)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    split = digits(seed=seed)
    say(f"data: {split!r} (scikit-learn's bundled 8x8 digits; nothing downloaded)")
    rows: List[dict] = []
    curves = Curves()
    grid = None  # (label, query codes, db codes) of the run the retrieval grid shows
    t_all = time.perf_counter()
    for name in methods:
        for b in bits:
            # Progress bars off: six models' bars would bury the table.
            params = {"progress": False}
            if epochs is not None and name.lower() != "lsh":
                params["epochs"] = epochs
            model = method_class(name)(bits=int(b), seed=seed, **params)
            t0 = time.perf_counter()
            model.fit(split.train_x, split.train_y)
            t_fit = time.perf_counter() - t0
            q_codes = model.encode(split.query_x)
            db_codes = model.encode(split.db_x)
            index = FlatIndex(int(b))
            index.add(db_codes)
            lat = _latency_us(index, q_codes)
            result = evaluate_codes(q_codes, split.query_y, db_codes, split.db_y, radius=2, ns=np.arange(10, 1001, 10))
            m, r2 = result.map, result.at_radius
            label = f"{name.upper()} {b}"
            curves.add(label, name.upper(), int(b), result)
            # Show the first method's middle code length (DPSH 32 by default).
            if name == methods[0] and int(b) == sorted(int(x) for x in bits)[len(bits) // 2]:
                grid = (label, q_codes, db_codes)
            row = {
                "method": name.upper(),
                "bits": int(b),
                "mAP": round(m.map, 4),
                "P@r=2": round(r2.precision, 4),
                "empty@r=2": r2.n_empty,
                "train s": round(t_fit, 2),
                "search us/query": round(lat, 2),
            }
            rows.append(row)
            say(f"  {label:>9}: mAP {m.map:.4f}  P@r=2 {r2.precision:.4f}  (fit {t_fit:.1f} s)")
    say("")
    say(
        f"{len(split.query_y)} queries against {len(split.db_y)} database codes; mAP@ALL is "
        "tie-aware (expected AP over orders within equal distances); P@r=2 counts queries with "
        "nothing within radius 2 as 0 ('empty'); search = FlatIndex k=10, batched, per query."
    )
    if verbose:
        print_table([{k: (f"{v:.4f}" if k in ("mAP", "P@r=2") else v) for k, v in r.items()} for r in rows])
    written = curves.plot(
        out, ("Digits: precision-recall (Hamming radius)", "Digits: precision@N", "Digits: mAP@ALL vs code length")
    )
    if grid is not None:
        written.append(_retrieval_grid(split, *grid, out / "retrieval_grid.png"))
    with open(out / "demo_results.json", "w") as f:
        json.dump(rows, f, indent=1)
    say(f"plots: {', '.join(written)}; table: {out / 'demo_results.json'}")
    say(f"total {time.perf_counter() - t_all:.1f} s")
    return rows


def _retrieval_grid(split, label: str, q_codes: np.ndarray, db_codes: np.ndarray, path) -> str:
    """The first query of each digit 0..7 and its top 10 (8x8 pixels shown at 48x48)."""

    def images(x):
        return (np.clip(x, 0, 1) * 255).round().astype(np.uint8).reshape(-1, 8, 8)

    rows = [int(np.argmax(split.query_y == c)) for c in range(8) if np.any(split.query_y == c)]
    return plots.retrieval_grid(
        db_images=images(split.db_x),
        db_codes=db_codes,
        path=path,
        query_codes=np.ascontiguousarray(q_codes[rows]),
        query_images=images(split.query_x[rows]),
        query_titles=[f"digit {split.query_y[r]}" for r in rows],
        query_labels=split.query_y[rows],
        db_labels=split.db_y,
        k=10,
        tile=48,
        title=f"Digits, {label}: query | top 10 by Hamming distance (green: same digit, red: not)",
    )

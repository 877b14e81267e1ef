"""PNG plots of retrieval metrics (matplotlib's Agg canvas; no display or global backend change).

Each function takes a mapping from a run's label (e.g. ``"DPSH 32"``) to metric results and
writes one figure.
"""
from __future__ import annotations

import os
from typing import Dict, Mapping, Sequence, Tuple

__all__ = ["plot_map_vs_bits", "plot_pr_curves", "plot_precision_at_n"]


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig, ax, path) -> str:
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.fspath(path)
    fig.savefig(path)
    return path


def plot_pr_curves(curves: Mapping[str, "object"], path, title: str = "Precision-recall (Hamming radius)") -> str:
    """Precision against recall, one point per Hamming radius.

    Parameters
    ----------
    curves : mapping label -> :class:`deephash.metrics.PrecisionRecallCurve`
    path : output PNG file
    """
    fig, ax = _figure()
    for label, c in curves.items():
        ax.plot(c.recall, c.precision, marker=".", label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    return _save(fig, ax, path)


def plot_precision_at_n(curves: Mapping[str, "object"], path, title: str = "Precision@N") -> str:
    """Precision of the first N items of the Hamming ranking.

    Parameters
    ----------
    curves : mapping label -> :class:`deephash.metrics.PrecisionAtN`
    """
    fig, ax = _figure()
    for label, c in curves.items():
        ax.plot(c.n, c.precision, marker=".", label=label)
    ax.set_xlabel("N (items retrieved)")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    return _save(fig, ax, path)


def plot_map_vs_bits(
    series: Mapping[str, Sequence[Tuple[int, float]]], path, title: str = "mAP vs code length"
) -> str:
    """mAP against code length.

    Parameters
    ----------
    series : mapping method name -> [(bits, mAP), ...]
    """
    fig, ax = _figure()
    all_bits: Dict[int, None] = {}
    for label, points in series.items():
        pts = sorted(points)
        ax.plot([b for b, _ in pts], [m for _, m in pts], marker="o", label=label)
        all_bits.update((b, None) for b, _ in pts)
    ax.set_xticks(sorted(all_bits))
    ax.set_xlabel("bits")
    ax.set_ylabel("mAP")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    return _save(fig, ax, path)

"""PNG plots of retrieval metrics and results (matplotlib's Agg canvas; no display or global
backend change).

The metric plots take a mapping from a run's label (e.g. ``"DPSH 32"``) to metric results and
write one figure; :func:`retrieval_grid` shows what a search returns, image by image.
"""

from __future__ import annotations

import operator
import os
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ._typing import ArrayLike, PathLike
from ._validate import as_codes, check_k, describe
from .index import FlatIndex
from .metrics import PrecisionAtN, PrecisionRecallCurve
from .metrics._relevance import labels_array

__all__ = [
    "plot_map_vs_bits",
    "plot_pr_curves",
    "plot_precision_at_n",
    "retrieval_grid",
    "retrieval_grid_size",
]


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


def plot_pr_curves(
    curves: Mapping[str, PrecisionRecallCurve],
    path: PathLike,
    title: str = "Precision-recall (Hamming radius)",
) -> str:
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


def plot_precision_at_n(curves: Mapping[str, PrecisionAtN], path: PathLike, title: str = "Precision@N") -> str:
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
    series: Mapping[str, Sequence[Tuple[int, float]]], path: PathLike, title: str = "mAP vs code length"
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


# Retrieval grid layout, in pixels (see retrieval_grid's docstring for the resulting size).
_FRAME = 3  # coloured border of each tile
_BAND = 14  # text line under each tile
_PAD = 4  # space between cells
_GAP = 12  # extra space between the query column and the results
_HEADER = 16  # title line
_DPI = 100
_GREEN = (0, 150, 0)
_RED = (215, 25, 25)
_NEUTRAL = (200, 200, 200)


def _grid_images(x, name: str, n=None) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a uint8 numpy array (n, H, W) or (n, H, W, 3), got {describe(x)}")
    if x.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 images (n, H, W) or (n, H, W, 3), got dtype {x.dtype}")
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[3] == 3)):
        raise ValueError(f"{name} must have shape (n, H, W) or (n, H, W, 3), got {x.shape}")
    if n is not None and x.shape[0] != n:
        raise ValueError(f"{name} must have one image per code ({n}), got {x.shape[0]}")
    return x


def _fit_tile(img: np.ndarray, tile: int) -> np.ndarray:
    """uint8 (tile, tile, 3): the image scaled (nearest neighbour, aspect kept) and centred."""
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    h, w = img.shape[:2]
    scale = tile / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    rows = np.minimum((np.arange(nh) / scale).astype(np.int64), h - 1)
    cols = np.minimum((np.arange(nw) / scale).astype(np.int64), w - 1)
    out = np.full((tile, tile, 3), 255, np.uint8)
    top, left = (tile - nh) // 2, (tile - nw) // 2
    out[top : top + nh, left : left + nw] = img[rows][:, cols]
    return out


def retrieval_grid_size(n_queries: int, k: int, tile: int = 64) -> Tuple[int, int]:
    """(width, height) in pixels of the PNG :func:`retrieval_grid` writes."""
    cell = tile + 2 * _FRAME
    width = _PAD + cell + _GAP + k * (cell + _PAD)
    height = _HEADER + n_queries * (cell + _BAND + _PAD) + _PAD
    return width, height


def retrieval_grid(
    db_images: ArrayLike,
    db_codes: ArrayLike,
    path: PathLike,
    query_codes: ArrayLike,
    query_images: Optional[ArrayLike] = None,
    query_titles: Optional[Sequence[str]] = None,
    query_labels: Optional[ArrayLike] = None,
    db_labels: Optional[ArrayLike] = None,
    k: int = 10,
    weights: Optional[ArrayLike] = None,
    tile: int = 64,
    title: Optional[str] = None,
) -> str:
    """One row per query: the query, then its top-k database images by Hamming distance.

    Each retrieved image carries its distance underneath; when labels are given it is framed
    green if relevant to the query (a shared label) and red otherwise.

    Parameters
    ----------
    db_images : uint8 array (n, H, W) or (n, H, W, 3)
        Image of each database code.
    db_codes : uint8 array (n, bits // 8)
    path : str or os.PathLike
        Output PNG file.
    query_codes : uint8 array (nq, bits // 8)
    query_images : uint8 array (nq, H', W') or (nq, H', W', 3), optional
    query_titles : sequence of nq str, optional
        Shown under the query image, or in its place (e.g. the text of a text query). At least
        one of query_images and query_titles is needed.
    query_labels, db_labels : int (m,) class ids or 0/1 (m, c) multi-hot, optional
        Both or neither.
    k : int >= 1
        Results per query (rows with fewer database codes are padded with empty cells).
    weights : float32 array (bits,) or (nq, bits), optional
        Rank by weighted Hamming distance (see ``BinaryIndex.search``); distances then show two
        decimals.
    tile : int >= 8
        Side of each image's square in pixels (images are scaled by nearest neighbour).
    title : str, optional
        Header line (default: "query | top-k by Hamming distance").

    Returns
    -------
    str
        The path written. The PNG is ``retrieval_grid_size(nq, k, tile)`` pixels:
        width ``4 + (tile + 6) + 12 + k * (tile + 10)``, height ``20 + nq * (tile + 24)``.
    """
    db_images = _grid_images(db_images, "db_images")
    db_arr = db_codes if isinstance(db_codes, np.ndarray) else np.asarray(db_codes)
    if db_arr.ndim != 2 or db_arr.shape[1] == 0:
        raise ValueError(f"db_codes must be 2-D uint8 codes (n, bits // 8), got {describe(db_arr)}")
    bits = db_arr.shape[1] * 8
    db = as_codes(db_arr, bits, "db_codes")
    if db.shape[0] != db_images.shape[0]:
        raise ValueError(
            f"db_images must have one image per code in db_codes ({db.shape[0]}), got {db_images.shape[0]}"
        )
    q = as_codes(query_codes, bits, "query_codes")
    nq = q.shape[0]
    if nq == 0:
        raise ValueError("query_codes is empty: nothing to show")
    if query_images is None and query_titles is None:
        raise ValueError("give query_images or query_titles (or both) to show the queries")
    if query_images is not None:
        query_images = _grid_images(query_images, "query_images", nq)
    if query_titles is not None:
        if isinstance(query_titles, str) or not all(isinstance(t, str) for t in query_titles):
            raise TypeError("query_titles must be a sequence of str, one per query")
        if len(query_titles) != nq:
            raise ValueError(f"query_titles must have one title per query ({nq}), got {len(query_titles)}")
    if (query_labels is None) != (db_labels is None):
        raise ValueError("give both query_labels and db_labels, or neither")
    k = check_k(k)
    if isinstance(tile, bool):
        raise TypeError("tile must be an int")
    tile = operator.index(tile)
    if tile < 8:
        raise ValueError(f"tile must be >= 8 pixels, got {tile}")

    index = FlatIndex(bits)
    index.add(db)
    dist, ids = index.search(q, k) if weights is None else index.search(q, k, weights=weights)
    relevant = None
    if query_labels is not None:
        ql = labels_array(query_labels, nq, "query_labels", "query_codes")
        dl = labels_array(db_labels, db.shape[0], "db_labels", "db_codes")
        if ql.ndim != dl.ndim or (ql.ndim == 2 and ql.shape[1] != dl.shape[1]):
            raise ValueError(
                "query_labels and db_labels must be of the same kind (both class ids or both "
                f"multi-hot with the same classes), got shapes {ql.shape} and {dl.shape}"
            )
        found = dl[np.maximum(ids, 0)]
        relevant = (found == ql[:, None]) if ql.ndim == 1 else (found & ql[:, None, :]).any(axis=2)

    width, height = retrieval_grid_size(nq, k, tile)
    canvas = np.full((height, width, 3), 255, np.uint8)
    cell = tile + 2 * _FRAME
    texts = []  # (x centre, y top, text, colour)

    def put(x0, y0, img, colour):
        canvas[y0 : y0 + cell, x0 : x0 + cell] = colour
        if img is not None:
            canvas[y0 + _FRAME : y0 + _FRAME + tile, x0 + _FRAME : x0 + _FRAME + tile] = _fit_tile(img, tile)
        else:
            canvas[y0 + _FRAME : y0 + _FRAME + tile, x0 + _FRAME : x0 + _FRAME + tile] = 245

    for i in range(nq):
        y0 = _HEADER + i * (cell + _BAND + _PAD)
        qimg = None if query_images is None else query_images[i]
        put(_PAD, y0, qimg, (60, 60, 60))
        if query_titles is not None:
            if qimg is None:
                texts.append((_PAD + cell / 2, y0 + _FRAME + 2, _wrap(query_titles[i], tile), "black", True))
            else:
                texts.append((_PAD + cell / 2, y0 + cell + 1, _clip(query_titles[i], tile), "black", False))
        for j in range(k):
            x0 = _PAD + cell + _GAP + j * (cell + _PAD)
            if ids[i, j] < 0:
                continue
            colour = _NEUTRAL if relevant is None else (_GREEN if relevant[i, j] else _RED)
            put(x0, y0, db_images[ids[i, j]], colour)
            d = dist[i, j]
            label = f"{int(d)}" if weights is None else f"{float(d):.2f}"
            texts.append((x0 + cell / 2, y0 + cell + 1, label, "black", False))
    return _save_canvas(
        canvas,
        texts,
        path,
        title or f"query | top {k} by Hamming distance" + ("" if relevant is None else " (green: relevant, red: not)"),
    )


def _clip(text: str, tile: int) -> str:
    limit = max(4, (tile + 2 * _FRAME) // 5)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _wrap(text: str, tile: int) -> str:
    import textwrap

    lines = textwrap.wrap(text, max(4, tile // 5)) or [""]
    max_lines = max(1, tile // 10)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-1] + "\u2026"
    return "\n".join(lines)


def _save_canvas(canvas: np.ndarray, texts, path, title: str) -> str:
    """Writes the canvas 1:1 (one array pixel per PNG pixel) with the texts on top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = canvas.shape[:2]
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(canvas, interpolation="nearest", extent=(0, width, height, 0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.text(_PAD, 2, title, fontsize=8, va="top", ha="left")
    for x, y, text, colour, small in texts:
        ax.text(x, y, text, fontsize=6 if small else 7, color=colour, ha="center", va="top", linespacing=1.0)
    path = os.fspath(path)
    fig.savefig(path, dpi=_DPI)
    return path

"""``deephash collection build | search | sync | info``: the collection commands of the CLI.

Registered by :mod:`deephash.cli` (``add_collection_parser``); errors are raised as ValueError,
TypeError or OSError, which the CLI prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

__all__ = ["add_collection_parser"]

_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _collection():
    from .collection import Collection

    return Collection


def _print_errors(errors: dict, limit: int = 20) -> None:
    if not errors:
        return
    print(f"{len(errors)} file(s) skipped (damaged or unreadable):", file=sys.stderr)
    for path, reason in list(errors.items())[:limit]:
        print(f"  {path}: {reason}", file=sys.stderr)
    if len(errors) > limit:
        print(f"  ... and {len(errors) - limit} more (deephash collection info COL --json lists all)", file=sys.stderr)


def cmd_build(args) -> int:
    Collection = _collection()
    params = dict(args.param or [])
    t0 = time.perf_counter()
    col = Collection.build(
        args.source,
        args.out,
        model=args.model,
        method=args.method,
        bits=args.bits,
        image_size=args.image_size,
        fit_size=args.fit_size,
        batch_size=args.batch_size,
        seed=args.seed,
        text_column=args.text_column,
        label_column=args.label_column,
        method_params=params or None,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    dt = time.perf_counter() - t0
    info = col.info()
    fit = info.get("fit") or {}
    how = fit.get("method", info["model"].get("method"))
    if info["model"]["type"] == "default":
        how = f"default: {info['model']['features']['name']} features, {how} ({info['model']['normalize']})"
    print(
        f"built a collection of {info['items']} {info['kind']} ({info['bits']}-bit codes, {how}) in {dt:.1f} s "
        f"({info['items'] / max(dt, 1e-9):.1f} items/s) -> {col.path}"
    )
    _print_errors(col.errors)
    return 0


def _query(text: str):
    """A CLI query: an existing file is a path; ``id:N`` or digits an item id; ``code:HEX`` a
    code; anything else a text."""
    if Path(text).expanduser().is_file():
        return text
    if text.startswith("id:") and text[3:].isdigit():
        return int(text[3:])
    if text.isdigit():
        return int(text)
    if text.startswith("code:") and _HEX.match(text[5:]) and len(text[5:]) % 2 == 0:
        return bytes.fromhex(text[5:])
    return text


def cmd_search(args) -> int:
    Collection = _collection()
    col = Collection.open(args.collection)
    results = []
    for q in args.query:
        try:
            hits = col.search(_query(q), k=args.k)
        except KeyError as e:
            raise ValueError(e.args[0] if e.args else str(e)) from None
        results.append((q, hits))
    if args.json:
        doc = {
            "collection": str(col.path),
            "k": args.k,
            "queries": [
                {
                    "query": q,
                    "results": [
                        {"rank": r, "distance": h.distance, "path": h.path, "id": h.id, "label": h.label}
                        | ({"text": h.text} if h.text is not None else {})
                        for r, h in enumerate(hits, 1)
                    ],
                }
                for q, hits in results
            ],
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for q, hits in results:
            print(f"query: {q}")
            width = max((len(str(h.distance)) for h in hits), default=1)
            for r, h in enumerate(hits, 1):
                extra = f"  [{h.label}]" if h.label is not None else ""
                shown = h.path if h.text is None else f"{h.path}  {h.text[:80]!r}"
                print(f"  {r:>{len(str(len(hits)))}}  {h.distance:>{width}}  {shown}{extra}")
    if args.grid:
        out = _grid(col, results, args.grid)
        print(f"grid -> {out}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _grid(col, results, path, tile: int = 96) -> Path:
    """One row per query: the query image (or its text), then its hits with their distances."""
    from PIL import Image, ImageDraw

    if col.kind != "images":
        raise ValueError("--grid draws images; this collection holds texts")
    k = max((len(h) for _q, h in results), default=0)
    band = 14
    w, h = (k + 1) * (tile + 6) + 12, len(results) * (tile + band + 8) + 8
    canvas = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(canvas)
    for row, (q, hits) in enumerate(results):
        y = 8 + row * (tile + band + 8)
        qv = _query(q)
        try:
            if isinstance(qv, int):
                qim = col.image(qv, tile)
            elif isinstance(qv, str) and Path(qv).expanduser().is_file():
                from .collection._images import open_image

                qim = open_image(Path(qv).expanduser().read_bytes(), tile)
                qim.thumbnail((tile, tile))
            else:
                qim = None
        except Exception:  # the grid is a picture of the results: a query it cannot draw stays blank
            qim = None
        if qim is not None:
            canvas.paste(qim, (6, y))
        draw.text((6, y + tile + 1), "query", fill="black")
        for i, hit in enumerate(hits):
            x = 6 + (i + 1) * (tile + 6) + 6
            try:
                canvas.paste(col.image(hit.id, tile), (x, y))
            except Exception:  # changed or vanished since it was indexed: leave its tile empty
                draw.rectangle([x, y, x + tile - 1, y + tile - 1], outline="red")
            draw.text((x, y + tile + 1), f"d={hit.distance}", fill="black")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, format="PNG")
    return out


def cmd_sync(args) -> int:
    col = _collection().open(args.collection)
    t0 = time.perf_counter()
    r = col.sync(verify=args.verify, progress=not args.quiet)
    dt = time.perf_counter() - t0
    print(
        f"synced {col.path} in {dt:.1f} s: {r.added} added, {r.updated} updated, {r.removed} removed, "
        f"{r.unchanged} unchanged, {r.encoded} encoded, {r.damaged} damaged (skipped, not in the index); "
        f"{len(col)} items (generation {col.generation})"
    )
    _print_errors(col.errors)
    return 0


def cmd_info(args) -> int:
    col = _collection().open(args.collection)
    info = col.info()
    if args.json:
        info["errors"] = col.errors
        json.dump(info, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    src = info["source"]
    where = src.get("path") or f"{len(src.get('paths', []))} listed files"
    rows = [
        ("path", info["path"]),
        ("items", f"{info['items']} {info['kind']}"),
        ("bits", info["bits"]),
        ("model", json.dumps(info["model"], sort_keys=True)),
        ("source", f"{src['kind']}: {where}"),
        ("generation", info["generation"]),
        ("errors", info["errors"]),
    ]
    if info.get("fit") and info["fit"].get("candidates"):
        for c in info["fit"]["candidates"]:
            rows.append(
                ("candidate", f"{c['method']} ({c['normalize']}): neighbour recall@10 {c['neighbour_recall@10']}")
            )
    width = max(len(k) for k, _v in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    _print_errors(col.errors)
    return 0


_EXAMPLES = """\
examples:
  deephash collection build ~/Pictures --out pictures.col
  deephash collection search pictures.col ~/Pictures/cat.jpg -k 5 --grid cats.png
  deephash collection search pictures.col id:17 --json
  deephash collection sync pictures.col
  deephash collection info pictures.col
"""


def add_collection_parser(sub, bits_type, positive_type, param_type) -> None:
    """Adds ``collection`` and its subcommands to the CLI's subparsers (the argument types are
    the main CLI's, so ``--bits`` and ``--param`` read the same everywhere)."""
    p = sub.add_parser(
        "collection",
        help="searchable collections of your own images or texts (build, search, sync, info)",
        description="A collection is a folder holding a model, an index and an item table; see deephash.Collection.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    csub = p.add_subparsers(dest="collection_command", metavar="SUBCOMMAND")
    csub.required = True

    b = csub.add_parser("build", help="build a collection from a folder, tar, list, text file or CSV/JSONL")
    b.add_argument("source", help="image folder (recursive), tar archive, .txt (one text per line), .csv/.jsonl")
    b.add_argument("--out", required=True, help="the collection folder to create")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--model", default=None, help="encode with this saved model file (or another collection)")
    g.add_argument("--method", default=None, help="train this method on the collection first (e.g. dpsh, itq)")
    b.add_argument("--bits", type=bits_type, default=48, help="code length, a multiple of 8 (default 48)")
    b.add_argument("--image-size", type=positive_type, default=160, help="network input size (default 160)")
    b.add_argument("--fit-size", type=positive_type, default=5000, help="items the model is fitted on (default 5000)")
    b.add_argument("--batch-size", type=positive_type, default=64, help="items per batch (default 64)")
    b.add_argument("--text-column", default="text", help="text column of a CSV/JSONL source (default text)")
    b.add_argument("--label-column", default=None, help="label column of a CSV/JSONL source")
    b.add_argument(
        "--param", action="append", type=param_type, metavar="KEY=VALUE", help="hyperparameter of --method (repeatable)"
    )
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--overwrite", action="store_true", help="replace an existing collection at --out")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=cmd_build)

    s = csub.add_parser("search", help="the k nearest items of each query")
    s.add_argument("collection")
    s.add_argument(
        "query",
        nargs="+",
        help="an image file, id:N (or N) for an item, code:HEX for a code, or a text (text collections)",
    )
    s.add_argument("-k", type=positive_type, default=10, help="results per query (default 10)")
    s.add_argument("--json", action="store_true", help="print one JSON document and nothing else on stdout")
    s.add_argument("--grid", default=None, metavar="OUT.png", help="also draw the queries and their results")
    s.set_defaults(func=cmd_search)

    y = csub.add_parser("sync", help="add new and changed files, remove deleted ones")
    y.add_argument("collection")
    y.add_argument("--verify", action="store_true", help="also re-hash files whose size and mtime are unchanged")
    y.add_argument("--quiet", action="store_true", help="no progress bars")
    y.set_defaults(func=cmd_sync)

    i = csub.add_parser("info", help="what a collection holds")
    i.add_argument("collection")
    i.add_argument("--json", action="store_true", help="one JSON document (with every error)")
    i.set_defaults(func=cmd_info)

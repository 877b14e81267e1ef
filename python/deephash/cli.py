"""The ``deephash`` command: train, encode, index, search, eval, bench, demo.

Mistakes in user input (a missing file, an unknown method, bits not a multiple of 8, labels of
the wrong length, ...) print one line ``deephash <command>: error: ...`` and exit with status 2;
set ``DEEPHASH_DEBUG=1`` to see the traceback instead.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import tarfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import List, Optional

import numpy as np

from .methods.registry import method_names

__all__ = ["CliError", "main"]

PARTS = ("query", "train", "database", "all")


class CliError(Exception):
    """A user error: reported as one line, exit status 2."""


# ----------------------------------------------------------------------------- argument types

def _bits(text: str) -> int:
    try:
        b = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bits must be an integer, got {text!r}") from None
    if b <= 0 or b % 8 != 0:
        raise argparse.ArgumentTypeError(f"bits must be a positive multiple of 8, got {b}")
    return b


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _param(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"hyperparameters are key=value, got {text!r}")
    key, value = text.split("=", 1)
    lowered = value.strip().lower()
    if lowered in ("true", "false", "none"):  # shell spellings of Python's True/False/None
        return key.strip(), {"true": True, "false": False, "none": None}[lowered]
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass  # a plain string, e.g. optimizer=adam
    return key.strip(), value


def _existing(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise CliError(f"{what} not found: {p}")
    return p


# ----------------------------------------------------------------------------- data and files

def load_split(spec: str, seed: int = 0, data_path=None, n_query: int = 0, n_train: int = 0):
    """Resolves a ``--data`` value to a :class:`deephash.data.RetrievalSplit`.

    ``digits`` (bundled with scikit-learn), ``cifar10`` / ``cifar10:1k`` / ``cifar10:10k``
    (the protocols; archive found via ``--data-path``, ``DEEPHASH_DATA`` or ../shared/data),
    ``wiki-image`` / ``wiki-text`` (one modality of the cross-modal features; the original
    test split gives the queries, the train split the training set and the database),
    ``searchsnippets`` / ``stackoverflow`` (STC2 short texts as TF-IDF + LSA features, 50
    queries and 250 training texts per class), a
    ``.npz`` file holding either ``x`` and ``labels`` or the six arrays ``query_x query_y
    train_x train_y db_x db_y``, or an image folder / tar of one.
    ``n_query`` / ``n_train`` are per class, for sources that get a stratified split
    (0: defaults of each source).
    """
    from . import data

    name = spec.lower()
    if name == "digits":
        kw = {}
        if n_query:
            kw["n_query_per_class"] = n_query
        if n_train:
            kw["n_train_per_class"] = n_train
        return data.digits(seed=seed, **kw)
    if name.startswith("cifar10") and not Path(spec).exists():
        protocol = name.split(":", 1)[1] if ":" in name else "1k"
        return data.cifar10_protocol(protocol, seed=seed, path=data_path)
    if name in ("searchsnippets", "stackoverflow"):
        kw = {}
        if n_query:
            kw["n_query_per_class"] = n_query
        if n_train:
            kw["n_train_per_class"] = n_train
        stc_name = "SearchSnippets" if name == "searchsnippets" else "StackOverflow"
        stc_path = None if data_path is None else Path(data_path) / "stc2"
        return data.stc2_split(stc_name, seed=seed, path=stc_path, **kw)
    if name in ("wiki-image", "wiki-text"):
        w = data.load_wiki(data_path)
        x = w.image_features if name == "wiki-image" else w.text_features
        x = x.astype(np.float32)
        rng = np.random.default_rng(seed)
        train = np.nonzero(~w.is_test)[0]
        idx = data.SplitIndices(np.nonzero(w.is_test)[0], train, rng.permutation(train))
        return data.take_split(x, w.labels, idx, w.classes, name)
    p = Path(spec).expanduser()
    if not p.exists():
        raise CliError(
            f"unknown data set {spec!r}: not digits, cifar10[:1k|:10k], searchsnippets, "
            "stackoverflow, wiki-image, wiki-text, "
            "nor an existing .npz file, image folder or tar archive"
        )
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            keys = set(z.files)
            six = ("query_x", "query_y", "train_x", "train_y", "db_x", "db_y")
            if set(six) <= keys:
                arrays = [z[k] for k in six]
                for a, b, part in ((0, 1, "query"), (2, 3, "train"), (4, 5, "db")):
                    if arrays[a].shape[0] != arrays[b].shape[0]:
                        raise CliError(
                            f"{p}: {part}_y has {arrays[b].shape[0]} labels for "
                            f"{arrays[a].shape[0]} rows of {part}_x"
                        )
                ys = arrays[1::2]
                n_cls = ys[0].shape[1] if ys[0].ndim == 2 else int(max(a.max() for a in ys)) + 1
                empty = np.zeros(0, np.int64)
                return data.RetrievalSplit(
                    *arrays, tuple(str(i) for i in range(n_cls)),
                    data.SplitIndices(empty, empty, empty), p.stem,
                )
            if not {"x", "labels"} <= keys:
                raise CliError(f"{p} must hold arrays 'x' and 'labels' (or {', '.join(six)})")
            x, y = z["x"], z["labels"]
        if x.shape[0] != y.shape[0]:
            raise CliError(f"{p}: 'labels' has {y.shape[0]} entries for {x.shape[0]} rows of 'x'")
        classes = [str(c) for c in np.unique(y)]
    else:
        try:
            folder = data.load_image_folder(p)
        except (tarfile.TarError, EOFError, zlib.error) as e:  # a corrupt or truncated archive
            raise CliError(f"{p} is not a readable image folder or tar archive: {e}") from None
        x, y, classes = folder.images, folder.labels, folder.classes
    counts = np.bincount(np.unique(y, return_inverse=True)[1])
    nq = n_query or max(1, int(counts.min()) // 10)
    nt = n_train or max(1, min(500, (int(counts.min()) - nq) // 2))
    idx = data.stratified_split(y, nq, nt, seed=seed)
    return data.take_split(x, y, idx, classes, p.stem)


def _part(split, part: str):
    if part == "query":
        return split.query_x, split.query_y
    if part == "train":
        return split.train_x, split.train_y
    if part == "database":
        return split.db_x, split.db_y
    return (np.concatenate([split.query_x, split.db_x]), np.concatenate([split.query_y, split.db_y]))


def load_pairs(spec: str, data_path=None):
    """Paired image-text data for the cross-modal methods: ``wiki`` (the Wikipedia set, its
    original split) or a ``.npz`` with ``image_x``, ``text_x``, ``labels`` and ``is_test`` (bool,
    True for query pairs). Returns (image_x, text_x, labels, is_test)."""
    from . import data

    if spec.lower() == "wiki":
        w = data.load_wiki(data_path)
        return w.image_features, w.text_features, w.labels, w.is_test
    p = Path(spec).expanduser()
    if p.suffix != ".npz" or not p.exists():
        raise CliError(f"cross-modal methods take paired data: --data wiki or a .npz with image_x, "
                       f"text_x, labels, is_test; got {spec!r}")
    with np.load(p, allow_pickle=False) as z:
        keys = ("image_x", "text_x", "labels", "is_test")
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise CliError(f"{p} lacks {', '.join(missing)} (a paired set needs {', '.join(keys)})")
        img, txt, y, is_test = (z[k] for k in keys)
    if not len(img) == len(txt) == len(y) == len(is_test):
        raise CliError(f"{p}: image_x, text_x, labels and is_test must have the same rows, got "
                       f"{len(img)}, {len(txt)}, {len(y)}, {len(is_test)}")
    return img, txt, y, is_test.astype(bool)


def save_codes(path, codes: np.ndarray, labels: Optional[np.ndarray] = None) -> None:
    """Writes a codes file: ``.npz`` with ``codes`` (uint8 (n, bits // 8)), ``bits``, ``labels``."""
    arrays = {"codes": codes, "bits": np.int64(codes.shape[1] * 8)}
    if labels is not None:
        arrays["labels"] = labels
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _np_load(p: Path, what: str):
    """``np.load`` of a user's file (the format read from its content, not its suffix)."""
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CliError(f"{p} is not a readable {what} ({e})") from None


def _np_array(path, what: str) -> np.ndarray:
    """One array from a ``.npy`` file; a ``.npz`` archive is a :class:`CliError`."""
    p = _existing(path, what)
    loaded = _np_load(p, f"{what} (.npy)")
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise CliError(f"{p} is a .npz archive; a .npy array was expected")
    return loaded


def read_codes(path, labels_path=None):
    """Reads codes (and labels, when present) from ``.npz`` (see :func:`save_codes`) or ``.npy``."""
    p = _existing(path, "codes file")
    z = _np_load(p, ".npz/.npy codes file")
    if isinstance(z, np.ndarray):
        codes, labels = z, None
    else:
        with z:
            if "codes" not in z.files:
                raise CliError(f"{p} holds no 'codes' array (found: {', '.join(z.files)})")
            codes = z["codes"]
            labels = z["labels"] if "labels" in z.files else None
    if codes.dtype != np.uint8 or codes.ndim != 2:
        raise CliError(
            f"{p}: codes must be packed uint8 rows (n, bits // 8), got dtype {codes.dtype} "
            f"shape {codes.shape}"
        )
    if labels_path is not None:
        labels = _np_array(labels_path, "labels file")
    return np.ascontiguousarray(codes), labels


# ----------------------------------------------------------------------------- methods

def _methods_module():
    try:
        from . import methods
    except ImportError as e:
        raise CliError(
            f"training needs PyTorch and the trainers (pip install 'deephash[torch]'): {e}"
        ) from None
    return methods


def make_method(name: str, bits: int, backbone: Optional[str], seed: int, params: dict):
    """Instantiates ``deephash.methods.<NAME>``; unknown names are a :class:`CliError`."""
    methods = _methods_module()
    try:
        cls = methods.method_class(name)
    except ValueError:
        raise CliError(f"unknown method {name!r}; choose one of {', '.join(method_names())}") from None
    kwargs = dict(params)
    if backbone is not None:
        kwargs["backbone"] = backbone
    try:
        return cls(bits=bits, seed=seed, **kwargs)
    except TypeError as e:
        raise CliError(f"bad hyperparameter for {name.upper()}: {e}") from None


# ----------------------------------------------------------------------------- commands

def cmd_train(args) -> int:
    model = make_method(args.method, args.bits, args.backbone, args.seed, dict(args.param or []))
    if getattr(model, "cross_modal", False):  # trains on image-text pairs
        img, txt, y, is_test = load_pairs(args.data, args.data_path)
        fit_args, name = (img[~is_test], txt[~is_test], y[~is_test]), args.data
    else:
        split = load_split(args.data, args.seed, args.data_path, args.query_per_class,
                           args.train_per_class)
        fit_args, name = (split.train_x, split.train_y), split.name
    t0 = time.perf_counter()
    model.fit(*fit_args)
    dt = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(f"trained {args.method.upper()} ({args.bits} bits) on {len(fit_args[-1])} items of "
          f"{name} in {dt:.1f} s -> {out}")
    return 0


def cmd_encode(args) -> int:
    methods = _methods_module()
    model = methods.load(_existing(args.model, "model file"))
    if args.input is not None:
        x = _np_array(args.input, "input file")
        labels = None
    else:
        split = load_split(args.data, args.seed, args.data_path, args.query_per_class,
                           args.train_per_class)
        x, labels = _part(split, args.part)
    t0 = time.perf_counter()
    codes = model.encode(x)
    dt = time.perf_counter() - t0
    save_codes(args.out, codes, labels)
    print(f"encoded {codes.shape[0]} items to {codes.shape[1] * 8}-bit codes in {dt:.2f} s -> {args.out}")
    return 0


def cmd_index(args) -> int:
    from .index import FlatIndex
    from .multi_index import MultiIndex

    codes, _ = read_codes(args.codes)
    kind = MultiIndex if args.kind == "multi" else FlatIndex
    index = kind(codes.shape[1] * 8)
    index.add(codes)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    index.save(out)
    print(f"indexed {len(index)} codes of {index.bits} bits in a {type(index).__name__} -> {out}")
    return 0


def cmd_search(args) -> int:
    from .loading import load as load_index

    idx = load_index(_existing(args.index, "index file"))
    queries, _ = read_codes(args.queries)
    if queries.shape[1] * 8 != idx.bits:
        raise CliError(f"queries have {queries.shape[1] * 8} bits, the index holds {idx.bits}-bit codes")
    t0 = time.perf_counter()
    if args.radius is not None:
        lims, dist, ids = idx.range_search(queries, args.radius)
    else:
        dist, ids = idx.search(queries, args.k)
    dt = time.perf_counter() - t0
    nq = queries.shape[0]
    what = f"radius {args.radius}" if args.radius is not None else f"k={args.k}"
    print(f"{nq} queries ({what}) against {len(idx)} codes: {dt * 1e3:.2f} ms "
          f"({dt / max(nq, 1) * 1e6:.1f} us/query)")
    for i in range(min(nq, args.show)):
        if args.radius is not None:
            row_ids, row_d = ids[lims[i]:lims[i + 1]], dist[lims[i]:lims[i + 1]]
        else:
            row_ids, row_d = ids[i], dist[i]
        pairs = " ".join(f"{j}:{d}" for j, d in zip(row_ids[:10].tolist(), row_d[:10].tolist()))
        more = " ..." if len(row_ids) > 10 else ""
        print(f"  query {i}: {pairs}{more}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        extra = {"lims": lims} if args.radius is not None else {}
        with open(out, "wb") as f:
            np.savez(f, distances=dist, ids=ids, **extra)
        print(f"results -> {out}")
    return 0


def print_table(rows: List[dict], file=None) -> None:
    """Prints rows (dicts with the same keys) as an aligned text table."""
    file = file or sys.stdout
    if not rows:
        return
    keys = list(rows[0])
    cells = [[str(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.rjust(w) if i else k.ljust(w) for i, (k, w) in enumerate(zip(keys, widths))), file=file)
    for c in cells:
        print("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(c, widths))), file=file)


def evaluate_codes(qc, ql, dc, dl, topk=None, ties="average", radius=2, ns=None):
    """mAP, P@r, PR curve and P@N of one (queries, database) pair of codes."""
    from . import metrics

    m = metrics.mean_average_precision(qc, ql, dc, dl, topk=topk, ties=ties)
    pr = metrics.precision_at_radius(qc, ql, dc, dl, radius=radius)
    curve = metrics.precision_recall_curve(qc, ql, dc, dl)
    pn = metrics.precision_at_n(qc, ql, dc, dl, ns=ns, ties=ties)
    return m, pr, curve, pn


def cmd_eval_cross_modal(args) -> int:
    """``eval --cross-modal MODEL``: image->text and text->image mAP on the test pairs, against
    the other modality's test items and against train+test (database in data order)."""
    from . import metrics

    model = _methods_module().load(_existing(args.cross_modal, "model file"))
    if not getattr(model, "cross_modal", False):
        raise CliError(f"{args.cross_modal} holds a {model.name} model, which encodes one modality; "
                       "--cross-modal needs a DCMH, CCAITQ or SCM model")
    img, txt, y, is_test = load_pairs(args.data or "wiki", args.data_path)
    ci, ct = model.encode_image(img), model.encode_text(txt)
    at = "ALL" if args.topk is None else str(args.topk)
    rows = []
    for db_name, db in (("test", is_test), ("train+test", np.ones_like(is_test))):
        r = {t: metrics.cross_modal_map(ci[is_test], ct[is_test], y[is_test], ci[db], ct[db], y[db],
                                        topk=args.topk, ties=t) for t in ("average", "id")}
        for direction, field in (("image->text", "image_to_text"), ("text->image", "text_to_image")):
            rows.append({
                "direction": direction, "database": db_name, "bits": model.bits,
                "queries": int(is_test.sum()), "db size": int(db.sum()),
                f"mAP@{at} (average)": f"{getattr(r['average'], field).map:.4f}",
                f"mAP@{at} (id)": f"{getattr(r['id'], field).map:.4f}",
            })
    print_table(rows)
    return 0


def cmd_eval(args) -> int:
    from . import plots

    if args.cross_modal:
        return cmd_eval_cross_modal(args)
    if not args.queries or not args.database:
        raise CliError("give --queries and --database code files (or --cross-modal MODEL)")
    if len(args.queries) != len(args.database):
        raise CliError(
            f"give one --database file per --queries file ({len(args.queries)} vs {len(args.database)})"
        )
    names = args.name or []
    if names and len(names) != len(args.queries):
        raise CliError(f"give one --name per --queries file ({len(names)} vs {len(args.queries)})")
    rows, pr_curves, pn_curves, series = [], {}, {}, {}
    for i, (qf, df) in enumerate(zip(args.queries, args.database)):
        qc, ql = read_codes(qf, args.query_labels)
        dc, dl = read_codes(df, args.db_labels)
        for f, lab in ((qf, ql), (df, dl)):
            if lab is None:
                raise CliError(f"{f} holds no labels; pass --query-labels / --db-labels FILE.npy")
        if qc.shape[1] != dc.shape[1]:
            raise CliError(f"{qf} has {qc.shape[1] * 8}-bit codes but {df} has {dc.shape[1] * 8}-bit codes")
        bits = qc.shape[1] * 8
        name = names[i] if names else Path(qf).stem
        t0 = time.perf_counter()
        m, pr, curve, pn = evaluate_codes(qc, ql, dc, dl, args.topk, args.ties, args.radius)
        dt = time.perf_counter() - t0
        at = "ALL" if args.topk is None else str(args.topk)
        rows.append({
            "run": name, "bits": bits, "queries": len(qc), "database": len(dc),
            f"mAP@{at} ({args.ties})": f"{m.map:.4f}",
            f"P@r={args.radius}": f"{pr.precision:.4f}",
            "empty": pr.n_empty,
            "eval s": f"{dt:.2f}",
        })
        pr_curves[name] = curve
        pn_curves[name] = pn
        label = name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name
        series.setdefault(label, []).append((bits, m.map))
    print_table(rows)
    if not args.no_plots:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        written = [
            plots.plot_pr_curves(pr_curves, out / "pr_curve.png"),
            plots.plot_precision_at_n(pn_curves, out / "precision_at_n.png"),
            plots.plot_map_vs_bits(series, out / "map_vs_bits.png"),
        ]
        print("plots: " + ", ".join(written))
    return 0


def cmd_bench(args) -> int:
    try:
        from . import _bench as bench
    except ImportError:
        raise CliError("the engine benchmark (deephash._bench) is not part of this build") from None
    try:
        rc = bench.main(list(args.bench_args))
    except SystemExit as e:  # the benchmark's own argument parser (--help, bad option)
        rc = e.code
    return rc if isinstance(rc, int) else (0 if rc is None else 2)


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(out=args.out, bits=args.bits, methods=args.methods, seed=args.seed, epochs=args.epochs)
    return 0


# ----------------------------------------------------------------------------- parser

def _data_args(p) -> None:
    p.add_argument("--data", default="digits",
                   help="digits (default), cifar10[:1k|:10k], searchsnippets, stackoverflow, "
                        "wiki-image, wiki-text, a .npz file "
                        "(x + labels), or an image folder / tar of one")
    p.add_argument("--data-path", default=None,
                   help="where the data files are (default: $DEEPHASH_DATA or ../shared/data)")
    p.add_argument("--query-per-class", type=_positive, default=0, metavar="N")
    p.add_argument("--train-per-class", type=_positive, default=0, metavar="N")
    p.add_argument("--seed", type=int, default=0, help="seeds the split and the training (default 0)")


_EXAMPLES = """\
examples (no download needed; --data defaults to the bundled digits):
  deephash demo --out results/
  deephash train --method dpsh --bits 32 --out dpsh32.model
  deephash encode --model dpsh32.model --part query --out q.npz
  deephash encode --model dpsh32.model --part database --out db.npz
  deephash index --codes db.npz --out db.dhx
  deephash search --index db.dhx --queries q.npz -k 10
  deephash eval --queries q.npz --database db.npz --out plots/
  deephash train --method dcmh --bits 32 --data wiki --out dcmh32.model
  deephash eval --cross-modal dcmh32.model --data wiki
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deephash",
        description="Deep hashing and fast exact search over binary codes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("train", help="train a hashing method and save the model")
    p.add_argument("--method", required=True, help=f"one of {', '.join(method_names())}")
    p.add_argument("--bits", type=_positive, required=True,
                   help="code length (e.g. 12, 24, 32, 48; codes are zero-padded to whole bytes)")
    p.add_argument("--backbone", default=None, help="backbone name (default: the method's)")
    p.add_argument("--param", type=_param, action="append", metavar="KEY=VALUE",
                   help="hyperparameter passed to the method (repeatable), e.g. --param epochs=30")
    p.add_argument("--out", required=True, help="model file to write")
    _data_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("encode", help="encode data into packed binary codes (.npz)")
    p.add_argument("--model", required=True)
    p.add_argument("--input", default=None, help="a .npy array of inputs (instead of --data)")
    p.add_argument("--part", choices=PARTS, default="database",
                   help="which part of the data split to encode (default database)")
    p.add_argument("--out", required=True, help="codes file to write (.npz: codes, bits, labels)")
    _data_args(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("index", help="build an index from codes and save it")
    p.add_argument("--codes", required=True, help=".npz from `deephash encode`, or .npy of uint8 codes")
    p.add_argument("--kind", choices=("flat", "multi"), default="flat",
                   help="flat: linear SIMD scan; multi: multi-index hashing, exact and sublinear on "
                        "clustered codes (default flat)")
    p.add_argument("--out", required=True, help="index file to write")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search a saved index with query codes")
    p.add_argument("--index", required=True)
    p.add_argument("--queries", required=True, help="codes file (.npz or .npy)")
    p.add_argument("-k", type=_positive, default=10, help="neighbours per query (default 10)")
    p.add_argument("--radius", type=int, default=None, help="range search within this Hamming radius")
    p.add_argument("--show", type=int, default=3, help="queries whose results are printed")
    p.add_argument("--out", default=None, help="write distances/ids to this .npz")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("eval", help="retrieval metrics of query codes against database codes")
    p.add_argument("--queries", nargs="+", help="query codes file(s) with labels")
    p.add_argument("--database", nargs="+", help="database codes file(s), one per query file")
    p.add_argument("--cross-modal", default=None, metavar="MODEL",
                   help="a saved cross-modal model (DCMH, CCAITQ, SCM): image->text and text->image "
                        "mAP of --data's test pairs (instead of --queries/--database)")
    p.add_argument("--data", default=None, help="with --cross-modal: wiki (default) or a paired .npz")
    p.add_argument("--data-path", default=None, help="where the data files are")
    p.add_argument("--name", nargs="+", default=None,
                   help="run names (default: file stems); 'METHOD-BITS' names group the mAP-vs-bits plot")
    p.add_argument("--query-labels", default=None, help=".npy labels overriding those in the file")
    p.add_argument("--db-labels", default=None, help=".npy labels overriding those in the file")
    p.add_argument("--topk", type=_positive, default=None, help="mAP@K instead of mAP@ALL")
    p.add_argument("--ties", choices=("average", "id"), default="average")
    p.add_argument("--radius", type=int, default=2, help="radius of the P@r column (default 2)")
    p.add_argument("--out", default=".", help="directory for the PNG plots (default: current)")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="the engine benchmark (arguments go to deephash._bench)",
                       add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="train DPSH and LSH on the bundled digits, index, evaluate, plot")
    p.add_argument("--out", default=".", help="directory for the plots (default: current)")
    p.add_argument("--bits", type=_bits, nargs="+", default=[16, 32, 64])
    p.add_argument("--methods", nargs="+", default=["dpsh", "lsh"], help=f"subset of {', '.join(method_names())}")
    p.add_argument("--epochs", type=_positive, default=None, help="training epochs (default: the method's)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line; returns the exit status (0 ok, 1 internal error, 2 user error)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `deephash bench ...` passes everything after "bench" through untouched (even --help).
    if argv and argv[0] == "bench":
        args = argparse.Namespace(command="bench", bench_args=argv[1:], func=cmd_bench)
    else:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # argparse printed its usage message
            return int(e.code or 0)
    try:
        return args.func(args)
    except (CliError, ValueError, TypeError, OSError, MemoryError) as e:
        if os.environ.get("DEEPHASH_DEBUG"):
            raise
        msg = str(e) if not isinstance(e, OSError) or not e.filename else (
            f"{e.strerror or e}: {e.filename}"
        )
        if isinstance(e, MemoryError):  # e.g. numpy cannot allocate the (nq, k) result
            msg = f"out of memory: {msg or 'allocation failed'}"
        msg = "; ".join(line.strip() for line in msg.splitlines() if line.strip()).replace(":;", ":")
        print(f"deephash {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # not the user's mistake: a bug in deephash or a library it uses
        if os.environ.get("DEEPHASH_DEBUG"):
            raise
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else ""
        print(f"deephash {args.command}: internal error: {type(e).__name__}: {e}{where}\n"
              "This is a bug in deephash; run again with DEEPHASH_DEBUG=1 for the traceback and "
              "report it.", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

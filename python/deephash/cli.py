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
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

from ._npfile import existing as _existing
from ._cli_inputs import check_image_values, load_input
from .cli_collection import add_collection_parser
from .cli_serve import add_serve_parser
from ._npfile import np_array as _np_array
from .codes import read_codes, save_codes
from .data.spec import load_pairs, load_split
from .index import FlatIndex
from .loading import load as load_index
from .methods.registry import method_names
from .multi_index import MultiIndex
from .report import Curves, cross_modal_rows, evaluate_codes, print_table

__all__ = ["CliError", "main"]


def _user_runtime_errors():
    """RuntimeErrors that are the user's situation, not a bug (another writer holds a collection)."""
    from .collection import CollectionBusyError, DamagedItem

    return (CollectionBusyError, DamagedItem)


_UserRuntimeError = _user_runtime_errors()

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


def _method_bits(text: str) -> int:
    """Code length as the methods take it (1..4096; codes are zero-padded to whole bytes)."""
    try:
        b = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bits must be an integer, got {text!r}") from None
    if not 1 <= b <= 4096:
        raise argparse.ArgumentTypeError(f"bits must be between 1 and 4096, got {b}")
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


# ----------------------------------------------------------------------------- data and files


def _part(split, part: str):
    if part == "query":
        return split.query_x, split.query_y
    if part == "train":
        return split.train_x, split.train_y
    if part == "database":
        return split.db_x, split.db_y
    return (np.concatenate([split.query_x, split.db_x]), np.concatenate([split.query_y, split.db_y]))


# ----------------------------------------------------------------------------- methods


def _methods_module():
    try:
        from . import methods
    except ImportError as e:
        raise CliError(f"training needs PyTorch and the trainers (pip install 'deephash[torch]'): {e}") from None
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
    params = dict(args.param or [])
    if args.workers is not None:  # data-parallel training on Ray (TrainConfig.num_workers)
        _distributed()
        params["num_workers"] = args.workers
    default_data = args.data is None
    if default_data:
        args.data = "digits"
    model = make_method(args.method, args.bits, args.backbone, args.seed, params)
    if getattr(model, "cross_modal", False):  # trains on image-text pairs
        img, txt, y, is_test = load_pairs(args.data, args.data_path)
        fit_args, name = (img[~is_test], txt[~is_test], y[~is_test]), args.data
    else:
        split = load_split(
            args.data, args.seed, args.data_path, args.query_per_class, args.train_per_class, args.image_size
        )
        fit_args, name = (split.train_x, split.train_y), split.name
    t0 = time.perf_counter()
    model.fit(*fit_args)
    dt = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(
        f"trained {args.method.upper()} ({args.bits} bits) on {len(fit_args[-1])} items of "
        f"{name}{' (no --data given: the bundled digits)' if default_data else ''} in {dt:.1f} s -> {out}"
    )
    return 0


def cmd_encode(args) -> int:
    methods = _methods_module()
    model_path = _existing(args.model, "model file")
    model = methods.load(model_path)
    if args.input is not None:
        x = load_input(args.input, model_path, _np_array)
        labels = None
    else:
        if args.data is None:
            raise CliError(
                "give --data (digits, cifar10, searchsnippets:text, an image folder, a tar, a .txt or .npz file) "
                "or --input (a .npy array or an image file) to say what to encode"
            )
        split = load_split(
            args.data, args.seed, args.data_path, args.query_per_class, args.train_per_class, args.image_size
        )
        x, labels = _part(split, args.part)
    check_image_values(x)
    t0 = time.perf_counter()
    codes = model.encode(x)
    dt = time.perf_counter() - t0
    save_codes(args.out, codes, labels)
    padded = f" (padded to {codes.shape[1] * 8})" if model.bits != codes.shape[1] * 8 else ""
    print(f"encoded {codes.shape[0]} items to {model.bits}-bit codes{padded} in {dt:.2f} s -> {args.out}")
    return 0


def _distributed():
    """deephash.distributed's CLI helpers, or a CliError when Ray is not installed."""
    try:
        import ray  # noqa: F401

        from .distributed import cli_support
    except ImportError:
        raise CliError(
            "--shards, --workers and sharded indexes need Ray: pip install 'deephash[distributed]'"
        ) from None
    return cli_support


def cmd_index(args) -> int:
    codes, _ = read_codes(args.codes)
    if args.shards is not None:
        print(_distributed().build_sharded(codes, args.kind, args.shards, args.out, args.address))
        return 0
    kind = MultiIndex if args.kind == "multi" else FlatIndex
    index = kind(codes.shape[1] * 8)
    index.add(codes)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    index.save(out)
    print(f"indexed {len(index)} codes of {index.bits} bits in a {type(index).__name__} -> {out}")
    return 0


def cmd_search(args) -> int:
    path = _existing(args.index, "index file")
    if path.is_dir():  # a ShardedIndex saved by `deephash index --shards`
        idx = _distributed().open_sharded(path, args.address)
    else:
        idx = load_index(path)
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
    print(f"{nq} queries ({what}) against {len(idx)} codes: {dt * 1e3:.2f} ms ({dt / max(nq, 1) * 1e6:.1f} us/query)")
    for i in range(min(nq, args.show)):
        if args.radius is not None:
            row_ids, row_d = ids[lims[i] : lims[i + 1]], dist[lims[i] : lims[i + 1]]
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


def cmd_eval_cross_modal(args) -> int:
    """``eval --cross-modal MODEL``: image->text and text->image mAP on the test pairs, against
    the other modality's test items and against train+test (database in data order)."""
    model = _methods_module().load(_existing(args.cross_modal, "model file"))
    if not getattr(model, "cross_modal", False):
        raise CliError(
            f"{args.cross_modal} holds a {model.name} model, which encodes one modality; "
            "--cross-modal needs a DCMH, CCAITQ or SCM model"
        )
    img, txt, y, is_test = load_pairs(args.data or "wiki", args.data_path)
    print_table(cross_modal_rows(model, img, txt, y, is_test, topk=args.topk))
    return 0


def cmd_eval(args) -> int:
    if args.cross_modal:
        return cmd_eval_cross_modal(args)
    if not args.queries or not args.database:
        raise CliError("give --queries and --database code files (or --cross-modal MODEL)")
    if len(args.queries) != len(args.database):
        raise CliError(f"give one --database file per --queries file ({len(args.queries)} vs {len(args.database)})")
    names = args.name or []
    if names and len(names) != len(args.queries):
        raise CliError(f"give one --name per --queries file ({len(names)} vs {len(args.queries)})")
    rows, curves = [], Curves()
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
        result = evaluate_codes(qc, ql, dc, dl, args.topk, args.ties, args.radius)
        dt = time.perf_counter() - t0
        at = "ALL" if args.topk is None else str(args.topk)
        rows.append(
            {
                "run": name,
                "bits": bits,
                "queries": len(qc),
                "database": len(dc),
                f"mAP@{at} ({args.ties})": f"{result.map.map:.4f}",
                f"P@r={args.radius}": f"{result.at_radius.precision:.4f}",
                "empty": result.at_radius.n_empty,
                "eval s": f"{dt:.2f}",
            }
        )
        # 'METHOD-BITS' names share one line of the mAP-vs-bits plot.
        group = name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name
        curves.add(name, group, bits, result)
    print_table(rows)
    if not args.no_plots:
        print("plots: " + ", ".join(curves.plot(args.out)))
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
    _methods_module()  # the hint to install the trainers, before the demo starts
    unknown = [m for m in args.methods if m.lower() not in method_names()]
    if unknown:
        raise CliError(f"unknown method {unknown[0]!r}; choose one of {', '.join(method_names())}")
    from .demo import run_demo

    run_demo(out=args.out, bits=args.bits, methods=args.methods, seed=args.seed, epochs=args.epochs)
    return 0


# ----------------------------------------------------------------------------- parser


def _data_args(p) -> None:
    p.add_argument(
        "--data",
        default="digits",
        help="digits (train's default), cifar10[:1k|:10k], searchsnippets, stackoverflow (TF-IDF+LSA "
        "vectors), searchsnippets:text, stackoverflow:text (raw texts), wiki-image, wiki-text, a .txt "
        "file (one text per line), a .npz file (x + labels), or an image folder / tar of one",
    )
    p.add_argument(
        "--data-path", default=None, help="where the data files are (default: $DEEPHASH_DATA or ../shared/data)"
    )
    p.add_argument(
        "--image-size",
        type=_positive,
        default=None,
        metavar="S",
        help="resize the images of an image folder to S x S (needed when their sizes differ)",
    )
    p.add_argument("--query-per-class", type=_positive, default=0, metavar="N")
    p.add_argument("--train-per-class", type=_positive, default=0, metavar="N")
    p.add_argument("--seed", type=int, default=0, help="seeds the split and the training (default 0)")


_EXAMPLES = """\
examples (no download needed; train's --data defaults to the bundled digits):
  deephash demo --out results/
  deephash train --method dpsh --bits 32 --out dpsh32.model
  deephash encode --model dpsh32.model --data digits --part query --out q.npz
  deephash encode --model dpsh32.model --data digits --part database --out db.npz
  deephash index --codes db.npz --out db.dhx
  deephash search --index db.dhx --queries q.npz -k 10
  deephash eval --queries q.npz --database db.npz --out plots/
  deephash train --method dcmh --bits 32 --data wiki --out dcmh32.model
  deephash eval --cross-modal dcmh32.model --data wiki
  deephash collection build ~/Pictures --out pictures.col   (then: collection search/sync/info)
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
    p.add_argument(
        "--bits",
        type=_method_bits,
        required=True,
        help="code length (e.g. 12, 24, 32, 48; codes are zero-padded to whole bytes)",
    )
    p.add_argument("--backbone", default=None, help="backbone name (default: the method's)")
    p.add_argument(
        "--param",
        type=_param,
        action="append",
        metavar="KEY=VALUE",
        help="hyperparameter passed to the method (repeatable), e.g. --param epochs=30",
    )
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="train data-parallel over this many Ray workers (needs deephash[distributed])",
    )
    _data_args(p)
    p.set_defaults(func=cmd_train, data=None)  # digits, and the summary line says so

    p = sub.add_parser("encode", help="encode data into packed binary codes (.npz)")
    p.add_argument("--model", required=True)
    p.add_argument("--input", default=None, help="a .npy array of inputs, or one image file (instead of --data)")
    p.add_argument(
        "--part",
        choices=PARTS,
        default="database",
        help="which part of the data split to encode (default database). Rows come in the split's "
        "order: database and train are shuffled (seeded), all is queries then database; the codes "
        "file holds no paths. To search files by path, use `deephash collection`",
    )
    p.add_argument("--out", required=True, help="codes file to write (.npz: codes, bits, labels)")
    _data_args(p)
    p.set_defaults(func=cmd_encode, data=None)  # encode says what it encodes: no silent default

    p = sub.add_parser("index", help="build an index from codes and save it")
    p.add_argument("--codes", required=True, help=".npz from `deephash encode`, or .npy of uint8 codes")
    p.add_argument(
        "--kind",
        choices=("flat", "multi"),
        default="flat",
        help="flat: linear SIMD scan; multi: multi-index hashing, exact and sublinear on "
        "clustered codes (default flat)",
    )
    p.add_argument("--out", required=True, help="index file to write (a folder with --shards)")
    p.add_argument(
        "--shards",
        type=_positive,
        default=None,
        help="build a sharded index over this many Ray actors (needs deephash[distributed])",
    )
    p.add_argument("--address", default=None, help="Ray cluster address for --shards (default: start a local Ray)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search a saved index with query codes")
    p.add_argument("--index", required=True)
    p.add_argument("--queries", required=True, help="codes file (.npz or .npy)")
    p.add_argument("-k", type=_positive, default=10, help="neighbours per query (default 10)")
    p.add_argument("--radius", type=int, default=None, help="range search within this Hamming radius")
    p.add_argument("--show", type=int, default=3, help="queries whose results are printed")
    p.add_argument("--out", default=None, help="write distances/ids to this .npz")
    p.add_argument(
        "--address", default=None, help="Ray cluster address for a sharded index (default: start a local Ray)"
    )
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("eval", help="retrieval metrics of query codes against database codes")
    p.add_argument("--queries", nargs="+", help="query codes file(s) with labels")
    p.add_argument("--database", nargs="+", help="database codes file(s), one per query file")
    p.add_argument(
        "--cross-modal",
        default=None,
        metavar="MODEL",
        help="a saved cross-modal model (DCMH, CCAITQ, SCM): image->text and text->image "
        "mAP of --data's test pairs (instead of --queries/--database)",
    )
    p.add_argument("--data", default=None, help="with --cross-modal: wiki (default) or a paired .npz")
    p.add_argument("--data-path", default=None, help="where the data files are")
    p.add_argument(
        "--name",
        nargs="+",
        default=None,
        help="run names (default: file stems); 'METHOD-BITS' names group the mAP-vs-bits plot",
    )
    p.add_argument("--query-labels", default=None, help=".npy labels overriding those in the file")
    p.add_argument("--db-labels", default=None, help=".npy labels overriding those in the file")
    p.add_argument("--topk", type=_positive, default=None, help="mAP@K instead of mAP@ALL")
    p.add_argument("--ties", choices=("average", "id"), default="average")
    p.add_argument("--radius", type=int, default=2, help="radius of the P@r column (default 2)")
    p.add_argument("--out", default=".", help="directory for the PNG plots (default: current)")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="the engine benchmark (arguments go to deephash._bench)", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="train DPSH and LSH on the bundled digits, index, evaluate, plot")
    p.add_argument("--out", default="demo_results", help="directory for the plots and results (default: demo_results/)")
    p.add_argument("--bits", type=_bits, nargs="+", default=[16, 32, 64])
    p.add_argument("--methods", nargs="+", default=["dpsh", "lsh"], help=f"subset of {', '.join(method_names())}")
    p.add_argument("--epochs", type=_positive, default=None, help="training epochs (default: the method's)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)

    add_collection_parser(sub, _bits, _positive, _param)
    add_serve_parser(sub, _positive)
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
    except (CliError, ValueError, TypeError, OSError, MemoryError, *_UserRuntimeError) as e:
        if os.environ.get("DEEPHASH_DEBUG"):
            raise
        msg = str(e) if not isinstance(e, OSError) or not e.filename else (f"{e.strerror or e}: {e.filename}")
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
        print(
            f"deephash {args.command}: internal error: {type(e).__name__}: {e}{where}\n"
            "This is a bug in deephash; run again with DEEPHASH_DEBUG=1 for the traceback and "
            "report it.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

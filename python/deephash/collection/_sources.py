"""What a collection is built from: a folder, a tar, a list of paths, a text file, a CSV/JSONL.

:func:`describe_source` validates ``source`` once and returns a JSON description (saved in the
manifest, so ``sync`` can rescan it); :func:`scan` streams its entries, one at a time, so a
million files never sit in memory together.
"""

from __future__ import annotations

import csv
import json
import os
import stat as _stat
import tarfile
from pathlib import Path
from typing import Iterator, NamedTuple, Optional

from .._validate import describe
from ..data.image_folder import IMAGE_EXTENSIONS, TAR_SUFFIXES

__all__ = ["Entry", "describe_source", "scan", "source_kind"]

TEXT_SUFFIXES = (".txt",)
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")


class Entry(NamedTuple):
    """One item of a source.

    ``path`` is the item's key: an absolute file path; ``<archive>#<member>`` for a tar member;
    ``<file>#<line>`` (1-based) for a text. ``size``/``mtime_ns`` identify a file's version
    (for tar members, from the member header; for texts, None: their content is the text).
    """

    path: str
    member: Optional[str] = None
    data_offset: Optional[int] = None
    size: Optional[int] = None
    mtime_ns: Optional[int] = None
    label: Optional[str] = None
    text: Optional[str] = None


def is_image_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def source_kind(source) -> dict:
    """Validates a build source; returns its description (kind, path(s), text column)."""
    if isinstance(source, (str, os.PathLike)):
        p = Path(os.fspath(source)).expanduser().resolve()
        if not p.exists():
            raise FileNotFoundError(f"collection source not found: {p}")
        if p.is_dir():
            return {"kind": "folder", "path": str(p)}
        name = p.name.lower()
        if name.endswith(TAR_SUFFIXES):
            return {"kind": "tar", "path": str(p)}
        if name.endswith(TEXT_SUFFIXES):
            return {"kind": "text", "path": str(p)}
        if name.endswith(TABLE_SUFFIXES):
            return {"kind": "table", "path": str(p)}
        if is_image_name(name):
            return {"kind": "paths", "paths": [str(p)]}
        raise ValueError(
            f"collection source {p} is neither a folder, a tar archive ({', '.join(TAR_SUFFIXES)}), a text "
            f"file (.txt, one text per line), a table ({', '.join(TABLE_SUFFIXES)}) nor an image"
        )
    if isinstance(source, (list, tuple)):
        paths = []
        for s in source:
            if not isinstance(s, (str, os.PathLike)):
                raise TypeError(f"a source list must hold paths (str or os.PathLike), got {describe(s)}")
            paths.append(str(Path(os.fspath(s)).expanduser().resolve()))
        if not paths:
            raise ValueError("the source list is empty")
        return {"kind": "paths", "paths": paths}
    raise TypeError(f"source must be a folder, tar, text/CSV/JSONL file or a list of paths, got {describe(source)}")


def describe_source(source, text_column: str, label_column: Optional[str]) -> dict:
    d = source_kind(source)
    if d["kind"] == "table":
        d["text_column"] = text_column
        d["label_column"] = label_column
    return d


def input_kind(desc: dict) -> str:
    """``"texts"`` for text and table sources, else ``"images"``."""
    return "texts" if desc["kind"] in ("text", "table") else "images"


def scan(desc: dict, skip: Optional[Path] = None) -> Iterator[Entry]:
    """Streams the entries of a described source (order: sorted paths, archive/file order)."""
    kind = desc["kind"]
    if kind == "folder":
        yield from _scan_folder(Path(desc["path"]), skip)
    elif kind == "tar":
        yield from _scan_tar(Path(desc["path"]))
    elif kind == "paths":
        for p in desc["paths"]:
            yield _file_entry(Path(p), label=None)
    elif kind == "text":
        yield from _scan_text(Path(desc["path"]))
    elif kind == "table":
        yield from _scan_table(Path(desc["path"]), desc["text_column"], desc.get("label_column"))
    else:
        raise ValueError(f"unknown source kind {kind!r} in the manifest")


def _file_entry(p: Path, label: Optional[str]) -> Entry:
    try:
        st = p.stat()
        size, mtime = st.st_size, st.st_mtime_ns
    except OSError:  # missing or unreadable: reported when it is read
        size, mtime = None, None
    return Entry(str(p), size=size, mtime_ns=mtime, label=label)


def _scan_folder(root: Path, skip: Optional[Path]) -> Iterator[Entry]:
    # An explicit stack of sorted directory listings: recursive, deterministic, bounded by the
    # depth and width of one listing, symlinked directories not followed (no loops).
    stack = [root]
    skip_s = str(skip) if skip is not None else None
    while stack:
        d = stack.pop()
        if skip_s is not None and str(d) == skip_s:
            continue
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    subdirs.append(Path(e.path))
                    continue
                if not is_image_name(e.name) or not e.is_file():
                    continue
                st = e.stat()
            except OSError:
                continue
            if not _stat.S_ISREG(st.st_mode):
                continue
            label = d.name if d != root else None
            yield Entry(str(Path(e.path)), size=st.st_size, mtime_ns=st.st_mtime_ns, label=label)
        stack.extend(reversed(subdirs))


def _scan_tar(path: Path) -> Iterator[Entry]:
    # Each member's data offset (in the decompressed stream for a compressed archive), so an
    # item is read back with one pread: in the archive itself, or in its unpacked copy
    # (see _archives).
    with tarfile.open(path, "r:*") as tf:
        for m in tf:
            if not m.isfile() or not is_image_name(m.name):
                continue
            parts = [p for p in m.name.split("/") if p not in ("", ".")]
            label = parts[-2] if len(parts) >= 2 else None
            yield Entry(
                f"{path}#{m.name}",
                member=m.name,
                data_offset=m.offset_data,
                size=m.size,
                mtime_ns=int(m.mtime) * 1_000_000_000,
                label=label,
            )


def _scan_text(path: Path) -> Iterator[Entry]:
    with open(path, encoding="utf-8", errors="strict", newline=None) as f:
        for i, line in enumerate(f, 1):
            text = line.rstrip("\n")
            if text.strip():
                yield Entry(f"{path}#{i}", text=text)


def _scan_table(path: Path, column: str, label_column: Optional[str]) -> Iterator[Entry]:
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{i}: not a JSON object ({e})") from None
                if not isinstance(obj, dict) or column not in obj:
                    raise ValueError(f"{path}:{i}: expected a JSON object with a {column!r} field")
                label = obj.get(label_column) if label_column else None
                yield Entry(f"{path}#{i}", text=str(obj[column]), label=None if label is None else str(label))
        return
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t" if name.endswith(".tsv") else ",")
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise ValueError(f"{path}: no {column!r} column (columns: {reader.fieldnames}); pass text_column=")
        for i, rec in enumerate(reader, 2):  # line 1 is the header
            text = rec.get(column) or ""
            if text.strip():
                label = rec.get(label_column) if label_column else None
                yield Entry(f"{path}#{i}", text=text, label=label)

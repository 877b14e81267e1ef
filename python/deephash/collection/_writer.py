"""The writer side of a collection: scanning a source into the item table, encoding pending
rows in bounded batches, and committing a generation (index file, then manifest).

Memory is bounded by the batch, not the collection: entries stream from the source into the
table, pending rows are read back by id in batches, decoded (JPEGs in draft mode) in a
background thread while the previous batch is encoded, and each batch's codes are committed
before the next one starts. A killed writer loses at most the batch in flight; the next one
continues from the rows already encoded.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from ._files import write_atomic
from ._images import DamagedItem, decode_square, read_item_bytes
from ._sources import Entry, scan
from ._store import ItemStore, Row, record_damaged

__all__ = ["apply_scan", "check_added", "commit", "encode_pending", "insert_entry", "replace_row"]

MANIFEST = "manifest.json"
FORMAT = "deephash-collection"
VERSION = 1


def insert_entry(db: sqlite3.Connection, e: Entry, origin: str, gen: int) -> int:
    db.execute("DELETE FROM errors WHERE path = ?", (e.path,))
    cur = db.execute(
        "INSERT INTO items(path, origin, member, data_offset, size, mtime_ns, label, text, added_gen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.path, origin, e.member, e.data_offset, e.size, e.mtime_ns, e.label, e.text, gen),
    )
    return int(cur.lastrowid)


def retire(db: sqlite3.Connection, row_id: int, gen: int) -> None:
    """Takes a row out of generation ``gen`` (a row never committed is simply deleted)."""
    db.execute("DELETE FROM items WHERE id = ? AND added_gen = ?", (row_id, gen))
    db.execute("UPDATE items SET removed_gen = ? WHERE id = ? AND removed_gen IS NULL", (gen, row_id))


def replace_row(db: sqlite3.Connection, row: Row, e: Entry, gen: int) -> int:
    retire(db, row.id, gen)
    return insert_entry(db, e, row.origin, gen)


class _IdSet:
    """A set of non-negative int ids as a growing bit array."""

    def __init__(self):
        self.bits = np.zeros(1024, dtype=bool)

    def add(self, i: int) -> None:
        if i >= self.bits.size:
            self.bits = np.concatenate([self.bits, np.zeros(max(i + 1, 2 * self.bits.size), dtype=bool)])
        self.bits[i] = True

    def __contains__(self, i: int) -> bool:
        return i < self.bits.size and bool(self.bits[i])


class ScanCounts:
    def __init__(self):
        self.added = self.updated = self.removed = self.unchanged = self.still_damaged = 0


def apply_scan(store: ItemStore, desc: dict, gen: int, skip: Optional[Path], verify: bool) -> ScanCounts:
    """Brings the table's source rows in line with the source: new entries inserted, changed
    ones (size or mtime differ; the text for texts) replaced, vanished ones retired; with
    ``verify`` every unchanged-looking file is re-hashed too (catches a copy that kept size and
    mtime). Damaged files already reported are retried only when their size or mtime changed."""
    c = ScanCounts()
    cache = cache_dir(store)
    seen = _IdSet()  # one bit per id: a million items cost 125 KB, not a set of ints
    seen_errors = set()
    pending: List[Entry] = []

    def flush():
        with store.transaction() as db:
            for e in pending:
                if store.is_excluded(e.path):
                    continue
                row = store.live_by_path(e.path)
                if row is None:
                    if e.size is not None and store.error_stat(e.path) == (e.size, e.mtime_ns):
                        seen_errors.add(e.path)
                        c.still_damaged += 1
                        continue
                    seen.add(insert_entry(db, e, "source", gen))
                    c.added += 1
                    continue
                seen.add(row.id)
                if row.text is not None or e.text is not None:
                    changed = row.text != e.text or row.label != e.label
                else:
                    changed = (row.size, row.mtime_ns, row.label) != (e.size, e.mtime_ns, e.label)
                    if not changed and verify and row.sha256 is not None:
                        try:
                            data = read_item_bytes(row.path, row.member, row.data_offset, row.size, cache)
                            changed = hashlib.sha256(data).hexdigest() != row.sha256
                        except DamagedItem:
                            changed = True
                if changed:
                    seen.add(replace_row(db, row, e, gen))
                    c.updated += 1
                else:
                    c.unchanged += 1
                    if e.member is not None and row.data_offset != e.data_offset:
                        # same member, moved within a rewritten archive (or recorded without
                        # an offset): where to read it is not part of its content
                        db.execute("UPDATE items SET data_offset = ? WHERE id = ?", (e.data_offset, row.id))
        pending.clear()

    for e in scan(desc, skip):
        pending.append(e)
        if len(pending) >= 1000:
            flush()
    flush()
    with store.transaction() as db:
        for row_id, path in db.execute("SELECT id, path FROM items WHERE origin = 'source' AND removed_gen IS NULL"):
            if row_id not in seen:
                retire(db, row_id, gen)
                c.removed += 1
        # reports of source files that are gone (or fixed and now encoded) go too
        for (path,) in db.execute("SELECT path FROM errors").fetchall():
            if path not in seen_errors and not os.path.exists(path.split("#", 1)[0]):
                db.execute("DELETE FROM errors WHERE path = ?", (path,))
    return c


def check_added(store: ItemStore, gen: int) -> ScanCounts:
    """Items added by ``add(paths)`` are not in the source: each is checked on its own."""
    c = ScanCounts()
    with store.transaction() as db:
        for row in store.live_rows("added"):
            if row.text is not None or row.member is not None:
                c.unchanged += 1
                continue
            try:
                st = os.stat(row.path)
            except OSError:
                retire(db, row.id, gen)
                c.removed += 1
                continue
            if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
                replace_row(db, row, Entry(row.path, size=st.st_size, mtime_ns=st.st_mtime_ns, label=row.label), gen)
                c.updated += 1
            else:
                c.unchanged += 1
    return c


def cache_dir(store: ItemStore) -> Path:
    """The collection's ``cache/`` folder (unpacked copies of compressed tar sources)."""
    return Path(store.path).parent / "cache"


def _load(rows: List[Row], kind: str, image_size: int, cache: Optional[Path] = None):
    """Reads and decodes a batch: (ok rows, inputs, sha256s, {row id: reason})."""
    ok, inputs, shas, bad = [], [], [], {}
    for r in rows:
        if kind == "texts":
            ok.append(r)
            inputs.append(r.text)
            shas.append(hashlib.sha256(r.text.encode("utf-8")).hexdigest())
            continue
        try:
            data = read_item_bytes(r.path, r.member, r.data_offset, r.size, cache)
            sha = hashlib.sha256(data).hexdigest()
            arr = decode_square(data, image_size)
        except DamagedItem as e:
            bad[r.id] = str(e)
            continue
        ok.append(r)
        inputs.append(arr)
        shas.append(sha)
    return ok, inputs, shas, bad


def encode_pending(
    store: ItemStore,
    encoder,
    batch_size: int,
    progress: bool,
    callback: Optional[Callable[[int, int], None]],
    known_codes: Optional[dict] = None,
    damaged: Optional[List[str]] = None,
) -> int:
    """Encodes every live row without a code, one committed batch at a time; returns how many
    rows were encoded (rows whose content hash matches an encoded row reuse its code, damaged
    ones move to the error report, and their paths to ``damaged`` when given). ``known_codes``:
    id -> code computed already (the fit sample of the default model)."""
    ids = store.pending_ids()
    total = int(ids.size)
    if total == 0:
        return 0
    nbytes = encoder.code_bits // 8
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="encoding", unit="text" if encoder.kind == "texts" else "img")
    known_codes = known_codes or {}
    encoded = done = 0

    def fetch(start):
        chunk = ids[start : start + batch_size]
        by_id = store.rows(chunk)
        rows = [by_id[i] for i in chunk.tolist() if i in by_id]
        need = [r for r in rows if r.id not in known_codes]
        return rows, _load(need, encoder.kind, encoder.image_size or 0, cache_dir(store))

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            fut = pool.submit(fetch, 0)
            for start in range(0, total, batch_size):
                rows, (ok, inputs, shas, bad) = fut.result()
                if start + batch_size < total:
                    fut = pool.submit(fetch, start + batch_size)  # decode the next batch meanwhile
                codes = {}
                todo_rows, todo_inputs = [], []
                for r, x, sha in zip(ok, inputs, shas):
                    reuse = store.code_by_sha(sha)
                    if reuse is not None and len(reuse) == nbytes:
                        codes[r.id] = (reuse, sha)
                    else:
                        todo_rows.append((r, sha))
                        todo_inputs.append(x)
                if todo_inputs:
                    batch = np.stack(todo_inputs) if encoder.kind == "images" else todo_inputs
                    out = np.ascontiguousarray(encoder.encode(batch), dtype=np.uint8)
                    for (r, sha), c in zip(todo_rows, out):
                        codes[r.id] = (c.tobytes(), sha)
                    encoded += len(todo_rows)
                for r in rows:
                    if r.id in known_codes:
                        codes[r.id] = (bytes(known_codes[r.id]), None)
                with store.transaction() as db:
                    for rid, (code, sha) in codes.items():
                        db.execute(
                            "UPDATE items SET code = ?, sha256 = COALESCE(?, sha256) WHERE id = ?", (code, sha, rid)
                        )
                    record_damaged(db, rows, bad)
                if damaged is not None:
                    damaged.extend(r.path for r in rows if r.id in bad)
                done += len(rows)
                if bar is not None:
                    bar.update(len(rows))
                if callback is not None:
                    callback(done, total)
    finally:
        if bar is not None:
            bar.close()
    return encoded


def commit(folder: Path, store: ItemStore, manifest: dict, gen: int) -> dict:
    """Writes generation ``gen``: its index file from the previous one plus the table's changes,
    then the manifest (the commit point); old index files and long-retired rows are purged."""
    from ..index import FlatIndex
    from ..loading import load as load_index
    from ._files import inside

    bits = int(manifest["bits"])
    prev = manifest.get("index")
    index = load_index(inside(folder, prev, "index file")) if prev else FlatIndex(bits)
    removed = store.removed_at(gen)
    if removed.size:
        index.remove(removed)
    for ids, codes in store.added_at(gen, chunk=65536):  # bounded memory: one chunk at a time
        arr = np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(ids.size, bits // 8)
        index.add(np.ascontiguousarray(arr), ids)
    name = f"index-{gen}.dhx"
    index.save(folder / name)
    n, _ = store.counts()
    new = dict(manifest, generation=gen, index=name, count=len(index), updated=time.time())
    import json

    write_atomic(folder / MANIFEST, (json.dumps(new, indent=2, sort_keys=True) + "\n").encode())
    # Readers of gen - 1 may still look rows up; rows retired before it are no longer needed.
    store.execute("DELETE FROM items WHERE removed_gen IS NOT NULL AND removed_gen < ?", (gen - 1,))
    for p in folder.glob("index-*.dhx"):
        stem = p.name[len("index-") : -len(".dhx")]
        if stem.isdigit() and int(stem) < gen - 1:
            try:
                p.unlink()
            except OSError:
                pass
    return new

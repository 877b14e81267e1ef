"""The item table of a collection: SQLite (stdlib), one row per item, versioned by generation.

A collection's state is numbered: generation G is what ``manifest.json`` names, with the index
file ``index-G.dhx``. A row is part of generation G when ``added_gen <= G`` and ``removed_gen``
is NULL or greater than G. The writer prepares generation G + 1 in the table (new rows with
``added_gen = G + 1``, removals marked ``removed_gen = G + 1``), writes its index file and then
the manifest: until that rename, readers keep answering from G, and every id of their index
still has its row. Rows removed two generations ago are purged.

Codes live in the table (``code`` BLOB, NULL until encoded), so an interrupted build or sync
resumes from the rows already encoded, and an index file can always be rebuilt from the table.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["ItemStore", "Row", "ROW_COLUMNS", "record_damaged"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    origin TEXT NOT NULL,
    member TEXT,
    data_offset INTEGER,
    size INTEGER,
    mtime_ns INTEGER,
    sha256 TEXT,
    label TEXT,
    text TEXT,
    code BLOB,
    added_gen INTEGER NOT NULL,
    removed_gen INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS items_live_path ON items(path) WHERE removed_gen IS NULL;
CREATE INDEX IF NOT EXISTS items_pending ON items(id) WHERE code IS NULL AND removed_gen IS NULL;
CREATE INDEX IF NOT EXISTS items_sha ON items(sha256);
CREATE TABLE IF NOT EXISTS errors (path TEXT PRIMARY KEY, reason TEXT NOT NULL, size INTEGER, mtime_ns INTEGER);
CREATE TABLE IF NOT EXISTS excluded (path TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

ROW_COLUMNS = ("id", "path", "origin", "member", "data_offset", "size", "mtime_ns", "sha256", "label", "text")


class Row(tuple):
    """One item row (the columns of ``ROW_COLUMNS``), with attribute access."""

    __slots__ = ()

    def __new__(cls, values):
        return tuple.__new__(cls, values)

    id = property(lambda self: self[0])
    path = property(lambda self: self[1])
    origin = property(lambda self: self[2])
    member = property(lambda self: self[3])
    data_offset = property(lambda self: self[4])
    size = property(lambda self: self[5])
    mtime_ns = property(lambda self: self[6])
    sha256 = property(lambda self: self[7])
    label = property(lambda self: self[8])
    text = property(lambda self: self[9])


_SELECT = "SELECT " + ", ".join(ROW_COLUMNS) + " FROM items"


class ItemStore:
    """The SQLite file ``items.sqlite`` of a collection (WAL mode: readers never block the writer).

    One connection per store, shared by threads under a lock (sqlite3 objects are not
    thread-safe by themselves); the engine's searches run outside it.
    """

    def __init__(self, path: Path, create: bool = False):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: the collection's item table is missing")
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), timeout=60.0, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a process kill
            if create:
                self._db.executescript(_SCHEMA)
                self.set_meta("schema", str(SCHEMA_VERSION))
            got = self.get_meta("schema")
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise ValueError(f"{self.path} is not a readable collection item table ({e})") from None
        if got != str(SCHEMA_VERSION):
            self._db.close()
            raise ValueError(f"{self.path}: item table schema {got!r}, this deephash reads {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- small helpers -------------------------------------------------------------------
    def execute(self, sql: str, args: Sequence = ()):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def transaction(self):
        """``with store.transaction() as db:`` runs the block in one IMMEDIATE transaction."""
        return _Transaction(self)

    def get_meta(self, key: str) -> Optional[str]:
        rows = self.execute("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- reads ---------------------------------------------------------------------------
    def rows(self, ids: Iterable[int]) -> dict:
        """id -> Row for the ids that exist (any generation)."""
        ids = [int(i) for i in ids]
        out = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            q = f"{_SELECT} WHERE id IN ({','.join('?' * len(chunk))})"
            for r in self.execute(q, chunk):
                out[r[0]] = Row(r)
        return out

    def row_in_generation(self, item_id: int, gen: int) -> Optional[Tuple[Row, Optional[bytes]]]:
        """(Row, code) of an item that is part of generation ``gen``, else None."""
        r = self.execute(
            f"{_SELECT.replace(' FROM', ', code FROM')} WHERE id = ? AND added_gen <= ? "
            "AND (removed_gen IS NULL OR removed_gen > ?)",
            (int(item_id), gen, gen),
        )
        return (Row(r[0][:-1]), r[0][-1]) if r else None

    def live_by_path(self, path: str) -> Optional[Row]:
        r = self.execute(f"{_SELECT} WHERE path = ? AND removed_gen IS NULL", (path,))
        return Row(r[0]) if r else None

    def live_rows(self, origin: Optional[str] = None) -> List[Row]:
        q, args = f"{_SELECT} WHERE removed_gen IS NULL", ()
        if origin is not None:
            q, args = q + " AND origin = ?", (origin,)
        return [Row(r) for r in self.execute(q + " ORDER BY id", args)]

    def live_ids(self, origin: Optional[str] = None) -> np.ndarray:
        q, args = "SELECT id FROM items WHERE removed_gen IS NULL", ()
        if origin is not None:
            q, args = q + " AND origin = ?", (origin,)
        return np.array([r[0] for r in self.execute(q + " ORDER BY id", args)], dtype=np.int64)

    def pending_ids(self) -> np.ndarray:
        """Ids of live rows not yet encoded, ascending."""
        rows = self.execute("SELECT id FROM items WHERE code IS NULL AND removed_gen IS NULL ORDER BY id")
        return np.array([r[0] for r in rows], dtype=np.int64)

    def code_by_sha(self, sha256: str) -> Optional[bytes]:
        """The code of an encoded row with this content hash (a moved, copied or touched file;
        retired rows count too until they are purged: the model and so the code are the same)."""
        r = self.execute("SELECT code FROM items WHERE sha256 = ? AND code IS NOT NULL LIMIT 1", (sha256,))
        return r[0][0] if r else None

    def removed_at(self, gen: int) -> np.ndarray:
        """Ids of rows of earlier generations retired at ``gen``."""
        rows = self.execute("SELECT id FROM items WHERE removed_gen = ? AND added_gen < ?", (gen, gen))
        return np.array([r[0] for r in rows], dtype=np.int64)

    def added_at(self, gen: int, chunk: int):
        """Yields (ids int64 (m,), codes list of bytes) of the encoded rows added at ``gen``, by id,
        ``chunk`` rows at a time."""
        last = -1
        while True:
            rows = self.execute(
                "SELECT id, code FROM items WHERE added_gen = ? AND removed_gen IS NULL AND code IS NOT NULL "
                "AND id > ? ORDER BY id LIMIT ?",
                (gen, last, chunk),
            )
            if not rows:
                return
            last = rows[-1][0]
            yield np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]

    def has_changes(self, gen: int) -> bool:
        """Whether generation ``gen`` differs from gen - 1."""
        return bool(
            self.execute(
                "SELECT 1 FROM items WHERE (removed_gen = ? AND added_gen < ?) OR "
                "(added_gen = ? AND removed_gen IS NULL AND code IS NOT NULL) LIMIT 1",
                (gen, gen, gen),
            )
        )

    def counts(self) -> Tuple[int, int]:
        """(live items, live items not yet encoded)."""
        n = self.execute("SELECT COUNT(*) FROM items WHERE removed_gen IS NULL")[0][0]
        p = self.execute("SELECT COUNT(*) FROM items WHERE code IS NULL AND removed_gen IS NULL")[0][0]
        return n, p

    def replaced_at(self, gen: int, paths: Sequence[str]) -> List[str]:
        """Those of ``paths`` whose previous version left the index at generation ``gen``."""
        out = []
        for p in paths:
            if self.execute("SELECT 1 FROM items WHERE path = ? AND removed_gen = ? LIMIT 1", (p, gen)):
                out.append(p)
        return out

    def errors(self) -> dict:
        return {p: r for p, r in self.execute("SELECT path, reason FROM errors ORDER BY path")}

    def error_stat(self, path: str) -> Optional[Tuple[int, int]]:
        r = self.execute("SELECT size, mtime_ns FROM errors WHERE path = ?", (path,))
        return (r[0][0], r[0][1]) if r else None

    def is_excluded(self, path: str) -> bool:
        return bool(self.execute("SELECT 1 FROM excluded WHERE path = ?", (path,)))


def record_damaged(db, rows, bad: dict) -> None:
    """Inside a transaction ``db``: each row whose id is in ``bad`` (id -> reason) leaves the
    items for the errors table, with the size and mtime that retry it when the file changes."""
    for r in rows:
        if r.id in bad:
            db.execute(
                "INSERT OR REPLACE INTO errors(path, reason, size, mtime_ns) VALUES (?, ?, ?, ?)",
                (r.path, bad[r.id], r.size, r.mtime_ns),
            )
            db.execute("DELETE FROM items WHERE id = ?", (r.id,))


class _Transaction:
    def __init__(self, store: ItemStore):
        self.store = store

    def __enter__(self):
        self.store._lock.acquire()
        self.store._db.execute("BEGIN IMMEDIATE")
        return self.store._db

    def __exit__(self, exc_type, exc, tb):
        try:
            self.store._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self.store._lock.release()
        return False

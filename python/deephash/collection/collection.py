"""``deephash.Collection``: a searchable collection of images or texts, persisted in one folder.

Folder layout (every file written atomically; see :mod:`._files`)::

    COL/manifest.json     format, generation, bits, model entry, source, counts (written last)
    COL/items.sqlite      the item table: id -> path, label, text, size, mtime, sha256, code
    COL/index-<G>.dhx     the codes of generation G in the engine's own file format
    COL/model.npz         the hashing model (deephash.methods format)
    COL/uploads/          images given to ``add`` as bytes or PIL images
    COL/cache/            the unpacked copy of a compressed tar source (made on first read;
                          items are read from it by offset; safe to delete)
    COL/writer.lock       the one-writer lock (flock; released when the writer dies)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

from .._validate import describe
from ._files import WriterLock, inside, read_json, remove_stale_temporaries, write_atomic
from ._images import DamagedItem, decode_square, open_image, read_item_bytes
from ._sources import Entry, describe_source, input_kind
from ._store import ItemStore
from ._writer import FORMAT, MANIFEST, VERSION, apply_scan, check_added, commit, encode_pending, insert_entry
from ._writer import replace_row, retire

__all__ = ["Collection", "Hit", "Item", "SyncReport"]

DB = "items.sqlite"
BUILD_STATE = "build.json"


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes
    ----------
    id : int
        The item's id (stable for the item's life; a changed file gets a new id).
    distance : int
        Hamming distance between the query's code and the item's.
    path : str
        Absolute path of the item's file; ``<archive>#<member>`` for a tar member,
        ``<file>#<line>`` for a text of a text file or table.
    label : str or None
        The class folder's name (or the label column), if any.
    text : str or None
        The text, for text collections.
    """

    id: int
    distance: int
    path: str
    label: Optional[str] = None
    text: Optional[str] = None


@dataclass(frozen=True)
class Item:
    """An item of the collection: what :meth:`Collection.item` returns."""

    id: int
    path: str
    label: Optional[str]
    text: Optional[str]
    origin: str  #: "source" (found by build/sync) or "added" (``add``)
    size: Optional[int]
    mtime_ns: Optional[int]
    sha256: Optional[str]


@dataclass(frozen=True)
class SyncReport:
    """Counts of one ``sync``.

    ``added``, ``updated`` (changed content, new code), ``removed`` and ``unchanged`` count
    items of the index, so ``len(col)`` changes by ``added - removed``. ``encoded``: codes
    computed (others reused the code of identical content). ``damaged``: files skipped and
    reported in ``col.errors`` — counted there only: a damaged new file is not ``added``, and a
    file whose new content is damaged is ``removed`` (its old version leaves the index).
    """

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    encoded: int = 0
    damaged: int = 0


def _write_json(path: Path, value: dict) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


class Collection:
    """A searchable collection: a hashing model, an index of codes and an item table in one folder.

    Create one with :meth:`build`, open it with :meth:`open`. Any number of readers (threads,
    processes) may search while one writer (:meth:`sync`, :meth:`add`, :meth:`remove`) changes
    it; readers answer from the last committed state and pick up a new one at their next
    search. Searching by id or code needs only NumPy; encoding a query image or text loads the
    model (PyTorch) on first use.
    """

    def __init__(self, path, *, lock_timeout: float = 60.0, _manifest: Optional[dict] = None):
        self.path = Path(os.fspath(path)).expanduser().resolve()
        mf = self.path / MANIFEST
        if not mf.is_file():
            if (self.path / BUILD_STATE).exists():
                raise ValueError(f"{self.path}: the build did not finish; run the same build again to resume it")
            raise FileNotFoundError(f"{self.path} is not a deephash collection (no {MANIFEST})")
        self.lock_timeout = float(lock_timeout)
        self._store = ItemStore(self.path / DB)
        self._lock = threading.RLock()
        self._stamp = None
        self._manifest = None
        self._index = None
        self._encoder = None
        self._refresh(force=True)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path, lock_timeout: float = 60.0) -> "Collection":
        """Opens a collection folder written by :meth:`build`.

        Parameters
        ----------
        path : str or os.PathLike
        lock_timeout : float
            Seconds a write (sync, add, remove) waits for another writer before raising
            :class:`deephash.collection.CollectionBusyError`.
        """
        return cls(path, lock_timeout=lock_timeout)

    def close(self) -> None:
        """Closes the item table (the object is unusable afterwards)."""
        self._store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _refresh(self, force: bool = False) -> None:
        """Loads the manifest and index of the last committed generation if it changed."""
        mf = self.path / MANIFEST
        for attempt in range(20):
            try:
                st = os.stat(mf)
                stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
                if stamp == self._stamp and not force:
                    return
                manifest = read_json(mf)
                if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
                    raise ValueError(
                        f"{mf}: not a deephash collection manifest of version {VERSION} "
                        f"(format {manifest.get('format')!r}, version {manifest.get('version')!r})"
                    )
                from ..loading import load as load_index

                index = load_index(inside(self.path, manifest["index"], "index file"), mmap=True)
            except FileNotFoundError:
                if attempt == 19:
                    raise
                time.sleep(0.01)  # a writer replaced the manifest and purged the old index: reread
                continue
            with self._lock:
                old_model = (self._manifest or {}).get("model")
                self._stamp, self._manifest, self._index = stamp, manifest, index
                if old_model != manifest.get("model"):
                    self._encoder = None
            return

    # ------------------------------------------------------------------ properties
    @property
    def manifest(self) -> dict:
        """A copy of the manifest of the state this object answers from."""
        self._refresh()
        return json.loads(json.dumps(self._manifest))

    @property
    def kind(self) -> str:
        """``"images"`` or ``"texts"``."""
        return self._manifest["model"]["input"]

    @property
    def bits(self) -> int:
        """Code length in bits (a multiple of 8)."""
        return int(self._manifest["bits"])

    @property
    def generation(self) -> int:
        """Number of the committed state this object answers from (1 after the build)."""
        self._refresh()
        return int(self._manifest["generation"])

    def __len__(self) -> int:
        self._refresh()
        return len(self._index)

    @property
    def errors(self) -> dict:
        """Damaged or unreadable files that were skipped: path -> reason."""
        return self._store.errors()

    def info(self) -> dict:
        """A summary: path, kind, bits, items, generation, model, source, errors, sizes."""
        m = self.manifest
        return {
            "path": str(self.path),
            "kind": m["model"]["input"],
            "bits": m["bits"],
            "items": m["count"],
            "generation": m["generation"],
            "model": m["model"],
            "fit": m.get("fit"),
            "source": m["source"],
            "errors": len(self.errors),
            "created": m.get("created"),
            "updated": m.get("updated"),
        }

    def __repr__(self) -> str:
        return f"Collection({str(self.path)!r}, kind={self.kind!r}, bits={self.bits}, items={len(self)})"

    # ------------------------------------------------------------------ items
    def item(self, item_id: int) -> Item:
        """The item with this id in the current state (KeyError when there is none)."""
        row, _code = self._row(item_id)
        return Item(row.id, row.path, row.label, row.text, row.origin, row.size, row.mtime_ns, row.sha256)

    def image(self, item_id: int, max_size: Optional[int] = None):
        """The item's image as an RGB PIL image (EXIF orientation applied), shrunk to fit in
        ``max_size`` x ``max_size`` when given (a thumbnail; JPEGs are decoded at reduced size).

        Raises KeyError (no such item), ValueError (a text collection) or
        :class:`deephash.collection.DamagedItem` (the file changed or vanished since it was
        indexed).
        """
        if self.kind != "images":
            raise ValueError("a text collection has no images; use item(id).text")
        row, _code = self._row(item_id)
        data = read_item_bytes(row.path, row.member, row.data_offset, row.size, self.path / "cache")
        im = open_image(data, draft_size=max_size)
        if max_size is not None:
            im.thumbnail((int(max_size), int(max_size)))
        return im

    def thumbnail(self, item_id: int, max_size: int = 256) -> bytes:
        """The item's image as JPEG bytes fitting in ``max_size`` x ``max_size`` (for a web page)."""
        import io

        buf = io.BytesIO()
        self.image(item_id, max_size).save(buf, format="JPEG", quality=85)
        return buf.getvalue()

    def _row(self, item_id):
        if isinstance(item_id, bool) or not isinstance(item_id, (int, np.integer)):
            raise TypeError(f"an item id must be an int, got {describe(item_id)}")
        self._refresh()
        got = self._store.row_in_generation(int(item_id), int(self._manifest["generation"]))
        if got is None:
            raise KeyError(f"no item with id {int(item_id)} in {self.path}")
        return got

    # ------------------------------------------------------------------ searching
    def encoder(self):
        """The model that encodes queries and new items (loaded on first use; needs PyTorch)."""
        with self._lock:
            if self._encoder is None:
                from ._encoders import load_encoder

                self._encoder = load_encoder(self.path, self._manifest["model"])
            return self._encoder

    def encode(self, query) -> np.ndarray:
        """The code of one query (any kind :meth:`search` takes): uint8 (1, bits // 8)."""
        nbytes = self.bits // 8
        if isinstance(query, bool):
            raise TypeError("a query must be a path, text, image, array, code or item id, got a bool")
        if isinstance(query, (int, np.integer)):
            _row, code = self._row(query)
            return np.frombuffer(code, dtype=np.uint8).reshape(1, nbytes).copy()
        if isinstance(query, (bytes, bytearray, memoryview)):
            data = bytes(query)
            if len(data) == nbytes:  # a code (an image file is never this short)
                return np.frombuffer(data, dtype=np.uint8).reshape(1, nbytes).copy()
            return self._encode_image_bytes(data)
        if isinstance(query, (str, os.PathLike)):
            p = Path(os.fspath(query)).expanduser()
            is_file = False
            try:
                is_file = len(os.fspath(query)) < 4096 and p.is_file()
            except (OSError, ValueError):
                pass
            if is_file:
                if self.kind == "texts":
                    return self.encoder().encode([p.read_text(encoding="utf-8")])
                try:
                    return self._encode_image_bytes(p.read_bytes())
                except DamagedItem as e:
                    raise ValueError(f"{p}: {e}") from None
            if self.kind == "texts" and isinstance(query, str):
                return np.ascontiguousarray(self.encoder().encode([query]), dtype=np.uint8)
            if self.kind == "texts":
                raise FileNotFoundError(f"no such file: {os.fspath(query)!r} (pass a str to search for a text)")
            raise ValueError(
                f"{os.fspath(query)!r} is not an existing file; this collection holds images, so a str query "
                "must name an image file"
            )
        if isinstance(query, np.ndarray):
            if query.dtype != np.uint8:
                raise TypeError(
                    f"array queries must be uint8 (a code of {nbytes} bytes, or an image (H, W) / (H, W, 3) in "
                    f"0..255), got {query.dtype}; for float images in [0, 1] pass "
                    "(x * 255).round().astype(np.uint8)"
                )
            if query.ndim == 1:
                if query.size != nbytes:
                    raise ValueError(f"a code query must have {nbytes} bytes, got {query.size}")
                return np.ascontiguousarray(query.reshape(1, nbytes))
            if query.ndim == 2 or (query.ndim == 3 and query.shape[2] in (1, 3, 4)):
                from PIL import Image

                return self._encode_pil(Image.fromarray(np.ascontiguousarray(query.squeeze())))
            raise ValueError(f"an image array must be (H, W) or (H, W, 3|4), got shape {query.shape}")
        if hasattr(query, "getbands") and hasattr(query, "save"):  # a PIL image
            return self._encode_pil(query)
        raise TypeError(
            f"a query must be an image path, a text, a PIL image, a uint8 array, a code (bytes) or an item id, "
            f"got {describe(query)}"
        )

    def _encode_pil(self, im) -> np.ndarray:
        import io

        if self.kind != "images":
            raise ValueError("this collection holds texts; query it with a str")
        buf = io.BytesIO()
        if im.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            im = im.convert("RGB")
        im.save(buf, format="PNG")
        return self._encode_image_bytes(buf.getvalue())

    def _encode_image_bytes(self, data: bytes) -> np.ndarray:
        if self.kind != "images":
            raise ValueError("this collection holds texts; query it with a str")
        enc = self.encoder()
        try:
            arr = decode_square(data, enc.image_size)
        except DamagedItem as e:
            raise ValueError(f"the query image cannot be used: {e}") from None
        return np.ascontiguousarray(enc.encode(arr[None]), dtype=np.uint8)

    def search(self, query, k: int = 10) -> List[Hit]:
        """The k items nearest to ``query`` by Hamming distance, sorted by (distance, id).

        Parameters
        ----------
        query
            - ``str`` or ``os.PathLike`` naming an existing file: an image (image collections)
              or a UTF-8 text file (text collections);
            - any other ``str``: a text (text collections; an error for image collections);
            - ``int``: an item id (its stored code; the item itself comes first);
            - a PIL image, or a uint8 array (H, W) / (H, W, 3) — the image;
            - ``bytes``: an encoded image file (e.g. an upload), or a code of ``bits // 8``
              bytes; a uint8 array (bits // 8,) is a code too.
        k : int >= 1

        Returns
        -------
        list of :class:`Hit` (fewer than k when the collection is smaller)
        """
        from .._validate import check_k

        k = check_k(k)
        code = self.encode(query)
        return self.search_code(code, k)

    def search_text(self, text: str, k: int = 10) -> List[Hit]:
        """:meth:`search` for a text in a text collection; the text is never taken for a file
        name (what a server does with a text from a request)."""
        from .._validate import check_k

        k = check_k(k)
        if self.kind != "texts":
            raise ValueError("this collection holds images; search_text needs a text collection")
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {describe(text)}")
        return self.search_code(np.ascontiguousarray(self.encoder().encode([text]), dtype=np.uint8), k)

    def search_code(self, code, k: int = 10) -> List[Hit]:
        """:meth:`search` for a code, uint8 (bits // 8,) or (1, bits // 8)."""
        from .._validate import check_k

        k = check_k(k)
        if isinstance(code, (bytes, bytearray, memoryview)):
            code = np.frombuffer(bytes(code), dtype=np.uint8)
        code = np.ascontiguousarray(np.asarray(code, dtype=np.uint8).reshape(1, -1))
        if code.shape[1] != self.bits // 8:
            raise ValueError(f"a code must have {self.bits // 8} bytes, got {code.shape[1]}")
        for attempt in range(5):
            self._refresh(force=attempt > 0)
            with self._lock:
                index = self._index
            dist, ids = index.search(code, k)
            keep = ids[0] >= 0
            ids_l, dist_l = ids[0][keep].tolist(), dist[0][keep].tolist()
            rows = self._store.rows(ids_l)
            if len(rows) == len(set(ids_l)):
                return [Hit(i, int(d), rows[i].path, rows[i].label, rows[i].text) for i, d in zip(ids_l, dist_l)]
            # the rows of an old generation were purged meanwhile: answer from the new one
        raise RuntimeError(f"{self.path}: the index names items the item table lacks; the collection is damaged")

    # ------------------------------------------------------------------ writing
    def _write(self, fn):
        """Runs ``fn(gen)`` under the writer lock, preparing generation ``gen``, then commits."""
        with WriterLock(self.path, self.lock_timeout):
            remove_stale_temporaries(self.path)
            self._refresh(force=True)
            gen = int(self._manifest["generation"]) + 1
            result = fn(gen)
            if self._store.has_changes(gen):
                self._manifest = commit(self.path, self._store, self._manifest, gen)
            self._refresh(force=True)
        return result

    def sync(self, verify: bool = False, progress: bool = True, batch_size: int = 64, callback=None) -> SyncReport:
        """Brings the collection in line with its source: new and changed files are encoded and
        added, deleted ones removed; returns the counts.

        A file counts as changed when its size or modification time (ns) differs from the
        recorded one — per file, never per folder; ``verify=True`` also re-hashes (SHA-256)
        every other file, catching a replacement that kept both. Changed content identical to
        an indexed item's (a moved or touched file) reuses its code. Files added with
        :meth:`add` are checked one by one; damaged files are skipped and reported in
        :attr:`errors`, and retried once their size or mtime changes.
        """
        desc = self._manifest["source"]

        def run(gen):
            c = apply_scan(self._store, desc, gen, self.path, verify)
            a = check_added(self._store, gen)
            bad: List[str] = []
            encoded = encode_pending(self._store, self.encoder(), batch_size, progress, callback, damaged=bad)
            # A damaged file never entered the index: a new one is not "added"; a changed one
            # took its old version out ("removed"), so len() changes by added - removed.
            replaced = self._store.replaced_at(gen, bad)
            new_bad = len(bad) - len(replaced)
            return SyncReport(
                added=c.added - new_bad,
                updated=c.updated + a.updated - len(replaced),
                removed=c.removed + a.removed + len(replaced),
                unchanged=c.unchanged + a.unchanged,
                encoded=encoded,
                damaged=len(bad) + c.still_damaged,
            )

        return self._write(run)

    def add(self, items, labels: Optional[Sequence] = None, progress: bool = False) -> List[Optional[int]]:
        """Adds items; returns their ids in order (None for a damaged file, see :attr:`errors`).

        Parameters
        ----------
        items : sequence (or one item) of
            - a path to an image file (outside the source too; ``sync`` then checks it on
              its own) or to a folder (every image under it);
            - ``bytes`` of an image file or a PIL image (an upload): stored in the collection's
              ``uploads/`` folder after it is checked to decode (ValueError otherwise).

            In a text collection every item is a text, never a file name: ``add(texts)`` is
            :meth:`add_texts` (one ``str`` is one text).
        labels : sequence of str, optional
            One per item.
        """
        if self.kind == "texts":
            return self.add_texts([items] if isinstance(items, str) else items, labels=labels, progress=progress)
        if isinstance(items, (str, bytes, bytearray, os.PathLike)) or hasattr(items, "getbands"):
            items = [items]
        items = list(items)
        labels = self._labels(labels, len(items), "item")
        entries = [self._entry_for(x, None if labels is None else labels[i]) for i, x in enumerate(items)]
        return self._add_entries(entries, progress)

    def add_texts(self, texts: Sequence[str], labels: Optional[Sequence] = None, progress: bool = False) -> List[int]:
        """Adds texts to a text collection; returns their ids in order.

        Every ``str`` is taken as a text: nothing is looked up in the file system (unlike
        :meth:`search`, where a ``str`` naming an existing file is read). Adding a text that
        is already in the collection with the same label returns its id and adds nothing.

        Parameters
        ----------
        texts : sequence of str
            Non-blank texts (a single ``str`` is refused: pass ``[text]``).
        labels : sequence of str, optional
            One per text (None for no label).

        Raises
        ------
        TypeError
            ``texts`` is a str or holds something else than str.
        ValueError
            An image collection, a blank text, or a number of labels other than of texts.
        """
        if self.kind != "texts":
            raise ValueError("this collection holds images; add_texts needs a text collection (use add(paths))")
        if isinstance(texts, (str, bytes, bytearray)):
            raise TypeError(f"texts must be a sequence of str, got one {describe(texts)}; pass [text] to add one text")
        try:
            texts = list(texts)
        except TypeError:
            raise TypeError(f"texts must be a sequence of str, got {describe(texts)}") from None
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts must be str, got {describe(t)} at position {i}")
            if not t.strip():
                raise ValueError(f"text at position {i} is blank; a collection holds non-blank texts only")
        labels = self._labels(labels, len(texts), "text")
        entries = []
        for i, t in enumerate(texts):
            sha = hashlib.sha256(t.encode("utf-8")).hexdigest()[:24]
            label = None if labels is None else labels[i]
            entries.append([Entry(f"{self.path}/added-texts#{sha}", label=label, text=t)])
        return self._add_entries(entries, progress)

    @staticmethod
    def _labels(labels, n: int, what: str) -> Optional[List[Optional[str]]]:
        if labels is None:
            return None
        if isinstance(labels, (str, bytes)):
            raise TypeError(f"labels must be a sequence with one label per {what}, got one {describe(labels)}")
        labels = [None if v is None else str(v) for v in labels]
        if len(labels) != n:
            raise ValueError(f"give one label per {what}: {len(labels)} labels for {n} {what}s")
        return labels

    def _add_entries(self, entries: List[List[Entry]], progress: bool) -> list:
        """Adds groups of entries (one group per item given); the id of each one-entry group,
        a list of ids for a folder's group."""

        def run(gen):
            ids: List[List[int]] = []
            with self._store.transaction() as db:
                for group in entries:
                    got = []
                    for e in group:
                        db.execute("DELETE FROM excluded WHERE path = ?", (e.path,))
                        row = self._store.live_by_path(e.path)
                        if row is None:
                            got.append(insert_entry(db, e, "added", gen))
                        elif (row.size, row.mtime_ns, row.label, row.text) != (e.size, e.mtime_ns, e.label, e.text):
                            got.append(replace_row(db, row, e, gen))
                        else:
                            got.append(row.id)
                    ids.append(got)
            encode_pending(self._store, self.encoder(), 64, progress, None)
            alive = self._store.rows([i for g in ids for i in g])
            out = [[i for i in g if i in alive] for g in ids]
            return out

        groups = self._write(run)
        return [(g[0] if g else None) if len(e) <= 1 else g for g, e in zip(groups, entries)]

    def _entry_for(self, x, label) -> List[Entry]:
        if isinstance(x, (bytes, bytearray)) or hasattr(x, "getbands"):
            return [self._store_upload(x, label)]
        if isinstance(x, (str, os.PathLike)):
            p = Path(os.fspath(x)).expanduser()
            if p.is_dir():
                from ._sources import scan

                return [
                    e._replace(label=label or e.label)
                    for e in scan({"kind": "folder", "path": str(p.resolve())}, self.path)
                ]
            if not p.is_file():
                raise FileNotFoundError(f"no such file: {p}")
            st = p.stat()
            return [Entry(str(p.resolve()), size=st.st_size, mtime_ns=st.st_mtime_ns, label=label)]
        raise TypeError(f"items to add must be image paths, image bytes or PIL images, got {describe(x)}")

    def _store_upload(self, x, label) -> Entry:
        import io

        if isinstance(x, (bytes, bytearray)):
            data = bytes(x)
            try:
                im = open_image(data)
            except DamagedItem as e:
                raise ValueError(f"the uploaded image cannot be used: {e}") from None
            fmt = "jpg" if data[:3] == b"\xff\xd8\xff" else "png"
            if fmt == "png" and data[:8] != b"\x89PNG\r\n\x1a\n":  # other formats: stored as PNG
                buf = io.BytesIO()
                im.save(buf, format="PNG")
                data = buf.getvalue()
        else:
            buf = io.BytesIO()
            x.save(buf, format="PNG")
            data, fmt = buf.getvalue(), "png"
        uploads = self.path / "uploads"
        uploads.mkdir(exist_ok=True)
        f = uploads / f"{hashlib.sha256(data).hexdigest()[:32]}.{fmt}"
        if not f.exists():
            write_atomic(f, data)
        st = f.stat()
        return Entry(str(f), size=st.st_size, mtime_ns=st.st_mtime_ns, label=label)

    def remove(self, items) -> int:
        """Removes items given by id (int) or path (str); returns how many were removed.

        A removed source file stays out: ``sync`` does not add it back (until ``add`` names it).
        """
        if isinstance(items, (str, int, np.integer, os.PathLike)):
            items = [items]
        keys = list(items)

        def run(gen):
            n = 0
            with self._store.transaction() as db:
                for key in keys:
                    if isinstance(key, bool):
                        raise TypeError("remove takes item ids (int) or paths (str), got a bool")
                    if isinstance(key, (int, np.integer)):
                        r = db.execute(
                            "SELECT id, path, origin FROM items WHERE id = ? AND removed_gen IS NULL", (int(key),)
                        ).fetchall()
                    elif isinstance(key, (str, os.PathLike)):
                        s = os.fspath(key)
                        p = s if "#" in s else str(Path(s).expanduser().resolve())
                        r = db.execute(
                            "SELECT id, path, origin FROM items WHERE path = ? AND removed_gen IS NULL", (p,)
                        ).fetchall()
                    else:
                        raise TypeError(f"remove takes item ids (int) or paths (str), got {describe(key)}")
                    for row_id, path, origin in r:
                        retire(db, row_id, gen)
                        if origin == "source":
                            db.execute("INSERT OR IGNORE INTO excluded(path) VALUES (?)", (path,))
                        n += 1
            return n

        return self._write(run)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        source,
        path,
        model=None,
        method=None,
        bits: int = 48,
        *,
        image_size: int = 160,
        fit_size: int = 5000,
        batch_size: int = 64,
        seed: int = 0,
        text_column: str = "text",
        label_column: Optional[str] = None,
        method_params: Optional[dict] = None,
        progress: bool = True,
        callback: Optional[Callable[[int, int], None]] = None,
        overwrite: bool = False,
        lock_timeout: float = 60.0,
    ) -> "Collection":
        """Builds a collection from ``source`` into the folder ``path`` and opens it.

        Parameters
        ----------
        source : str, os.PathLike or list of paths
            A folder (recursive; any image sizes and formats Pillow reads; a file's parent
            folder name is its label), a tar archive (``.tar``, ``.tar.gz``, ``.tar.xz``, ...),
            a list of image paths, a text file (``.txt``, one text per non-empty line) or a
            CSV/TSV/JSONL table with a ``text_column`` (and optional ``label_column``).
        path : str or os.PathLike
            The collection folder (created; must be empty or absent unless ``overwrite``).
        model : str, os.PathLike or HashingMethod, optional
            A saved model file or a method instance: items are encoded with it (an unfitted
            instance is trained first, like ``method``).
        method : str, optional
            A method name (``deephash.methods.registry``) to train on the collection first:
            on ``fit_size`` items, with labels from class folders when it is supervised, on
            frozen EfficientNet-Lite0 features for images (MiniLM for texts) unless
            ``method_params`` names another backbone. A deep method on the frozen image
            features trains with Adam at 3e-4, batches of 128, for 1,200 steps
            (``collection._build.FROZEN_RECIPE``) unless ``method_params`` sets them.
        bits : int
            Code length (a multiple of 8).
        image_size : int
            Images are decoded (JPEG draft mode), centre-cropped to a square and resized to
            this size before the network (the default model's EfficientNet resolution).
        fit_size : int
            Items (a seeded sample) the default model or ``method`` is fitted on; bounds the
            memory of fitting: the default keeps their features (5 KB each), a method their
            images (``image_size``**2 * 3 bytes each).
        batch_size : int
            Items decoded and encoded at a time (the build's memory does not grow with the
            collection).
        seed : int
            Seeds the fit sample, the validation split and the method.
        progress : bool
            tqdm progress bars.
        callback : callable (done, total), optional
            Called after each committed batch of the encoding.
        overwrite : bool
            Replace an existing collection at ``path``.

        Notes
        -----
        Without ``model`` and ``method`` the embedded default is used: frozen
        EfficientNet-Lite0 features (MiniLM for texts), then ITQ or PCAH, with or without L2
        normalisation, whichever keeps more of the feature space's 10 nearest neighbours on a
        validation part of the fit sample (``info()["fit"]`` shows the scores).

        The build is resumable: if it is killed, running the same build again continues from
        the items already encoded (and the fitted model and fit features already saved).
        Damaged or unreadable files are skipped and listed in :attr:`errors`.
        """
        from .._validate import check_bits

        bits = check_bits(bits)
        for name, v in (("image_size", image_size), ("fit_size", fit_size), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if image_size < 32:
            raise ValueError(f"image_size must be at least 32, got {image_size}")
        if model is not None and method is not None:
            raise ValueError("give model= (encode with it) or method= (train it), not both")
        desc = describe_source(source, text_column, label_column)
        kind = input_kind(desc)
        folder = Path(os.fspath(path)).expanduser().resolve()
        if desc["kind"] == "folder" and folder == Path(desc["path"]):
            raise ValueError("the collection folder cannot be the source folder itself; choose another path")
        options = {
            "source": desc,
            "bits": bits,
            "image_size": int(image_size),
            "fit_size": int(fit_size),
            "seed": int(seed),
            "model": None
            if model is None
            else (os.fspath(model) if isinstance(model, (str, os.PathLike)) else repr(model)),
            "method": None if method is None else str(method),
            "method_params": method_params or {},
        }
        state_file = folder / BUILD_STATE
        if (folder / MANIFEST).exists():
            if not overwrite:
                raise FileExistsError(
                    f"{folder} already holds a collection; open it and sync(), or pass overwrite=True"
                )
            with WriterLock(folder, lock_timeout):
                for p in list(folder.iterdir()):
                    if p.name == "writer.lock":
                        continue
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        elif folder.exists() and not state_file.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} exists and is not empty; choose a new folder for the collection")
        folder.mkdir(parents=True, exist_ok=True)
        with WriterLock(folder, lock_timeout):
            remove_stale_temporaries(folder)
            if state_file.exists():
                state = read_json(state_file)
                if state.get("options") != json.loads(json.dumps(options)):
                    raise ValueError(
                        f"{folder} holds an interrupted build with other options ({state.get('options')}); "
                        "rerun it with the same ones, or delete the folder"
                    )
            else:
                state = {"options": options, "started": time.time()}
                _write_json(state_file, state)
            store = ItemStore(folder / DB, create=True)
            try:
                gen = 1
                apply_scan(store, desc, gen, folder, verify=False)
                if store.counts()[0] == 0 and not store.errors():
                    raise ValueError(f"no {'texts' if kind == 'texts' else 'images'} found in {desc}")
                known = {}
                from ._encoders import load_encoder

                if "model" in state:
                    encoder = load_encoder(folder, state["model"])
                else:
                    from ._build import make_encoder

                    encoder, known, report = make_encoder(
                        folder,
                        store,
                        kind,
                        model,
                        method,
                        bits,
                        int(image_size),
                        int(fit_size),
                        int(seed),
                        int(batch_size),
                        progress,
                        method_params,
                    )
                    if known:  # the fit sample's codes, from the features already computed
                        with store.transaction() as db:
                            for rid, code in known.items():
                                db.execute("UPDATE items SET code = ? WHERE id = ?", (bytes(code), rid))
                    state["model"], state["fit"] = encoder.describe(), report
                    _write_json(state_file, state)
                    shutil.rmtree(folder / "fit", ignore_errors=True)
                encode_pending(store, encoder, int(batch_size), progress, callback)
                manifest = {
                    "format": FORMAT,
                    "version": VERSION,
                    "generation": 0,
                    "index": None,
                    "bits": int(encoder.code_bits),
                    "model": state["model"],
                    "fit": state.get("fit"),
                    "source": desc,
                    "created": time.time(),
                }
                commit(folder, store, manifest, gen)
            finally:
                store.close()
            state_file.unlink()
        return cls(folder, lock_timeout=lock_timeout)

"""One shard of a :class:`~deephash.distributed.ShardedIndex`: the state a Ray actor holds.

The class is plain Python (``ray.remote`` wraps it in ``sharded_index.py``), so its logic runs
and is tested without Ray as well.

A shard holds a :class:`~deephash.FlatIndex` or :class:`~deephash.MultiIndex` with the users'
ids, and beside it ``seq``: the global insertion number of every stored code, in storage order.
The index returns equal (distance, id) pairs in insertion order within the shard; ``seq`` lets the
driver keep that order across shards (see ``_merge.py``).

State is rebuilt in ``__init__`` from the shard's write-ahead log (``_log.py``): the last
checkpoint (a saved shard file, or empty) and then each logged add and remove. Ray re-runs
``__init__`` when it restarts a crashed actor, so recovery and a first start are the same code.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os
import time
import weakref

import numpy as np

from .. import _core
from ..index import FlatIndex
from ..loading import load_opened
from ..multi_index import MultiIndex
from ._files import check_shard_name, digest, digest_fd, fd_path, open_regular, shard_file_names
from ._log import (
    ADD,
    CHECKPOINT,
    REMOVE,
    LogCorruptError,
    WriteAheadLog,
    decode_add,
    decode_checkpoint,
    decode_remove,
    encode_add,
    write_atomic,
)

__all__ = ["Shard", "make_index", "open_verified", "shard_file_names"]

# The file kind ``deephash.load`` reports for each ShardedIndex kind.
_CLASS_OF_KIND = {"flat": FlatIndex, "multi": MultiIndex}


def make_index(bits: int, kind: str, options: dict):
    """A new empty shard index of ``kind`` ("flat" or "multi") with ``options`` (e.g. ``m``)."""
    if kind == "flat":
        if options:
            raise ValueError(f"kind='flat' takes no index options, got {sorted(options)}")
        return FlatIndex(bits)
    return MultiIndex(bits, **options)


def open_verified(path: str, size, sha256, where: str) -> int:
    """A descriptor of ``path`` once the bytes of that open file — the ones the caller then
    loads through it, whatever happens to the name meanwhile — are a regular file of ``size``
    bytes with SHA-256 ``sha256`` (what ``where``, a manifest or a log, pinned); ValueError
    naming the file otherwise. The caller closes it."""
    if not isinstance(size, int) or not isinstance(sha256, str):
        raise ValueError(f"{where}: no size and sha256 pinned for {path!r}")
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        raise ValueError(f"shard file {path!r} named by {where} is missing") from None
    except OSError as e:
        raise ValueError(f"shard file {path!r} named by {where} cannot be read: {e.strerror or e}") from None
    try:
        got = digest_fd(fd)
        if got.size != size:
            raise ValueError(f"shard file {path!r} has {got.size} bytes, {where} says {size} (truncated or replaced)")
        if got.sha256 != sha256:
            raise ValueError(f"shard file {path!r} does not match its checksum in {where} (corrupted or replaced)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _load_index_fd(fd: int, path: str, mmap: bool):
    """The index in the open file ``fd`` (named ``path`` in errors): the core maps that file
    itself, reopened through ``fd``, never whatever ``path`` names by now."""
    try:
        file = _core.open_index_file(fd_path(fd))
        return load_opened(file, mmap, path)
    except ValueError as e:
        raise ValueError(f"{path!r}: {e}") from None
    except OSError as e:
        raise ValueError(f"{path!r} cannot be read: {e.strerror or e}") from None


def _load_seq_fd(fd: int, path: str, mmap: bool) -> np.ndarray:
    """The int64 insertion numbers in the open ``.npy`` file ``fd`` (mapped when ``mmap``)."""
    from numpy.lib import format as npformat

    f = os.fdopen(os.dup(fd), "rb")
    try:
        version = npformat.read_magic(f)
        read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, fortran, dtype = read(f)
        if dtype != np.int64 or len(shape) != 1 or fortran:
            raise ValueError(f"it holds {dtype} {shape}, expected int64 (n,)")
        if f.tell() + 8 * shape[0] != os.fstat(fd).st_size:
            raise ValueError("its size does not match its header")
        if mmap and shape[0]:
            return np.memmap(f, dtype=np.int64, mode="r", offset=f.tell(), shape=shape)
        return np.frombuffer(f.read(8 * shape[0]), np.int64).copy()
    except (OSError, ValueError, EOFError, SyntaxError) as e:
        raise ValueError(f"{path!r} is not a readable .npy file ({e})") from None
    finally:
        f.close()  # a memmap keeps its own mapping


class Shard:
    """One shard: an index, the insertion numbers of its codes, and its write-ahead log.

    Parameters
    ----------
    bits : int
    kind : {"flat", "multi"}
    options : dict
        Index options (``m`` for a MultiIndex).
    log_path : str
        The shard's log (created by the driver, starting with a checkpoint record).
    threads : int or None
        Search threads in this process (None: deephash's default, all cores).
    lock_timeout : float or None
        When given, the shard first takes an exclusive lock (``flock``) on ``<log_path>.lock``,
        waiting at most this many seconds: an actor of a previous driver that is still alive (Ray
        ends the actors of a dead driver a moment after it) must have stopped appending before
        this one replays the log. The kernel releases the lock when the process dies.

    A shard whose recovery fails (a damaged log, a missing or corrupted shard file) stays alive
    but answers every call with that error (a ValueError naming the file), so the driver reports
    the cause instead of "actor died".
    """

    def __init__(self, bits: int, kind: str, options: dict, log_path: str, threads=None, lock_timeout=None):
        if threads is not None:
            import deephash

            deephash.set_num_threads(int(threads))
        self._bits = bits
        self._kind = kind
        self._options = dict(options)
        self._log = WriteAheadLog(log_path)
        self._crash_point = None
        self._error = None
        try:
            if lock_timeout is not None:  # held for this object's (in an actor: process's) life
                weakref.finalize(self, os.close, _lock_log(log_path, float(lock_timeout)))
            self._recover()
        except (ValueError, OSError) as e:
            self._error = e

    def _check(self, min_op: int = 0) -> None:
        """Raises the recovery error, or a data-loss error when the shard holds fewer operations
        than the driver saw acknowledged (``min_op``): its log lost acknowledged mutations."""
        if self._error is not None:
            raise self._error
        if self._op < min_op:
            raise LogCorruptError(
                f"write-ahead log {self._log.path!r} ends at op {self._op}, but op {min_op} was "
                "acknowledged: the log lost acknowledged mutations (truncated or replaced); reload "
                "the index from its last save (ShardedIndex.load)"
            )

    # ---- recovery -----------------------------------------------------------------------
    def _recover(self) -> None:
        self._index = make_index(self._bits, self._kind, self._options)
        self._seq = np.zeros(0, np.int64)
        self._op = 0
        self._next_seq = 0  # above every insertion number this shard's log has seen
        self._last_result = None
        self._lookup = None
        last = None
        for rec in self._log.records(self._bits // 8):
            try:
                if rec.kind == CHECKPOINT:
                    info = decode_checkpoint(rec.payload)
                    self._load_checkpoint(info)
                    self._next_seq = _checkpoint_next_seq(info, self._seq)
                    self._last_result = None
                elif rec.kind == ADD:
                    self._last_result = self._apply_add(*decode_add(rec.payload))
                elif rec.kind == REMOVE:
                    self._last_result = self._apply_remove(decode_remove(rec.payload))
            except ValueError as e:
                raise ValueError(f"replaying op {rec.op} of {self._log.path!r}: {e}") from None
            self._op = rec.op
            self._previous_op = None if rec.kind == CHECKPOINT else last
            self._last_record = (rec.kind, rec.op)
            last = rec.op
        self._lookup = None

    def _load_checkpoint(self, info: dict) -> None:
        if info.get("index") is None:
            self._index = make_index(self._bits, self._kind, self._options)
            self._seq = np.zeros(0, np.int64)
            return
        where = f"the checkpoint in {self._log.path!r}"
        shard = info.get("shard")
        folder = info.get("folder")
        if not isinstance(shard, int) or not isinstance(folder, str) or not os.path.isabs(folder):
            raise ValueError(f"{where} names no shard number and absolute folder")
        index_path = os.path.join(folder, check_shard_name(info["index"], shard, "dhi", where))
        seq_path = os.path.join(folder, check_shard_name(info.get("seq"), shard, "seq.npy", where))
        mmap = bool(info.get("mmap", True))
        # Each file is checked and then loaded through one descriptor: the bytes checked are the
        # bytes loaded, even if the name is replaced in between.
        fd = open_verified(index_path, info.get("index_size"), info.get("index_sha256"), where)
        try:
            index = _load_index_fd(fd, index_path, mmap)
        finally:
            os.close(fd)
        if not isinstance(index, _CLASS_OF_KIND[self._kind]) or index.bits != self._bits:
            raise ValueError(
                f"{index_path!r} holds a {type(index).__name__}({index.bits} bits), expected "
                f"a {_CLASS_OF_KIND[self._kind].__name__}({self._bits} bits)"
            )
        fd = open_verified(seq_path, info.get("seq_size"), info.get("seq_sha256"), where)
        try:
            seq = _load_seq_fd(fd, seq_path, mmap)
        finally:
            os.close(fd)
        if seq.shape != (len(index),):
            raise ValueError(f"{seq_path!r} does not match {index_path!r} ({len(index)} codes)")
        self._index, self._seq = index, seq

    # ---- mutations ----------------------------------------------------------------------
    def _apply_add(self, codes, ids, seq):
        if len(seq) == 0:  # every mutation reaches every shard, an add of fewer codes too
            return None
        self._index.add(np.ascontiguousarray(codes), np.ascontiguousarray(ids))
        self._seq = np.concatenate([self._seq, seq])
        self._next_seq = max(self._next_seq, int(seq.max()) + 1)
        self._lookup = None

    def _apply_remove(self, ids):
        if len(self._index) == 0 or ids.size == 0:
            return 0
        keep = ~np.isin(self._index.ids, ids)
        removed = self._index.remove(ids)
        if removed:
            self._seq = np.ascontiguousarray(self._seq[keep])
            self._lookup = None
        return removed

    def _mutate(self, kind: int, op: int, payload: bytes, apply):
        # An op the shard already holds is a retry of a mutation whose acknowledgement was lost
        # in a crash: answer it again instead of applying it twice.
        self._check()
        if op <= self._op:
            return self._last_result
        self._maybe_crash("before_log")
        self._log.append(kind, op, payload)
        self._previous_op = self._last_record[1]
        self._last_record = (kind, op)
        self._maybe_crash("after_log")
        self._last_result = apply()
        self._op = op
        return self._last_result

    def add(self, op: int, codes: np.ndarray, ids: np.ndarray, seq: np.ndarray):
        """Logs, then adds ``codes`` with ``ids`` and insertion numbers ``seq``; returns the op."""
        self._mutate(ADD, op, encode_add(codes, ids, seq), lambda: self._apply_add(codes, ids, seq))
        return self._op

    def remove(self, op: int, ids: np.ndarray):
        """Logs, then removes every code whose id is in ``ids``; returns (op, number removed)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        removed = self._mutate(REMOVE, op, ids.tobytes(), lambda: self._apply_remove(ids))
        return self._op, int(removed)

    # ---- searches -----------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, weights=None, min_op: int = 0):
        """The shard's own top ``min(k, len)`` with each result's insertion number.

        Returns (distances (nq, k'), ids (nq, k'), seq (nq, k')) with ``k' = min(k, len(shard))``.
        ``min_op``: the last operation the driver saw acknowledged (see ``_check``).
        """
        self._check(min_op)
        k = min(k, len(self._index))
        nq = queries.shape[0]
        if k == 0:
            dt = np.int32 if weights is None else np.float32
            return np.zeros((nq, 0), dt), np.zeros((nq, 0), np.int64), np.zeros((nq, 0), np.int64)
        d, ids = self._index.search(queries, k, weights=weights)
        rows = np.repeat(np.arange(nq), k)
        seq = self._seqs(queries, weights, rows, d.ravel(), ids.ravel()).reshape(nq, k)
        return d, ids, seq

    def range_search(self, queries: np.ndarray, radius, weights=None, min_op: int = 0):
        """(lims, distances, ids, seq): the shard's range search with insertion numbers."""
        self._check(min_op)
        lims, d, ids = self._index.range_search(queries, radius, weights=weights)
        rows = np.repeat(np.arange(queries.shape[0]), np.diff(lims))
        return lims, d, ids, self._seqs(queries, weights, rows, d, ids)

    def _lookup_tables(self):
        """(ids sorted, their storage positions or None when already sorted, duplicated ids)."""
        if self._lookup is None:
            ids = np.array(self._index.ids)
            if ids.size < 2 or bool(np.all(ids[1:] > ids[:-1])):
                self._lookup = (ids, None, np.zeros(0, np.int64))
            else:
                order = np.argsort(ids, kind="stable")
                s = ids[order]
                dup = np.unique(s[1:][s[1:] == s[:-1]])
                self._lookup = (s, order, dup)
        return self._lookup

    def _seqs(self, queries, weights, rows, dist, out_ids):
        """Insertion number of each result entry (ids ``out_ids`` of query ``rows``)."""
        sorted_ids, order, dup = self._lookup_tables()
        # Looked up in ascending order: each binary search then walks near the previous one
        # (cached), where random keys over millions of ids miss the cache at every step (most
        # of a 1,000-query search's fixed cost).
        by_id = np.argsort(out_ids)
        where = np.empty(len(out_ids), np.int64)
        where[by_id] = np.searchsorted(sorted_ids, out_ids[by_id])
        pos = where if order is None else order[where]
        seq = np.asarray(self._seq)[pos]
        if dup.size:
            self._resolve_duplicates(queries, weights, rows, dist, out_ids, seq, dup)
        return seq

    def _resolve_duplicates(self, queries, weights, rows, dist, out_ids, seq, dup):
        # Codes sharing an id: the index lists entries with equal (distance, id) in storage order,
        # so the j-th such entry is the j-th stored code of that id at that distance. The
        # distances come from a small FlatIndex over just those codes, searched with the same
        # query and weights, so they are the same numbers (weights are quantised per query row).
        sorted_ids, order, _ = self._lookup_tables()
        hit = np.nonzero(np.isin(out_ids, dup))[0]
        groups = {}
        for e in hit:
            groups.setdefault((int(rows[e]), int(out_ids[e])), []).append(e)
        codes = self._index.codes
        for (r, x), entries in groups.items():
            # (not searchsorted(ids, [x, x + 1]): x + 1 overflows int64 at 2**63 - 1)
            lo = int(np.searchsorted(sorted_ids, np.int64(x), "left"))
            hi = int(np.searchsorted(sorted_ids, np.int64(x), "right"))
            positions = order[lo:hi]  # increasing: the argsort is stable
            tmp = FlatIndex(self._bits)
            tmp.add(np.ascontiguousarray(codes[positions]), np.arange(len(positions)))
            w = weights if weights is None or weights.ndim == 1 else weights[r : r + 1]
            td, tj = tmp.search(queries[r : r + 1], len(positions), weights=w)
            queue = {}
            for dv, j in zip(td[0].tolist(), tj[0].tolist()):
                queue.setdefault(dv, []).append(positions[j])
            for e in entries:
                seq[e] = self._seq[queue[dist[e].item()].pop(0)]

    # ---- persistence and introspection ----------------------------------------------------
    def save(self, directory: str, shard: int, token: str, next_seq: int = 0) -> dict:
        """Writes the shard (atomic, checksummed index file + its insertion numbers), then restarts
        the log from that checkpoint (which keeps ``next_seq``, the driver's next insertion
        number). Returns the manifest entry of this shard: both file names with their sizes and
        SHA-256, and the number of codes."""
        self._check()
        index_name, seq_name = shard_file_names(shard, token)
        check_shard_name(index_name, shard, "dhi", "save")
        index_path = os.path.join(directory, index_name)
        seq_path = os.path.join(directory, seq_name)
        for p in (index_path, seq_path):  # fresh random names: something there was planted
            if os.path.lexists(p):
                raise FileExistsError(17, "a file already has the new shard file's name", p)
        self._index.save(index_path)
        index_digest = digest(index_path)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(self._seq, dtype=np.int64))
        write_atomic(seq_path, buf.getvalue())
        entry = {
            "index": index_name,
            "index_size": index_digest.size,
            "index_sha256": index_digest.sha256,
            "seq": seq_name,
            "seq_size": len(buf.getvalue()),
            "seq_sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
            "n": len(self._index),
        }
        checkpoint = {k: v for k, v in entry.items() if k != "n"}
        next_seq = max(int(next_seq), self._next_seq)
        checkpoint.update(shard=shard, folder=os.path.abspath(directory), op=self._op, mmap=True, next_seq=next_seq)
        WriteAheadLog.create(self._log.path, checkpoint)
        self._last_record = (CHECKPOINT, self._op)
        self._previous_op = None
        self._next_seq = next_seq
        return entry

    def info(self, min_op: int = 0) -> dict:
        """Size, last applied op, process id (tests use it to see a restart), bytes held in memory,
        the next free insertion number as far as this shard knows (``next_seq``), whether its
        log ends with a mutation record (``last_logged``: that record's op, else None) and the op
        of the record before it (``previous_op``: where ``discard_last`` would leave the shard)."""
        self._check(min_op)
        kind, op = self._last_record
        return {
            "n": len(self._index),
            "op": self._op,
            "pid": os.getpid(),
            "memory_bytes": self._index.memory_bytes(),
            "next_seq": self._next_seq,
            "last_logged": None if kind == CHECKPOINT else op,
            "previous_op": self._previous_op,
        }

    def discard_last(self, op: int) -> dict:
        """Drops the log's last record, the mutation ``op``, and rebuilds the shard without it.

        Only for a mutation the driver never acknowledged: one that other shards never logged
        when the driver died (see ``ShardedIndex.recover``). ValueError when the log does not end
        with mutation ``op``. Returns ``info()`` afterwards.
        """
        self._check()
        if self._last_record != (ADD, op) and self._last_record != (REMOVE, op):
            raise ValueError(f"write-ahead log {self._log.path!r} does not end with mutation op {op}")
        self._log.drop_last(op)
        self._recover()
        return self.info()

    def _crash_on_next_mutation(self, point: str) -> None:
        """Test hook: the next mutation kills this process ("before_log" or "after_log")."""
        self._crash_point = point

    def _maybe_crash(self, point: str) -> None:
        if self._crash_point == point:
            os._exit(1)


def _checkpoint_next_seq(info: dict, seq) -> int:
    """The next insertion number a checkpoint records (older checkpoints: above its codes')."""
    value = info.get("next_seq", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"next_seq {value!r} is not an insertion number")
    return max(value, int(np.max(seq)) + 1 if len(seq) else 0)


def _lock_log(log_path: str, timeout: float) -> int:
    """Exclusive ``flock`` on ``<log_path>.lock`` (see ``Shard``); OSError after ``timeout`` s."""
    path = log_path + ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise OSError(
                    errno.EBUSY,
                    f"another live process (a shard actor of another driver?) holds this log's lock "
                    f"after {timeout:g} s; only one live ShardedIndex may use a log_dir",
                    path,
                ) from None
            time.sleep(0.05)

"""An exact binary-code index split over Ray actors, one shard each."""

from __future__ import annotations

import functools
import json
import numbers
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref

import numpy as np

from .. import _core
from .._validate import as_codes, as_ids, check_bits, check_k, check_radius, describe
from ._driver import DRIVER_RECORD, check_config, lock_log_dir, log_name, read_driver_record, shard_logs
from ._driver import write_driver_record as _write_driver_record
from ._files import check_shard_name, read_regular, write_atomic
from ._log import WriteAheadLog
from ._merge import merge_knn, merge_range
from ._shard import Shard, make_index
from .ray_support import ensure_ray
from .ray_support import require_ray as _ray

__all__ = ["DEFAULT_TIMEOUT", "MANIFEST", "ShardUnavailableError", "ShardedIndex"]

MANIFEST = "manifest.json"
_FORMAT = "deephash.ShardedIndex"
_VERSION = 2  # 2: every shard file pinned by size and SHA-256
#: Seconds any wait on a shard actor may take before ShardUnavailableError (``timeout=``).
DEFAULT_TIMEOUT = 60.0
_MANIFEST_MAX_BYTES = 64 << 20


class ShardUnavailableError(RuntimeError, ConnectionError):
    """A shard actor is dead (its restarts are used up) or did not answer within the timeout:
    the operation is abandoned rather than answered from the other shards alone.

    Also a ``ConnectionError`` (an ``OSError``): the cluster, not deephash, failed, and the CLI
    reports it as one line (exit status 2) rather than as an internal error."""


# Fork safety: a child forked while another thread of the parent held an index's lock would
# inherit it locked forever, and the child has no connection to the parent's Ray workers
# anyway. Every live index gets a fresh lock in the child and refuses to be used there.
_LIVE = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for index in list(_LIVE):
        index._lock = threading.RLock()
        # The child's copy of the driver lock's descriptor: closing it leaves the parent's lock
        # held, and a long-lived child never keeps a dead parent's log_dir locked.
        index._release_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _locked(fn):
    """Runs the method under the index's lock (see *Threads* in ShardedIndex)."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        if self._pid != os.getpid():
            raise RuntimeError(
                "this ShardedIndex was opened by process "
                f"{self._pid}; a forked child cannot use it (Ray connections do not survive "
                "fork): open it in the child with ShardedIndex.load, or use a spawn-started process"
            )
        with self._lock:
            return fn(self, *args, **kwargs)

    return wrapper


class ShardedIndex:
    """Exact k-NN and range search over codes split across Ray actors (one shard per actor).

    Results are identical to those of one :class:`deephash.FlatIndex` holding every code (same
    distances, ids and order, ties included, ``-1`` padding) for every shard kind, weighted or
    not: each shard answers with its own top-k and the driver merges them by (distance, id,
    global insertion number).

    Parameters
    ----------
    bits : int
        Code length, a positive multiple of 8.
    num_shards : int >= 1
    kind : {"flat", "multi"}
        Each shard is a :class:`deephash.FlatIndex` or a :class:`deephash.MultiIndex`.
    log_dir : str, optional
        Folder of the shards' write-ahead logs and of the driver record (see *Durability*); it
        must not hold another index's. Give one whenever acknowledged adds must survive the
        death of this (the driver) process: :meth:`recover` reopens the index from it. Default:
        a new temporary folder, removed by :meth:`close` — adds acknowledged since the last
        :meth:`save` are then lost if the driver process dies. On a multi-machine cluster give a
        path on storage every machine sees.
    threads_per_shard : int, optional
        Search threads in each shard actor (default: all cores of its machine).
    max_restarts : int
        How often Ray restarts a crashed shard actor (-1: without limit).
    actor_options : dict, optional
        Extra ``ray.remote`` options for the shard actors (``num_cpus``, ``resources``, ...).
    timeout : float
        Seconds any wait on the shard actors may take (start-up, each search, add, save, ...;
        default :data:`DEFAULT_TIMEOUT`, 60): beyond it the call raises
        :class:`ShardUnavailableError` (e.g. ``actor_options`` Ray cannot schedule). Raise it
        for very large saves or searches.
    **index_options
        Passed to each shard's index (``m=`` for ``kind="multi"``).

    Notes
    -----
    *Placement.* The code with global insertion number ``s`` (0, 1, 2, ... over all adds) goes to
    shard ``s % num_shards``: shards stay balanced within one code whatever the ids, and every
    shard sees its codes in insertion order. ``remove`` is sent to every shard.

    *Default ids* are those of FlatIndex: ``len(index), len(index) + 1, ...``.

    *Durability.* Before a shard applies and acknowledges an add or a remove it appends the
    mutation to its log and fsyncs it; the driver acknowledges a mutation (returns) once every
    shard has. Ray restarts a crashed actor, which rebuilds its shard from the last checkpoint
    (the files written by the last :meth:`save` or :meth:`load`, or empty) plus the logged
    mutations. Every mutation goes to every shard (an add of fewer codes than shards too) under
    one operation number, so one that Ray or the driver retries after a crash is applied once.
    A call that still cannot reach a shard raises :class:`ShardUnavailableError`; searches never
    return a partial answer. If the *driver* process dies, :meth:`recover` of an explicit
    ``log_dir`` brings back every acknowledged mutation (see there); with the default temporary
    ``log_dir``, what was added since the last :meth:`save` is lost with the driver.

    *Memory.* Each shard stores, beside its index, the int64 insertion number of every code.

    *Integrity.* Each shard's log detects damage (see ``_log.py``): only a torn last record, a
    mutation that was never acknowledged, is dropped on replay; any other damage, or a log that
    ends before the last operation the driver saw acknowledged, makes every call on that shard
    raise a ValueError naming the file. A saved folder's manifest pins every shard file by size
    and SHA-256, names only files inside the folder, and :meth:`load` refuses anything else.

    *Threads.* Calls from several threads are serialised by a lock, so a search never sees an add
    or a remove that only some shards have applied.

    *fork().* A forked child cannot use an index opened by its parent (RuntimeError; Ray's
    connections do not survive fork): load it again in the child. A fork while another thread
    adds never leaves the child's lock held.

    Examples
    --------
    >>> import ray, deephash
    >>> from deephash.distributed import ShardedIndex
    >>> ray.init(num_cpus=2)                                    # doctest: +SKIP
    >>> index = ShardedIndex(64, num_shards=2)                  # doctest: +SKIP
    >>> index.add(codes); distances, ids = index.search(codes[:5], k=10)  # doctest: +SKIP
    """

    def __init__(
        self,
        bits: int,
        num_shards: int,
        kind: str = "flat",
        *,
        log_dir=None,
        threads_per_shard=None,
        max_restarts: int = 3,
        actor_options=None,
        timeout: float = DEFAULT_TIMEOUT,
        **index_options,
    ):
        self._configure(
            bits, num_shards, kind, index_options, log_dir, threads_per_shard, max_restarts, actor_options, timeout
        )
        try:
            make_index(self._bits, self._kind, self._options)  # rejects bad options here, not in an actor
        except BaseException:
            self._release_lock()
            raise
        self._start([{"index": None, "op": 0, "next_seq": 0}] * self._num_shards, sizes=[0] * self._num_shards)
        self._next_seq = 0

    # ---- set-up -------------------------------------------------------------------------
    def _configure(
        self, bits, num_shards, kind, options, log_dir, threads, max_restarts, actor_options, timeout, recovering=False
    ):
        self._actors = []
        self._cleanup = None
        self._lock_release = None
        self._size = 0
        self._lock = threading.RLock()
        self._pid = os.getpid()
        _LIVE.add(self)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, numbers.Real)
            or not (0 < float(timeout) < float("inf"))
        ):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self._timeout = float(timeout)
        self._bits = check_bits(bits)
        if isinstance(num_shards, bool) or not isinstance(num_shards, numbers.Integral):
            raise TypeError(f"num_shards must be an int, got {describe(num_shards)}")
        num_shards = int(num_shards)
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        if kind not in ("flat", "multi"):
            raise ValueError(f"kind must be 'flat' or 'multi', got {kind!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads_per_shard must be a positive int or None, got {threads!r}")
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < -1:
            raise ValueError(f"max_restarts must be an int >= -1, got {max_restarts!r}")
        self._num_shards = num_shards
        self._kind = kind
        self._options = dict(options)
        self._threads = threads
        self._max_restarts = max_restarts
        self._actor_options = dict(actor_options or {})
        if log_dir is None:
            self._log_dir = tempfile.mkdtemp(prefix="deephash-shards-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._log_dir, True)
        else:
            self._log_dir = os.path.abspath(os.fspath(log_dir))
            if not recovering:
                os.makedirs(self._log_dir, exist_ok=True)
        self._lock_release = weakref.finalize(self, _close_fd, lock_log_dir(self._log_dir))
        if log_dir is not None and not recovering:
            taken = sorted(f for f in os.listdir(self._log_dir) if f == DRIVER_RECORD or f.endswith(".log"))
            if taken:
                self._release_lock()
                raise FileExistsError(
                    f"log_dir {self._log_dir!r} already holds an index's logs ({', '.join(taken[:3])}, ...): "
                    "reopen that index with ShardedIndex.recover(log_dir), or give an empty folder"
                )

    def _start(self, checkpoints, sizes):
        """Starts one actor per shard. ``checkpoints``: each shard's new log starts with it, and
        ``sizes`` are the codes each must hold; None (recovery): the actors replay the existing
        logs. Returns the shards' ``info()``."""
        ray = _ray()
        ensure_ray()
        paths = [os.path.join(self._log_dir, log_name(s)) for s in range(self._num_shards)]
        created = []
        try:
            if checkpoints is not None:
                for path, checkpoint in zip(paths, checkpoints):
                    WriteAheadLog.create(path, checkpoint)
                    created.append(path)
                # Written before any mutation can be acknowledged: recover() needs it.
                _write_driver_record(self._log_dir, self._bits, self._kind, self._options, self._num_shards)
                created.append(os.path.join(self._log_dir, DRIVER_RECORD))
            actor_cls = ray.remote(Shard).options(
                max_restarts=self._max_restarts,
                max_task_retries=self._max_restarts,
                **self._actor_options,
            )
            lock_wait = 0.8 * self._timeout  # the shard's own clear error comes before our timeout
            for path in paths:
                self._actors.append(
                    actor_cls.remote(self._bits, self._kind, self._options, path, self._threads, lock_wait)
                )
            infos = self._gather([a.info.remote() for a in self._actors], "start")
            self._ops = [int(i["op"]) for i in infos]  # the last op sent to each shard
            self._acked = list(self._ops)  # the last op each shard acknowledged
            got = [i["n"] for i in infos]
            if sizes is not None and got != list(sizes):
                raise ValueError(f"shards hold {got} codes, the manifest says {list(sizes)}")
        except BaseException:
            self._shutdown()
            for path in created if self._cleanup is None else ():  # nothing was acknowledged
                try:
                    os.unlink(path)
                except OSError:
                    pass
            raise
        self._size = sum(got)
        return infos

    # ---- calls to the shards ------------------------------------------------------------
    def _gather(self, refs, what: str, resubmit=None):
        """Results of one call per shard, in shard order; never a partial list.

        Every wait ends by the index's ``timeout`` (ShardUnavailableError). An error the shard
        raised (ValueError, TypeError, OSError: e.g. a damaged log or shard file) is re-raised
        as itself. ``resubmit(s)`` re-issues shard s's call after Ray reports the actor
        temporarily unavailable (safe for mutations too: they carry operation numbers).
        """
        ray = _ray()
        from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

        deadline = time.monotonic() + self._timeout
        out = []
        for s, ref in enumerate(refs):
            for attempt in range(20):
                try:
                    out.append(ray.get(ref, timeout=max(0.0, deadline - time.monotonic())))
                    break
                except GetTimeoutError:
                    raise ShardUnavailableError(
                        f"{what}: shard {s} did not answer within {self._timeout:g} s (timeout=); "
                        "it may be unschedulable (actor_options asking for more than the cluster "
                        "has), overloaded or hung. No partial answer is returned"
                    ) from None
                except ActorUnavailableError:
                    if resubmit is None or attempt == 19 or time.monotonic() >= deadline:
                        raise ShardUnavailableError(
                            f"{what}: shard {s} stayed unreachable; no partial answer is returned"
                        ) from None
                    time.sleep(0.1 * (attempt + 1))
                    ref = resubmit(s)
                except RayActorError as e:
                    raise ShardUnavailableError(
                        f"{what}: shard {s} is dead (its {self._max_restarts} restarts are used up "
                        f"or it was killed for good); no partial answer is returned. Reload the "
                        f"index from its last save"
                    ) from e
                except RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    if isinstance(cause, (ValueError, TypeError, OSError)):
                        raise cause from None
                    raise
        return out

    def _call_all(self, method: str, *args, what=None):
        """One read-only call per shard; each checks it holds every acknowledged operation."""

        def submit(s):
            return getattr(self._actors[s], method).remote(*args, min_op=self._acked[s])

        return self._gather([submit(s) for s in range(self._num_shards)], what or method, submit)

    def _mutate_all(self, method: str, per_shard_args, what: str):
        """Sends one mutation to every shard, under one operation number above every number used
        so far (so :meth:`recover` can tell a mutation some shards never logged); returns each
        shard's answer."""
        op = max(self._ops) + 1
        ops = {s: op for s in range(self._num_shards)}

        def submit(s):
            return getattr(self._actors[s], method).remote(ops[s], *per_shard_args[s])

        shards = sorted(ops)
        for s in shards:  # numbers are never reused, whatever happens to this call
            self._ops[s] = ops[s]
        try:
            answers = self._gather([submit(s) for s in shards], what, lambda i: submit(shards[i]))
        except Exception:
            self._size = None  # some shards may have applied it: recount on demand
            raise
        for s in shards:
            self._acked[s] = ops[s]
        return dict(zip(shards, answers))

    # ---- the index API ------------------------------------------------------------------
    @property
    def bits(self) -> int:
        """Code length in bits."""
        return self._bits

    @property
    def num_shards(self) -> int:
        return self._num_shards

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def actors(self) -> list:
        """The shard actor handles, in shard order."""
        return list(self._actors)

    @_locked
    def __len__(self) -> int:
        if self._size is None:
            self._size = sum(i["n"] for i in self._call_all("info", what="len"))
        return self._size

    def __repr__(self) -> str:
        return f"ShardedIndex(bits={self._bits}, num_shards={self._num_shards}, kind={self._kind!r}, n={self._size})"

    @_locked
    def add(self, codes, ids=None) -> None:
        """Adds codes (uint8 (n, bits // 8)) with ids (int64 (n,), default ``len(self), ...``).

        Returns once every shard has logged (fsynced) and applied its part.
        """
        codes = as_codes(codes, self._bits)
        n = codes.shape[0]
        if ids is None:
            ids = np.arange(len(self), len(self) + n, dtype=np.int64)
        else:
            ids = as_ids(ids, n, stored=True)
        if n == 0:
            return
        seq = np.arange(self._next_seq, self._next_seq + n, dtype=np.int64)
        self._next_seq += n
        args = []
        for s in range(self._num_shards):
            first = (s - int(seq[0])) % self._num_shards  # first code whose seq % S == s
            sel = slice(first, None, self._num_shards)  # empty when first >= n: sent all the same
            args.append((np.ascontiguousarray(codes[sel]), np.ascontiguousarray(ids[sel]), seq[sel].copy()))
        self._mutate_all("add", args, "add")
        if self._size is not None:
            self._size += n

    @_locked
    def remove(self, ids) -> int:
        """Removes every code whose id is in ``ids``; returns how many codes were removed."""
        ids = as_ids(ids, -1)
        answers = self._mutate_all("remove", [(ids,)] * self._num_shards, "remove")
        removed = sum(r for _, r in answers.values())
        if self._size is not None:
            self._size -= removed
        return removed

    @_locked
    def search(self, queries, k: int, weights=None):
        """Exact k nearest neighbours, as :meth:`deephash.FlatIndex.search` (same arguments,
        same result: int32/float32 distances (nq, k), int64 ids (nq, k), -1 padding)."""
        ray = _ray()
        queries = as_codes(queries, self._bits, "queries")
        k = check_k(k)
        nq = queries.shape[0]
        if nq * k > _core.MAX_RESULT_ENTRIES:  # FlatIndex's cap, checked before anything is sent
            raise ValueError(
                f"a search returns at most {_core.MAX_RESULT_ENTRIES} (nq * k) entries, got nq = {nq}, "
                f"k = {k}; search fewer queries at a time or a smaller k"
            )
        w = self._weights(weights, queries.shape[0])
        q_ref = ray.put(queries)  # once, shared by every shard
        w_ref = None if w is None else ray.put(w)
        parts = self._call_all("search", q_ref, k, w_ref, what="search")
        return merge_knn(parts, queries.shape[0], k, w is not None)

    @_locked
    def range_search(self, queries, radius, weights=None):
        """All codes within distance <= radius, as :meth:`deephash.FlatIndex.range_search`:
        (lims int64 (nq + 1,), distances, ids int64)."""
        ray = _ray()
        queries = as_codes(queries, self._bits, "queries")
        w = self._weights(weights, queries.shape[0])
        if w is None:
            radius = check_radius(radius)
        else:
            from .._weights import check_weighted_radius

            radius = check_weighted_radius(radius)
        q_ref = ray.put(queries)
        w_ref = None if w is None else ray.put(w)
        parts = self._call_all("range_search", q_ref, radius, w_ref, what="range_search")
        return merge_range(parts, queries.shape[0], w is not None)

    def _weights(self, weights, nq):
        if weights is None:
            return None
        from .._weights import as_weights

        return as_weights(weights, self._bits, nq)

    # ---- persistence --------------------------------------------------------------------
    @_locked
    def save(self, directory) -> None:
        """Saves every shard (each actor writes its own atomic, checksummed index file and the
        insertion numbers beside it) and then, last and atomically, ``manifest.json``, which pins
        each file by name, size and SHA-256.

        A crash before the manifest is replaced leaves the previous save intact: shard files of
        each save have their own random names, and those of the previous save are deleted only
        after the new manifest is in place — only names of the form
        ``shard-NNNNN-<12 hex digits>.dhi`` / ``.seq.npy`` inside ``directory`` are ever removed.
        A folder whose ``manifest.json`` is damaged, foreign or names anything else is refused
        (ValueError) before anything is written. The shards' logs restart from this save, so a
        folder should belong to one live index.
        """
        directory = os.path.abspath(os.fspath(directory))
        os.makedirs(directory, exist_ok=True)
        previous = None
        if os.path.lexists(os.path.join(directory, MANIFEST)):
            try:
                previous = _read_manifest(directory, any_version=True)
            except ValueError as e:
                raise ValueError(
                    f"refusing to save into {directory!r}: {e}. Remove that manifest (and the "
                    "files it names) or save to another folder"
                ) from None
        token = secrets.token_hex(6)
        entries = self._gather(
            [a.save.remote(directory, s, token, self._next_seq) for s, a in enumerate(self._actors)], "save"
        )
        manifest = {
            "format": _FORMAT,
            "version": _VERSION,
            "bits": self._bits,
            "kind": self._kind,
            "options": self._options,
            "num_shards": self._num_shards,
            "next_seq": self._next_seq,
            "shards": entries,
        }
        write_atomic(os.path.join(directory, MANIFEST), json.dumps(manifest, indent=1).encode())
        if previous is not None:
            keep = {e[f] for e in entries for f in ("index", "seq")}
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for e in previous["shards"]:
                    for f in ("index", "seq"):
                        if e[f] not in keep:  # a validated shard file name: no '/', no '..'
                            try:
                                os.unlink(e[f], dir_fd=dfd)
                            except FileNotFoundError:
                                pass
            finally:
                os.close(dfd)

    @classmethod
    def load(
        cls,
        directory,
        mmap: bool = True,
        *,
        log_dir=None,
        threads_per_shard=None,
        max_restarts: int = 3,
        actor_options=None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ShardedIndex:
        """Reopens a saved ShardedIndex; each actor verifies (size, SHA-256) and loads (by default
        memory-maps) its own shard files, through the descriptor it checked.

        ``log_dir`` and the other keywords are those of the constructor: with an explicit
        ``log_dir``, what is added after the load survives the driver's death
        (:meth:`recover`; the logs start from this save, whose folder must then stay in place).

        Raises
        ------
        ValueError
            A missing, damaged, foreign or inconsistent manifest, or a shard file that is missing,
            not a regular file, or does not match the size and checksum the manifest pins (the
            message names the file).
        ShardUnavailableError
            A shard actor did not start within ``timeout`` seconds.
        """
        directory = os.path.abspath(os.fspath(directory))
        m = _read_manifest(directory)
        where = repr(os.path.join(directory, MANIFEST))
        for e in m["shards"]:
            for f in ("index", "seq"):
                _check_present(os.path.join(directory, e[f]), e[f + "_size"], where)
        self = cls.__new__(cls)
        self._configure(
            m["bits"],
            m["num_shards"],
            m["kind"],
            m["options"],
            log_dir,
            threads_per_shard,
            max_restarts,
            actor_options,
            timeout,
        )
        checkpoints = []
        for s, e in enumerate(m["shards"]):
            c = {k: e[k] for k in ("index", "index_size", "index_sha256", "seq", "seq_size", "seq_sha256")}
            c.update(shard=s, folder=directory, op=0, mmap=bool(mmap), next_seq=int(m["next_seq"]))
            checkpoints.append(c)
        self._start(checkpoints, sizes=[e["n"] for e in m["shards"]])
        self._next_seq = int(m["next_seq"])
        return self

    @classmethod
    def recover(
        cls,
        log_dir,
        *,
        threads_per_shard=None,
        max_restarts: int = 3,
        actor_options=None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ShardedIndex:
        """Reopens the index whose driver process died (or was closed) from its ``log_dir``.

        Every mutation the dead driver acknowledged is back: each new shard actor replays its
        log (the last checkpoint, then every logged add and remove), the configuration comes from
        the folder's driver record (``driver.json``) and the next insertion number from the
        logs. The index goes on using ``log_dir``, so it can be recovered again.

        A mutation in flight when the driver died — logged by some shards, not by others — was
        never acknowledged (the driver answers only once every shard has logged it): it is cut
        off the logs that hold it, so it is either wholly present (every shard logged it) or
        wholly absent, never half applied. Logs that differ by more than that one mutation lost
        acknowledged records and are refused. (One log that lost exactly its last record cannot
        be told from one the driver never reached: that mutation is cut from the others.)

        Parameters
        ----------
        log_dir : str or os.PathLike
            The ``log_dir`` the index was created (or loaded) with.
        threads_per_shard, max_restarts, actor_options, timeout
            As for the constructor.

        Raises
        ------
        ValueError
            The driver record is missing, damaged (fails its SHA-256), foreign or of another
            version; a shard log is missing, extra, damaged or names a missing or changed
            checkpoint file (the message names the file). Nothing is repaired or guessed.
        OSError
            Another live process holds ``log_dir`` (EBUSY), or the folder cannot be read.
        ShardUnavailableError
            A shard actor did not start within ``timeout`` seconds.
        """
        log_dir = os.path.abspath(os.fspath(log_dir))
        if not os.path.isdir(log_dir):
            raise ValueError(f"log_dir {log_dir!r} is not a folder: nothing to recover")
        record = read_driver_record(log_dir)
        shard_logs(log_dir, record["num_shards"])
        self = cls.__new__(cls)
        self._configure(
            record["bits"],
            record["num_shards"],
            record["kind"],
            record["options"],
            log_dir,
            threads_per_shard,
            max_restarts,
            actor_options,
            timeout,
            recovering=True,
        )
        try:
            shard_logs(log_dir, record["num_shards"])  # again, under the lock
            infos = self._start(None, None)
            infos = self._discard_unacknowledged(infos)
        except BaseException:
            self._shutdown()
            raise
        self._ops = [int(i["op"]) for i in infos]
        self._acked = list(self._ops)
        self._size = sum(i["n"] for i in infos)
        self._next_seq = max(int(i["next_seq"]) for i in infos)
        return self

    def _discard_unacknowledged(self, infos):
        """After a driver's death: cuts the mutation some shards logged and others did not, or
        refuses (before touching any log) logs that one such mutation does not explain."""
        top = max(i["op"] for i in infos)
        holders = [s for s, i in enumerate(infos) if i["op"] == top]
        if len(holders) == len(infos):
            return infos
        # The driver sends a mutation only once the previous one has returned, so at most one is
        # in flight: without it, every log must end at the same op. One that ends earlier lost
        # records the driver saw logged everywhere (cut off the end of the file, or replaced).
        ends = [i["previous_op"] if s in holders else i["op"] for s, i in enumerate(infos)]
        for s in holders:
            if infos[s]["last_logged"] != top:
                ends[s] = top  # op ``top`` is inside its checkpoint: it cannot be cut
        if min(ends) != max(ends):
            s, t = ends.index(min(ends)), ends.index(max(ends))
            raise ValueError(
                f"shard log {os.path.join(self._log_dir, log_name(s))!r} ends at op {infos[s]['op']}, but "
                f"shard {t}'s log holds op {ends[t]}, and only one mutation can have been in flight when "
                "the driver died: the log lost mutations the driver acknowledged (truncated or "
                "replaced), or the logs do not come from one run. Nothing is recovered and no log is "
                "changed; reload the last save (ShardedIndex.load)"
            )
        # Mutation ``top`` reached only some shards: the driver died before every shard had
        # logged it, so it never acknowledged it. It is cut, not half kept.
        refs = [self._actors[s].discard_last.remote(top) for s in holders]
        for s, info in zip(holders, self._gather(refs, "recover")):
            infos[s] = info
        return infos

    # ---- lifetime -----------------------------------------------------------------------
    def _release_lock(self) -> None:
        if self._lock_release is not None:
            self._lock_release()  # closes the descriptor once, whoever calls first

    def _shutdown(self) -> None:
        ray = _ray()
        for a in self._actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # already gone
                pass
        self._actors = []
        self._release_lock()
        if self._cleanup is not None:
            self._cleanup()

    @_locked
    def close(self) -> None:
        """Stops the shard actors and removes a temporary log folder."""
        self._shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _check_present(path: str, size: int, where: str) -> None:
    """A shard file named by a manifest must be a regular file (not a link) of the pinned size."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise ValueError(f"shard file {path!r} named by {where} is missing") from None
    if not os.path.isfile(path) or os.path.islink(path):
        raise ValueError(f"shard file {path!r} named by {where} is not a regular file")
    if st.st_size != size:
        raise ValueError(f"shard file {path!r} has {st.st_size} bytes, {where} says {size} (truncated or replaced)")


def _is_int(x, lo=0) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= lo


def _is_sha256(x) -> bool:
    return isinstance(x, str) and len(x) == 64 and all(c in "0123456789abcdef" for c in x)


def _read_manifest(directory: str, any_version: bool = False) -> dict:
    """The validated manifest of ``directory``; ValueError naming the file for anything else.

    ``any_version``: also accept format 1 (the names are all that ``save`` needs from it).
    """
    path = os.path.join(directory, MANIFEST)
    try:
        raw = read_regular(path, follow=True)
    except FileNotFoundError:
        raise ValueError(f"{directory!r} holds no {MANIFEST}: not a saved ShardedIndex") from None
    except OSError as e:
        raise ValueError(f"{path!r} cannot be read as a ShardedIndex manifest: {e.strerror or e}") from None
    if len(raw) > _MANIFEST_MAX_BYTES:
        raise ValueError(f"{path!r} has {len(raw)} bytes, more than a manifest ({_MANIFEST_MAX_BYTES})")
    try:
        m = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path!r} is not valid JSON ({e})") from None
    if not isinstance(m, dict) or m.get("format") != _FORMAT:
        raise ValueError(f"{path!r} is not a ShardedIndex manifest")
    version = m.get("version")
    if version != _VERSION and not (any_version and version == 1):
        raise ValueError(
            f"{path!r} has format version {version!r}, this build reads {_VERSION}"
            + (" (version 1 does not pin its shard files: rebuild the index)" if version == 1 else "")
        )

    def bad(what):
        return ValueError(f"{path!r} is damaged or not a ShardedIndex manifest: {what}")

    check_config(m, bad)
    if not _is_int(m.get("num_shards"), 1) or not _is_int(m.get("next_seq")):
        raise bad(f"num_shards {m.get('num_shards')!r}, next_seq {m.get('next_seq')!r}")
    shards = m.get("shards")
    if not isinstance(shards, list) or len(shards) != m["num_shards"]:
        n = len(shards) if isinstance(shards, list) else shards
        raise ValueError(f"{path!r} lists {n!r} shards, expected {m['num_shards']}")
    where = repr(path)
    for s, e in enumerate(shards):
        if not isinstance(e, dict):
            raise bad(f"shard {s} entry {e!r}")
        check_shard_name(e.get("index"), s, "dhi", where)
        check_shard_name(e.get("seq"), s, "seq.npy", where)
        if version == 1:
            continue
        for f in ("index", "seq"):
            if not _is_int(e.get(f + "_size")) or not _is_sha256(e.get(f + "_sha256")):
                raise bad(f"shard {s} pins no size and SHA-256 for its {f} file")
        if not _is_int(e.get("n")):
            raise bad(f"shard {s} count {e.get('n')!r}")
    if version != 1 and sum(e["n"] for e in shards) > m["next_seq"]:
        raise bad(f"next_seq {m['next_seq']} is below the number of codes")
    return m

"""The driver's own files in a ShardedIndex's ``log_dir``: what :meth:`ShardedIndex.recover` needs
beside the shards' logs after the driver process died.

``driver.json`` (the *driver record*) holds the index's configuration (bits, kind, index options,
number of shards) and a SHA-256 of it. It is written once, atomically (``write_atomic``: exclusive
temporary, fsync, rename, folder fsync), before any shard log can hold an acknowledged mutation,
and never changes afterwards: everything that changes with each mutation (operation numbers,
insertion numbers, sizes) is recovered from the shards' logs, which hold it already.

``driver.lock`` is held (``flock``) by the one live driver of the folder, so a second driver
cannot append to the same logs; the kernel releases it when that process dies, however it dies.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re

from .. import _core
from ._files import read_regular, write_atomic
from ._shard import make_index

__all__ = ["DRIVER_RECORD", "DRIVER_LOCK", "check_config", "lock_log_dir", "read_driver_record", "shard_logs"]

DRIVER_RECORD = "driver.json"
DRIVER_LOCK = "driver.lock"
_FORMAT = "deephash.ShardedIndex.driver"
_VERSION = 1
_MAX_BYTES = 1 << 20
_LOG_NAME = re.compile(r"shard-(\d{5})\.log\Z")


def log_name(shard: int) -> str:
    return f"shard-{shard:05d}.log"


def check_config(m: dict, bad) -> None:
    """Validates bits, kind, options and num_shards of a manifest or driver record; ``bad(what)``
    makes the ValueError (naming the file)."""

    def is_int(x, lo):
        return isinstance(x, int) and not isinstance(x, bool) and x >= lo

    if not is_int(m.get("bits"), 1) or m["bits"] % 8 or m["bits"] > _core.MAX_BITS:
        raise bad(f"bits {m.get('bits')!r}")
    if m.get("kind") not in ("flat", "multi"):
        raise bad(f"kind {m.get('kind')!r}")
    if not isinstance(m.get("options"), dict):
        raise bad(f"options {m.get('options')!r}")
    try:
        make_index(m["bits"], m["kind"], m["options"])
    except (TypeError, ValueError) as e:
        raise bad(f"options {m['options']!r} ({e})") from None
    if not is_int(m.get("num_shards"), 1):
        raise bad(f"num_shards {m.get('num_shards')!r}")


def _body_digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_driver_record(log_dir: str, bits: int, kind: str, options: dict, num_shards: int) -> None:
    body = {
        "format": _FORMAT,
        "version": _VERSION,
        "bits": bits,
        "kind": kind,
        "options": options,
        "num_shards": num_shards,
    }
    record = dict(body, sha256=_body_digest(body))
    write_atomic(os.path.join(log_dir, DRIVER_RECORD), json.dumps(record, indent=1, sort_keys=True).encode())


def read_driver_record(log_dir: str) -> dict:
    """The validated driver record of ``log_dir``: ValueError naming the file when it is missing,
    not a regular file, damaged (its SHA-256 fails), foreign or of another version."""
    path = os.path.join(log_dir, DRIVER_RECORD)
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        raise ValueError(
            f"{log_dir!r} holds no {DRIVER_RECORD}: not the log_dir of a ShardedIndex, one written "
            "before driver records existed, or one whose creation was cut before it could acknowledge "
            "anything (then empty the folder); nothing is recovered"
        ) from None
    except OSError as e:
        raise ValueError(f"{path!r} cannot be read as a driver record: {e.strerror or e}") from None
    if len(raw) > _MAX_BYTES:
        raise ValueError(f"{path!r} has {len(raw)} bytes, more than a driver record ({_MAX_BYTES})")
    try:
        m = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path!r} is damaged: not valid JSON ({e})") from None
    if not isinstance(m, dict) or m.get("format") != _FORMAT:
        raise ValueError(f"{path!r} is not a ShardedIndex driver record")
    if m.get("version") != _VERSION:
        raise ValueError(f"{path!r} has driver record version {m.get('version')!r}, this build reads {_VERSION}")
    body = {k: v for k, v in m.items() if k != "sha256"}
    if m.get("sha256") != _body_digest(body):
        raise ValueError(f"{path!r} is damaged: its content does not match its SHA-256")

    def bad(what):
        return ValueError(f"{path!r} is damaged or not a driver record: {what}")

    check_config(m, bad)
    return m


def shard_logs(log_dir: str, num_shards: int) -> list:
    """The paths of the ``num_shards`` shard logs of ``log_dir``; ValueError naming the folder
    when one is missing or not a regular file, or when the folder holds logs of other shards."""
    names = os.listdir(log_dir)
    extra = sorted(n for n in names if _LOG_NAME.match(n) and int(_LOG_NAME.match(n).group(1)) >= num_shards)
    if extra:
        raise ValueError(
            f"{log_dir!r} holds {extra[0]}, but its {DRIVER_RECORD} says {num_shards} shards: the "
            "folder mixes two indexes' logs; nothing is recovered"
        )
    paths = []
    for s in range(num_shards):
        path = os.path.join(log_dir, log_name(s))
        if not os.path.lexists(path):
            raise ValueError(f"shard log {path!r} is missing ({DRIVER_RECORD} says {num_shards} shards)")
        if os.path.islink(path) or not os.path.isfile(path):
            raise ValueError(f"shard log {path!r} is not a regular file")
        paths.append(path)
    return paths


def lock_log_dir(log_dir: str) -> int:
    """Takes ``log_dir``'s driver lock; returns its descriptor (closing it releases the lock).

    Raises OSError (EBUSY) at once when another live process holds it.
    """
    path = os.path.join(log_dir, DRIVER_LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OSError(
            errno.EBUSY,
            "the log_dir is in use by another live ShardedIndex, in this process or another (it holds the driver "
            "lock); close that index (or end its process) first",
            path,
        ) from None
    except BaseException:
        os.close(fd)
        raise
    return fd

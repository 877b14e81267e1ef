"""Per-shard append-only write-ahead log: what a restarted shard actor replays.

A shard's state is "the last saved checkpoint, then every mutation logged since". Each mutation
is appended here and fsynced *before* it is applied and acknowledged, so an acknowledged add or
remove survives a crash of the actor (or of its machine, when the log sits on shared storage).

Record layout (little endian)::

    magic b"DHL1" | kind u32 | op u64 | payload length u64 | crc32 u32 | payload

``op`` is the shard's operation number (1, 2, ... per shard, assigned by the driver), which makes
a mutation retried after a crash idempotent: an op the log already holds is not applied twice.
A record whose header or payload is short or fails its CRC is a torn write of a mutation that was
never acknowledged; replay stops there and the file is cut back to the last whole record.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

__all__ = ["ADD", "CHECKPOINT", "REMOVE", "Record", "WriteAheadLog", "fsync_dir", "write_atomic"]

_MAGIC = b"DHL1"
_HEADER = struct.Struct("<4sIQQI")
CHECKPOINT, ADD, REMOVE = 1, 2, 3


class Record(NamedTuple):
    kind: int
    op: int
    payload: bytes


def fsync_dir(directory: str) -> None:
    """Makes a rename inside ``directory`` durable (POSIX needs the directory fsynced too)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically: temporary file, fsync, rename, fsync of the folder."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))


def _encode(kind: int, op: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<IQ", kind, op)))
    return _HEADER.pack(_MAGIC, kind, op, len(payload), crc) + payload


def encode_add(codes: np.ndarray, ids: np.ndarray, seq: np.ndarray) -> bytes:
    n = codes.shape[0]
    return struct.pack("<QQ", n, codes.shape[1]) + codes.tobytes() + ids.tobytes() + seq.tobytes()


def decode_add(payload: bytes):
    """(codes uint8 (n, code_size), ids int64 (n,), seq int64 (n,)) of an ADD record."""
    n, cs = struct.unpack_from("<QQ", payload)
    off = 16
    codes = np.frombuffer(payload, np.uint8, n * cs, off).reshape(n, cs)
    off += n * cs
    ids = np.frombuffer(payload, np.int64, n, off)
    seq = np.frombuffer(payload, np.int64, n, off + 8 * n)
    return codes, ids, seq


def encode_checkpoint(info: dict) -> bytes:
    return json.dumps(info, sort_keys=True).encode()


class WriteAheadLog:
    """One shard's log file. ``records()`` replays it; ``append`` adds one fsynced record."""

    def __init__(self, path: str):
        self.path = path

    @staticmethod
    def create(path: str, checkpoint: dict) -> WriteAheadLog:
        """Starts (or restarts, after a save) the log with a single checkpoint record, atomically."""
        write_atomic(path, _encode(CHECKPOINT, int(checkpoint["op"]), encode_checkpoint(checkpoint)))
        return WriteAheadLog(path)

    def records(self) -> Iterator[Record]:
        """Every whole record in order; cuts a torn tail off the file (it was never acknowledged)."""
        good = 0
        with open(self.path, "rb") as f:
            data = f.read()
        out = []
        while True:
            head = data[good : good + _HEADER.size]
            if len(head) < _HEADER.size:
                break
            magic, kind, op, length, crc = _HEADER.unpack(head)
            payload = data[good + _HEADER.size : good + _HEADER.size + length]
            if magic != _MAGIC or len(payload) != length:
                break
            if zlib.crc32(payload, zlib.crc32(struct.pack("<IQ", kind, op))) != crc:
                break
            out.append(Record(kind, op, payload))
            good += _HEADER.size + length
        if good != len(data):
            with open(self.path, "r+b") as f:
                f.truncate(good)
                f.flush()
                os.fsync(f.fileno())
        return iter(out)

    def append(self, kind: int, op: int, payload: bytes) -> None:
        """Appends one record and returns only once it is on stable storage."""
        with open(self.path, "ab") as f:
            f.write(_encode(kind, op, payload))
            f.flush()
            os.fsync(f.fileno())

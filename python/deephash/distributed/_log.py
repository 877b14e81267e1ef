"""Per-shard append-only write-ahead log: what a restarted shard actor replays.

A shard's state is "the last saved checkpoint, then every mutation logged since". Each mutation
is appended here and fsynced *before* it is applied and acknowledged, so an acknowledged add or
remove survives a crash of the actor (or of its machine, when the log sits on shared storage).

Record layout (little endian, 32-byte header)::

    magic b"DHL2" | kind u32 | op u64 | payload length u64 | payload crc32 u32 | header crc32 u32
    | payload

The header CRC covers the 28 header bytes before it, the payload CRC the payload. ``op`` is the
shard's operation number (assigned by the driver, increasing), which makes a mutation retried
after a crash idempotent: an op the log already holds is not applied twice. The first record is
always a checkpoint.

What replay accepts (detect, refuse, never guess):

* A *torn tail* — the last record is shorter than its (intact) header says, or the file ends
  inside a header — is a write cut by a crash. Appends are acknowledged only after fsync, so that
  mutation was never acknowledged: it is dropped and cut off the file.
* Anything else that is wrong — a full-length record whose checksum fails, a damaged header, an
  unknown kind, operation numbers out of order, a payload of the wrong shape, or any bad record
  followed by more data — is corruption: :class:`LogCorruptError` (a ValueError naming the file
  and the byte offset) and the file is left untouched for inspection. Acknowledged data is never
  truncated.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from typing import NamedTuple

import numpy as np

from ._files import fsync_dir, open_regular, read_regular, write_atomic

__all__ = [
    "ADD",
    "CHECKPOINT",
    "REMOVE",
    "LogCorruptError",
    "Record",
    "WriteAheadLog",
    "fsync_dir",
    "write_atomic",
]

_MAGIC = b"DHL2"
_HEAD = struct.Struct("<4sIQQI")  # the 28 bytes the header CRC covers
_HEADER_SIZE = _HEAD.size + 4
CHECKPOINT, ADD, REMOVE = 1, 2, 3
_KINDS = {CHECKPOINT: "checkpoint", ADD: "add", REMOVE: "remove"}


class LogCorruptError(ValueError):
    """A shard's write-ahead log is damaged (not merely torn by a crash); it is left as found."""


class Record(NamedTuple):
    kind: int
    op: int
    payload: bytes


def _encode(kind: int, op: int, payload: bytes) -> bytes:
    head = _HEAD.pack(_MAGIC, kind, op, len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def encode_add(codes: np.ndarray, ids: np.ndarray, seq: np.ndarray) -> bytes:
    n = codes.shape[0]
    return struct.pack("<QQ", n, codes.shape[1]) + codes.tobytes() + ids.tobytes() + seq.tobytes()


def decode_add(payload: bytes, code_size=None):
    """(codes uint8 (n, code_size), ids int64 (n,), seq int64 (n,)) of an ADD record.

    Raises ValueError when the payload's length does not match its counts (or ``code_size``).
    """
    if len(payload) < 16:
        raise ValueError(f"an add record of {len(payload)} bytes is shorter than its 16-byte counts")
    n, cs = struct.unpack_from("<QQ", payload)
    if (code_size is not None and cs != code_size) or cs == 0 or n > len(payload) or cs > len(payload):
        raise ValueError(f"an add record holds {n} codes of {cs} bytes, expected codes of {code_size} bytes")
    if len(payload) != 16 + n * (cs + 16):
        raise ValueError(f"an add record of {n} codes of {cs} bytes has {len(payload)} bytes")
    off = 16
    codes = np.frombuffer(payload, np.uint8, n * cs, off).reshape(n, cs)
    off += n * cs
    ids = np.frombuffer(payload, np.int64, n, off)
    seq = np.frombuffer(payload, np.int64, n, off + 8 * n)
    return codes, ids, seq


def decode_remove(payload: bytes) -> np.ndarray:
    """The int64 ids of a REMOVE record (ValueError when its length is not a multiple of 8)."""
    if len(payload) % 8:
        raise ValueError(f"a remove record of {len(payload)} bytes is not a whole number of int64 ids")
    return np.frombuffer(payload, np.int64)


def encode_checkpoint(info: dict) -> bytes:
    return json.dumps(info, sort_keys=True).encode()


def decode_checkpoint(payload: bytes) -> dict:
    """The checkpoint dict of a CHECKPOINT record (ValueError when it is not one)."""
    try:
        info = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"a checkpoint record is not JSON ({e})") from None
    if not isinstance(info, dict) or not isinstance(info.get("op"), int) or "index" not in info:
        raise ValueError("a checkpoint record lacks 'index' or an integer 'op'")
    return info


class WriteAheadLog:
    """One shard's log file. ``records()`` replays it; ``append`` adds one fsynced record."""

    def __init__(self, path: str):
        self.path = path

    @staticmethod
    def create(path: str, checkpoint: dict) -> WriteAheadLog:
        """Starts (or restarts, after a save) the log with a single checkpoint record, atomically."""
        write_atomic(path, _encode(CHECKPOINT, int(checkpoint["op"]), encode_checkpoint(checkpoint)))
        return WriteAheadLog(path)

    def _corrupt(self, offset: int, what: str) -> LogCorruptError:
        return LogCorruptError(
            f"write-ahead log {self.path!r} is corrupted at byte {offset}: {what}. It holds "
            "acknowledged mutations, so it is left untouched for inspection; reload the index "
            "from its last save (ShardedIndex.load)"
        )

    def records(self, code_size=None) -> list:
        """Every record in order, payloads checked (``code_size``: bytes per code of ADD records).

        Cuts a torn tail off the file (see the module docstring); raises
        :class:`LogCorruptError` for any other damage, leaving the file as it is.
        """
        data = read_regular(self.path)
        out, pos, last_op = [], 0, None
        while pos < len(data):
            rest = len(data) - pos
            if rest < _HEADER_SIZE:
                if data[pos : pos + min(rest, 4)] != _MAGIC[: min(rest, 4)]:
                    raise self._corrupt(pos, f"{rest} trailing bytes that do not start a record")
                break  # torn inside a header
            magic, kind, op, length, crc = _HEAD.unpack_from(data, pos)
            (head_crc,) = struct.unpack_from("<I", data, pos + _HEAD.size)
            if magic != _MAGIC:
                raise self._corrupt(pos, "no record starts here (wrong magic number)")
            if zlib.crc32(data[pos : pos + _HEAD.size]) != head_crc:
                raise self._corrupt(pos, "a record header fails its checksum")
            end = pos + _HEADER_SIZE + length
            if end > len(data):
                break  # torn inside the payload: never acknowledged
            payload = data[pos + _HEADER_SIZE : end]
            if zlib.crc32(payload) != crc:
                raise self._corrupt(pos, f"the {_KINDS.get(kind, '?')} record of op {op} fails its checksum")
            if kind not in _KINDS:
                raise self._corrupt(pos, f"unknown record kind {kind}")
            if (pos == 0) != (kind == CHECKPOINT):
                raise self._corrupt(pos, "a log starts with exactly one checkpoint record")
            if last_op is not None and op <= last_op:
                raise self._corrupt(pos, f"op {op} follows op {last_op}")
            try:
                if kind == CHECKPOINT:
                    decode_checkpoint(payload)
                elif kind == ADD:
                    decode_add(payload, code_size)
                else:
                    decode_remove(payload)
            except ValueError as e:
                raise self._corrupt(pos, str(e)) from None
            out.append(Record(kind, op, payload))
            last_op = op
            pos = end
        if not out:
            raise self._corrupt(0, "no whole checkpoint record")
        if pos != len(data):
            fd = open_regular(self.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, pos)
                os.fsync(fd)
            finally:
                os.close(fd)
        return out

    def drop_last(self, op: int) -> None:
        """Cuts the last record, which must be mutation ``op``, off the file (fsynced).

        Only for a mutation never acknowledged (``Shard.discard_last``); LogCorruptError for a
        damaged log, ValueError when the last record is not mutation ``op``.
        """
        records = self.records()
        last = records[-1]
        if last.kind == CHECKPOINT or last.op != op:
            raise ValueError(f"write-ahead log {self.path!r} ends with {_KINDS[last.kind]} op {last.op}, not op {op}")
        fd = open_regular(self.path, os.O_WRONLY)
        try:
            os.ftruncate(fd, os.fstat(fd).st_size - _HEADER_SIZE - len(last.payload))
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, kind: int, op: int, payload: bytes) -> None:
        """Appends one record and returns only once it is on stable storage."""
        fd = open_regular(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(_encode(kind, op, payload))
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError:
                # A failed write (disk full, I/O error) must not leave a partial record for the
                # next append to land behind: that would read as corruption, not as a torn tail.
                os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)

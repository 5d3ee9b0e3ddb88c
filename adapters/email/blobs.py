"""Raw mail and attachments kept by their SHA-256, so an auditor can fetch what arrived.

A ticket records hashes, never bytes: the events stay small, and the hash proves the bytes.
Two stores answer the same three calls (``put``, ``get``, ``has``): a table beside the events
(the default: the engine's SQLite file or PostgreSQL schema, one committed insert per blob,
measured at a seventh of a file's fsync-rename-fsync here) and a folder (``blob_dir``;
temporary file, fsync, rename). Either way a blob is written once, a second copy of the same
bytes writes nothing, and reading checks the hash: bytes changed at rest raise rather than
being served as evidence.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from opsledger.core.domain.errors import InputError, OpsledgerError
from opsledger.plugins.deadletters import SideTables

_HEX = re.compile(r"[0-9a-f]{64}")


class BlobCorrupted(OpsledgerError):
    """A stored blob's bytes no longer hash to its name."""


class Blobs(Protocol):
    """What the mail adapter keeps raw bytes in."""

    def put(self, data: bytes) -> str: ...

    def get(self, sha256: str) -> bytes: ...

    def has(self, sha256: str) -> bool: ...


def _checked(sha256: str) -> str:
    if not isinstance(sha256, str) or not _HEX.fullmatch(sha256):
        raise InputError("sha256", "must be 64 lower-case hexadecimal digits")
    return sha256


class BlobTable(SideTables):
    """``opsledger_mail_blobs`` beside the events: the hash as the key, the bytes."""

    SCHEMA = """
CREATE TABLE IF NOT EXISTS opsledger_mail_blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    data {blob} NOT NULL
)
"""

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._run(
            "INSERT INTO opsledger_mail_blobs (sha256, size, data) VALUES (?, ?, ?)"
            " ON CONFLICT (sha256) DO NOTHING",
            (digest, len(data), bytes(data)),
        )
        return digest

    def get(self, sha256: str) -> bytes:
        rows = self._run(
            "SELECT data FROM opsledger_mail_blobs WHERE sha256 = ?", (_checked(sha256),)
        )
        if not rows:
            raise FileNotFoundError(f"no blob {sha256}")
        data = bytes(rows[0][0])
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobCorrupted(f"blob {sha256} does not match its hash")
        return data

    def has(self, sha256: str) -> bool:
        found = self._run(
            "SELECT 1 FROM opsledger_mail_blobs WHERE sha256 = ?", (_checked(sha256),)
        )
        return bool(found)


class BlobStore:
    """Content-addressed files under ``root``: ``ab/cdef…`` for the hash ``abcdef…``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where the blob ``sha256`` lives (whether or not it is there)."""
        sha256 = _checked(sha256)
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        """Keep ``data``; its hash (hex). Bytes already kept are not written again."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_dir(target.parent)
        return digest

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def get(self, sha256: str) -> bytes:
        """The bytes of ``sha256``; FileNotFoundError when absent, BlobCorrupted when they
        no longer match their hash."""
        data = self.path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobCorrupted(f"blob {sha256} does not match its hash")
        return data


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

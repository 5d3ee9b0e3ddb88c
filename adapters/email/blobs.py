"""Raw mail and attachments kept by their SHA-256, so an auditor can fetch what arrived.

A ticket records hashes, never bytes: the events stay small, and the hash proves the bytes.
A blob is written once (temporary file, fsync, rename), so a crash leaves either the whole
blob or none, and a second copy of the same bytes writes nothing. Reading checks the hash:
a blob changed on disk raises rather than being served as evidence.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from opsledger.core.domain.errors import InputError, OpsledgerError

_HEX = re.compile(r"[0-9a-f]{64}")


class BlobCorrupted(OpsledgerError):
    """A stored blob's bytes no longer hash to its name."""


class BlobStore:
    """Content-addressed files under ``root``: ``ab/cdef…`` for the hash ``abcdef…``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where the blob ``sha256`` lives (whether or not it is there)."""
        if not isinstance(sha256, str) or not _HEX.fullmatch(sha256):
            raise InputError("sha256", "must be 64 lower-case hexadecimal digits")
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

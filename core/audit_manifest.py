"""The export's file format, fixed so an export verifies offline: its columns and manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from opsledger.core.audit_common import event_name
from opsledger.core.chain import ChainedEvent
from opsledger.core.domain.errors import InputError

EXPORT_FORMATS = ("jsonl", "csv")
#: The columns of an export row, in CSV order (JSONL rows have the same keys).
COLUMNS = (
    "position", "originator_id", "version", "topic", "event", "record", "timestamp",
    "state_encoding", "state", "link",
)  # fmt: skip
MANIFEST_VERSION = 1
HASH_RULE = (
    "link = sha256(previous link || originator_id || 0x00 || version || 0x00 || topic || 0x00 "
    "|| state), ids as canonical UUID text, version in decimal, state the stored bytes; the "
    "first link of the log follows 32 zero bytes"
)


@dataclass(frozen=True, slots=True)
class ExportManifest:
    """What an export holds and the links that tie it to the chain; written beside the events.

    ``anchor_hash`` is the link just before the first exported row (position 0 and 32 zero
    bytes when the export starts the log), so the rows verify without the rest of the log.
    """

    format: str
    period_from: datetime
    period_to: datetime
    created_at: datetime
    source: str
    first_position: int | None
    last_position: int | None
    anchor_position: int
    anchor_hash: str
    first_hash: str | None
    last_hash: str | None
    rows: int
    events: int
    outside_period: int
    counts: Mapping[str, int]
    chain_head_position: int
    chain_head_hash: str
    store_faults: int
    events_sha256: str
    format_version: int = MANIFEST_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "format": self.format,
            "period": {"from": self.period_from.isoformat(), "to": self.period_to.isoformat()},
            "created_at": self.created_at.isoformat(),
            "source": self.source,
            "positions": {"first": self.first_position, "last": self.last_position},
            "anchor": {"position": self.anchor_position, "hash": self.anchor_hash},
            "first_hash": self.first_hash,
            "last_hash": self.last_hash,
            "rows": self.rows,
            "events": self.events,
            "outside_period": self.outside_period,
            "counts": dict(sorted(self.counts.items())),
            "chain_head": {"position": self.chain_head_position, "hash": self.chain_head_hash},
            "store_faults": self.store_faults,
            "events_sha256": self.events_sha256,
            "hash_rule": HASH_RULE,
        }

    def to_json(self) -> str:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> ExportManifest:
        """Read a manifest; anything missing or mistyped is an InputError on ``manifest``."""
        try:
            return cls(
                format=str(data["format"]),
                period_from=datetime.fromisoformat(data["period"]["from"]),
                period_to=datetime.fromisoformat(data["period"]["to"]),
                created_at=datetime.fromisoformat(data["created_at"]),
                source=str(data["source"]),
                first_position=_opt_int(data["positions"]["first"]),
                last_position=_opt_int(data["positions"]["last"]),
                anchor_position=int(data["anchor"]["position"]),
                anchor_hash=_hex(data["anchor"]["hash"]),
                first_hash=None if data["first_hash"] is None else _hex(data["first_hash"]),
                last_hash=None if data["last_hash"] is None else _hex(data["last_hash"]),
                rows=int(data["rows"]),
                events=int(data["events"]),
                outside_period=int(data["outside_period"]),
                counts={str(k): int(v) for k, v in dict(data["counts"]).items()},
                chain_head_position=int(data["chain_head"]["position"]),
                chain_head_hash=_hex(data["chain_head"]["hash"]),
                store_faults=int(data["store_faults"]),
                events_sha256=str(data["events_sha256"]),
                format_version=int(data["format_version"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(
                "manifest", f"not an export manifest ({type(e).__name__}: {e})"
            ) from None

    def links(self) -> dict[int, bytes]:
        """The links this manifest vouches for, by position (to check a store against)."""
        found = {
            self.anchor_position: self.anchor_hash,
            self.chain_head_position: self.chain_head_hash,
        }
        if self.first_position is not None and self.first_hash is not None:
            found[self.first_position] = self.first_hash
        if self.last_position is not None and self.last_hash is not None:
            found[self.last_position] = self.last_hash
        return {p: bytes.fromhex(h) for p, h in found.items()}


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _hex(value: Any) -> str:
    text = str(value)
    if len(bytes.fromhex(text)) != 32:
        raise ValueError(f"{text!r} is not a 32-byte hex hash")
    return text


def default_manifest_path(events: Path) -> Path:
    """``export.jsonl`` -> ``export.jsonl.manifest.json``."""
    return events.with_name(events.name + ".manifest.json")


def load_manifest(path: Path) -> ExportManifest:
    """Read the manifest at ``path``; a missing or unreadable one is an InputError."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError("manifest", f"{path}: no such file") from None
    except orjson.JSONDecodeError as e:
        raise InputError("manifest", f"{path} is not JSON: {e}") from None
    return ExportManifest.from_dict(data)


@dataclass(slots=True)
class Tally:
    """What a manifest counts of a run of rows: the export and its check count alike."""

    rows: int = 0
    events: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    first_link: bytes | None = None
    last_link: bytes | None = None

    def add(self, event: ChainedEvent | None, link: bytes | None) -> None:
        """Count one row; a link whose event is gone is still a row."""
        self.rows += 1
        self.first_link = link if self.rows == 1 else self.first_link
        self.last_link = link
        if event is not None:
            self.events += 1
            name = event_name(event.topic)
            self.counts[name] = self.counts.get(name, 0) + 1

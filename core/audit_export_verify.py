"""Checking an export offline, with no database: its file hash, its manifest, every link."""

from __future__ import annotations

import base64
import csv
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from opsledger.core.audit_common import (
    AuditFault,
    AuditReport,
    Row,
    event_name,
    link_hex,
    sorted_faults,
    timestamp_text,
)
from opsledger.core.audit_manifest import (
    COLUMNS,
    EXPORT_FORMATS,
    ExportManifest,
    Tally,
    default_manifest_path,
    load_manifest,
)
from opsledger.core.audit_records import is_number_of, looks_like_number
from opsledger.core.audit_verify import Walk, chain_faults
from opsledger.core.chain import ChainedEvent, verify_chain
from opsledger.core.domain.errors import InputError


@dataclass(frozen=True, slots=True)
class ExportedEvent:
    """An event as an export row carries it (fits the chain's ``ChainedEvent``)."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # line in the file (CSV: the line the record ends on)
    position: int
    event: ExportedEvent | None
    link: bytes | None
    columns: Mapping[str, Any]


def _parse(raw: Mapping[str, Any], line: int) -> _Line:
    def text(name: str) -> str | None:
        value = raw.get(name)
        return None if value in (None, "") else str(value)

    position = int(raw["position"])
    link_text = text("link")
    link = bytes.fromhex(link_text) if link_text is not None else None
    if link is not None and len(link) != 32:
        raise ValueError("link is not a 32-byte hash")
    encoding, event = text("state_encoding"), None
    if encoding is not None:
        state_text = raw.get("state") or ""
        if encoding == "utf-8":
            state = str(state_text).encode("utf-8")
        elif encoding == "base64":
            state = base64.b64decode(str(state_text), validate=True)
        else:
            raise ValueError(f"unknown state_encoding {encoding!r}")
        oid, version, topic = text("originator_id"), text("version"), text("topic")
        if oid is None or version is None or topic is None:
            raise ValueError("an event row needs originator_id, version and topic")
        UUID(oid)  # a malformed id is a malformed row; the text itself is what was hashed
        event = ExportedEvent(position, oid, int(version), topic, state)
    return _Line(line, position, event, link, raw)


def _read_lines(path: Path, fmt: str) -> Iterator[_Line | AuditFault]:
    """Rows of an export file; a row that cannot be read becomes a ``malformed`` fault."""
    if fmt == "csv":
        # a state (a policy with its calendars, a long description) outgrows csv's 128 KiB
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
        with path.open("r", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            try:
                header = next(reader, None)
                if header != list(COLUMNS):
                    yield AuditFault(
                        None, "malformed", f"line 1: header is not {','.join(COLUMNS)}"
                    )
                for cells in reader:
                    try:
                        if len(cells) != len(COLUMNS):
                            raise ValueError(f"{len(cells)} columns, not {len(COLUMNS)}")
                        yield _parse(dict(zip(COLUMNS, cells, strict=True)), reader.line_num)
                    except (ValueError, TypeError, UnicodeEncodeError) as e:
                        yield AuditFault(None, "malformed", f"line {reader.line_num}: {e}")
            except (UnicodeDecodeError, csv.Error) as e:
                yield AuditFault(None, "malformed", f"after line {reader.line_num}: {e}")
        return
    with path.open("rb") as f:
        for number, data in enumerate(f, 1):
            if not data.strip():
                continue
            try:
                raw = orjson.loads(data)
                if not isinstance(raw, dict):
                    raise ValueError("not a JSON object")
                yield _parse(raw, number)
            except (ValueError, TypeError, KeyError, UnicodeEncodeError) as e:
                yield AuditFault(None, "malformed", f"line {number}: {type(e).__name__}: {e}")


class _ExportCheck:
    """The per-row checks an export gets beyond the chain: order and derived columns."""

    def __init__(self, path: Path, fmt: str, walk: Walk) -> None:
        self.path, self.fmt, self.walk = path, fmt, walk
        self.faults: list[AuditFault] = []
        self.tally = Tally()

    def rows_of(self) -> Iterator[Row]:
        previous: int | None = None
        for item in _read_lines(self.path, self.fmt):
            if isinstance(item, AuditFault):
                self.faults.append(item)
                continue
            self.tally.add(item.event, item.link)
            if previous is not None and item.position <= previous:
                problem = (
                    f"line {item.number}: position {item.position} comes after {previous}: "
                    "rows reordered or repeated"
                )
                self.faults.append(AuditFault(item.position, "out_of_order", problem))
            previous = item.position
            if item.event is not None:
                self._columns(item, item.event)
            yield item.position, item.event, item.link

    def _columns(self, line: _Line, event: ExportedEvent) -> None:
        """The convenience columns must say what the hashed ones do (the hash skips them)."""
        index, oid, where = self.walk.index, event.originator_id, f"line {line.number}"
        record = line.columns.get("record")
        if isinstance(record, str) and looks_like_number(record):
            if is_number_of(record, oid):
                index.learn_number(oid, record)
            else:
                problem = f"{where}: record column says {record}, not this aggregate's number"
                self.faults.append(index.fault(line.position, "column", problem, oid, event))
        derived = {"event": event_name(event.topic), "timestamp": timestamp_text(event.state)}
        for name, value in derived.items():
            given = line.columns.get(name)
            if (given or None) != value:
                problem = f"{where}: {name} column says {given!r}, the event says {value!r}"
                self.faults.append(index.fault(line.position, "column", problem, oid, event))

    def lookup(self, positions: set[int]) -> Mapping[int, ChainedEvent]:
        """A second pass over the file, for the few rows a report names."""
        return {
            item.position: item.event
            for item in _read_lines(self.path, self.fmt)
            if not isinstance(item, AuditFault)
            and item.position in positions
            and item.event is not None
        }


def _manifest_faults(
    manifest: ExportManifest, check: _ExportCheck, head: bytes
) -> list[AuditFault]:
    def say(problem: str, position: int | None = None) -> AuditFault:
        return AuditFault(position, "manifest", problem)

    walk, tally, faults = check.walk, check.tally, []
    for what, claimed, found in (
        ("rows", manifest.rows, tally.rows),
        ("events", manifest.events, tally.events),
        ("first position", manifest.first_position, walk.first),
        ("last position", manifest.last_position, walk.last),
        ("first hash", manifest.first_hash, link_hex(tally.first_link)),
        ("last hash", manifest.last_hash, link_hex(tally.last_link)),
    ):
        if claimed != found:
            faults.append(say(f"manifest says {what} {claimed}, the file has {found}"))
    for name in sorted(set(manifest.counts) | set(tally.counts)):
        claimed, found = manifest.counts.get(name, 0), tally.counts.get(name, 0)
        if claimed != found:
            faults.append(say(f"manifest counts {claimed} {name}, the file has {found}"))
    if tally.rows and manifest.last_hash is not None and head.hex() != manifest.last_hash:
        faults.append(say("the chain recomputed from the anchor does not end at the last hash"))
    if walk.first is not None and manifest.anchor_position >= walk.first:
        faults.append(say(f"anchor position {manifest.anchor_position} is not before the rows"))
    if (
        manifest.chain_head_position == manifest.last_position
        and manifest.chain_head_hash != manifest.last_hash
    ):
        faults.append(say("the chain head at the last position differs from the last hash"))
    return faults


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_export(events_path: Path, manifest_path: Path | None = None) -> AuditReport:
    """Check an export offline (no database): file hash, manifest, and every link from the anchor.

    ``manifest_path`` defaults to ``<events>.manifest.json``. Faults name positions and, where
    the export shows it, the record (a number from the rows, proven by the aggregate id).
    """
    events_path = Path(events_path)
    manifest_path = Path(manifest_path) if manifest_path else default_manifest_path(events_path)
    if not events_path.is_file():
        raise InputError("export", f"{events_path}: no such file")
    if not manifest_path.is_file():
        raise InputError("manifest", f"{manifest_path}: no such file")
    manifest = load_manifest(manifest_path)
    if manifest.format not in EXPORT_FORMATS:
        raise InputError("manifest", f"format {manifest.format!r} is not one of {EXPORT_FORMATS}")
    faults: list[AuditFault] = []
    digest = _sha256(events_path)
    if digest != manifest.events_sha256:
        faults.append(
            AuditFault(None, "file", f"events file sha256 is {digest}, the manifest says "
                       f"{manifest.events_sha256}")
        )  # fmt: skip
    walk = Walk()
    check = _ExportCheck(events_path, manifest.format, walk)
    anchor = bytes.fromhex(manifest.anchor_hash)  # the link before the first row
    walk.chain = chain = verify_chain(walk.observe(check.rows_of()), anchor=anchor)
    faults += check.faults
    faults += chain_faults(walk, check.lookup, partial=True)
    faults += _manifest_faults(manifest, check, chain.head)
    return AuditReport(
        str(events_path),
        chain.checked,
        walk.first,
        walk.last,
        chain.head.hex(),
        sorted_faults(faults),
    )

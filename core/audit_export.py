"""Exporting a period: its contiguous rows as stored, with their links, and their manifest."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import orjson
from opsledger.core.audit_common import Progress, event_name, link_hex, timestamp_text
from opsledger.core.audit_manifest import COLUMNS, EXPORT_FORMATS, ExportManifest, Tally
from opsledger.core.audit_records import RecordIndex
from opsledger.core.audit_verify import PAGE, Walk, chain_faults, store_lookup, store_rows
from opsledger.core.chain import GENESIS, ChainedEvent, verify_chain
from opsledger.core.clock import ensure_utc
from opsledger.core.domain.errors import InputError

if TYPE_CHECKING:
    from opsledger.core.engine import Engine


def _instant(state: bytes) -> datetime | None:
    text = timestamp_text(state)
    try:
        at = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


class _Period:
    """Finds the contiguous positions covering a period while the chain is walked."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.first: int | None = None
        self.last: int | None = None
        self.anchor: tuple[int, bytes] = (0, GENESIS)
        self._previous: tuple[int, bytes] = (0, GENESIS)

    def inside(self, state: bytes) -> bool:
        at = _instant(state)
        return at is not None and self.start <= at < self.end

    def visit(self, position: int, event: ChainedEvent | None, link: bytes | None) -> None:
        if event is not None and self.inside(bytes(event.state)):
            if self.first is None:
                self.first, self.anchor = position, self._previous
            self.last = position
        if link is not None:
            self._previous = (position, link)


class _Writer:
    """Writes export rows as JSONL or CSV bytes, hashing and counting what it writes."""

    def __init__(self, out: IO[bytes], fmt: str, index: RecordIndex, period: _Period) -> None:
        self.out, self.fmt, self.index, self.period = out, fmt, index, period
        self.sha = hashlib.sha256()
        self.tally = Tally()
        self.outside = 0
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\n")
        if fmt == "csv":
            self._csv.writerow(COLUMNS)
            self._flush()

    def _emit(self, data: bytes) -> None:
        self.sha.update(data)
        self.out.write(data)

    def _flush(self) -> None:
        data = self._text.getvalue().encode("utf-8")
        self._text.seek(0)
        self._text.truncate()
        self._emit(data)

    def write(self, position: int, event: ChainedEvent | None, link: bytes | None) -> None:
        row = export_row(position, event, link, self.index)
        self.tally.add(event, link)
        if event is not None:
            self.outside += not self.period.inside(bytes(event.state))
        if self.fmt == "csv":
            self._csv.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
            self._flush()
        else:
            self._emit(orjson.dumps(row) + b"\n")


def export_row(
    position: int, event: ChainedEvent | None, link: bytes | None, index: RecordIndex
) -> dict[str, Any]:
    """One export row: the stored state as text (base64 only if it is not UTF-8)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row["position"], row["link"] = position, link_hex(link)
    if event is not None:
        state, oid = bytes(event.state), str(event.originator_id)
        try:
            row["state"], row["state_encoding"] = state.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            row["state"], row["state_encoding"] = base64.b64encode(state).decode(), "base64"
        row.update(
            originator_id=oid,
            version=event.originator_version,
            topic=event.topic,
            event=event_name(event.topic),
            record=index.describe(oid, event.topic)[1],
            timestamp=timestamp_text(state),
        )
    return row


def export_events(
    engine: Engine,
    start: datetime,
    end: datetime,
    out: IO[bytes],
    *,
    fmt: str = "jsonl",
    progress: Progress | None = None,
) -> ExportManifest:
    """Write the events of ``[start, end)`` to ``out`` (bytes) and return their manifest.

    The rows are the contiguous positions from the first event stamped in the period to the
    last one (so the chain runs unbroken through them), each with its state exactly as stored
    and its stored link. ``out`` receives UTF-8 bytes (open files with ``"wb"``); the
    manifest's sha256 is of exactly those bytes. The caller writes ``manifest.to_json()``.
    """
    start, end = ensure_utc(start, "from"), ensure_utc(end, "to")
    if end <= start:
        raise InputError("to", f"{end.isoformat()} is not after from {start.isoformat()}")
    if fmt not in EXPORT_FORMATS:
        raise InputError("format", f"{fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    created = engine.clock.now()
    recorder: Any = engine.app.recorder
    upto = recorder.max_notification_id() or 0
    walk, period = Walk(), _Period(start, end)
    rows = store_rows(recorder, 0, upto)
    walk.chain = verify_chain(
        walk.observe(rows, visit=period.visit, progress=progress, total=2 * upto, end=upto)
    )
    store_faults = len(chain_faults(walk, store_lookup(recorder)))
    writer = _Writer(out, fmt, walk.index, period)
    first, last = period.first, period.last
    if first is not None and last is not None:
        total = upto + last - first + 1
        for n, (position, event, link) in enumerate(store_rows(recorder, first - 1, last)):
            writer.write(position, event, link)
            if progress is not None and n % PAGE == 0:
                progress(upto + position - first, total)
        if progress is not None:
            progress(total, total)
    tally = writer.tally
    return ExportManifest(
        format=fmt,
        period_from=start,
        period_to=end,
        created_at=created,
        source=engine.settings.location,
        first_position=first,
        last_position=last,
        anchor_position=period.anchor[0],
        anchor_hash=period.anchor[1].hex(),
        first_hash=link_hex(tally.first_link),
        last_hash=link_hex(tally.last_link),
        rows=tally.rows,
        events=tally.events,
        outside_period=writer.outside,
        counts=tally.counts,
        chain_head_position=walk.last or 0,
        chain_head_hash=walk.chain.head.hex(),
        store_faults=store_faults,
        events_sha256=writer.sha.hexdigest(),
    )

"""Proving the store's hash chain: one walk over the log, and every fault named by its record."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opsledger.core.audit_common import AuditFault, AuditReport, Progress, Row, sorted_faults
from opsledger.core.audit_records import Gap, RecordIndex
from opsledger.core.chain import ChainedEvent, ChainReport, pair_rows, verify_chain

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

#: Rows read from the store at a time; a walk reports progress about as often.
PAGE = 1000


def _events(recorder: Any, after: int, upto: int) -> Iterator[ChainedEvent]:
    while after < upto:
        page = recorder.select_notifications(
            start=after, limit=PAGE, stop=upto, inclusive_of_start=False
        )
        if not page:
            return
        yield from page
        after = page[-1].id


def _links(recorder: Any, after: int, upto: int) -> Iterator[tuple[int, bytes]]:
    while after < upto:
        page: list[tuple[int, bytes]] = recorder.select_links(after, PAGE)
        for position, link in page:
            if position > upto:
                return
            yield position, link
        if len(page) < PAGE:
            return
        after = page[-1][0]


def store_rows(recorder: Any, after: int, upto: int) -> Iterator[Row]:
    """The store's rows in ``(after, upto]``: each position's event and link, either missing."""
    return pair_rows(_events(recorder, after, upto), _links(recorder, after, upto))


@dataclass
class Walk:
    """What one pass over rows saw, beside the chain report itself."""

    index: RecordIndex = field(default_factory=RecordIndex)
    chain: ChainReport = field(default_factory=ChainReport)
    first: int | None = None
    last: int | None = None
    no_event: set[int] = field(default_factory=set)
    no_link: set[int] = field(default_factory=set)
    links: dict[int, bytes] = field(default_factory=dict)  # stored links at wanted positions

    def observe(
        self,
        rows: Iterable[Row],
        *,
        want: Iterable[int] = (),
        visit: Callable[[int, ChainedEvent | None, bytes | None], None] | None = None,
        progress: Progress | None = None,
        total: int = 0,
        end: int | None = None,
    ) -> Iterator[Row]:
        """Pass ``rows`` on unchanged, noting what a report needs to name each fault."""
        wanted, reported = set(want), 0
        for position, event, link in rows:
            self.first = position if self.first is None else self.first
            self.last = position
            if event is None:
                self.no_event.add(position)
            else:
                self.index.observe(position, event)
            if link is None:
                self.no_link.add(position)
            elif position in wanted:
                self.links[position] = link
            if visit is not None:
                visit(position, event, link)
            if progress is not None and position - reported >= PAGE:
                progress(position, total)
                reported = position
            yield position, event, link
        if progress is not None:
            progress(total if end is None else end, total)


#: Events at some positions, read only for the few positions a report needs to name.
Lookup = Callable[[set[int]], Mapping[int, ChainedEvent]]


def chain_faults(walk: Walk, lookup: Lookup, *, partial: bool = False) -> list[AuditFault]:
    """Turn the chain's faults into auditor's faults: kind, record, version, event.

    A link whose event is gone is attributed through the version gap it leaves in its
    record. ``partial`` (an export): versions before a record's first row are out of range.
    """
    index, faults = walk.index, []
    gaps = [g for g in index.gaps if not (partial and g.after == 0)]
    explained: set[Gap] = set()
    found = lookup({f.position for f in walk.chain.faults if f.position not in walk.no_event})
    for f in walk.chain.faults:
        if f.position in walk.no_event:
            around = [g for g in gaps if g.after < f.position < g.before]
            explained.update(around[:1] if len(around) == 1 else ())
            faults.append(_deleted(f.position, around, index))
            continue
        event = found.get(f.position)
        if f.position in walk.no_link:
            kind, problem = "unlinked", "event without a chain link: inserted behind the recorder"
        else:
            kind, problem = (
                "changed",
                (
                    "stored link does not match: edited here, or events were inserted, removed "
                    "or reordered just before"
                ),
            )
        faults.append(index.fault(f.position, kind, problem, f.originator_id, event))
    for gap in gaps:
        if gap not in explained:
            where = f"between positions {gap.after} and {gap.before}"
            where = where if gap.after else f"before position {gap.before}"
            problem = f"{_versions(gap)} missing ({where}): deleted with its chain link"
            faults.append(index.fault(None, "missing", problem, gap.originator_id, _one(gap)))
    for position, oid, version, after in index.backwards:
        problem = f"version {version} recorded after version {after}"
        faults.append(index.fault(position, "out_of_order", problem, oid, version))
    return faults


def _deleted(position: int, around: list[Gap], index: RecordIndex) -> AuditFault:
    """A link without its event: whose it was, when exactly one record misses a version there."""
    if len(around) == 1:
        gap = around[0]
        problem = f"{_versions(gap)} deleted; its chain link remains"
        return index.fault(position, "deleted", problem, gap.originator_id, _one(gap))
    who = ", ".join(index.describe(g.originator_id)[1] for g in around)
    why = f"one of {who}" if around else "no later event shows whose it was"
    problem = f"an event was deleted; its chain link remains ({why})"
    return AuditFault(position, "deleted", problem, label=who or "unknown record")


def _one(gap: Gap) -> int | None:
    return gap.first if gap.first == gap.last else None


def _versions(gap: Gap) -> str:
    return f"version {gap.first}" if gap.first == gap.last else f"versions {gap.first}-{gap.last}"


def store_lookup(recorder: Any) -> Lookup:
    """Reads the store's events at the few positions a report names."""

    def lookup(positions: set[int]) -> Mapping[int, ChainedEvent]:
        found = {}
        for position in positions:
            page = recorder.select_notifications(start=position, limit=1)
            if page and page[0].id == position:
                found[position] = page[0]
        return found

    return lookup


def _deleted_after(recorder: Any, upto: int) -> list[AuditFault]:
    """Links past the walked range whose events are gone (a deleted tail keeps its links).

    Links and events are committed together, so a link seen here whose event cannot be
    read afterwards was not written by a concurrent writer: its event was deleted.
    """
    faults: list[AuditFault] = []
    while True:
        page: list[tuple[int, bytes]] = recorder.select_links(upto, PAGE)
        if not page:
            return faults
        low, high = page[0][0], page[-1][0]
        present = {
            n.id for n in recorder.select_notifications(start=low, limit=high - low + 1, stop=high)
        }
        faults += [_deleted(p, [], RecordIndex()) for p, _ in page if p not in present]
        upto = high


def _anchor_faults(expect: Mapping[int, bytes], walk: Walk, lookup: Lookup) -> list[AuditFault]:
    # position 0: the genesis anchor of an export that starts the log
    broken = {p: h for p, h in expect.items() if p > 0 and walk.links.get(p) != h}
    found, faults = lookup(set(broken)), []
    for position, expected in sorted(broken.items()):
        stored = walk.links.get(position)
        event = found.get(position)
        if walk.last is None or position > walk.last:
            problem = f"position {position} is past the end of the log: the log was truncated"
        elif stored is None:
            problem = f"position {position} has no chain link any more"
        else:
            problem = (
                f"link at position {position} is {stored.hex()[:16]}…, expected "
                f"{expected.hex()[:16]}…: the log was rewritten at or before this position"
            )
        if event is None:
            faults.append(AuditFault(position, "anchor", problem))
        else:
            oid = str(event.originator_id)
            faults.append(walk.index.fault(position, "anchor", problem, oid, event))
    return faults


def verify_store(
    engine: Engine,
    *,
    progress: Progress | None = None,
    expect: Mapping[int, bytes] | None = None,
) -> AuditReport:
    """Walk the whole event log, prove its hash chain and name every fault's record.

    ``expect`` maps positions to links published earlier (an export manifest's, or a head an
    auditor wrote down): a rewritten or truncated log no longer has them, even when its own
    chain is consistent again.
    """
    recorder: Any = engine.app.recorder
    upto = recorder.max_notification_id() or 0
    walk, want = Walk(), dict(expect or {})
    rows = store_rows(recorder, 0, upto)
    walk.chain = verify_chain(walk.observe(rows, want=want, progress=progress, total=upto))
    lookup = store_lookup(recorder)
    faults = chain_faults(walk, lookup)
    faults += _deleted_after(recorder, upto)
    faults += _anchor_faults(want, walk, lookup)
    return AuditReport(
        engine.settings.location,
        walk.chain.checked,
        walk.first,
        walk.last,
        walk.chain.head.hex(),
        sorted_faults(faults),
    )

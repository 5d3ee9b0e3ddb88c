"""What the customer said back: satisfaction call-backs, survey scores and complaints.

These KPIs came after the desk's timing figures and read their own facts (the call-back
document, the survey, the complaint instants), so they live apart from the desk arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

from opsledger.projections.kpis_facts import Ticket
from opsledger.projections.kpis_types import Callbacks, Complaints, Satisfaction, Window


def callbacks(desk: Sequence[Ticket], window: Window) -> Callbacks:
    """Each counts in the window holding its own instant (docs/kpis.md, call-backs)."""
    counts = dict.fromkeys(("requested", "done", "reached", "within_target", "breached",
                            "pending"), 0)  # fmt: skip
    for t in desk:
        if t.callback is None:
            continue
        doc = t.doc["callback"]
        if window.contains(t.callback["requested"]):
            counts["requested"] += 1
            counts["pending"] += doc["state"] == "due" and not doc["breached"]
        if window.contains(t.callback["done"]):
            counts["done"] += 1
            counts["reached"] += bool(doc["reached"])
        if window.contains(t.callback["decided"]):
            counts["breached" if doc["breached"] else "within_target"] += 1
    return Callbacks(**counts)


def satisfaction(resolved: Sequence[Ticket]) -> Satisfaction:
    """Scores count with the resolution they rate, so a late survey lands in its ticket's period."""
    scores = [t.doc["satisfaction"]["score"] for t in resolved if t.doc.get("satisfaction")]
    return Satisfaction(len(resolved), len(scores), sum(scores))


def complaints(desk: Sequence[Ticket], window: Window) -> Complaints:
    """Each complaint counts when made; a ticket complained about twice is one ticket."""
    counts = [sum(1 for c in t.complaints if window.contains(c)) for t in desk]
    return Complaints(sum(counts), sum(1 for n in counts if n))

"""The audit tools' engine side: prove the chain, replay the past, export and re-verify a period.

Auditors work from the stored log itself: links are recomputed from the raw stored bytes, each
fault is named by its position and by the record it belongs to, an export carries everything
it needs to be verified without the database, and a replay rebuilds tickets and their SLA
clocks from their events alone. Nothing here prints: the CLI (``opsledger/cli_audit.py``) and
the HTTP API render what these functions return.

This module is the one to import from; the work lives beside it: ``audit_verify`` (the store's
chain), ``audit_export`` and ``audit_export_verify`` (a period out, and checked offline),
``audit_manifest`` (the export's format), ``audit_replay``, ``audit_timeline``, and the shared
``audit_common`` and ``audit_records``.
"""

from __future__ import annotations

from opsledger.core.audit_common import AuditFault, AuditReport, Progress
from opsledger.core.audit_export import export_events
from opsledger.core.audit_export_verify import verify_export
from opsledger.core.audit_manifest import (
    COLUMNS,
    EXPORT_FORMATS,
    ExportManifest,
    default_manifest_path,
    load_manifest,
)
from opsledger.core.audit_records import RecordIndex
from opsledger.core.audit_replay import ReplayedTicket, replay
from opsledger.core.audit_timeline import TimelineEntry, sentence, timeline, utc_text
from opsledger.core.audit_verify import verify_store

__all__ = [
    "COLUMNS",
    "EXPORT_FORMATS",
    "AuditFault",
    "AuditReport",
    "ExportManifest",
    "Progress",
    "RecordIndex",
    "ReplayedTicket",
    "TimelineEntry",
    "default_manifest_path",
    "export_events",
    "load_manifest",
    "replay",
    "sentence",
    "timeline",
    "utc_text",
    "verify_export",
    "verify_store",
]

"""Commands: plain typed orders. Adapters, the CLI and the HTTP API only ever build these."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from opsledger.core.domain.errors import InputError

_FIELD_NAMES: dict[type[Command], tuple[str, ...]] = {}


def _field_names(cls: type[Command]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _check_text(name: str, value: object) -> None:
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(name, "is not valid Unicode text (lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(name, key)
            _check_text(f"{name}.{key}", item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_text(f"{name}[{index}]", item)


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Who asks, when it happened (None: the engine's clock), and an optional idempotency key."""

    actor: str = "system"
    at: datetime | None = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        # A lone surrogate (a JSON "\ud800" escape, undecodable argv bytes) cannot be stored
        # as UTF-8: refuse it here, naming the field, rather than fail deep inside the save.
        for name in _field_names(type(self)):
            value = getattr(self, name)
            # inline fast path: most values are ASCII text, numbers, instants or None
            if isinstance(value, str):
                if not value.isascii():
                    _check_text(name, value)
            elif isinstance(value, dict | list | tuple):
                _check_text(name, value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form (datetimes as ISO text), for idempotency records and the bus."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketCommand(Command):
    ticket: str


# -- opening ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenTicket(Command):
    """Open any kind of ticket; priority comes from the matrix unless overridden with a reason."""

    kind: str
    summary: str
    description: str = ""
    impact: str = "medium"
    urgency: str = "medium"
    priority_override: str | None = None
    service: str | None = None
    ci: str | None = None
    reporter: str = ""
    customer: str | None = None
    channel: str = "api"
    received_at: datetime | None = None
    group: str | None = None
    assignee: str | None = None
    external_system: str | None = None
    external_id: str | None = None
    change_type: str = "normal"
    risk: str = "medium"
    planned_start: datetime | None = None
    planned_end: datetime | None = None


# -- lifecycle ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignTicket(TicketCommand):
    group: str
    assignee: str | None = None
    tier: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AcknowledgeTicket(TicketCommand):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class AddComment(TicketCommand):
    body: str
    public: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordCustomerReply(TicketCommand):
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldTicket(TicketCommand):
    """``vendor`` names who is awaited (awaiting_vendor): their underpinning contract runs."""

    reason: str
    note: str = ""
    vendor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeTicket(TicketCommand):
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalateTicket(TicketCommand):
    """``functional``: to the next tier's group (``to``); ``hierarchical``: to a manager."""

    mode: str
    to: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveTicket(TicketCommand):
    code: str
    notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseTicket(TicketCommand):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ReopenTicket(TicketCommand):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTicket(TicketCommand):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangePriority(TicketCommand):
    impact: str
    urgency: str
    reason: str
    override: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRecords(Command):
    """Link two records; the inverse link is recorded on the target in the same transaction."""

    source: str
    relation: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordExternalReference(TicketCommand):
    system: str
    reference: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSatisfaction(TicketCommand):
    score: int
    comment: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordComplaint(TicketCommand):
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordCallback(TicketCommand):
    """The outcome of the satisfaction call-back: reached or not, a 1-5 score, a complaint."""

    reached: bool
    score: int | None = None
    comment: str = ""
    complaint: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordNotification(TicketCommand):
    """A notification about the ticket was sent, failed after its retries, or bounced."""

    outcome: str
    template: str
    recipients: tuple[str, ...] = ()
    message_id: str | None = None
    reason: str = ""
    attempts: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSync(TicketCommand):
    """One outbound change to another tracker (``system``) done, or failed after retries.

    ``fields`` (state, priority, summary) are the ones it wrote: a change from the other side
    older than this write is not applied back (last writer wins).
    """

    system: str
    action: str
    outcome: str
    reference: str | None = None
    fields: tuple[str, ...] = ()
    detail: str = ""
    attempts: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyExternalChange(Command):
    """A change another tracker made to the issue linked to a ticket (docs/jira.md).

    The ticket is the one that recorded ``reference`` for ``system`` (RecordExternalReference).
    ``occurred_at`` is the other side's instant: a field (``state``, ``priority``) is applied
    only when it is newer than that field's last write from either side; a comment once per
    ``comment_id`` (an edit is added as a note, never lost). ``state`` is where the ticket
    should go: in_progress, on_hold, resolved, closed, cancelled; ``known_error`` (a
    workaround) records a known error on a problem instead of resolving it.
    """

    system: str
    reference: str
    delivery: str
    occurred_at: datetime
    state: str | None = None
    resolution_code: str = ""
    notes: str = ""
    priority: str | None = None
    known_error: str | None = None
    comment_id: str | None = None
    comment_body: str = ""
    comment_public: bool = False
    #: the issue's reference before a move (JIRA gives a moved issue a new key): the ticket
    #: linked to the old one answers to ``reference`` from now on
    previous_reference: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestMail(Command):
    """One mail for the desk, as the mail adapter parsed it (docs/email.md).

    The ticket it belongs to is decided here, from the event log: the ``token`` in its
    subject (``INC-000123``), else the first of ``thread`` (In-Reply-To, then References)
    that a ticket recorded. ``body`` is the reply without quoted history or signature; the
    whole message is kept by the adapter under ``raw_sha256``. ``mail_kind`` is ``mail``,
    ``out_of_office`` (recorded, never reopens) or ``bounce`` (recorded against the
    notification ``bounced_message_id``). ``survey_score`` and ``dissatisfied`` are what the
    adapter read from a reply; they count only when it answers a satisfaction survey.
    ``kind``, ``service``, ``impact`` and ``urgency`` open a new ticket (classify may change
    them).
    """

    message_id: str
    sender: str
    sender_name: str = ""
    subject: str = ""
    body: str = ""
    token: str | None = None
    thread: tuple[str, ...] = ()
    mail_kind: str = "mail"
    raw_sha256: str = ""
    attachments: tuple[dict[str, Any], ...] = ()
    language: str | None = None
    occurred_at: datetime | None = None
    bounced_message_id: str | None = None
    bounce_status: str = ""
    survey_score: int | None = None
    dissatisfied: bool = False
    kind: str = "service_request"
    service: str | None = None
    impact: str = "medium"
    urgency: str = "medium"


# -- inbound sources -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestInbound(Command):
    """What an outside system says about a thing it identifies (docs/inbound.md).

    ``external_id`` is the source's own identity of the thing (alert fingerprint, dedup key,
    mail thread, JIRA key): the correlation key. ``state`` is open, acknowledge, resolve or
    update. ``occurred_at`` is the source's own instant; ``at`` the instant it reached us.
    ``details`` (labels, links) are recorded as they came and never interpreted.
    ``ci_names`` are names to look a configuration item up by when ``ci`` is not given (an
    alert's ``instance`` or ``job``): the first naming exactly one CI in service wins.
    ``flap_changes`` open/resolve changes of one key within ``flap_window_s`` seconds are
    flapping (0: never), ``storm_threshold`` is how many tickets one source may open within
    ``storm_window_s`` seconds before a storm is declared (0: never); the adapter sets them.
    """

    source: str
    external_id: str
    state: str
    kind: str = "incident"
    summary: str = ""
    description: str = ""
    impact: str = "medium"
    urgency: str = "medium"
    service: str | None = None
    ci: str | None = None
    ci_names: tuple[str, ...] = ()
    reporter: str = ""
    customer: str | None = None
    occurred_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    resolve_code: str = "auto-resolved by source"
    reopen: bool = True
    flap_changes: int = 0
    flap_window_s: int = 3600
    storm_threshold: int = 0
    storm_window_s: int = 300


# -- incidents and problems -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclareMajorIncident(TicketCommand):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearMajorIncident(TicketCommand):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordRootCause(TicketCommand):
    root_cause: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordKnownError(TicketCommand):
    workaround: str
    root_cause: str | None = None


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitChangeForApproval(TicketCommand):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ApproveChange(TicketCommand):
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectChange(TicketCommand):
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartChangeImplementation(TicketCommand):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteChangeImplementation(TicketCommand):
    succeeded: bool
    notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewChange(TicketCommand):
    notes: str


# -- configuration items --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterCI(Command):
    ci_type: str
    name: str
    owner: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "live"


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateCIAttributes(Command):
    ci: str
    changes: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeCIOwner(Command):
    ci: str
    owner: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeCIStatus(Command):
    ci: str
    status: str


# -- SLA -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DefineSlaPolicy(Command):
    """Record a new version of an SLA, OLA or underpinning-contract policy."""

    definition: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetireSlaPolicy(Command):
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TickClocks(TicketCommand):
    """Record the clock events of one ticket that are due by ``at`` (the scheduler sends it)."""


def _all_commands() -> dict[str, type[Command]]:
    return {
        name: value
        for name, value in globals().items()
        if isinstance(value, type)
        and issubclass(value, Command)
        and value not in (Command, TicketCommand)
    }


COMMANDS: dict[str, type[Command]] = _all_commands()


# The JSON path lives in its own module; re-exported here, where callers have always found it.
from opsledger.core.command_json import command_from_dict as command_from_dict  # noqa: E402

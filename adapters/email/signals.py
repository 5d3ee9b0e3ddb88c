"""What the headers and subject say about a mail: robot or person, bounce, absence, which ticket.

A service desk that answers robots loops with them, and one that opens tickets for bounces
and out-of-office notices drowns; these are the signals the ingest path decides on (RFC 3834
Auto-Submitted, Exchange's X-Auto-Response-Suppress, list headers, RFC 3464 delivery status
reports and the mailer-daemon bounces that predate them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from functools import lru_cache

from opsledger.adapters.email.charsets import decode_bytes, decode_header_text
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.records import normalise_number

Headers = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class MailSignals:
    """Automatic-mail markers of one message; ``is_automatic`` is the one to obey."""

    auto_submitted: str | None = None  # RFC 3834 keyword, lower-case; "no" means a person
    auto_response_suppress: str | None = None
    precedence: str | None = None  # bulk, junk, list, auto_reply
    list_id: str | None = None
    list_unsubscribe: str | None = None
    report_type: str | None = None  # of a multipart/report: delivery-status, disposition-...
    is_bounce: bool = False
    bounced_message_id: str | None = None
    bounce_recipients: tuple[str, ...] = ()
    bounce_action: str | None = None  # DSN Action: failed, delayed, delivered, ...
    bounce_status: str | None = None  # DSN Status, e.g. 5.1.1
    is_out_of_office: bool = False

    @property
    def is_automatic(self) -> bool:
        """Never open a ticket for this mail, and never answer it automatically."""
        return (
            self.auto_submitted not in (None, "no")
            or self.auto_response_suppress is not None
            or self.precedence in ("bulk", "junk", "list", "auto_reply")
            or self.list_id is not None
            or self.list_unsubscribe is not None
            or self.report_type is not None
            or self.is_bounce
            or self.is_out_of_office
        )

    @property
    def bounce_is_permanent(self) -> bool:
        """A hard bounce: the DSN says failed, or the status class is 5."""
        return self.is_bounce and (
            self.bounce_action == "failed"
            or (self.bounce_status or "").startswith("5")
            or (self.bounce_action is None and self.bounce_status is None)
        )


# -- message ids --------------------------------------------------------------------------

_BRACKETED = re.compile(r"<([^<>]*)>")
_SPACE = re.compile(r"\s+")


def message_ids(value: str | None) -> tuple[str, ...]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References value, in order, once."""
    if not value:
        return ()
    found = [_SPACE.sub("", inner) for inner in _BRACKETED.findall(value)]
    if not found and "<" not in value:
        # some senders drop the brackets; a bare token with an @ is still an id
        found = [token for token in re.split(r"[\s,]+", value) if "@" in token]
    return tuple(dict.fromkeys(f"<{token}>" for token in found if token))


# -- subjects -----------------------------------------------------------------------------

_PREFIX = re.compile(
    r"^\s*(?:\[(?:ext|external|外部邮件|外部郵件)\]\s*)?"
    r"(?:re|aw|sv|vs|antw|odp|rif|r|fw|fwd|wg|tr|doorst|rv|enc|回复|回覆|答复|答覆|转发|轉寄|转寄)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.I,
)
_OUT_OF_OFFICE = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response)|autoreply|autoresponse|"
    r"out of (?:the )?office(?: (?:auto)?reply)?|自动回复|自動回覆|自動回复|自动答复|"
    r"abwesenheitsnotiz|réponse automatique|respuesta automática|risposta automatica|auto)"
    r"\s*[:：]|^\s*out of (?:the )?office(?: (?:auto)?reply)?\s*$",
    re.I,
)
_ABSENCE = re.compile(r"out of (?:the )?office|vacation|holiday|away|休假|不在办公室|假期", re.I)


def strip_subject_prefixes(subject: str) -> str:
    """The subject without its pile of reply and forward prefixes (Re:, AW:, 回复：, ...)."""
    while True:
        match = _PREFIX.match(subject)
        if match is None:
            return subject.strip()
        subject = subject[match.end() :]


@lru_cache(maxsize=16)
def _token_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    names = "|".join(re.escape(prefix) for prefix in sorted(prefixes, key=len, reverse=True))
    return re.compile(rf"[\[【［]\s*({names})-([0-9]{{1,24}})\s*[\]】］]", re.I | re.A)


def ticket_token(
    subject: str, prefixes: Sequence[str] = ("INC", "REQ", "PRB", "CHG")
) -> str | None:
    """The first ``[INC-000123]`` in a subject, canonically spelt, or None.

    Found anywhere, so reply and forward prefixes in any language do not matter.
    """
    if not prefixes:
        return None
    for match in _token_pattern(tuple(prefixes)).finditer(subject):
        number = f"{match.group(1).upper()}-{match.group(2)}"
        try:
            return normalise_number(number, "subject")
        except InputError:  # a prefix of the caller's own, or a number past the counters
            if len(match.group(2).lstrip("0")) <= 18:
                return number
    return None


# -- classification -----------------------------------------------------------------------


def _first(headers: Headers, name: str) -> str | None:
    values = headers.get(name)
    if not values:
        return None
    return decode_header_text(values[0], name) or None


def _keyword(headers: Headers, name: str) -> str | None:
    value = _first(headers, name)
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower() or None


_DSN_FIELD = re.compile(
    r"^(final-recipient|original-recipient|action|status)\s*:\s*(.*)$", re.I | re.M
)
_HEADER_ID = re.compile(r"^message-id\s*:\s*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)
_POSTFIX_RECIPIENT = re.compile(r"^[ \t]*<([^<>\s@]+@[^<>\s@]+)>[ \t]*:", re.M)
_STATUS_CODE = re.compile(r"(?<![\w.])([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")  # not in an IP


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
        charset = part.get_content_charset()
    except Exception:  # a hostile report part: it just tells us nothing
        return ""
    return decode_bytes(payload, charset, "report")[0] if isinstance(payload, bytes) else ""


def _dsn_fields(part: Message) -> list[tuple[str, str]]:
    blocks = part.get_payload()
    if isinstance(blocks, list):
        return [
            (name.lower(), decode_header_text(value, "report"))
            for block in blocks
            if isinstance(block, Message)
            for name, value in block.raw_items()
        ]
    # a delivery status that was transfer-encoded is not split into blocks by the parser
    return [(n.lower(), v.strip()) for n, v in _DSN_FIELD.findall(_part_text(part))]


def _original_id(part: Message) -> str | None:
    inner = part.get_payload()
    if isinstance(inner, list):
        for message in inner:
            if isinstance(message, Message):
                for name, value in message.raw_items():
                    if name.lower() == "message-id" and message_ids(value):
                        return message_ids(value)[0]
        return None
    match = _HEADER_ID.search(_part_text(part))
    ids = message_ids(match.group(1)) if match else ()
    return ids[0] if ids else None


def classify(
    headers: Headers,
    subject: str,
    sender: str | None,
    report_type: str | None,
    status_parts: Sequence[Message],
    original_parts: Sequence[Message],
    body: str,
) -> MailSignals:
    """Signals from the top-level headers and the parts a delivery report is made of.

    ``status_parts`` are message/delivery-status parts, ``original_parts`` the returned
    message (message/rfc822 or text/rfc822-headers); ``body`` is the readable text, searched
    for the returned headers and recipients of bounces that are no RFC 3464 report.
    """
    auto_submitted = _keyword(headers, "auto-submitted")
    precedence = _keyword(headers, "precedence")
    suppress = _first(headers, "x-auto-response-suppress")
    if suppress is not None and suppress.strip().lower() == "none":
        suppress = None
    local = (sender or "").partition("@")[0]
    is_bounce = (
        report_type in ("delivery-status", "global-delivery-status")
        or bool(status_parts)
        or local in ("mailer-daemon", "postmaster")
        or "x-failed-recipients" in headers
    )
    bounced, recipients, action, status = _bounce(
        headers, status_parts, original_parts, body, is_bounce
    )
    out_of_office = not is_bounce and (
        "x-autoreply" in headers
        or "x-autorespond" in headers
        or bool(_OUT_OF_OFFICE.match(subject))
        or (auto_submitted == "auto-replied" and bool(_ABSENCE.search(subject)))
    )
    return MailSignals(
        auto_submitted=auto_submitted,
        auto_response_suppress=suppress,
        precedence=precedence,
        list_id=_first(headers, "list-id"),
        list_unsubscribe=_first(headers, "list-unsubscribe"),
        report_type=report_type,
        is_bounce=is_bounce,
        is_out_of_office=out_of_office,
        bounced_message_id=bounced,
        bounce_recipients=recipients,
        bounce_action=action,
        bounce_status=status,
    )


def _bounce(
    headers: Headers,
    status_parts: Sequence[Message],
    original_parts: Sequence[Message],
    body: str,
    is_bounce: bool,
) -> tuple[str | None, tuple[str, ...], str | None, str | None]:
    """Which message bounced, for whom, and how (DSN fields, else the text of the bounce)."""
    if not is_bounce:
        return None, (), None, None
    recipients: list[str] = []
    action: str | None = None
    status: str | None = None
    for part in status_parts:
        for name, value in _dsn_fields(part):
            if name == "final-recipient":  # "rfc822; user@host"
                recipients.append(value.rpartition(";")[2].strip().strip("<>").lower())
            elif name == "action" and action is None:
                action = value.strip().lower() or None
            elif name == "status" and status is None:
                status = value.split()[0] if value.split() else None
    for value in headers.get("x-failed-recipients", ()):
        recipients.extend(a.strip().lower() for a in decode_header_text(value).split(","))
    if not recipients:
        recipients = [address.lower() for address in _POSTFIX_RECIPIENT.findall(body)]
    if status is None:
        code = _STATUS_CODE.search(body)
        status = code.group(1) if code else None
    bounced = None
    for part in original_parts:
        bounced = _original_id(part)
        if bounced:
            break
    if bounced is None:
        match = _HEADER_ID.search(body)
        ids = message_ids(match.group(1)) if match else ()
        bounced = ids[0] if ids else None
    if bounced is None:
        replied = message_ids(_first(headers, "in-reply-to"))
        bounced = replied[0] if replied else None
    return bounced, tuple(dict.fromkeys(r for r in recipients if r)), action, status

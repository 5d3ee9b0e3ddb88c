"""Raw mail bytes to one typed value: the only place that knows MIME, charsets and mail clients.

No I/O and no engine: the ingest path decides what to do with a ParsedMail. The stdlib
parser (modern policy) builds the tree once; headers are decoded here from their raw values,
because the policy's own decoding trusts declared charsets and mail clients lie about them.
Anything that is a mail at all parses, with what was wrong recorded in ``defects``.
"""

from __future__ import annotations

import email
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from types import MappingProxyType
from typing import Any, TypeVar

from opsledger.adapters.email.charsets import (
    content_params,
    decode_bytes,
    decode_header_text,
)
from opsledger.adapters.email.htmltext import html_to_text
from opsledger.adapters.email.quotes import (
    expresses_dissatisfaction,
    language_of,
    reply_text,
    survey_score,
    unflow,
)
from opsledger.adapters.email.signals import (
    MailSignals,
    classify,
    message_ids,
    strip_subject_prefixes,
    ticket_token,
)
from opsledger.core.domain.errors import InputError

__all__ = [
    "Attachment",
    "MailParseError",
    "MailSignals",
    "ParsedMail",
    "expresses_dissatisfaction",
    "parse_message",
    "strip_subject_prefixes",
    "survey_score",
    "ticket_token",
]

T = TypeVar("T")


class MailParseError(InputError):
    """The bytes are not a mail at all (empty, or no mail header); keep them as a dead letter."""

    def __init__(self, message: str, field: str = "message") -> None:
        super().__init__(field, message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """One attached or inline file, with what is needed to store it content-addressed."""

    filename: str | None
    content_type: str
    size: int
    sha256: str
    data: bytes = field(repr=False)
    inline: bool = False
    content_id: str | None = None  # "<...>", what cid: links in the HTML point at


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedMail:
    """One inbound mail: addresses lower-cased, text decoded, times aware UTC."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender: str | None
    sender_name: str
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    text: str  # the whole readable body: text/plain, else the HTML reduced to text
    reply_text: str  # what this mail adds: quoted history and signature removed
    html: str | None
    attachments: tuple[Attachment, ...]
    tnef: bool  # carries winmail.dat: Outlook's rich text, unreadable without a TNEF decoder
    headers_of_interest: Mapping[str, str]
    language: str  # "zh" or "en"
    signals: MailSignals
    defects: tuple[str, ...] = ()

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this mail answers, most direct first: In-Reply-To, then References."""
        return tuple(dict.fromkeys((*self.in_reply_to, *reversed(self.references))))


#: Headers kept verbatim (decoded) for the ingest path and the audit trail.
INTERESTING = frozenset(
    {
        "x-mailer", "user-agent", "thread-index", "thread-topic", "return-path", "delivered-to",
        "x-original-to", "x-failed-recipients", "x-loop", "x-autoreply", "x-autorespond",
        "x-auto-response-suppress", "auto-submitted", "precedence", "list-id", "list-post",
        "list-unsubscribe", "importance", "x-priority", "priority", "sensitivity",
        "disposition-notification-to", "content-language", "accept-language", "organization",
    }
)  # fmt: skip
#: Without any of these, bytes that happen to start with "name: value" are still no mail.
_MAIL_HEADERS = frozenset(
    {
        "from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "received",
        "return-path", "mime-version", "content-type", "in-reply-to", "references", "reply-to",
        "delivered-to", "x-mailer", "resent-from", "list-id", "auto-submitted",
    }
)  # fmt: skip
_MAX_DEPTH = 40
_PARSE = policy.default


def _raw_headers(message: Message) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        headers.setdefault(name.strip().lower(), []).append(value)
    return headers


def _safe(read: Callable[[], T], default: T, what: str, defects: list[str]) -> T:
    """Call into the stdlib where hostile input can make it raise."""
    try:
        return read()
    except Exception as error:  # the stdlib parser's failures are data, not our bugs
        defects.append(f"{what}: {type(error).__name__}")
        return default


class _Headers:
    """The MIME headers of one part, parsed once from their raw values."""

    __slots__ = ("content_id", "ctype", "disposition", "filename", "params")

    def __init__(self, part: Message, defects: list[str]) -> None:
        raw: dict[str, str] = {}
        for name, value in part.raw_items():
            raw.setdefault(name.lower(), value)
        self.ctype, self.params = content_params(raw.get("content-type", ""), defects)
        if "/" not in self.ctype:  # absent or unreadable: the default of RFC 2045 5.2
            self.ctype = part.get_default_type()
        disposition, disposition_params = content_params(
            raw.get("content-disposition", ""), defects
        )
        self.disposition = disposition or None
        found = disposition_params.get("filename") or self.params.get("name") or ""
        filename = decode_header_text(found, "filename", defects) if found else ""
        self.filename = filename.replace("/", "_").replace("\\", "_").strip(". ") or None
        ids = message_ids(raw.get("content-id"))
        self.content_id = ids[0] if ids else None


class _Body:
    """The readable text and HTML found under one part, in document order."""

    __slots__ = ("html", "plain")

    def __init__(self) -> None:
        self.plain: list[str] = []
        self.html: list[str] = []


class _Walk:
    """One pass over the MIME tree: body text, attachments, and the parts of a report."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects
        self.attachments: list[Attachment] = []
        self.status_parts: list[Message] = []
        self.original_parts: list[Message] = []

    def visit(self, part: Message, body: _Body, depth: int = 0, report: bool = False) -> None:
        for defect in part.defects:
            self.defects.append(type(defect).__name__)
        if depth > _MAX_DEPTH:
            self.defects.append("nesting too deep, rest ignored")
            return
        head = _Headers(part, self.defects)
        ctype = head.ctype
        # a leaf's get_payload() would decode 8-bit text lossily by the declared charset
        payload = part.get_payload() if part.is_multipart() else None
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            self.status_parts.append(part)
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            self.original_parts.append(part)
        elif isinstance(payload, list) and ctype.startswith("multipart/"):
            self._multipart(ctype, payload, body, depth)
        elif isinstance(payload, list) and ctype in ("message/rfc822", "message/global"):
            if report:  # the message that bounced, returned whole
                self.original_parts.append(part)
            elif payload and isinstance(payload[0], Message):
                self._attach(part, head, payload[0])
        elif ctype.startswith("multipart/") or (
            ctype in ("text/plain", "text/html")
            and head.disposition != "attachment"
            and not head.filename
        ):  # a multipart whose boundary got lost: its text is all there is
            self._text(part, head, body)
        else:
            self._attach(part, head)

    def _multipart(self, ctype: str, parts: list[Any], body: _Body, depth: int) -> None:
        children = [child for child in parts if isinstance(child, Message)]
        if ctype == "multipart/alternative":
            versions = []
            for child in children:
                version = _Body()
                self.visit(child, version, depth + 1)
                versions.append(version)
            # plain text as the sender wrote it; HTML from the richest (last) version
            body.plain.extend(next((v.plain for v in versions if "".join(v.plain).strip()), []))
            body.html.extend(next((v.html for v in reversed(versions) if v.html), []))
        elif ctype == "multipart/report" and children:
            self.visit(children[0], body, depth + 1)
            for child in children[1:]:
                self.visit(child, _Body(), depth + 1, report=True)
        else:
            for child in children:
                self.visit(child, body, depth + 1)

    def _bytes(self, part: Message) -> bytes:
        data = _safe(lambda: part.get_payload(decode=True), None, "payload", self.defects)
        return data if isinstance(data, bytes) else b""

    def _text(self, part: Message, head: _Headers, body: _Body) -> None:
        text, note = decode_bytes(self._bytes(part), head.params.get("charset"), head.ctype)
        if note:
            self.defects.append(note)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if head.ctype == "text/html":
            body.html.append(text)
        elif head.params.get("format", "").lower() == "flowed":
            body.plain.append(unflow(text, head.params.get("delsp", "").lower() == "yes"))
        else:
            body.plain.append(text)

    def _attach(self, part: Message, head: _Headers, inner: Message | None = None) -> None:
        filename = head.filename
        if inner is not None:  # an attached mail: kept whole, named by its subject
            data = self._message_bytes(inner)
            if not filename:
                subject = decode_header_text(_raw_headers(inner).get("subject", [""])[0])
                filename = f"{subject or 'message'}.eml".replace("/", "_")
        else:
            data = self._bytes(part)
        self.attachments.append(
            Attachment(
                filename=filename,
                content_type=head.ctype,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                data=data,
                inline=head.disposition == "inline"
                or (head.disposition is None and head.content_id is not None),
                content_id=head.content_id,
            )
        )

    def _message_bytes(self, inner: Message) -> bytes:
        # compat32 writes the raw header values back as they came, 8-bit bytes included,
        # where the modern policy would refold (and can fail on) them
        def serialise() -> bytes:
            return inner.as_bytes(policy=policy.compat32)

        data = _safe(serialise, None, "attached message", self.defects)
        return data if isinstance(data, bytes) else b""


_BARE_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"@]+@[^\s<>()\[\],;:\"@]+")


def _addresses(values: list[str], what: str, defects: list[str]) -> list[tuple[str, str]]:
    if not values:
        return []
    unfolded = [re.sub(r"\r?\n", "", value) for value in values]
    try:
        pairs = getaddresses(unfolded)
    except Exception as error:  # RecursionError on comments nested a thousand deep
        defects.append(f"{what}: {type(error).__name__}, addresses taken by pattern")
        pairs = [("", address) for address in _BARE_ADDRESS.findall(" ".join(unfolded))]
    found = []
    for name, address in pairs:
        address = decode_header_text(address, what, defects).lower()
        if address and not any(c.isspace() for c in address):
            found.append((decode_header_text(name, what, defects), address))
    return found


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(re.sub(r"\r?\n", "", value))
    except Exception:  # ValueError, TypeError, IndexError, OverflowError from hostile dates
        parsed = None
    if parsed is None:
        defects.append(f"date: unreadable {value[:60]!r}")
        return None
    if parsed.tzinfo is None:  # "-0000": UTC, its zone unknown (RFC 5322 3.3)
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        defects.append(f"date: out of range {value[:60]!r}")
        return None


def _parse_tree(raw: bytes) -> tuple[Message, list[str]]:
    try:
        return email.message_from_bytes(raw, policy=_PARSE), []
    except Exception as error:  # the modern policy's header parser on hostile input
        note = f"modern parser failed ({type(error).__name__}), read with compat32"
    try:
        return email.message_from_bytes(raw, policy=policy.compat32), [note]
    except Exception as error:
        raise MailParseError(f"not parseable as mail: {type(error).__name__}") from error


def parse_message(raw: bytes) -> ParsedMail:
    """Parse one mail; raise MailParseError only if the bytes are not a mail at all."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MailParseError(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise MailParseError("empty")
    message, defects = _parse_tree(raw)
    headers = _raw_headers(message)
    if not headers.keys() & _MAIL_HEADERS:
        raise MailParseError("no mail headers")

    def first(name: str) -> str | None:
        values = headers.get(name)
        return values[0] if values else None

    walk = _Walk(defects)
    body = _Body()
    walk.visit(message, body)
    plain = "\n".join(body.plain)
    html = "\n".join(body.html) or None
    text = plain.strip() if plain.strip() or html is None else html_to_text(html)
    subject = " ".join(decode_header_text(first("subject") or "", "subject", defects).split())
    senders = _addresses(headers.get("from", []), "from", defects) or _addresses(
        headers.get("sender", []), "sender", defects
    )
    sender_name, sender = senders[0] if senders else ("", None)
    root_type, params = content_params((headers.get("content-type") or [""])[0], [])
    report_type = None
    if root_type == "multipart/report":
        report_type = (params.get("report-type") or "unknown").lower()
    attachments = tuple(walk.attachments)
    reply = reply_text(text)
    return ParsedMail(
        message_id=next(iter(message_ids(first("message-id"))), None),
        in_reply_to=message_ids(first("in-reply-to")),
        references=message_ids(" ".join(headers.get("references", []))),
        subject=subject,
        sender=sender,
        sender_name=sender_name,
        reply_to=tuple(a for _, a in _addresses(headers.get("reply-to", []), "reply-to", defects)),
        to=tuple(a for _, a in _addresses(headers.get("to", []), "to", defects)),
        cc=tuple(a for _, a in _addresses(headers.get("cc", []), "cc", defects)),
        date=_date(first("date"), defects),
        text=text,
        reply_text=reply,
        html=html,
        attachments=attachments,
        tnef=any(
            a.content_type in ("application/ms-tnef", "application/vnd.ms-tnef")
            or (a.filename or "").lower() == "winmail.dat"
            for a in attachments
        ),
        headers_of_interest=MappingProxyType(
            {
                name: decode_header_text(values[0], name)
                for name, values in headers.items()
                if name in INTERESTING or name.startswith("x-opsledger-")
            }
        ),
        language=language_of(f"{subject}\n{reply or text}"),
        signals=classify(
            headers, subject, sender, report_type, walk.status_parts, walk.original_parts, text
        ),
        defects=tuple(dict.fromkeys(defects)),
    )

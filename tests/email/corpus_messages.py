"""Message builders for the ingest tests: small mails with exactly the headers a test needs.

The hand-written corpus (tests/email/corpus/) holds the real-world shapes; these build the
threads around them (a request, its replies, answers to notifications) with CRLF line ends,
as SMTP and IMAP carry them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from opsledger.adapters.email.settings import EmailSettings

CORPUS = Path(__file__).parent / "corpus"
DESK = "desk@example.org"
CUSTOMER = "alice@contoso.com"
#: The Message-ID of the notification the corpus's bounces and auto-replies answer.
CORPUS_NOTIFICATION_ID = "<20240304090000.inc-000123.7f3a@desk.example.org>"


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def mail(
    *,
    message_id: str | None,
    subject: str = "Printer on floor 3 offline",
    body: str = "The printer on floor 3 shows 'offline' since this morning.\n",
    sender: str = CUSTOMER,
    sender_name: str = "Alice Chen",
    to: str = DESK,
    date: datetime | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """One mail; ``attachments`` are (filename, content type, bytes)."""
    message = EmailMessage()
    message["From"] = f"{sender_name} <{sender}>" if sender_name else sender
    message["To"] = to
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id
    if date is not None:
        message["Date"] = format_datetime(date)
    if in_reply_to is not None:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes(policy=SMTP)


def relayed(raw: bytes, hop: str = "mx.example.org") -> bytes:
    """The same mail as another route delivers it: one more Received header on top."""
    return (
        f"Received: from {hop} by imap.example.org; Mon, 4 Mar 2024 09:00:00 +0000\r\n".encode()
        + raw
    )


def email_settings(blob_dir: Path | str, **data: Any) -> EmailSettings:
    """Enabled settings for the desk ``desk@example.org``, as the JSON file would give them."""
    values: dict[str, Any] = {"enabled": True, "addresses": [DESK], "blob_dir": str(blob_dir)}
    values.update(data)
    return EmailSettings.from_mapping(values)

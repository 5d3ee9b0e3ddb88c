"""What passed between the desk and the people a ticket concerns: mail in, notifications out,
bounces, auto-replies and the satisfaction call-back.

Kept as events on the ticket so that threading ("which ticket does this reply belong to"),
loop prevention and the call-back's OLA are questions the ticket's own history answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event
from opsledger.core.domain.clocks import SlaClocks
from opsledger.core.domain.errors import DomainError, InputError

#: What ``MailReceived`` says a mail was: an ordinary one, or an automatic out-of-office.
MAIL_KINDS = ("mail", "out_of_office")
#: A notification's outcome as recorded: sent, failed after its retries, or bounced later.
NOTIFICATION_OUTCOMES = ("sent", "failed", "bounced")
#: Message-IDs carried in a notification's References header: the thread's first and latest.
REFERENCES_KEPT = 10


def _attachment(item: Any, i: int) -> dict[str, Any]:
    where = f"attachments[{i}]"
    if not isinstance(item, dict):
        raise InputError(where, "must be an object")
    for key, kind in (("filename", str), ("content_type", str), ("sha256", str)):
        if not isinstance(item.get(key), kind):
            raise InputError(f"{where}.{key}", "must be a string")
    size = item.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InputError(f"{where}.size", "must be a whole number of bytes")
    return {
        "filename": item["filename"],
        "content_type": item["content_type"],
        "size": size,
        "sha256": item["sha256"],
        "inline": bool(item.get("inline", False)),
    }


class ContactFacts(SlaClocks):
    """Mail, notifications and the call-back, as facts on the ticket."""

    # State is created on first use (``vars(self).get``), so records that never saw a mail
    # carry nothing extra and every existing history replays unchanged.

    @property
    def mail_ids(self) -> list[str]:
        """Message-IDs of this ticket's mail, in and out, oldest first: the thread."""
        return list(vars(self).get("_mail_ids", []))

    @property
    def survey_ids(self) -> list[str]:
        """Message-IDs of the satisfaction surveys sent for this ticket."""
        return list(vars(self).get("_survey_ids", []))

    @property
    def contact_language(self) -> str | None:
        """The language the contact writes in (from their mail), for the templates."""
        return vars(self).get("_contact_language")

    @property
    def callback(self) -> dict[str, Any] | None:
        """The call-back under way or last done: group, requested_at, outcome (None: due)."""
        found = vars(self).get("_callback")
        return dict(found) if found is not None else None

    @property
    def notifications(self) -> dict[str, int]:
        counts = vars(self).get("_notifications")
        return dict(counts) if counts else {o: 0 for o in NOTIFICATION_OUTCOMES}

    def sent_template(self, message_id: str) -> str | None:
        """Which template the notification of that Message-ID was (None: not ours)."""
        sent: dict[str, str] = vars(self).get("_sent", {})
        return sent.get(message_id)

    def references(self) -> list[str]:
        """What an outgoing mail's References header lists: the first and the latest ids."""
        ids = self.mail_ids
        if len(ids) <= REFERENCES_KEPT:
            return ids
        return [ids[0], *ids[-(REFERENCES_KEPT - 1) :]]

    def _remember(self, message_id: str) -> None:
        ids = vars(self).setdefault("_mail_ids", [])
        if message_id not in ids:
            ids.append(message_id)

    # -- mail in -------------------------------------------------------------------------

    def record_mail(
        self,
        *,
        message_id: str,
        sender: str,
        subject: str,
        raw_sha256: str,
        attachments: list[dict[str, Any]],
        kind: str,
        language: str | None,
        actor: str,
        at: datetime,
    ) -> None:
        """A mail that belongs to this ticket arrived; its raw bytes are kept by hash."""
        if not message_id.strip():
            raise InputError("message_id", "must not be empty")
        if kind not in MAIL_KINDS:
            raise InputError("mail_kind", f"{kind!r} is not one of {', '.join(MAIL_KINDS)}")
        if message_id in self.mail_ids:
            return  # the same mail again (another route in): the history has it already
        self._mail_received(
            message_id=message_id,
            sender=sender,
            subject=subject,
            raw_sha256=raw_sha256,
            attachments=[_attachment(a, i) for i, a in enumerate(attachments)],
            kind=kind,
            language=language,
            actor=actor,
            timestamp=at,
        )

    @event("MailReceived")
    def _mail_received(
        self,
        message_id: str,
        sender: str,
        subject: str,
        raw_sha256: str,
        attachments: list[dict[str, Any]],
        kind: str,
        language: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._remember(message_id)
        if kind == "mail" and language:
            self._contact_language = language
        vars(self).setdefault("_attachments", []).extend(
            dict(a, message_id=message_id) for a in attachments
        )
        if kind == "out_of_office":
            self.auto_replies = int(vars(self).get("auto_replies", 0)) + 1

    # -- notifications out ---------------------------------------------------------------

    def record_notification(
        self,
        *,
        outcome: str,
        template: str,
        recipients: list[str],
        message_id: str | None,
        reason: str,
        attempts: int,
        actor: str,
        at: datetime,
    ) -> None:
        """A notification about this ticket was sent, gave up, or bounced afterwards.

        Recording the same outcome of the same message twice records nothing (the sender
        may crash between sending and hearing that the record was saved)."""
        if outcome not in NOTIFICATION_OUTCOMES:
            allowed = ", ".join(NOTIFICATION_OUTCOMES)
            raise InputError("outcome", f"{outcome!r} is not one of {allowed}")
        if outcome in ("sent", "bounced") and not message_id:
            raise InputError("message_id", f"a {outcome} notification names its Message-ID")
        if not template.strip():
            raise InputError("template", "must not be empty")
        done = vars(self).setdefault("_notified", [])
        key = f"{outcome}:{message_id or template + ':' + ','.join(recipients)}"
        if key in done:
            return
        self._notification_recorded(
            outcome=outcome,
            template=template,
            recipients=list(recipients),
            message_id=message_id,
            reason=reason,
            attempts=attempts,
            actor=actor,
            timestamp=at,
        )

    @event("NotificationRecorded")
    def _notification_recorded(
        self,
        outcome: str,
        template: str,
        recipients: list[str],
        message_id: str | None,
        reason: str,
        attempts: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        vars(self).setdefault("_notified", []).append(
            f"{outcome}:{message_id or template + ':' + ','.join(recipients)}"
        )
        counts = vars(self).setdefault("_notifications", {o: 0 for o in NOTIFICATION_OUTCOMES})
        counts[outcome] += 1
        if outcome == "sent" and message_id:
            self._remember(message_id)
            vars(self).setdefault("_sent", {})[message_id] = template
            if template == "survey":
                vars(self).setdefault("_survey_ids", []).append(message_id)

    # -- the satisfaction call-back ------------------------------------------------------

    def request_callback(self, *, group: str, actor: str, at: datetime) -> None:
        """The service desk is to call the customer back about this resolution."""
        self._callback_requested(group=group, actor=actor, timestamp=at)

    @event("CallbackRequested")
    def _callback_requested(self, group: str, actor: str, timestamp: datetime) -> None:
        self._callback = {"group": group, "requested_at": timestamp.isoformat(), "outcome": None}

    def record_callback(
        self,
        *,
        reached: bool,
        score: int | None,
        comment: str,
        complaint: bool,
        actor: str,
        at: datetime,
    ) -> None:
        """What the call-back found: the customer reached or not, a 1-5 score, a complaint."""
        number, state = str(vars(self).get("number", "?")), str(vars(self).get("state"))
        if self.callback is None:
            raise DomainError(number, state, "record_callback", "no call-back was requested")
        if state not in ("resolved", "closed"):  # reopened: its call-back was cancelled
            raise DomainError(number, state, "record_callback", "the ticket is open again")
        if not isinstance(reached, bool):
            raise InputError("reached", "must be true or false")
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5
        ):
            raise InputError("score", f"{score!r} is not a whole number from 1 to 5")
        if score is not None and not reached:
            raise InputError("score", "a customer not reached gave no score")
        if not isinstance(complaint, bool):
            raise InputError("complaint", "must be true or false")
        self._callback_recorded(
            reached=reached, score=score, comment=comment, complaint=complaint,
            actor=actor, timestamp=at,
        )  # fmt: skip

    @event("CallbackRecorded")
    def _callback_recorded(
        self,
        reached: bool,
        score: int | None,
        comment: str,
        complaint: bool,
        actor: str,
        timestamp: datetime,
    ) -> None:
        callback = dict(vars(self)["_callback"])
        callback["outcome"] = {
            "reached": reached, "score": score, "comment": comment, "complaint": complaint,
            "at": timestamp.isoformat(), "by": actor,
        }  # fmt: skip
        self._callback = callback

    def contact_dict(self) -> dict[str, Any]:
        """The contact facts for ``as_dict``."""
        return {
            "mail_ids": self.mail_ids,
            "contact_language": self.contact_language,
            "notifications": self.notifications,
            "attachments": [dict(a) for a in vars(self).get("_attachments", [])],
            "auto_replies": int(vars(self).get("auto_replies", 0)),
            "callback": self.callback,
        }

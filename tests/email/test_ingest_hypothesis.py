"""Hostile mail through the whole ingest path: never a crash, and every message accounted for.

Each input ends as exactly one of: recorded (events were written), a duplicate (nothing
written), or set aside (one more row among the rejected messages, unless those very bytes
were set aside before). Budget: the shared hypothesis profile (tests/conftest.py);
OPSLEDGER_HYPOTHESIS_PROFILE=deep for a long hunt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from opsledger.adapters.email.blobs import BlobStore
from opsledger.adapters.email.ingest import MailIngest
from opsledger.adapters.kafka.bus import LocalBus

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0
from tests.email.corpus_messages import DESK, email_settings, mail
from tests.email.test_parsing_hypothesis import mutated

HEADERS = st.dictionaries(
    st.sampled_from(
        ["Auto-Submitted", "Precedence", "List-Id", "X-Auto-Response-Suppress", "X-Loop"]
    ),
    st.sampled_from(["no", "auto-replied", "bulk", "list", "<l.example>", "All", DESK, "None"]),
    max_size=2,
)
#: Header text: no control characters or line breaks (the builder would refuse them).
LINE = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
IDS = st.sampled_from(["<a@x.test>", "<b@x.test>", "<req1@contoso.com>", "<gone@x.test>"])


@st.composite
def threads(draw: st.DrawFn) -> bytes:
    """Well-formed mail whose subject, thread headers and robot markers vary."""
    token = draw(st.sampled_from(["", "[REQ-000001] ", "[INC-999999] ", "回复: [req-1] "]))
    return mail(
        message_id=draw(st.one_of(st.none(), IDS)),
        subject=token + draw(LINE),
        body=draw(TEXT) or "x",
        sender=draw(st.sampled_from(["alice@contoso.com", "bob@b.test", DESK])),
        in_reply_to=draw(st.one_of(st.none(), IDS)),
        headers=draw(HEADERS),
    )


@contextmanager
def desk(root: Path) -> Iterator[tuple[Engine, MailIngest, FixedClock]]:
    clock = FixedClock(T0)
    engine = Engine(Settings(db_path=str(root / "events.db")), clock=clock)
    settings = email_settings(root / "blobs", rate_limit={"per_sender": 1_000_000})
    try:
        ingest = MailIngest(settings, LocalBus(engine), BlobStore(root / "blobs"), clock)
        yield engine, ingest, clock
    finally:
        engine.close()


def _written(engine: Engine) -> int:
    return engine.app.recorder.max_notification_id() or 0


def _account_for_every_input(root: Path, inputs: st.SearchStrategy[bytes]) -> None:
    with desk(root) as (engine, ingest, clock):
        set_aside: set[bytes] = set()

        @given(raw=inputs)
        def run(raw: bytes) -> None:
            events, rejected = _written(engine), len(engine.rejected_messages())
            outcome = ingest.accept(raw)
            clock.advance(timedelta(seconds=1))
            kept = len(engine.rejected_messages()) - rejected
            if outcome == "recorded":
                assert _written(engine) > events and kept == 0
            elif outcome == "duplicate":
                assert _written(engine) == events and kept == 0
            else:
                assert outcome.startswith(("ignored:", "set aside:")), outcome
                assert "parser failed" not in outcome, outcome
                assert _written(engine) == events
                # one row more; none when these very bytes were kept before (named by hash)
                assert kept == 1 or (kept == 0 and raw in set_aside), (outcome, kept)
                set_aside.add(raw)

        run()


def test_random_bytes_are_recorded_or_set_aside(tmp_path: Path) -> None:
    _account_for_every_input(tmp_path, st.binary(max_size=2_000))


def test_mutated_corpus_mail_is_recorded_or_set_aside(tmp_path: Path) -> None:
    _account_for_every_input(tmp_path, mutated())


def test_varied_threads_and_robot_markers_are_recorded_or_set_aside(tmp_path: Path) -> None:
    _account_for_every_input(tmp_path, threads())

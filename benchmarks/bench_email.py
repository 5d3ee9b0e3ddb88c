"""Inbound mails per second through parse -> screen -> thread -> command, against ``email`` alone.

The corpus is built from the real-world shapes in tests/email/corpus (Outlook, Gmail, Apple
Mail, Chinese charsets, bounces, out-of-office, list mail, surveys), each copy given its own
Message-ID, sender and subject; a third of the copies are replies that thread to an earlier
copy by In-Reply-To or by the ticket token in their subject. The measured path is the mail
adapter's ``MailIngest.accept`` on the embedded engine (SQLite, a fresh file): raw bytes kept
by hash (the table beside the events), parsed, screened, one ``IngestMail`` command each,
threaded and recorded. The baseline, in the same run and on the same bytes, is the standard
library alone: ``BytesParser(policy=default)`` and the body's text
(``get_body().get_content()``). Last line: one JSON object (mails_per_s, parse_only_per_s,
ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import statistics
import tempfile
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

from opsledger.adapters.email.blobs import BlobTable
from opsledger.adapters.email.ingest import MailIngest
from opsledger.adapters.email.settings import EmailSettings
from opsledger.adapters.kafka.bus import LocalBus
from opsledger.core.clock import SystemClock

from opsledger import Engine, Settings

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "email" / "corpus"
HEADER = re.compile(
    rb"^(Message-ID|From|Subject|In-Reply-To|References):[^\r\n]*\r?\n", re.I | re.M
)


def corpus(count: int, seed: int) -> list[bytes]:
    """``count`` messages from the corpus shapes, each with its own identity."""
    rng = random.Random(seed)
    shapes = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    made: list[bytes] = []
    for i in range(count):
        raw = shapes[i % len(shapes)]
        headers = [
            f"Message-ID: <bench-{seed}-{i}@customer.example>",
            f"From: Customer {i % 400} <customer{i % 400}@customer.example>",
        ]
        if i >= 30 and rng.random() < 0.33:  # a reply to an earlier copy
            earlier = rng.randrange(0, i)
            if rng.random() < 0.5:
                headers.append(f"In-Reply-To: <bench-{seed}-{earlier}@customer.example>")
                headers.append(f"Subject: Re: request {earlier}")
            else:
                headers.append(f"Subject: RE: [REQ-{1 + earlier // 3:06d}] request {earlier}")
        else:
            headers.append(f"Subject: request {i}: printer on floor {i % 9} offline")
        body = HEADER.sub(b"", raw)
        made.append(("\r\n".join(headers) + "\r\n").encode() + body)
    return made


def parse_only(messages: list[bytes]) -> float:
    """Messages per second parsed by the standard library, with their body text."""
    parser = BytesParser(policy=policy.default)
    started = time.perf_counter()
    for raw in messages:
        message = parser.parsebytes(raw)
        body = message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
        if body is not None:
            with contextlib.suppress(LookupError, ValueError):  # an unknown charset
                body.get_content()
    return len(messages) / (time.perf_counter() - started)


def ingest(messages: list[bytes], workdir: Path) -> tuple[float, dict[str, int]]:
    """Messages per second through the adapter and the engine, and what became of them."""
    engine = Engine(Settings(db_path=str(workdir / "events.db")))
    settings = EmailSettings.from_mapping(
        {
            "enabled": True,
            "addresses": ["desk@opsledger.example"],
            "rate_limit": {"per_sender": 1_000_000, "window_s": 3600},
        }
    )
    blobs = engine.plugins.context.tables(BlobTable)  # the default: beside the events
    mail = MailIngest(settings, LocalBus(engine), blobs, SystemClock())
    outcomes: dict[str, int] = {}
    try:
        started = time.perf_counter()
        for raw in messages:
            word = mail.accept(raw).partition(":")[0]
            outcomes[word] = outcomes.get(word, 0) + 1
        elapsed = time.perf_counter() - started
    finally:
        engine.close()
    return len(messages) / elapsed, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ingested: list[float] = []
    parsed: list[float] = []
    outcomes: dict[str, int] = {}
    for round_ in range(args.rounds):  # alternate the sides so drift hits both alike
        messages = corpus(args.mails, seed=round_)
        parsed.append(parse_only(messages))
        with tempfile.TemporaryDirectory(prefix="bench-email-") as tmp:
            rate, outcomes = ingest(messages, Path(tmp))
        ingested.append(rate)
        print(
            f"round {round_ + 1}: ingest {rate:,.0f}/s, parse only {parsed[-1]:,.0f}/s, "
            f"outcomes {outcomes}"
        )
    mails_per_s = statistics.median(ingested)
    parse_only_per_s = statistics.median(parsed)
    print(
        json.dumps(
            {
                "mails_per_s": round(mails_per_s, 1),
                "parse_only_per_s": round(parse_only_per_s, 1),
                "ratio": round(mails_per_s / parse_only_per_s, 3),
                "mails": args.mails,
                "outcomes_last_round": outcomes,
            }
        )
    )


if __name__ == "__main__":
    main()

"""Hostile bytes never crash the parser, and the subject and survey readers keep their promises.

Budget: the shared hypothesis profile (tests/conftest.py); OPSLEDGER_HYPOTHESIS_PROFILE=deep
for a long hunt.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from opsledger.adapters.email.charsets import decode_bytes, decode_header_text
from opsledger.adapters.email.htmltext import html_to_text
from opsledger.adapters.email.parsing import (
    MailParseError,
    ParsedMail,
    parse_message,
    strip_subject_prefixes,
    survey_score,
    ticket_token,
)
from opsledger.adapters.email.quotes import expresses_dissatisfaction, reply_text

CORPUS = {path.name: path.read_bytes() for path in (Path(__file__).parent / "corpus").glob("*.eml")}
#: Bytes that steer the parser into its rarer paths when spliced into a message.
SPICE = [
    b"\r\n",
    b"\n\n",
    b"--",
    b"=?",
    b"?=",
    b"=?gb2312?B?",
    b"=?x-unknown?Q?=E9=",
    b'\r\nContent-Type: multipart/mixed; boundary="',
    b"\r\nContent-Type: message/rfc822\r\n\r\n",
    b"\r\nContent-Transfer-Encoding: base64\r\n",
    b"\r\nContent-Disposition: attachment; filename*0*=utf-8''%E6%",
    b'; charset="',
    b"\xff\xfe\x80",
    b"<html><blockquote><script>",
    b"\x00",
    b"(" * 1100,  # deeper than the stdlib's address parser can recurse
    b"<!--" * 50,
]


def _check(raw: bytes) -> None:
    try:
        parsed = parse_message(raw)
    except MailParseError:
        return
    assert isinstance(parsed, ParsedMail)
    assert parsed.date is None or parsed.date.utcoffset() is not None
    assert all(a.size == len(a.data) for a in parsed.attachments)
    assert parsed.language in ("zh", "en")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(CORPUS[draw(st.sampled_from(sorted(CORPUS)))])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "delete", "insert", "spice", "repeat", "cut"]))
        if action == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif action == "spice":
            data[at:at] = draw(st.sampled_from(SPICE))
        elif action == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 300))] * draw(st.integers(2, 5))
        else:
            del data[at:]
    return bytes(data)


@given(raw=st.binary(max_size=2_000))
def test_random_bytes_parse_or_raise_mail_parse_error(raw: bytes) -> None:
    _check(raw)


@given(raw=st.binary(max_size=500).map(lambda body: b"From: a@b.example\r\nSubject: x\r\n" + body))
def test_random_bodies_under_real_headers_parse(raw: bytes) -> None:
    parse_message(raw)  # it has mail headers, so it must parse


@given(raw=mutated())
def test_mutated_corpus_mail_parses_or_raises_mail_parse_error(raw: bytes) -> None:
    _check(raw)


@given(text=st.text(max_size=300))
def test_text_helpers_never_raise(text: str) -> None:
    assert isinstance(html_to_text(text), str)
    assert isinstance(reply_text(text), str)
    assert isinstance(decode_header_text(text), str)
    assert isinstance(expresses_dissatisfaction(text), bool)
    assert survey_score(text) in (None, 1, 2, 3, 4, 5)
    assert isinstance(strip_subject_prefixes(text), str)


LABELS = ["", "utf-8", "gb2312", "big5", "iso-2022-jp", "x-unknown", "utf-16", "us-ascii"]
LABELS += ["iso-8859-1", "punycode", "hz", "utf-7", "base64"]


@given(data=st.binary(max_size=300), label=st.sampled_from(LABELS))
def test_any_bytes_decode_in_any_label(data: bytes, label: str) -> None:
    text, _ = decode_bytes(data, label)
    assert isinstance(text, str)


# -- subjects -------------------------------------------------------------------------------

PREFIXES = ["Re: ", "RE:", "AW: ", "Fwd: ", "FW: ", "WG: ", "SV: ", "Re[2]: "]
PREFIXES += ["回复: ", "答复：", "转发：", "回复："]
#: Subject text with no bracket of any kind, so it cannot hold a token of its own.
PLAIN = st.text(
    st.characters(exclude_characters="[]【】［］", exclude_categories=["Cs"]), max_size=40
)


@given(
    prefixes=st.lists(st.sampled_from(PREFIXES), max_size=4),
    kind=st.sampled_from(["INC", "REQ", "PRB", "CHG"]),
    number=st.integers(0, 999_999),
    before=PLAIN,
    after=PLAIN,
)
def test_ticket_token_is_found_behind_any_prefixes(
    prefixes: list[str], kind: str, number: int, before: str, after: str
) -> None:
    subject = "".join(prefixes) + before + f"[{kind}-{number:06d}]" + after
    assert ticket_token(subject) == f"{kind}-{number:06d}"


@given(subject=PLAIN)
def test_no_bracket_no_token(subject: str) -> None:
    assert ticket_token(subject) is None


@given(prefixes=st.lists(st.sampled_from(PREFIXES), min_size=1, max_size=4))
def test_prefixes_strip_to_the_bare_subject(prefixes: list[str]) -> None:
    assert strip_subject_prefixes("".join(prefixes) + "[INC-000001] printer") == (
        "[INC-000001] printer"
    )


# -- survey scores --------------------------------------------------------------------------

#: Text without any digit (of any script) or star.
WORDS = st.text(
    st.characters(exclude_categories=["Nd", "No", "Cs"], exclude_characters="★⭐"),
    max_size=60,
)


@given(text=WORDS)
def test_no_digit_no_score(text: str) -> None:
    assert survey_score(text) is None


@given(score=st.integers(1, 5), before=WORDS, after=WORDS)
def test_a_lone_digit_is_the_score(score: int, before: str, after: str) -> None:
    assert survey_score(f"{before} {score}") == score
    assert survey_score(f"{score}\n\n{after}") == score


@given(score=st.integers(1, 5), before=WORDS)
def test_score_forms_agree(score: int, before: str) -> None:
    wide = chr(ord("０") + score)  # FULLWIDTH DIGIT ONE..FIVE
    forms = [f"{score}/5", f"{score}分", f"score: {score}", "★" * score, wide]
    for form in forms:
        assert survey_score(f"{before} {form}") == score, form

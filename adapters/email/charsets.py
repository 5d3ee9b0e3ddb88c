"""Bytes to text for mail as it is really sent: declared, undeclared and wrongly declared charsets.

Mail clients mislabel text all the time (GB2312 labels on GBK text, ISO-8859-1 labels on
UTF-8, no label on 8-bit bytes), and an unknown label must never cost the message. So every
decode here tries the declared charset, then a short list of likely ones, and reports which
fallback it used instead of raising.
"""

from __future__ import annotations

import binascii
import codecs
import re
from functools import lru_cache

#: Tried in order when the declared charset is missing, unknown or wrong; latin-1 never fails.
FALLBACKS = ("utf-8", "gb18030", "big5", "cp1252")

#: Labels Python does not know, or knows by a narrower table than what senders really use.
_ALIASES = {
    # GB2312 and GBK labels routinely carry GBK-only (and GB18030) characters: decode as the
    # superset, which agrees with both on everything they define
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "cn-gb": "gb18030",
    "csgb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "chinese": "gb18030",
    "big5-hkscs": "big5hkscs",
    "x-big5": "big5",
    "cn-big5": "big5",
    "utf8mb4": "utf-8",
    "utf8mb3": "utf-8",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_2",
    "iso-8859-8-i": "iso-8859-8",
    "tis-620": "cp874",
    # what every browser does: the C1 bytes of "Latin-1" mail are windows-1252 punctuation
    "iso8859-1": "cp1252",
    "x-mac-chinesesimp": "gb18030",
}

#: Labels that mean "I do not know": treated as undeclared.
_UNDECLARED = frozenset({"", "x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default"})

#: Codecs that are no text encoding of mail, or are slow or unsafe on hostile input
#: (punycode decoding is quadratic).
_REFUSED = frozenset(
    {"undefined", "punycode", "idna", "unicode-escape", "raw-unicode-escape", "mbcs", "oem"}
)

#: Encodings whose bytes are all ASCII, so ASCII bytes alone do not mean ASCII text.
_SEVEN_BIT = ("utf-7", "utf-16", "utf-32", "iso2022", "hz")

#: Labels whose text is, in practice, often windows-1252 or UTF-8 mislabelled.
_LATIN1 = frozenset({"cp1252", "iso8859-15"})

_SURROGATES = re.compile("[\udc80-\udcff]")


@lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """The Python codec to try for a declared label, or None when unknown or undeclared."""
    if label is None:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _UNDECLARED:
        return None
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # bytes-to-bytes codecs (base64, zlib) are no text encodings
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return _ALIASES.get(info.name, info.name)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError, ValueError):
        return None


def decode_bytes(data: bytes, declared: str | None, what: str = "text") -> tuple[str, str | None]:
    """Decode ``data``; return the text and a defect note when a fallback was needed."""
    label = (declared or "").strip().strip("\"'").lower()
    codec = codec_for(label) if label else None
    if data.isascii() and (codec is None or not codec.startswith(_SEVEN_BIT)):
        return data.decode("ascii"), None
    if codec is not None:
        text = _strict(data, codec)
        if text is not None:
            if codec in _LATIN1:
                # a Latin-1 label on valid UTF-8 is almost always UTF-8 (random Latin-1 text
                # is very rarely valid UTF-8)
                utf8 = _strict(data, "utf-8")
                if utf8 is not None:
                    return utf8.removeprefix("\ufeff"), f"{what}: {label} label on utf-8 text"
            return text.removeprefix("\ufeff"), None
        if codec == "cp1252":
            # windows-1252 leaves five bytes undefined; latin-1 defines them all
            return data.decode("latin-1"), None
    latin = None
    for fallback in FALLBACKS:
        if fallback == codec:
            continue
        if fallback in _MULTIBYTE:
            latin = _looks_latin(data) if latin is None else latin
            if latin:
                continue
        text = _strict(data, fallback)
        if text is not None:
            return text.removeprefix("\ufeff"), _note(what, label, codec, fallback)
    return data.decode("latin-1"), _note(what, label, codec, "latin-1")


_HIGH_RUN = re.compile(rb"[\x80-\xff]+")
_MULTIBYTE = frozenset({"gb18030", "big5"})


def _looks_latin(data: bytes) -> bool:
    """Whether 8-bit bytes read like a Latin text rather than double-byte Chinese.

    GB18030 and Big5 accept most Latin-1 text (an accented letter and the ASCII letter after
    it make a valid pair), so a guess needs this: Latin text has lone high bytes between ASCII
    letters, while Chinese text has even runs of high bytes.
    """
    runs = _HIGH_RUN.findall(data)
    odd = sum(len(run) & 1 for run in runs)
    return odd * 3 >= len(runs)


def _note(what: str, label: str, codec: str | None, used: str) -> str:
    if not label:
        return f"{what}: no charset, decoded as {used}"
    if codec is None:
        return f"{what}: unknown charset {label!r}, decoded as {used}"
    return f"{what}: charset {label!r} did not decode, decoded as {used}"


# -- RFC 2047 encoded words ---------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def _word_bytes(kind: str, text: str) -> bytes:
    data = text.encode("ascii", "replace")
    if kind in "qQ":
        return binascii.a2b_qp(data, header=True)
    return base64_bytes(data)


def _raw_segment(text: str, what: str, defects: list[str]) -> str:
    if not _SURROGATES.search(text):
        return text
    # the parser carries raw 8-bit header bytes as surrogate escapes; give them back
    decoded, note = decode_bytes(text.encode("utf-8", "surrogateescape"), None, what)
    if note and not note.endswith("as utf-8"):  # RFC 6532 allows raw UTF-8 in headers
        defects.append(note)
    return decoded


def decode_header_text(value: str, what: str = "header", defects: list[str] | None = None) -> str:
    """Unfold and decode a raw header value: encoded words, and raw 8-bit bytes by guessing.

    Adjacent encoded words in one charset are joined before decoding, because senders split
    multi-byte characters across words.
    """
    notes: list[str] = [] if defects is None else defects
    value = _FOLD.sub("", value)
    if "=?" not in value:
        return _raw_segment(value, what, notes).strip()
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    position = 0

    def flush() -> None:
        if pending:
            text, note = decode_bytes(b"".join(pending), pending_charset, what)
            if note:
                notes.append(note)
            out.append(text)
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        charset = match.group(1).lower()
        if between and (not pending or between.strip()):
            flush()
            out.append(_raw_segment(between, what, notes))
        elif pending and charset != pending_charset:
            flush()
        pending_charset = charset
        pending.append(_word_bytes(match.group(2), match.group(3)))
        position = match.end()
    flush()
    out.append(_raw_segment(value[position:], what, notes))
    return "".join(out).strip()


# -- MIME parameters and transfer encodings -------------------------------------------------
# Read from the raw header values: the modern policy's header objects re-parse on every
# access and cost more than the whole rest of a parse.

_PARAMETER = re.compile(r';\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"?|([^;]*))')
_SECTION = re.compile(r"^(.*?)(?:\*(\d{1,3}))?(\*)?$")
_QUOTED_PAIR = re.compile(r"\\(.)")


def content_params(value: str, defects: list[str]) -> tuple[str, dict[str, str]]:
    """``type/subtype`` (lower-case, "" if absent) and parameters of a Content-Type or
    Content-Disposition value, RFC 2231 continuations and charsets included."""
    value = _FOLD.sub("", value)
    head, _, _ = value.partition(";")
    sections: dict[str, list[tuple[int, bool, str]]] = {}
    for match in _PARAMETER.finditer(value, len(head)):
        quoted, token = match.group(2), match.group(3)
        raw = _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else token.strip()
        name, number, extended = _SECTION.match(match.group(1).lower()).groups()  # type: ignore[union-attr]
        sections.setdefault(name, []).append((int(number or 0), bool(extended), raw))
    params: dict[str, str] = {}
    for name, parts in sections.items():
        parts.sort(key=lambda part: part[0])
        if not any(extended for _, extended, _ in parts):
            params[name] = "".join(raw for _, _, raw in parts)
            continue
        charset = ""
        data = bytearray()
        for index, (_, extended, raw) in enumerate(parts):
            if extended and index == 0 and raw.count("'") >= 2:
                charset, _, raw = raw.split("'", 2)
            data += _unquote(raw) if extended else raw.encode("utf-8", "surrogateescape")
        text, note = decode_bytes(bytes(data), charset or None, f"parameter {name}")
        if note:
            defects.append(note)
        params[name] = text
    return head.strip().lower(), params


_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


def _unquote(text: str) -> bytes:
    return _PERCENT.sub(
        lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8", "surrogateescape")
    )


def base64_bytes(data: bytes) -> bytes:
    """Base64 the way mail readers take it: stray characters skipped, padding forgiven."""
    data = _NOT_BASE64.sub(b"", data)
    if len(data) % 4 == 1:  # a lone trailing sextet carries no whole byte
        data = data[:-1]
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return b""

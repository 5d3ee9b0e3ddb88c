"""What a customer wrote in a reply: their words without quoted history and signatures.

A reply carries the whole thread below it (Gmail's "On ... wrote:", Outlook's header block,
``>`` lines, Chinese clients' "发件人:" block) and a signature; recorded as a comment, that
would repeat the ticket's history on every reply. Also here: what a survey reply says.
"""

from __future__ import annotations

import re

_FROM = r"\*?(?:from|发件人|寄件者|寄件人|von|de|van|da)\*?\s*[:：]"
_SENT = (
    r"\*?(?:sent|date|发送时间|發送時間|日期|时间|寄件日期|gesendet|datum|envoyé|enviado|"
    r"data)\*?\s*[:：]"
)
_FROM_LINE = re.compile(rf"^\s*{_FROM}", re.I)
_SENT_LINE = re.compile(rf"^\s*{_SENT}", re.I)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|原始邮件|原始郵件|ursprüngliche nachricht|"
    r"message d'origine|mensaje original|reply message|回复的原邮件)\s*-{2,}\s*$",
    re.I,
)
_UNDERLINE = re.compile(r"^\s*_{10,}\s*$")
_ATTRIBUTION = re.compile(
    r"(?:^\s*(?:on|am|le|el|il|op)\s.*(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef)"
    r"\s*[:：]\s*$)|(?:(?:写道|寫道)\s*[:：]\s*$)",
    re.I,
)
_ATTRIBUTION_START = re.compile(r"^\s*(?:on|am|le|el|在)\s", re.I)
_SIG_DELIMITER = re.compile(r"^--\s?$")
_MOBILE = re.compile(
    r"^\s*(?:sent from (?:my )?\S.*|sent via \S.*|sent using \S.*|get outlook for \S.*|"
    r"(?:发自|来自|來自)我的.{1,20}|(?:发自|来自)\s*(?:网易邮箱大师|QQ邮箱|.{0,12}(?:邮箱|手机|客户端))"
    r".{0,10}|从我的\s*.{1,15}发送|從我的\s*.{1,15}傳送)\s*$",
    re.I,
)


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _header_block(lines: list[str], start: int) -> bool:
    """A "From:" line with a "Sent:"/"Date:" line within the next few: Outlook's history."""
    if not _FROM_LINE.match(lines[start]):
        return False
    return any(_SENT_LINE.match(line) for line in lines[start + 1 : start + 6])


def _attribution(lines: list[str], at: int) -> int:
    """How many lines the "On ... wrote:" at ``at`` spans (Gmail wraps it), or 0."""
    if _ATTRIBUTION.search(lines[at]):
        return 1
    if (
        at + 1 < len(lines)
        and _ATTRIBUTION_START.match(lines[at])
        and len(lines[at]) + len(lines[at + 1]) < 240
        and _ATTRIBUTION.search(lines[at] + " " + lines[at + 1])
    ):
        return 2
    return 0


def _history_starts(lines: list[str], at: int) -> bool:
    line = lines[at]
    if _SEPARATOR.match(line) or _header_block(lines, at):
        return True
    # Outlook on the web draws a line above the header block
    return bool(_UNDERLINE.match(line)) and any(
        _header_block(lines, i) for i in range(at + 1, min(at + 3, len(lines)))
    )


def _without_history(lines: list[str]) -> list[str]:
    kept: list[str] = []
    at = 0
    while at < len(lines):
        line = lines[at]
        if _is_quoted(line):
            at += 1
            continue
        span = _attribution(lines, at)
        if span:
            after = at + span
            while after < len(lines) and not lines[after].strip():
                after += 1
            if after < len(lines) and _is_quoted(lines[after]):
                at = after  # a quoted block follows: skip it, keep what is written below
                continue
            break
        if _history_starts(lines, at):
            break
        kept.append(line)
        at += 1
    return kept


def _without_signature(lines: list[str]) -> list[str]:
    for at, line in enumerate(lines):
        if _SIG_DELIMITER.match(line):
            return lines[:at]
    filled = [at for at, line in enumerate(lines) if line.strip()]
    for at in filled[-3:]:
        if len(lines[at].strip()) <= 60 and _MOBILE.match(lines[at]):
            return lines[:at]
    return lines


def unflow(text: str, delsp: bool = False) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (ending in a space) into paragraphs."""
    out: list[str] = []
    carry = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if line.endswith(" ") and line != "-- ":
            carry += line[:-1] if delsp else line
            continue
        out.append(carry + line)
        carry = ""
    if carry:
        out.append(carry)
    return "\n".join(out)


def reply_text(text: str) -> str:
    """The new part of a reply: quoted history and signature removed ("" if nothing new)."""
    lines = _without_signature(_without_history(text.splitlines()))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines)).strip()


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def language_of(text: str) -> str:
    """ "zh" when Han characters outweigh Latin letters (a Han character is about a word)."""
    sample = text[:4000]
    han = len(_HAN.findall(sample))
    return "zh" if han and han * 3 >= len(_LATIN.findall(sample)) else "en"


# -- survey replies -----------------------------------------------------------------------

_WIDE = str.maketrans("０１２３４５６７８９／：．", "0123456789/:.", "\ufe0f")
_UNITS = (
    r"年|月|日|号|號|点|點|时|時|个|個|天|周|週|次|小时|分钟|分鐘|秒|岁|歲|元|块|人|楼|樓|"
    r"h\b|min\b|hours?\b|days?\b|weeks?\b|months?\b|years?\b|minutes?\b|times?\b|x\b|am\b|pm\b"
)
_SCORE = re.compile(
    r"(?<![★⭐])(?P<stars>[★⭐]{1,5})(?![★⭐])"
    r"|(?<![0-9A-Za-z./\-+#])(?P<digit>[1-5])"
    r"(?=[ \t]*/[ \t]*5(?![0-9])|[ \t]*(?:分(?!钟|鐘)|out of 5\b|of 5\b|stars?\b|points?\b)"
    rf"|(?![0-9A-Za-z%]|[.,:/\-][0-9]|[ \t]*(?:{_UNITS})))",
    re.I,
)


def survey_score(text: str) -> int | None:
    """The first score 1-5 in a reply: ``4``, ``score: 4``, ``4/5``, ``★★★★``, ``4分``, ``４``.

    Digits that belong to something else (dates, times, decimals, ranges like "1-5", counts
    like "3 days" or "3月") are passed over.
    """
    match = _SCORE.search(text.translate(_WIDE))
    if match is None:
        return None
    stars = match.group("stars")
    return len(stars) if stars else int(match.group("digit"))


#: (pattern, whether a preceding negation cancels it): "no complaints" is praise.
_NEGATIVE = (
    (r"\b(?:dis|un)satisf\w*", True),
    (r"\bunhappy\b", True),
    (r"\bcomplain\w*", True),
    (r"\b(?:terrible|awful|horrible|worst|useless|unacceptable|ridiculous|pathetic)\b", True),
    (r"\bdisappoint\w*", True),
    (r"\bfrustrat\w*", True),
    (r"\b(?:poor|bad|lousy|slow) (?:service|support|experience|job|response)\b", True),
    (
        r"(?:\b(?:not|never|hardly)|n't)\s+(?:\w+\s+){0,2}"
        r"(?:satisfied|happy|pleased|content|resolved|fixed|solved)\b",
        False,
    ),
    (r"\bstill (?:not|broken|failing|down|doesn't|does not|isn't|is not|won't)\b", False),
    (r"不\s*(?:太|很|是很|怎么|大|够|夠)?\s*[满滿]意|[没沒]有?\s*(?:那么|很)?\s*[满滿]意", True),
    (r"不满|不滿|投诉|投訴|差评|差評|失望|糟糕|垃圾|生气|氣憤|气愤|太差|很差|非常差|态度差", True),
    (r"(?:没有?|未|还是没|還是沒)\s*(?:解决|解決|修好|处理好|處理好)|还是不行|還是不行", False),
)
_NEGATIVES = [(re.compile(pattern, re.I), negatable) for pattern, negatable in _NEGATIVE]
_NEGATION = re.compile(
    r"(?:\b(?:no|not|never|without|nothing to|can't|cannot|can not|won't|wouldn't|no need to)"
    r"\s+(?:\w+\s+)?|没有?|沒有?|无|無|不会|不會|不用|不|别|別)\s*$",
    re.I,
)


def expresses_dissatisfaction(text: str) -> bool:
    """Whether a reply complains, in English or Chinese ("not satisfied", "投诉", "差评").

    Negation-aware both ways: "not satisfied" complains, "no complaints" and "没有投诉" do not.
    """
    lowered = text.lower().replace("’", "'")
    for pattern, negatable in _NEGATIVES:
        for match in pattern.finditer(lowered):
            before = lowered[max(match.start() - 24, 0) : match.start()]
            if not (negatable and _NEGATION.search(before)):
                return True
    return False

"""HTML mail bodies reduced to the text a person reads, for mail that has no text/plain part.

Block elements become line breaks, list items get a bullet, links keep their target as
``text (url)``, quoted blocks get ``> `` so that quote stripping treats them like plain-text
quotes, and scripts, styles and the head are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2",
        "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
        "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
#: Elements whose paragraphs stand apart with an empty line.
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre"})
_DROPPED = frozenset({"script", "style", "head", "title", "template", "noscript", "object"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"})
_SPACE = re.compile(r"[ \t\r\n\f\v\xa0\u200b]+")
_BLANKS = re.compile(r"\n{3,}")


class _Reducer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.dropped = 0
        self.pre = 0
        self.quote = 0
        self.lists: list[int] = []  # per open list: 0 for <ul>, else the next number
        self.links: list[tuple[str, int]] = []  # open <a>: href and where its text starts
        self.blank_pending = False

    # -- lines ----------------------------------------------------------------------------

    def _text(self) -> str:
        return "".join(self.line)

    def _break(self, blank: bool = False, hard: bool = False) -> None:
        """End the line; ``blank`` asks for an empty line before the next text, ``hard`` (a
        ``<br>``) makes an empty line of an empty one, as in ``<div><br></div>``."""
        text = self._text().rstrip()
        if text.strip():
            if self.blank_pending and self.lines and self.lines[-1].strip(" >"):
                self.lines.append(">" * self.quote)
            self.lines.append(("> " * self.quote) + text)
            self.blank_pending = False
        elif hard and self.lines and self.lines[-1].strip(" >"):
            self.blank_pending = True
        self.line = []
        if blank:
            self.blank_pending = True

    # -- parser callbacks -----------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            if tag not in _VOID:
                self.dropped += 1
            return
        if self.dropped:
            return
        if tag == "br":
            self._break(hard=True)
        elif tag in _BLOCKS:
            self._break(tag in _PARAGRAPHS)
            if tag == "blockquote":
                self.quote += 1
            elif tag == "pre":
                self.pre += 1
            elif tag in ("ul", "ol"):
                self.lists.append(1 if tag == "ol" else 0)
            elif tag == "li":
                self._bullet()
        elif tag in ("td", "th") and self.line:
            self.line.append("\t")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href.strip(), len(self.line)))

    def _bullet(self) -> None:
        indent = "  " * max(len(self.lists) - 1, 0)
        if self.lists and self.lists[-1]:
            self.line.append(f"{indent}{self.lists[-1]}. ")
            self.lists[-1] += 1
        else:
            self.line.append(f"{indent}- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID or tag in _DROPPED:
            self.handle_starttag(tag, attrs)
        else:  # <div/> and friends: XHTML habits, open and close at once
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self.dropped = max(self.dropped - 1, 0)
            return
        if self.dropped:
            return
        if tag == "a" and self.links:
            self._close_link()
        elif tag in _BLOCKS:
            self._break(tag in _PARAGRAPHS)
            if tag == "blockquote":
                self.quote = max(self.quote - 1, 0)
            elif tag == "pre":
                self.pre = max(self.pre - 1, 0)
            elif tag in ("ul", "ol") and self.lists:
                self.lists.pop()

    def _close_link(self) -> None:
        href, start = self.links.pop()
        label = "".join(self.line[start:]).strip() if start <= len(self.line) else ""
        target = href.removeprefix("mailto:") if href.startswith("mailto:") else href
        lowered = href.lower()
        if (
            not target
            or lowered.startswith(("#", "javascript:", "cid:", "data:"))
            or target == label
            or target.rstrip("/") == label.rstrip("/")
        ):
            return
        self.line.append(f" ({target})" if label else target)

    def handle_data(self, data: str) -> None:
        if self.dropped:
            return
        if self.pre:
            first, *rest = data.split("\n")
            self.line.append(first)
            for piece in rest:
                self._break()
                self.line.append(piece)
            return
        text = _SPACE.sub(" ", data)
        if text == " " and (not self.line or self.line[-1].endswith((" ", "\t"))):
            return
        if text.startswith(" ") and (not self.line or self.line[-1].endswith((" ", "\t"))):
            text = text[1:]
        self.line.append(text)


#: Longer HTML is cut: no mail a person wrote is this long, and the rest is markup.
MAX_HTML = 2_000_000
_DECLARATION = re.compile(r"<[!?][^<>]*>")
_UNCLOSED = re.compile(r"<(?=[^<>]*(?:<|$))")


def _defused(html: str) -> str:
    """Markup html.parser reads in linear time.

    On unterminated comments, declarations, processing instructions and tags it searches to
    the end of the input again from every ``<`` (quadratic: seconds for 100 kB of ``<!--``),
    so comments go, declarations go, and a ``<`` that no ``>`` closes becomes text.
    """
    out: list[str] = []
    position = 0
    while True:
        start = html.find("<!--", position)
        if start < 0:
            out.append(html[position:])
            break
        out.append(html[position:start])
        end = html.find("-->", start + 4)
        if end < 0:
            break  # an unterminated comment runs to the end
        position = end + 3
    return _UNCLOSED.sub("&lt;", _DECLARATION.sub("", "".join(out)))


def html_to_text(html: str) -> str:
    """Readable text of an HTML body; never raises on malformed markup."""
    reducer = _Reducer()
    try:
        reducer.feed(_defused(html[:MAX_HTML]))
        reducer.close()
    except Exception:  # html.parser on pathological markup: keep what was read
        pass
    reducer._break()
    return _BLANKS.sub("\n\n", "\n".join(reducer.lines)).strip()

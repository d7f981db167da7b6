"""Text for Telegram: the core's light markup as Telegram HTML, all else escaped. Pure.

The core writes Slack-like markup: ```` `code` ````, ``*bold*``, a line in ``_italics_``
and ```` ``` ```` fences around step output; everything else in a text may come from a
person (params, deny reasons) or from a target (step output), so :func:`to_html` escapes
``&``, ``<`` and ``>`` everywhere and only the markup above becomes tags. Tags are made in
pairs inside one line (or one fenced block), so the HTML is always well formed and
Telegram never refuses it as unparsable.

The only other markup is a mention the Chat asks for (:func:`mention`): a token carrying a
secret of this process, turned into ``<a href="tg://user?id=…">name</a>`` only by
:func:`to_html`, so typing one notifies nobody.

Lengths are counted as Telegram counts its 4,096-character limit: the text after entities
are parsed (tags gone, ``&lt;`` one character), in UTF-16 code units.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "ELLIPSIS",
    "MAX_ALERT",
    "MAX_TEXT",
    "Block",
    "blocks",
    "cut",
    "escape",
    "fit",
    "mention",
    "plain",
    "size",
    "split",
    "to_html",
    "visible_size",
]

MAX_TEXT = 4096
"""Characters of a message's text, after entity parsing."""
MAX_ALERT = 200
"""Characters of an answerCallbackQuery text (a toast or an alert)."""
ELLIPSIS = "…"

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters
_SECRET = secrets.token_hex(8)
_TOKEN = re.compile(rf"{_OPEN}{_SECRET}:([0-9]+):([^{_OPEN}{_CLOSE}]*){_CLOSE}")
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])")
_ITALIC_LINE = re.compile(r"^_(\S.*?\S|\S)_$")
_TAG = re.compile(r"<[^>]*>")
_FENCE = "```"
_MIN_CUT = 20  # a line cut shorter than this says too little to be worth showing


def size(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def visible_size(markup: str) -> int:
    """The length of HTML made here once Telegram has parsed it (tags gone, entities one)."""
    return size(html.unescape(_TAG.sub("", markup)))


def escape(text: str) -> str:
    """``text`` shown as written in Telegram HTML (also inside an attribute's quotes)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def mention(user_id: str, name: str = "") -> str:
    """A mention of a Telegram user for :func:`to_html`: a link that notifies them."""
    if not (user_id.isascii() and user_id.isdigit()):
        return f"@{user_id}"  # not a Telegram user ID: shown, never a link
    shown = name.replace(_OPEN, "").replace(_CLOSE, "") or user_id
    return f"{_OPEN}{_SECRET}:{user_id}:{shown}{_CLOSE}"


def plain(text: str) -> str:
    """``text`` with the core's markup taken out, for places that show no formatting (an
    alert): code quotes dropped, mentions as the name."""
    text = _TOKEN.sub(lambda m: m.group(2), text)
    return _CODE.sub(lambda m: m.group(1), text).replace(_FENCE, "")


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` (see :func:`size`), ending in "…" when cut."""
    if limit < 1:
        raise ValueError(f"cut limit must be at least 1, not {limit}")
    if size(text) <= limit:
        return text
    budget = limit - 1
    kept: list[str] = []
    for char in text:
        budget -= 2 if ord(char) > 0xFFFF else 1
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS


def to_html(text: str) -> str:
    """The core's text as Telegram HTML (see the module docstring)."""
    return "\n".join(block.html for block in blocks(text))


@dataclass(frozen=True)
class Block:
    """One line, or one fenced block, of a text as HTML, and how long Telegram counts it."""

    html: str
    size: int
    source: str  # the markup it was made from, to cut it again when it does not fit


def blocks(text: str) -> list[Block]:
    """A text as HTML blocks: each line on its own, each fenced block whole."""
    found: list[Block] = []
    lines = text.replace("\r\n", "\n").split("\n")
    at = 0
    while at < len(lines):
        line = lines[at]
        if line.strip().startswith(_FENCE):
            # A fence opens a block running to the next fence (or the end of the text).
            end = next(
                (i for i in range(at + 1, len(lines)) if lines[i].strip() == _FENCE), len(lines)
            )
            body = "\n".join(lines[at + 1 : end])
            source = "\n".join(lines[at : end + 1])
            found.append(_code_block(body, source))
            at = end + 1
            continue
        markup = _line(line)
        found.append(Block(markup, visible_size(markup), line))
        at += 1
    return found


def fit(text: str, limit: int = MAX_TEXT, *, note: Callable[[int], str] | None = None) -> str:
    """``text`` as HTML of at most ``limit`` characters: whole lines while they fit, a line
    cut to what is left, then ``note(lines_left_out)`` (the core's markup) saying so."""
    parts = blocks(text)
    if _joined(parts) <= limit:
        return "\n".join(b.html for b in parts)

    def tail(left: int) -> Block:
        markup = _line(note(left) if note else f"{ELLIPSIS} ({left} more lines not shown)")
        return Block(markup, visible_size(markup), "")

    kept: list[Block] = []
    left = len(parts)
    for block in parts:
        left -= 1
        if _joined([*kept, block, tail(left)]) <= limit:
            kept.append(block)
            continue
        room = limit - _joined([*kept, tail(left)]) - 1
        if room >= _MIN_CUT and not block.source.lstrip().startswith(_FENCE):
            kept.append(_shortened(block, room))
        else:
            left += 1
        break
    return "\n".join(b.html for b in [*kept, tail(left)])


def split(text: str, limit: int = MAX_TEXT, *, max_parts: int = 4) -> list[str]:
    """``text`` as up to ``max_parts`` HTML messages of at most ``limit`` characters each,
    split between lines; a line longer than a message is cut, and what does not fit in
    ``max_parts`` messages is left out with a note in the last."""
    parts = blocks(text)
    messages: list[list[Block]] = [[]]
    for block in parts:
        if block.size > limit:
            block = _shortened(block, limit)
        current = messages[-1]
        if current and _joined([*current, block]) > limit:
            messages.append([])
        messages[-1].append(block)
    if len(messages) <= max_parts:
        return ["\n".join(b.html for b in message) for message in messages]
    kept = messages[:max_parts]
    left = sum(len(message) for message in messages[max_parts:])
    last = kept[-1]
    while True:
        note = _line(f"{ELLIPSIS} ({left} more lines not shown)")
        if _joined(last) + 1 + visible_size(note) <= limit or not last:
            break
        last.pop()
        left += 1
    result = ["\n".join(b.html for b in message) for message in kept]
    result[-1] = "\n".join(filter(None, [result[-1], note]))
    return result


def _joined(parts: Sequence[Block]) -> int:
    """How long ``parts`` are once joined by newlines."""
    return sum(b.size for b in parts) + max(len(parts) - 1, 0)


def _shortened(block: Block, limit: int) -> Block:
    """A block cut to fit one message: a fenced block keeps its end (where errors are)."""
    if block.source.lstrip().startswith(_FENCE):
        body = block.source.split("\n")[1:]
        if body and body[-1].strip() == _FENCE:
            body = body[:-1]
        text = "\n".join(body)
        keep = max(limit - 20, 1)
        tail = text[-keep:]
        while size(tail) > keep:
            tail = tail[1:]
        return _code_block(f"{ELLIPSIS}{tail}", block.source)
    markup = _line(cut(block.source, limit))
    return Block(markup, visible_size(markup), block.source)


def _code_block(body: str, source: str) -> Block:
    markup = f"<pre>{escape(_TOKEN.sub(_at_name, body))}</pre>"
    return Block(markup, visible_size(markup), source)


def _line(line: str) -> str:
    """One line of the core's markup as HTML: code spans, then bold, then a whole line in
    italics; mentions last. Tags never cross a code span, so they always nest."""
    italic = _ITALIC_LINE.match(line)
    inner = italic.group(1) if italic else line
    pieces: list[str] = []
    at = 0
    for code in _CODE.finditer(inner):
        pieces.append(_styled(inner[at : code.start()]))
        pieces.append(f"<code>{escape(_TOKEN.sub(_at_name, code.group(1)))}</code>")
        at = code.end()
    pieces.append(_styled(inner[at:]))
    markup = "".join(pieces)
    return f"<i>{markup}</i>" if italic else markup


def _styled(text: str) -> str:
    """Text outside code spans: escaped, ``*bold*`` in bold, mentions as links."""
    pieces: list[str] = []
    at = 0
    for bold in _BOLD.finditer(text):
        pieces.append(_with_mentions(text[at : bold.start()]))
        pieces.append(f"<b>{_with_mentions(bold.group(1))}</b>")
        at = bold.end()
    pieces.append(_with_mentions(text[at:]))
    return "".join(pieces)


def _with_mentions(text: str) -> str:
    if _OPEN not in text:  # most texts mention nobody: skip the regex
        return escape(text)
    pieces: list[str] = []
    at = 0
    for token in _TOKEN.finditer(text):
        pieces.append(escape(text[at : token.start()]))
        user_id, name = token.group(1), token.group(2)
        pieces.append(f'<a href="tg://user?id={user_id}">{escape(name)}</a>')
        at = token.end()
    pieces.append(escape(text[at:]))
    return "".join(pieces)


def _at_name(match: re.Match[str]) -> str:
    return f"@{match.group(2)}"

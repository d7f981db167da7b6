"""A command line split into words, quoted as a POSIX shell quotes them. Pure, linear.

``key="a b"`` and ``key='a b'`` are one word, ``key=a\\ b`` too; quotes may be joined to
the rest of a word (``'it'"'"'s'`` is ``it's``, as :func:`shlex.join` writes it). Inside
double quotes a backslash escapes only ``"`` and ``\\``; inside single quotes nothing.
Words are separated by spaces, tabs, carriage returns and newlines.

These are the rules of :func:`shlex.split` (POSIX mode, no comments), which the grammar used
before; shlex builds each word one character at a time on an attribute, quadratic in the
word's length (12 s for a 1 MB line). Here each run of plain characters is one slice.
"""

from __future__ import annotations

import re

__all__ = ["QuoteError", "split_words"]

_SPACE = " \t\r\n"
_SPACES = re.compile(r"[ \t\r\n]+")
_PLAIN = re.compile(r"[^ \t\r\n'\"\\]+")
_PLAIN_IN_DOUBLE = re.compile(r'[^"\\]+')
_ESCAPED_IN_DOUBLE = '"\\'


class QuoteError(ValueError):
    """A quote is never closed, or a backslash ends the line with nothing to escape."""


def split_words(text: str) -> list[str]:
    """The words of ``text``, quotes removed; QuoteError if a quote is left open."""
    words: list[str] = []
    parts: list[str] = []
    in_word = False
    at, end = 0, len(text)
    while at < end:
        char = text[at]
        if char in _SPACE:
            if in_word:
                words.append("".join(parts))
                parts.clear()
                in_word = False
            spaces = _SPACES.match(text, at)
            assert spaces is not None  # text[at] is one of them
            at = spaces.end()
            continue
        in_word = True  # even an empty quoted string ("") is a word
        if char == "'":
            close = text.find("'", at + 1)
            if close < 0:
                raise QuoteError("No closing quotation")
            parts.append(text[at + 1 : close])
            at = close + 1
        elif char == '"':
            at = _double_quoted(text, at + 1, parts)
        elif char == "\\":
            if at + 1 == end:
                raise QuoteError("No escaped character")
            parts.append(text[at + 1])
            at += 2
        else:
            plain = _PLAIN.match(text, at)
            assert plain is not None  # text[at] is a plain character
            parts.append(plain.group())
            at = plain.end()
    if in_word:
        words.append("".join(parts))
    return words


def _double_quoted(text: str, at: int, parts: list[str]) -> int:
    """Read a double-quoted string from just after its opening quote; where it ends."""
    end = len(text)
    while True:
        plain = _PLAIN_IN_DOUBLE.match(text, at)
        if plain is not None:
            parts.append(plain.group())
            at = plain.end()
        if at == end:
            raise QuoteError("No closing quotation")
        if text[at] == '"':
            return at + 1
        # A backslash: it escapes only a quote or a backslash, and stays before anything else.
        if at + 1 == end:
            raise QuoteError("No escaped character")
        following = text[at + 1]
        parts.append(following if following in _ESCAPED_IN_DOUBLE else f"\\{following}")
        at += 2

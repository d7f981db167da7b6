"""Text for Slack: lengths as Slack counts them, cutting to a limit, and mrkdwn escaping. Pure.

Slack parses ``&``, ``<`` and ``>`` in mrkdwn: ``<!channel>`` notifies a whole channel,
``<https://x|label>`` hides where a link goes. Text the bot shows comes from people (params,
deny reasons, form values) and from targets (step output), so :func:`escape` turns those
three characters into entities everywhere. The only markup the core means is a mention it
asks the surface for (``Chat.mention``): :func:`mention` returns a token that carries a
secret of this process, and :func:`escape` turns exactly those tokens into ``<@U…>`` /
``<!subteam^S…>``, so a user cannot forge one by typing it.

Lengths are measured in UTF-16 code units (what Slack's limits count), never fewer than
Python's ``len``, so a text that fits here fits Slack and ``slack_sdk``'s own validators.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ELLIPSIS",
    "cut",
    "escape",
    "fair_shares",
    "mention",
    "plain",
    "text_size",
    "text_total",
    "truncate",
    "unescape",
]

ELLIPSIS = "…"

_TOKEN_OPEN, _TOKEN_CLOSE = "\ue000", "\ue001"  # private-use characters
_SECRET = secrets.token_hex(8)
_TOKEN = re.compile(
    rf"{_TOKEN_OPEN}{_SECRET}:([A-Za-z0-9]+){_TOKEN_CLOSE}"  # mention() below
)
_IDENTITY = re.compile(r"[A-Za-z0-9]+", re.ASCII)
_ENTITY = re.compile(r"&(lt|gt|amp);")
_UNESCAPED = {"lt": "<", "gt": ">", "amp": "&"}
# What escaped mrkdwn may end with when a cut fell inside an entity or a mention.
_PARTIAL = re.compile(r"(&[a-z]{0,3}|<[^>]*)$")


def text_size(text: str) -> int:
    """Length as Slack counts it (UTF-16 code units): ``len(text)`` plus one per astral char."""
    # Every piece of every message is measured, so in C: ASCII is one unit a character, and
    # UTF-16 takes two bytes a unit ("surrogatepass": a lone surrogate is one unit too).
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` (see :func:`text_size`), else cut to fit, ending in "…"."""
    if limit < 1:
        raise ValueError(f"truncate limit must be at least 1, not {limit}")
    size = text_size(text)
    if size <= limit:
        return text
    if size == len(text):  # no astral characters: units are characters
        return text[: limit - 1].rstrip() + ELLIPSIS
    budget = limit - 1  # room for the ellipsis
    kept = []
    for char in text:
        budget -= 2 if ord(char) > 0xFFFF else 1
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS


def cut(text: str, limit: int) -> str:
    """:func:`truncate` for escaped mrkdwn: never ends inside an entity or a mention."""
    if text_size(text) <= limit:
        return text
    kept = truncate(text, limit).removesuffix(ELLIPSIS)
    return _PARTIAL.sub("", kept).rstrip() + ELLIPSIS


def mention(identity: str) -> str:
    """A mention of a Slack user (``U…``/``W…``) or user group (``S…``) for :func:`escape`."""
    if not _IDENTITY.fullmatch(identity):
        return f"@{identity}"  # not a Slack ID: shown, never parsed
    return f"{_TOKEN_OPEN}{_SECRET}:{identity}{_TOKEN_CLOSE}"


def escape(text: str) -> str:
    """``text`` as mrkdwn that shows it as written, with :func:`mention` tokens notifying."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if _TOKEN_OPEN not in text:  # most texts mention nobody: skip the regex
        return text
    return _TOKEN.sub(_mention_markup, text)


def unescape(text: str) -> str:
    """What someone typed, from the text Slack sends (slash commands, message events):
    Slack writes ``&``, ``<`` and ``>`` as ``&amp;``, ``&lt;`` and ``&gt;``, only those."""
    return _ENTITY.sub(lambda m: _UNESCAPED[m.group(1)], text)


def plain(text: str) -> str:
    """``text`` for a plain_text object (nothing is parsed there): mentions read ``@ID``."""
    return _TOKEN.sub(lambda m: f"@{m.group(1)}", text)


def _mention_markup(match: re.Match[str]) -> str:
    identity = match.group(1)
    return f"<!subteam^{identity}>" if identity.startswith("S") else f"<@{identity}>"


def text_total(node: Any) -> int:
    """The text a block (or list of blocks, as dicts) holds: every ``text`` string in it.

    This is what Slack's per-message total (``msg_blocks_too_long``) is measured on.
    """
    if isinstance(node, list):
        return sum(text_total(item) for item in node)
    if not isinstance(node, dict):
        return 0
    total = 0
    for key, value in node.items():
        if key == "text" and isinstance(value, str):
            total += text_size(value)
        else:
            total += text_total(value)
    return total


def fair_shares(sizes: Sequence[int], budget: int, ceiling: int) -> list[int]:
    """Per-item limits sharing ``budget``: short items whole, the rest equal shares.

    No limit exceeds ``ceiling`` or its item's size, and together they never exceed ``budget``.
    """
    shares = [0] * len(sizes)
    left = max(budget, 0)
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for done, i in enumerate(order):
        share = min(sizes[i], ceiling, left // (len(sizes) - done))
        shares[i] = share
        left -= share
    return shares

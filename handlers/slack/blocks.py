"""Cards, buttons and long texts as Slack Block Kit blocks. Pure: no I/O, no Slack client.

Every builder keeps within Block Kit's limits so Slack never answers ``invalid_blocks``:
50 blocks per message, 3000 characters per section text, 150 per header, 10 fields of
2000 characters per section, 25 elements per actions block. Lengths are measured in UTF-16
code units (what Slack's limits count), never fewer than Python's ``len``, so a text that
fits here fits Slack and ``slack_sdk``'s own validators.

Buttons carry ``action_id = "chatops.<action>"`` and ``value = "RUN_ID"`` or
``"RUN_ID:STEP"``; :func:`parse_button` turns a click back into a neutral :class:`Button`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.chat import Button, ButtonAction, Card

__all__ = [
    "ACTION_PREFIX",
    "CONFIRM_DENY",
    "CONFIRM_TITLE",
    "MAX_ACTIONS",
    "MAX_BLOCKS",
    "MAX_CONTEXT_ELEMENTS",
    "MAX_FIELDS",
    "MAX_FIELD_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_MESSAGE_TEXT",
    "MAX_SECTION_TEXT",
    "action_id",
    "button_element",
    "button_value",
    "card_blocks",
    "card_text",
    "message_blocks",
    "parse_button",
    "text_size",
    "truncate",
]

ACTION_PREFIX = "chatops."

# Block Kit limits (see slack_sdk.models.blocks: *_max_length).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = SectionBlock.text_max_length  # 3000
MAX_FIELDS = SectionBlock.fields_max_length  # 10 per section
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = HeaderBlock.text_max_length  # 150
MAX_ACTIONS = ActionsBlock.elements_max_length  # 25
MAX_CONTEXT_ELEMENTS = ContextBlock.elements_max_length  # 10
MAX_CONTEXT_TEXT = 2000
MAX_MESSAGE_TEXT = 3000  # the notification fallback ``text`` we send with blocks
MAX_BUTTON_VALUE = ButtonElement.value_max_length  # 2000
MAX_CONFIRM_TEXT = ConfirmObject.text_max_length  # 300

CONFIRM_TITLE = "Are you sure?"
CONFIRM_DENY = "Back"

# A card may spread its fields over this many sections; more fields than that are cut.
_MAX_FIELD_SECTIONS = 3
_ELLIPSIS = "…"
_BLANK = " "  # Slack rejects an empty section text; a single space is accepted.
_STYLES = frozenset({"primary", "danger"})
_RUN_ID = re.compile(r"[0-9]+", re.ASCII)
_ACTION_SUFFIX = re.compile(r"\.[0-9]+", re.ASCII)


# -- text helpers ---------------------------------------------------------------------------


def text_size(text: str) -> int:
    """Length as Slack counts it (UTF-16 code units): ``len(text)`` plus one per astral char."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` (see :func:`text_size`), else cut to fit, ending in "…"."""
    if limit < 1:
        raise ValueError(f"truncate limit must be at least 1, not {limit}")
    if text_size(text) <= limit:
        return text
    budget = limit - 1  # room for the ellipsis
    kept = []
    for char in text:
        budget -= 2 if ord(char) > 0xFFFF else 1
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept).rstrip() + _ELLIPSIS


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text if text.strip() else _BLANK)


def _section(block_id: str, text: str) -> SectionBlock:
    return SectionBlock(block_id=block_id, text=_mrkdwn(truncate(text, MAX_SECTION_TEXT)))


def _dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]


def _pack(
    lines: Sequence[str], max_sections: int, note: Callable[[int], str] | None = None
) -> tuple[list[str], int]:
    """Join ``lines`` into at most ``max_sections`` texts of at most MAX_SECTION_TEXT each.

    Lines are never split across texts (a line too long for one is cut with "…"). Returns
    the texts and how many lines they hold. When the lines do not all fit and ``note`` is
    given, the last text ends with ``note(number_of_lines_left_out)``.
    """
    if max_sections < 1:
        return [], 0
    lines = [truncate(line, MAX_SECTION_TEXT) for line in lines]
    chunks: list[list[str]] = [[]]
    size = 0
    shown = 0
    for line in lines:
        extra = text_size(line) + (1 if chunks[-1] else 0)
        if chunks[-1] and size + extra > MAX_SECTION_TEXT:
            if len(chunks) == max_sections:
                break
            chunks.append([])
            size = 0
            extra = text_size(line)
        chunks[-1].append(line)
        size += extra
        shown += 1
    if shown < len(lines) and note is not None:
        # Make room for the note in the last text, dropping lines from its end as needed.
        last = chunks[-1]
        while True:
            tail = truncate(note(len(lines) - shown), MAX_SECTION_TEXT)
            if not last or text_size("\n".join([*last, tail])) <= MAX_SECTION_TEXT:
                break
            last.pop()
            shown -= 1
        last.append(tail)
    return ["\n".join(chunk) for chunk in chunks if chunk], shown


# -- buttons --------------------------------------------------------------------------------


def action_id(button: Button) -> str:
    """``chatops.<action>``, e.g. ``chatops.approve``."""
    return f"{ACTION_PREFIX}{button.action.value}"


def button_value(button: Button) -> str:
    """``RUN_ID`` or ``RUN_ID:STEP``: what the click sends back to us."""
    if button.step is None:
        return str(button.run_id)
    return f"{button.run_id}:{button.step}"


def parse_button(action_id: str, value: str) -> Button:
    """The neutral button behind a click on ``action_id`` carrying ``value``.

    Accepts what :func:`action_id` and :func:`button_value` produce (and the ``.N`` suffix
    :func:`card_blocks` / :func:`message_blocks` add when one message holds two buttons of
    the same action). Raises ValueError on anything else.
    """
    if not action_id.startswith(ACTION_PREFIX):
        raise ValueError(f"not a chatops button: action_id {action_id!r}")
    name = action_id.removeprefix(ACTION_PREFIX)
    base, dot, suffix = name.partition(".")
    if dot and not _ACTION_SUFFIX.fullmatch(f".{suffix}"):
        raise ValueError(f"unknown button action {name!r}")
    try:
        action = ButtonAction(base)
    except ValueError:
        known = ", ".join(a.value for a in ButtonAction)
        raise ValueError(f"unknown button action {name!r} (known: {known})") from None
    run_text, colon, step = value.partition(":")
    if not _RUN_ID.fullmatch(run_text):
        raise ValueError(f"malformed button value {value!r}: expected RUN_ID or RUN_ID:STEP")
    return Button(action, int(run_text), step if colon else None)


def button_element(button: Button, *, unique_action_id: str | None = None) -> ButtonElement:
    """A Block Kit button: the label, its style, and a confirm dialog when the button asks."""
    style = button.style if button.style in _STYLES else None
    confirm = None
    if button.confirm:
        confirm = ConfirmObject(
            title=PlainTextObject(text=CONFIRM_TITLE, emoji=True),
            text=MarkdownTextObject(text=truncate(button.confirm, MAX_CONFIRM_TEXT)),
            confirm=PlainTextObject(text=button.label, emoji=True),
            deny=PlainTextObject(text=CONFIRM_DENY, emoji=True),
            style=style,
        )
    value = button_value(button)
    if text_size(value) > MAX_BUTTON_VALUE:
        raise ValueError(f"button value too long for Slack ({text_size(value)} characters)")
    return ButtonElement(
        text=PlainTextObject(text=button.label, emoji=True),
        action_id=unique_action_id or action_id(button),
        value=value,
        style=style,
        confirm=confirm,
    )


def _actions_block(block_id: str, buttons: Sequence[Button]) -> ActionsBlock | None:
    """Up to 25 buttons; exact duplicates dropped, repeated actions get ``.2``, ``.3``…

    (Slack rejects two elements with the same action_id in one block.)
    """
    unique: list[Button] = []
    for button in buttons:
        if button not in unique:
            unique.append(button)
    elements: list[ButtonElement] = []
    seen: dict[str, int] = {}
    for button in unique[:MAX_ACTIONS]:
        base = action_id(button)
        seen[base] = seen.get(base, 0) + 1
        unique_id = base if seen[base] == 1 else f"{base}.{seen[base]}"
        elements.append(button_element(button, unique_action_id=unique_id))
    if not elements:
        return None
    return ActionsBlock(block_id=block_id, elements=elements)


# -- cards ----------------------------------------------------------------------------------


def card_text(card: Card) -> str:
    """The notification fallback: ``🟡 Title — status``."""
    return truncate(f"{card.status_emoji} {card.text()}".strip(), MAX_MESSAGE_TEXT)


def card_blocks(card: Card) -> list[dict[str, Any]]:
    """The card as blocks: header, status, fields, plan, notes, buttons (≤ 50 blocks)."""
    header_text = f"{card.status_emoji} {card.title}".strip() or _BLANK
    blocks: list[Block] = [
        HeaderBlock(
            block_id="card-header",
            text=PlainTextObject(text=truncate(header_text, MAX_HEADER_TEXT), emoji=True),
        ),
        _section("card-status", f"*{card.status.strip()}*" if card.status.strip() else _BLANK),
    ]
    blocks += _field_sections(card)
    tail: list[Block] = []
    notes = _notes_block(card.notes)
    if notes is not None:
        tail.append(notes)
    actions = _actions_block("card-actions", card.buttons)
    if actions is not None:
        tail.append(actions)
    if card.plan:
        # A divider and the plan sections share what is left of the 50 blocks.
        room = MAX_BLOCKS - len(blocks) - len(tail) - 1
        run = card.run_id if card.run_id is not None else "RUN"

        def note(left: int) -> str:
            lines = "line" if left == 1 else "lines"
            return f"{_ELLIPSIS} {left} more {lines} (see `/playbook status {run}`)"

        texts, _ = _pack(["*Plan*", *card.plan], room, note)
        if texts:
            blocks.append(DividerBlock(block_id="card-divider"))
            blocks += [
                _section("card-plan" if i == 1 else f"card-plan-{i}", text)
                for i, text in enumerate(texts, 1)
            ]
    return _dicts(blocks + tail)


def _field_sections(card: Card) -> list[Block]:
    texts = [
        truncate(f"*{f.label}*\n{f.value}" if f.label else f.value, MAX_FIELD_TEXT)
        for f in card.fields
    ]
    texts = [text if text.strip() else _BLANK for text in texts]
    cap = MAX_FIELDS * _MAX_FIELD_SECTIONS
    if len(texts) > cap:
        left = len(texts) - (cap - 1)
        texts = [*texts[: cap - 1], f"*{_ELLIPSIS}*\n{left} more fields"]
    sections: list[Block] = []
    for start in range(0, len(texts), MAX_FIELDS):
        n = start // MAX_FIELDS + 1
        sections.append(
            SectionBlock(
                block_id="card-fields" if n == 1 else f"card-fields-{n}",
                fields=[MarkdownTextObject(text=t) for t in texts[start : start + MAX_FIELDS]],
            )
        )
    return sections


def _notes_block(notes: Sequence[str]) -> ContextBlock | None:
    texts = [note for note in notes if note.strip()]
    if not texts:
        return None
    if len(texts) > MAX_CONTEXT_ELEMENTS:
        left = len(texts) - (MAX_CONTEXT_ELEMENTS - 1)
        texts = [*texts[: MAX_CONTEXT_ELEMENTS - 1], f"{_ELLIPSIS} {left} more notes"]
    return ContextBlock(
        block_id="card-notes",
        elements=[MarkdownTextObject(text=truncate(t, MAX_CONTEXT_TEXT)) for t in texts],
    )


# -- long texts -----------------------------------------------------------------------------


def message_blocks(text: str, buttons: Sequence[Button] | None = None) -> list[dict[str, Any]]:
    """``text`` (mrkdwn) as sections of ≤ 3000 characters split at line boundaries, then buttons.

    At most 49 sections (50 without buttons); a text longer than that ends with a
    ``… (truncated: N more lines)`` section.
    """
    actions = _actions_block("msg-actions", buttons or [])
    room = MAX_BLOCKS - (1 if actions is not None else 0)
    lines = text.replace("\r\n", "\n").strip("\n").split("\n")
    texts, shown = _pack(lines, room)
    if shown < len(lines):
        # It does not all fit: one section fewer, and the overflow note in a section of its own.
        texts, shown = _pack(lines, room - 1)
        left = len(lines) - shown
        texts.append(f"{_ELLIPSIS} (truncated: {left} more {'line' if left == 1 else 'lines'})")
    texts = [t.strip("\n") for t in texts]
    texts = [t for t in texts if t.strip()]
    blocks: list[Block] = [
        _section("msg" if i == 1 else f"msg-{i}", t) for i, t in enumerate(texts, 1)
    ]
    if actions is not None:
        blocks.append(actions)
    if not blocks:
        blocks.append(_section("msg", _BLANK))
    return _dicts(blocks)

"""Cards, buttons and long texts as Slack Block Kit blocks. Pure: no I/O, no Slack client.

Every builder keeps within Block Kit's limits so Slack never refuses a message: 50 blocks,
3000 characters per section text, 150 per header, 10 fields of 2000 characters per section,
25 elements per actions block, and about 12,000 characters of text across all the blocks of
one message (beyond that chat.postMessage / chat.update answer ``msg_blocks_too_long``; the
limit is not documented, see slackapi/bolt-js#2509 and #2867). What does not fit is cut
with a note saying how much was left out.

All mrkdwn is escaped (:func:`handlers.slack.text.escape`): text from people and targets
shows as written and cannot notify a channel; the core's own mentions still notify.

Blocks are built with slack_sdk's Block Kit models, which check Slack's own limits again as
they turn into JSON (``to_dict``, about 0.2 ms for a card); the budgets above work on that
JSON, the text Slack will count.

Buttons carry ``action_id = "chatops.<action>"`` and ``value = "RUN_ID"`` or
``"RUN_ID:STEP"``; :func:`parse_button` turns a click back into a neutral :class:`Button`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
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
from handlers.grammar import GrammarError, run_number
from handlers.slack.text import (
    ELLIPSIS,
    cut,
    escape,
    fair_shares,
    plain,
    text_size,
    text_total,
    truncate,
)

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
    "MAX_TOTAL_TEXT",
    "action_id",
    "button_element",
    "button_value",
    "card_blocks",
    "card_text",
    "fallback_text",
    "message_blocks",
    "parse_button",
    "text_size",
    "truncate",
]

ACTION_PREFIX = "chatops."

# Block Kit limits (the same as slack_sdk.models.blocks' *_max_length).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10  # per section
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 2000
MAX_MESSAGE_TEXT = 3000  # the notification fallback ``text`` we send with blocks
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_BUTTON = 30  # the confirm dialog's own confirm / deny buttons
MAX_CONFIRM_TEXT = 300
# All the text of one message's blocks (every text object: sections, fields, context,
# header, button labels and confirm dialogs).
MAX_TOTAL_TEXT = 12_000

CONFIRM_TITLE = "Are you sure?"
CONFIRM_DENY = "Back"

# A card may spread its fields over this many sections; more fields than that are cut.
_MAX_FIELD_SECTIONS = 3
# Of a card's text budget, at most this much goes to each part before the plan gets the rest.
_CARD_STATUS_TEXT = 1000
_CARD_FIELDS_TEXT = 4000
_CARD_NOTES_TEXT = 3000
_BLANK = " "  # Slack rejects an empty section text; a single space is accepted.
_STYLES = frozenset({"primary", "danger"})
_RUN_ID = re.compile(r"[0-9]+", re.ASCII)
_SHOWN_VALUE = 40  # of a malformed button value, repeated in the refusal
_ACTION_SUFFIX = re.compile(r"\.[0-9]+", re.ASCII)


# -- text helpers ---------------------------------------------------------------------------


def fallback_text(text: str) -> str:
    """The notification ``text`` sent beside the blocks: escaped mrkdwn, ≤ 3000 characters."""
    return cut(escape(text), MAX_MESSAGE_TEXT)


Block = dict[str, Any]  # one Block Kit object, as the JSON Slack reads


def _mrkdwn(text: str) -> MarkdownTextObject:
    """A mrkdwn text object; never empty (Slack rejects an empty text)."""
    return MarkdownTextObject(text=text if text.strip() else _BLANK)


def _plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text or _BLANK, emoji=True)


def _section(block_id: str, text: str) -> Block:
    """A section of already escaped mrkdwn."""
    return SectionBlock(block_id=block_id, text=_mrkdwn(cut(text, MAX_SECTION_TEXT))).to_dict()


def _joined_size(lines: Sequence[str]) -> int:
    return text_size("\n".join(lines))


def _pack(
    lines: Sequence[str],
    max_sections: int,
    budget: int,
    note: Callable[[int], str] | None = None,
) -> tuple[list[str], int]:
    """Join escaped ``lines`` into at most ``max_sections`` texts of at most MAX_SECTION_TEXT
    each and at most ``budget`` together.

    Lines are never split across texts (a line too long for one is cut with "…"; so is a
    first line too long for the whole budget). Returns the texts and how many lines they
    hold. When the lines do not all fit and ``note`` is given, the last text ends with
    ``note(number_of_lines_left_out)``.
    """
    if max_sections < 1 or budget < 1:
        return [], 0
    chunks: list[list[str]] = [[]]
    size = 0  # of the last chunk
    total = 0  # of all chunks
    shown = 0
    for line in lines:
        line = cut(line, MAX_SECTION_TEXT)
        joiner = 1 if chunks[-1] else 0
        if chunks[-1] and size + joiner + text_size(line) > MAX_SECTION_TEXT:
            if len(chunks) == max_sections:
                break
            chunks.append([])
            size, joiner = 0, 0
        if total + joiner + text_size(line) > budget:
            if shown or budget - total < 2:
                break
            line = cut(line, budget - total)
        chunks[-1].append(line)
        size += joiner + text_size(line)
        total += joiner + text_size(line)
        shown += 1
    if shown < len(lines) and note is not None:
        # Make room for the note in the last text, dropping lines from the end as needed.
        if not chunks[-1] and len(chunks) > 1:
            chunks.pop()
        while True:
            tail = cut(note(len(lines) - shown), min(MAX_SECTION_TEXT, budget))
            last = chunks[-1]
            others = sum(_joined_size(chunk) for chunk in chunks[:-1])
            if not last or (
                _joined_size([*last, tail]) <= MAX_SECTION_TEXT
                and others + _joined_size([*last, tail]) <= budget
            ):
                break
            last.pop()
            shown -= 1
            if not last and len(chunks) > 1:
                chunks.pop()
        chunks[-1].append(tail)
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
    the same action). Raises ValueError on anything else, with a reason fit to show the
    clicker (a run number past the largest id: "There is no run #…").
    """
    if not action_id.startswith(ACTION_PREFIX):
        raise ValueError("That is not one of my buttons, so nothing was done.")
    name = action_id.removeprefix(ACTION_PREFIX)
    shown_name = truncate(name, _SHOWN_VALUE)
    base, dot, suffix = name.partition(".")
    if dot and not _ACTION_SUFFIX.fullmatch(f".{suffix}"):
        raise ValueError(f"I don't know the button action {shown_name!r}, so nothing was done.")
    try:
        action = ButtonAction(base)
    except ValueError:
        known = ", ".join(a.value for a in ButtonAction)
        raise ValueError(
            f"I don't know the button action {shown_name!r} (I know: {known}), so nothing was done."
        ) from None
    run_text, colon, step = value.partition(":")
    if not _RUN_ID.fullmatch(run_text):
        shown = truncate(value, _SHOWN_VALUE)
        raise ValueError(
            f"I couldn't read that button: its value {shown!r} names no run "
            "(expected RUN or RUN:STEP), so nothing was done."
        )
    try:
        run_id = run_number(run_text)
    except GrammarError as exc:  # past the largest id: no run has it
        raise ValueError(exc.reason) from None
    return Button(action, run_id, step if colon else None)


def button_element(button: Button, *, unique_action_id: str | None = None) -> Block:
    """A Block Kit button: the label, its style, and a confirm dialog when the button asks."""
    return _button(button, unique_action_id).to_dict()


def _button(button: Button, unique_action_id: str | None) -> ButtonElement:
    value = button_value(button)
    if text_size(value) > MAX_BUTTON_VALUE:
        raise ValueError(f"button value too long for Slack ({text_size(value)} characters)")
    style = button.style if button.style in _STYLES else None
    confirm = None
    if button.confirm:
        confirm = ConfirmObject(
            title=_plain(truncate(CONFIRM_TITLE, MAX_CONFIRM_TITLE)),
            text=_mrkdwn(cut(escape(button.confirm), MAX_CONFIRM_TEXT)),
            confirm=_plain(truncate(button.label, MAX_CONFIRM_BUTTON)),
            deny=_plain(truncate(CONFIRM_DENY, MAX_CONFIRM_BUTTON)),
            style=style,
        )
    return ButtonElement(
        text=_plain(truncate(button.label, MAX_BUTTON_TEXT)),
        action_id=unique_action_id or action_id(button),
        value=value,
        style=style,
        confirm=confirm,
    )


def _actions_block(block_id: str, buttons: Sequence[Button]) -> Block | None:
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
        elements.append(_button(button, base if seen[base] == 1 else f"{base}.{seen[base]}"))
    if not elements:
        return None
    return ActionsBlock(block_id=block_id, elements=elements).to_dict()


# -- cards ----------------------------------------------------------------------------------


def card_text(card: Card) -> str:
    """The notification fallback: ``🟡 Title — status``."""
    return fallback_text(f"{card.status_emoji} {card.text()}".strip())


def card_blocks(card: Card) -> list[dict[str, Any]]:
    """The card as blocks: header, status, fields, plan, notes, buttons.

    Within 50 blocks and MAX_TOTAL_TEXT: the header and buttons first, then the status,
    fields and notes each up to a share, and the plan gets what is left (cut with a note
    that points to ``/playbook status``).
    """
    header_text = plain(f"{card.status_emoji} {card.title}".strip()) or _BLANK
    header = HeaderBlock(
        block_id="card-header", text=_plain(truncate(header_text, MAX_HEADER_TEXT))
    ).to_dict()
    actions = _actions_block("card-actions", card.buttons)
    left = MAX_TOTAL_TEXT - _size_of(header) - _size_of(actions)

    status = f"*{escape(card.status.strip())}*" if card.status.strip() else _BLANK
    status_block = _section("card-status", cut(status, min(_CARD_STATUS_TEXT, left)))
    left -= _size_of(status_block)
    fields = _field_sections(card, min(_CARD_FIELDS_TEXT, left))
    left -= sum(_size_of(block) for block in fields)
    notes = _notes_block(card.notes, min(_CARD_NOTES_TEXT, left))
    left -= _size_of(notes)

    blocks: list[Block] = [header, status_block, *fields]
    tail: list[Block] = [block for block in (notes, actions) if block is not None]
    if card.plan:
        # A divider and the plan sections share what is left of the 50 blocks.
        room = MAX_BLOCKS - len(blocks) - len(tail) - 1
        run = card.run_id if card.run_id is not None else "RUN"

        def note(left_out: int) -> str:
            lines = "line" if left_out == 1 else "lines"
            return f"{ELLIPSIS} {left_out} more {lines} (see `/playbook status {run}`)"

        plan = ["*Plan*", *(escape(line) for line in card.plan)]
        texts, _ = _pack(plan, room, left, note)
        if texts:
            blocks.append(DividerBlock(block_id="card-divider").to_dict())
            blocks += [
                _section("card-plan" if i == 1 else f"card-plan-{i}", text)
                for i, text in enumerate(texts, 1)
            ]
    return blocks + tail


def _size_of(block: Block | None) -> int:
    return text_total(block) if block is not None else 0


def _field_sections(card: Card, budget: int) -> list[Block]:
    texts = [
        f"*{escape(f.label)}*\n{escape(f.value)}" if f.label else escape(f.value)
        for f in card.fields
    ]
    texts = [text if text.strip() else _BLANK for text in texts]
    cap = MAX_FIELDS * _MAX_FIELD_SECTIONS
    if len(texts) > cap:
        left = len(texts) - (cap - 1)
        texts = [*texts[: cap - 1], f"*{ELLIPSIS}*\n{left} more fields"]
    shares = fair_shares([text_size(t) for t in texts], budget, MAX_FIELD_TEXT)
    if any(share < min(2, text_size(t)) for share, t in zip(shares, texts, strict=True)):
        return []  # no room to show every field even in part
    texts = [cut(text, share) for text, share in zip(texts, shares, strict=True)]
    sections: list[Block] = []
    for start in range(0, len(texts), MAX_FIELDS):
        n = start // MAX_FIELDS + 1
        sections.append(
            SectionBlock(
                block_id="card-fields" if n == 1 else f"card-fields-{n}",
                fields=[_mrkdwn(t) for t in texts[start : start + MAX_FIELDS]],
            ).to_dict()
        )
    return sections


def _notes_block(notes: Sequence[str], budget: int) -> Block | None:
    texts = [escape(note) for note in notes if note.strip()]
    if not texts:
        return None
    if len(texts) > MAX_CONTEXT_ELEMENTS:
        left = len(texts) - (MAX_CONTEXT_ELEMENTS - 1)
        texts = [*texts[: MAX_CONTEXT_ELEMENTS - 1], f"{ELLIPSIS} {left} more notes"]
    shares = fair_shares([text_size(t) for t in texts], budget, MAX_CONTEXT_TEXT)
    if any(share < min(2, text_size(t)) for share, t in zip(shares, texts, strict=True)):
        return None
    return ContextBlock(
        block_id="card-notes",
        elements=[_mrkdwn(cut(t, share)) for t, share in zip(texts, shares, strict=True)],
    ).to_dict()


# -- long texts -----------------------------------------------------------------------------


def message_blocks(text: str, buttons: Sequence[Button] | None = None) -> list[dict[str, Any]]:
    """``text`` (mrkdwn) as sections of ≤ 3000 characters split at line boundaries, then buttons.

    Within 50 blocks and MAX_TOTAL_TEXT; a text longer than that ends with a
    ``… (truncated: N more lines)`` section.
    """
    actions = _actions_block("msg-actions", buttons or [])
    room = MAX_BLOCKS - (1 if actions is not None else 0)
    budget = MAX_TOTAL_TEXT - _size_of(actions)
    lines = [escape(line) for line in text.replace("\r\n", "\n").strip("\n").split("\n")]
    texts, shown = _pack(lines, room, budget)
    if shown < len(lines):
        # It does not all fit: the overflow note goes in a section of its own.
        def note(left: int) -> str:
            return f"{ELLIPSIS} (truncated: {left} more {'line' if left == 1 else 'lines'})"

        texts, shown = _pack(lines, room - 1, budget - text_size(note(len(lines))))
        texts.append(note(len(lines) - shown))
    texts = [t.strip("\n") for t in texts]
    texts = [t for t in texts if t.strip()]
    blocks: list[Block] = [
        _section("msg" if i == 1 else f"msg-{i}", t) for i, t in enumerate(texts, 1)
    ]
    if actions is not None:
        blocks.append(actions)
    if not blocks:
        blocks.append(_section("msg", _BLANK))
    return blocks

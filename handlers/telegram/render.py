"""Cards, messages and their buttons as Telegram HTML and inline keyboards. Pure: no I/O.

A card is one HTML message of at most 4,096 characters: its title and status, the fields,
the notes, then the plan, which gets what room is left and, cut, ends with a note pointing
to ``/playbook status``. Its buttons are one row of an inline keyboard labelled as the
grammar says (Run, Approve, Deny, Cancel, Resume, Abort); each carries only the short key
the caller made for it (:mod:`bot.db.callback_tokens`), never the run or its params.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.cards import command_params
from bot.chat import Button, Card, MessageRef, Report
from handlers.telegram.text import ELLIPSIS, MAX_TEXT, cut, fit, visible_size
from playbooks.model import Playbook

__all__ = [
    "MAX_CALLBACK_DATA",
    "Keyboard",
    "Rendered",
    "card_html",
    "keyboard",
    "message_link",
    "missing_params",
    "report_html",
    "unique_buttons",
]

MAX_CALLBACK_DATA = 64
"""Bytes of ``callback_data`` Telegram accepts on a button."""
# Of a card's 4,096 characters, at most this much goes to each part before the plan.
_FIELD_CHARS = 600
_NOTE_CHARS = 500
_PLAN_CHARS = 600  # kept for the plan: the card's top part is cut before it takes this
_MAX_NOTES = 10
_PLAN_TITLE = "<b>Plan</b>"

Keyboard = tuple[tuple[tuple[str, str], ...], ...]
"""Rows of (label, callback_data)."""


@dataclass(frozen=True)
class Rendered:
    """A message as Telegram takes it: HTML text and an inline keyboard (empty: none)."""

    html: str
    keyboard: Keyboard = ()


def unique_buttons(buttons: Sequence[Button]) -> list[Button]:
    """``buttons`` without repeats (one key, one button on a keyboard)."""
    seen: list[Button] = []
    for button in buttons:
        if not any(_same(button, other) for other in seen):
            seen.append(button)
    return seen


def keyboard(buttons: Sequence[Button], keys: Sequence[str]) -> Keyboard:
    """One row of ``buttons``, each sending back its key (``keys[i]`` for ``buttons[i]``)."""
    if len(keys) != len(buttons):
        raise ValueError(f"{len(buttons)} buttons but {len(keys)} keys")
    for key in keys:
        if not key or len(key.encode()) > MAX_CALLBACK_DATA:
            raise ValueError(f"a button key must be 1 to {MAX_CALLBACK_DATA} bytes")
    if not buttons:
        return ()
    return (tuple((button.label, key) for button, key in zip(buttons, keys, strict=True)),)


def card_html(card: Card) -> str:
    """The card as one HTML message within Telegram's limit (see the module docstring)."""
    lines = [f"{card.status_emoji} *{_one_line(card.title)}*".strip()]
    if card.status.strip():
        lines.append(f"_{cut(_one_line(card.status), _FIELD_CHARS)}_")
    if card.fields:
        lines.append("")
        lines += [
            f"*{_one_line(f.label)}:* {cut(_one_line(f.value), _FIELD_CHARS)}"
            if f.label
            else cut(_one_line(f.value), _FIELD_CHARS)
            for f in card.fields
        ]
    notes = [f"_{cut(_one_line(n), _NOTE_CHARS)}_" for n in card.notes if n.strip()]
    if len(notes) > _MAX_NOTES:
        notes = [*notes[: _MAX_NOTES - 1], f"_{ELLIPSIS} {len(notes) - _MAX_NOTES + 1} more_"]
    if notes:
        lines += ["", *notes]
    top = fit("\n".join(lines), MAX_TEXT - _PLAN_CHARS)
    if not card.plan:
        return top
    room = MAX_TEXT - visible_size(top) - 2 - visible_size(_PLAN_TITLE) - 1
    run = card.run_id if card.run_id is not None else "RUN"

    def note(left: int) -> str:
        lines = "line" if left == 1 else "lines"
        return f"{ELLIPSIS} {left} more {lines} (see `/playbook status {run}`)"

    return f"{top}\n\n{_PLAN_TITLE}\n{fit(chr(10).join(card.plan), room, note=note)}"


def message_link(ref: MessageRef | None) -> str | None:
    """A t.me link to a message the bot posted in a supergroup (in its forum topic, if any);
    None where Telegram has no link for it (a private chat, a basic group, another surface)."""
    if ref is None or ref.surface != "telegram" or not ref.channel.startswith("-100"):
        return None
    internal = ref.channel.removeprefix("-100")
    topic = f"{ref.thread}/" if ref.thread else ""
    return f"https://t.me/c/{internal}/{topic}{ref.message_id}"


def report_html(report: Report) -> str:
    """A digest or an alert as one HTML message within Telegram's limit: the title, the
    summary, each section's fields then its lines (a run's line ends with a link to its
    card where Telegram has one), the footer; what does not fit ends with a note."""
    lines = [f"*{_one_line(report.title)}*"]
    if report.summary.strip():
        lines.append(f"_{_one_line(report.summary)}_")
    for section in report.sections:
        lines.append("")
        if section.title:
            lines.append(f"*{_one_line(section.title)}*")
        for item in section.fields:
            first, *rest = item.value.split("\n")
            lines.append(f"*{_one_line(item.label)}:* {_one_line(first)}")
            lines += [f"    {_one_line(line)}" for line in rest if line.strip()]
        for line in section.lines:
            link = message_link(line.link)
            lines.append(f"• {_one_line(line.text)}" + (f" — {link}" if link else ""))
    if report.footer.strip():
        lines += ["", f"_{_one_line(report.footer)}_"]

    def note(left: int) -> str:
        return f"{ELLIPSIS} {left} more {'line' if left == 1 else 'lines'} not shown"

    return fit("\n".join(lines), MAX_TEXT, note=note)


def missing_params(playbook: Playbook, given: Mapping[str, str], missing: Sequence[str]) -> str:
    """What to type when a command left out required params (the core's markup)."""
    lines = [f"`{playbook.name}` needs {'this param' if len(missing) == 1 else 'these params'}:"]
    for name in missing:
        spec = playbook.params[name]
        choices = f" — one of {', '.join(f'`{c}`' for c in spec.choices)}" if spec.choices else ""
        about = f": {spec.description}" if spec.description else ""
        lines.append(f"• `{name}` ({spec.type.value}){choices}{about}")
    example = " ".join(
        filter(
            None,
            [
                command_params(dict(given)),
                *(f"{n}={_example(playbook, n)}" for n in missing),
            ],
        )
    )
    lines.append(f"Send it again with {'it' if len(missing) == 1 else 'them'}:")
    lines.append(f"`/playbook {playbook.name} {example}`")
    return "\n".join(lines)


def _example(playbook: Playbook, name: str) -> str:
    spec = playbook.params[name]
    if spec.choices:
        return str(spec.choices[0])
    return {"integer": "1", "number": "1.0", "boolean": "true", "list": "a,b"}.get(
        spec.type.value, "…"
    )


def _same(a: Button, b: Button) -> bool:
    return (a.action, a.run_id, a.step) == (b.action, b.run_id, b.step)


def _one_line(text: str) -> str:
    return " ".join(text.split())

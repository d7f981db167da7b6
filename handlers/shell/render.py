"""Cards, reports and buttons as console text. Pure."""

from __future__ import annotations

from bot.chat import Button, Card, MessageRef, Report

__all__ = ["render_buttons", "render_card", "render_card_update", "render_report"]

_SURFACE = "shell"


def render_buttons(buttons: list[Button]) -> str:
    if not buttons:
        return ""
    labels = "  ".join(f"[{b.label}]" for b in buttons)
    first = buttons[0]
    return f"{labels}   (e.g. `:press {first.label} {first.run_id}`)"


def render_card(card: Card) -> list[str]:
    lines = [f"┌ {card.status_emoji} {card.title}", f"│ {card.status}"]
    lines += [f"│ {f.label}: {f.value}" for f in card.fields]
    if card.plan:
        lines.append("│ Plan:")
        lines += [f"│   {line}" for line in card.plan]
    lines += [f"│ {note}" for note in card.notes]
    buttons = render_buttons(card.buttons)
    lines.append(f"└ {buttons}" if buttons else "└")
    return lines


def render_card_update(card: Card) -> str:
    """One line: a card that was edited in place."""
    return f"↻ {card.title}: {card.status_emoji} {card.status}"


def render_report(report: Report) -> list[str]:
    """A report as boxed lines: title, summary, each section's fields then lines, buttons."""
    lines = [f"┏ {report.title}"]
    if report.summary:
        lines.append(f"┃ {report.summary}")
    for section in report.sections:
        indent = "┃   " if section.title else "┃ "
        if section.title:
            lines.append(f"┃ ▸ {section.title}")
        for field in section.fields:
            first, *rest = field.value.split("\n")
            lines.append(f"{indent}{field.label}: {first}")
            lines += [f"{indent}    {line}" for line in rest]
        for line in section.lines:
            lines.append(f"{indent}{line.text}{_thread(line.link)}")
    buttons = render_buttons(report.buttons)
    if buttons:
        lines.append(f"┃ {buttons}")
    lines.append(f"┗ {report.footer}" if report.footer else "┗")
    return lines


def _thread(ref: MessageRef | None) -> str:
    """Where a line's run card is, when it is in the console (other surfaces link there)."""
    if ref is None or ref.surface != _SURFACE:
        return ""
    return f"  ↪ thread of message {ref.message_id} in #{ref.channel}"

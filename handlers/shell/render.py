"""Cards and buttons as console text. Pure."""

from __future__ import annotations

from bot.chat import Button, Card

__all__ = ["render_buttons", "render_card", "render_card_update"]


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

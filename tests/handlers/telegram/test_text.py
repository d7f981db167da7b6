"""Telegram HTML from the core's texts: escaped, well formed, within 4,096 characters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat import Button, ButtonAction, Card, CardField
from handlers.telegram.render import MAX_CALLBACK_DATA, card_html, keyboard, missing_params
from handlers.telegram.text import MAX_TEXT, fit, mention, plain, split, to_html
from playbooks.model import Playbook
from tests.support.fake_telegram import parse_html


def shown(markup: str) -> str:
    text, problem = parse_html(markup)
    assert problem is None, (problem, markup)
    return text


def test_the_cores_markup_becomes_tags_and_everything_else_is_escaped() -> None:
    markup = to_html("*Playbooks* (2):\n• `a<b>` — x & <i>y</i>\n_(cut; `/playbook status 1`)_")
    assert markup == (
        "<b>Playbooks</b> (2):\n"
        "• <code>a&lt;b&gt;</code> — x &amp; &lt;i&gt;y&lt;/i&gt;\n"
        "<i>(cut; <code>/playbook status 1</code>)</i>"
    )
    assert shown(markup) == "Playbooks (2):\n• a<b> — x & <i>y</i>\n(cut; /playbook status 1)"


def test_step_output_in_fences_is_a_preformatted_block() -> None:
    markup = to_html("✅ `clear` succeeded\n```\n<html> & *not bold*\n```")
    assert markup == "✅ <code>clear</code> succeeded\n<pre>&lt;html&gt; &amp; *not bold*</pre>"


def test_a_mention_is_a_link_only_when_the_chat_asked_for_it() -> None:
    asked = to_html(f"Approvers: {mention('222', 'Bob <3')}")
    assert asked == 'Approvers: <a href="tg://user?id=222">Bob &lt;3</a>'
    typed = '<a href="tg://user?id=222">Bob</a> \ue000fake:222:Bob\ue001'
    assert "<a " not in to_html(typed)
    assert mention("not-an-id") == "@not-an-id"
    assert plain(f"`step` by {mention('222', 'bob')}") == "step by bob"


def test_underscores_and_stars_inside_words_stay_as_typed() -> None:
    assert shown(to_html("index_name=kb_2 a*b*c 2*3 = 6")) == "index_name=kb_2 a*b*c 2*3 = 6"


def test_a_long_text_is_cut_at_a_line_with_a_note() -> None:
    text = "\n".join(f"line {n} {'x' * 60}" for n in range(200))
    markup = fit(text, note=lambda left: f"… {left} more (see `/playbook status 4`)")
    assert len(shown(markup)) <= MAX_TEXT
    last = shown(markup).splitlines()[-1]
    assert last.startswith("… ") and last.endswith("more (see /playbook status 4)")


def test_a_long_answer_is_split_between_lines_and_a_huge_line_cut() -> None:
    text = "\n".join(["a" * 10_000, *(f"line {n}" for n in range(3000))])
    parts = split(text, max_parts=3)
    assert len(parts) == 3
    assert all(len(shown(part)) <= MAX_TEXT for part in parts)
    assert shown(parts[0]).startswith("aaa") and shown(parts[0]).endswith("…")
    assert shown(parts[-1]).endswith("more lines not shown)")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab <>&*_`\n\"'é😀\ue000\ue001"), max_size=300))
def test_any_text_becomes_html_telegram_accepts(text: str) -> None:
    for markup in [to_html(text), fit(text, 120), *split(text, 150)]:
        shown(markup)
    assert len(shown(fit(text, 120))) <= 120
    assert all(len(shown(part)) <= 150 for part in split(text, 150))


def test_a_card_with_huge_fields_and_plan_fits_one_message() -> None:
    card = Card(
        title="<Restart> & co · run #12",
        status="Running step 3 of 400: `s3`",
        status_emoji="🔵",
        fields=[CardField("Params", "x=" + "<&>" * 3000), CardField("Requested by", "a_b")],
        plan=[f"▫️ {n}. `s{n}` POST http://x/{'y' * 80}" for n in range(400)],
        notes=["⚠️ " + "n" * 900] * 15,
        buttons=[Button(ButtonAction.CANCEL, 12)],
        run_id=12,
    )
    text = shown(card_html(card))
    assert len(text) <= MAX_TEXT
    lines = text.splitlines()
    assert lines[0] == "🔵 <Restart> & co · run #12"
    assert lines[-1].endswith("more lines (see /playbook status 12)")
    assert "Plan" in lines


def test_a_keyboard_carries_only_short_keys() -> None:
    buttons = [Button(ButtonAction.APPROVE, 1, step="s"), Button(ButtonAction.DENY, 1, step="s")]
    assert keyboard(buttons, ["k1", "k2"]) == ((("Approve", "k1"), ("Deny", "k2")),)
    with pytest.raises(ValueError, match="1 to 64 bytes"):
        keyboard(buttons[:1], ["k" * (MAX_CALLBACK_DATA + 1)])


def test_missing_params_name_what_to_type() -> None:
    playbook = Playbook.model_validate(
        {
            "name": "restart",
            "params": {
                "service": {"type": "string", "required": True, "choices": ["api", "worker"]},
                "count": {"type": "integer", "required": True},
            },
            "steps": [{"id": "s", "action": "wait", "with": {"duration": "1s"}}],
        }
    )
    assert missing_params(playbook, {"x": "a b"}, ["service", "count"]).splitlines() == [
        "`restart` needs these params:",
        "• `service` (string) — one of `api`, `worker`",
        "• `count` (integer)",
        "Send it again with them:",
        "`/playbook restart x='a b' service=api count=1`",
    ]

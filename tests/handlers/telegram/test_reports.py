"""Digests and alerts on Telegram: one HTML message, links to run cards, a Start button."""

from __future__ import annotations

from bot.chat import (
    Button,
    ButtonAction,
    CardField,
    MessageRef,
    Place,
    Report,
    ReportLine,
    ReportSection,
)
from handlers.telegram.render import message_link, report_html
from tests.handlers.telegram.conftest import CHAT, TelegramBot

DIGEST = Report(
    title="Daily summary <fintech>",
    summary="24h: 3 runs, 1 failed",
    sections=[
        ReportSection(
            "Runs",
            fields=[CardField("succeeded", "2"), CardField("failed", "1")],
            lines=[
                ReportLine(
                    "❌ #7 `rerun-dbt` failed <b>x</b>",
                    MessageRef("telegram", str(CHAT), "42", "7"),
                )
            ],
        ),
        ReportSection("Metrics", fields=[CardField("PAR 90", "4.1% ⚠️ warning (was 2.9%)")]),
    ],
    footer="Next: weekly-maintenance at 2026-12-07 02:00 UTC",
)


def test_a_digest_is_html_with_every_value_escaped_and_a_link_to_each_run_card() -> None:
    html = report_html(DIGEST)
    assert html.startswith("<b>Daily summary &lt;fintech&gt;</b>")
    assert "<b>failed:</b> 1" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html  # a run's own text shows as written
    assert "https://t.me/c/1234567890/7/42" in html
    assert "<i>Next: weekly-maintenance at 2026-12-07 02:00 UTC</i>" in html


def test_only_supergroup_messages_have_links() -> None:
    assert message_link(MessageRef("telegram", "-1001", "5")) == "https://t.me/c/1/5"
    assert message_link(MessageRef("telegram", "12345", "5")) is None  # a private chat
    assert message_link(MessageRef("slack", "C1", "5")) is None


async def test_an_alert_with_a_start_button_is_posted_in_the_topic(telegram: TelegramBot) -> None:
    chat = telegram.surface.chat
    assert chat is not None
    alert = Report(
        title="PAR 90 is critical",
        sections=[ReportSection("", lines=[ReportLine("Suggested: `rollback-deploy`")])],
        buttons=[Button(ButtonAction.START, 3, style="primary")],
    )
    ref = await chat.post_report(Place("telegram", str(CHAT), "7"), alert)
    [posted] = [m for m in telegram.fake.messages(CHAT) if str(m.id) == ref.message_id]
    assert posted.thread == 7
    assert [label for label, _ in posted.buttons] == ["Start"]
    assert "PAR 90 is critical" in posted.text

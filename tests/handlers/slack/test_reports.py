"""Digests and alerts on Slack: Block Kit fields at a glance, links to each run's thread,
mentions that notify, a Start button, and never more than Slack accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

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
from bot.config_schedules import MetricConfig
from bot.db.digests import DigestFacts, RunTally
from bot.db.records import RunRecord
from bot.lifecycle import RunStatus
from handlers.slack.blocks import MAX_BLOCKS, MAX_TOTAL_TEXT
from handlers.slack.output import SlackChat
from handlers.slack.reports import permalink, report_blocks, report_text
from handlers.slack.text import mention, text_total
from scheduler.digest import MetricRow, UpcomingFire, compose_digest
from scheduler.thresholds import Level, Reading
from tests.support.fake_slack import FakeSlack, blocks_problem
from tests.support.stored_runs import stored_run

WORKSPACE = "https://fake.slack.com/"
END = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def run(run_id: int, status: str, ts: str, **extra: Any) -> RunRecord:
    row = stored_run(id=run_id, created_at=END - timedelta(hours=run_id), status=status, **extra)
    row["card_ref"] = f"slack|C0INCIDENTS|{ts}|"
    return RunRecord.from_row(type("Row", (), row)())


def digest() -> Report:
    failed = run(3, "failed", "1732270000.000300", error="POST http://es → 503 <!channel>")
    slow = run(2, "succeeded", "1732270000.000200", seconds=700)
    facts = DigestFacts(
        start=END - timedelta(days=1),
        end=END,
        tallies=[
            RunTally("clear-cache", RunStatus.SUCCEEDED, 40),
            RunTally("clear-cache", RunStatus.FAILED, 2),
            RunTally("rerun-dbt", RunStatus.ROLLED_BACK, 1),
        ],
        failures=[failed],
        pending=[],
        pending_total=0,
        expired=[],
        slowest=[slow],
    )
    metric = MetricConfig(
        title="PAR 90",
        unit="%",
        source={"http": {"url": "http://kpis", "field": "par_90"}},
        target="< 3.0%",
        warning="> 3.0%",
        critical="> 5.0%",
    )
    rows = [
        MetricRow("par_90", metric, Reading("par_90", Level.CRITICAL, 5.4, off_target=True), 4.9),
        MetricRow("rdr_90", metric.model_copy(update={"title": "RDR 90"}),
                  Reading("rdr_90", Level.UNKNOWN, reason="http://kpis answered HTTP 503")),
    ]  # fmt: skip
    upcoming = [UpcomingFire("weekly-maintenance", "playbook `weekly-maintenance` in #ops", END)]
    return compose_digest(
        title="Daily summary · daily-summary", facts=facts, metrics=rows, upcoming=upcoming
    )


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    found = []
    for block in blocks:
        if "text" in block and isinstance(block["text"], dict):
            found.append(block["text"]["text"])
        found += [field["text"] for field in block.get("fields", [])]
        found += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return found


def test_a_digest_lays_its_sections_out_as_fields_and_linked_lines() -> None:
    blocks = report_blocks(digest(), lambda ref: permalink(WORKSPACE, ref))
    assert blocks_problem(blocks) is None
    shown = texts(blocks)
    assert blocks[0] == {
        "type": "header",
        "block_id": "report-header",
        "text": {"type": "plain_text", "text": "📊 Daily summary · daily-summary", "emoji": True},
    }
    assert shown[1] == "43 runs · 3 failed or rolled back · 1 metric critical · 1 metric unknown"
    outcomes = next(b for b in blocks if b.get("text", {}).get("text") == "*Runs by outcome*")
    assert [f["text"] for f in outcomes["fields"]] == [
        "*✅ succeeded*\n40",
        "*❌ failed*\n2",
        "*↩️ rolled back*\n1",
    ]
    assert (
        "❌ #3 `clear-cache` failed Mon 23 Nov 05:00 UTC: POST http://es → 503 &lt;!channel&gt;"
        " <https://fake.slack.com/archives/C0INCIDENTS/p1732270000000300|thread>\n"
        "… 2 more (`/playbook history`)"
    ) in shown
    metrics = next(b for b in blocks if b.get("text", {}).get("text") == "*Metrics*")
    assert [f["text"] for f in metrics["fields"]] == [
        "*🔴 PAR 90*\n5.4% · critical, off target\n▲ 0.5% since the last digest\n"
        "target &lt; 3.0% · warning &gt; 3.0% · critical &gt; 5.0%",
        "*⚪ RDR 90*\nunknown: http://kpis answered HTTP 503",
    ]
    assert shown[-1] == "Period: Sun 22 Nov 08:00 UTC → Mon 23 Nov 08:00 UTC"


def test_a_thread_reply_links_into_its_thread_and_other_surfaces_are_not_linked() -> None:
    reply = MessageRef("slack", "C0INCIDENTS", "1732270000.000400", "1732270000.000100")
    assert permalink(WORKSPACE, reply) == (
        "https://fake.slack.com/archives/C0INCIDENTS/p1732270000000400"
        "?thread_ts=1732270000.000100&cid=C0INCIDENTS"
    )
    assert permalink(WORKSPACE, MessageRef("telegram", "-100", "12")) is None
    assert permalink(WORKSPACE, MessageRef("slack", "C0X|evil", "1.2")) is None
    assert permalink(None, reply) is None


def test_a_huge_report_is_cut_to_what_slack_accepts_and_says_so() -> None:
    sections = [
        ReportSection(
            f"Section {n}",
            fields=[CardField(f"metric {i}", "x" * 300) for i in range(40)],
            lines=[ReportLine("line " + "y" * 400) for _ in range(40)],
        )
        for n in range(30)
    ]
    report = Report(title="t" * 500, summary="s" * 5000, sections=sections, footer="f" * 900)
    blocks = report_blocks(report)
    assert blocks_problem(blocks) is None
    assert text_total(blocks) <= MAX_TOTAL_TEXT
    assert len(blocks) <= MAX_BLOCKS
    assert any("more not shown here" in text for text in texts(blocks))


async def test_slack_receives_a_digest_with_thread_links_and_an_alert_that_notifies(
    fake_slack: FakeSlack,
) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    chat = SlackChat(client)
    await chat.post_report(Place("slack", "C0REPORTS"), digest())
    alert = Report(
        title="🔴 PAR 90 is critical: 5.4%",
        summary="alert `par-90-critical` · #executive-briefing",
        sections=[ReportSection("", lines=[ReportLine(f"{mention('U0CFO')} {mention('S0SRE')}")])],
        buttons=[Button(ButtonAction.START, 3, style="primary")],
    )
    ref = await chat.post_report(Place("slack", "C0EXEC"), alert)

    [posted] = fake_slack.messages("C0REPORTS")
    assert "<https://fake.slack.com/archives/C0INCIDENTS/p1732270000000300|thread>" in str(
        posted["blocks"]
    )
    [alerted] = fake_slack.messages("C0EXEC")
    assert ref.message_id == alerted["ts"]
    assert alerted["text"] == (
        "🔴 PAR 90 is critical: 5.4% — alert `par-90-critical` · #executive-briefing\n"
        "<@U0CFO> <!subteam^S0SRE>"
    )
    body = texts(alerted["blocks"])
    assert "<@U0CFO> <!subteam^S0SRE>" in body
    [actions] = [b for b in alerted["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"], e["text"]["text"]) for e in actions["elements"]] == [
        ("chatops.start", "3", "Start")
    ]
    assert fake_slack.count("auth.test") == 1  # the workspace's URL, asked once
    assert report_text(alert).startswith("🔴 PAR 90 is critical")

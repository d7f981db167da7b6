"""The daily digest, as the channel reads it in the console: the period's runs by outcome
and by playbook, failures and rollbacks with their threads, approvals, the slowest runs,
every metric with its state and change since the previous digest, and what fires next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.scheduler.conftest import ScheduledFactory
from tests.support.clock import FastClock
from tests.support.stored_runs import insert_runs, stored_run
from tests.support.stub_server import StubServer

CONFIG = """
roles:
  sre-lead: {shell: [alice]}
channels:
  fintech-reports: {shell: fintech-reports}
  ops: {shell: ops}
metrics:
  par_90:
    title: PAR 90
    unit: "%"
    source: {http: {url: "{{ env.API_URL }}/kpis", field: kpis.par_90}}
    target: "< 3.0%"
    warning: "> 3.0%"
    critical: "> 5.0%"
  collection_rate:
    title: Collection rate
    unit: "%"
    source: {http: {url: "{{ env.API_URL }}/kpis", field: kpis.collection_rate}}
    target: "> 1.5%"
    warning: "< 1.5%"
    critical: "< 1.0%"
  pipeline_latency:
    title: Pipeline latency
    unit: min
    source: {prometheus: {query: pipeline_latency_minutes}}
    target: "< 10min"
    warning: "> 12min"
    critical: "> 15min"
  data_freshness:
    title: Data freshness
    unit: hrs
    source: {http: {url: "{{ env.API_URL }}/freshness", field: hours}}
    target: "< 6hrs"
schedules:
  daily-summary:
    cron: "0 8 * * *"
    grace: 1h
    digest: {channel: fintech-reports, period: 24h}
  weekly-maintenance:
    cron: "0 2 * * mon"
    playbook: {name: tidy, channel: ops}
"""

TIDY = """
name: tidy
steps:
  - id: wait
    action: wait
    with: {duration: 1s}
"""

DAY = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # a Sunday


def kpis(stub: StubServer, par_90: float, collection_rate: float, latency: float) -> None:
    stub.route(
        "GET", "/kpis", json={"kpis": {"par_90": par_90, "collection_rate": collection_rate}}
    )
    stub.route(
        "GET",
        "/api/v1/query",
        json={"status": "success", "data": {"resultType": "vector",
              "result": [{"metric": {}, "value": [0, str(latency)]}]}},
    )  # fmt: skip
    stub.route("GET", "/freshness", status=503, json={"error": "warehouse down"})


async def seed_day(bot: object, engine: object) -> None:
    at = DAY + timedelta(hours=1)
    await insert_runs(
        engine,  # type: ignore[arg-type]
        [
            stored_run(id=1, created_at=at, status="succeeded", seconds=40),
            stored_run(id=2, created_at=at + timedelta(hours=1), status="succeeded", seconds=700,
                       playbook="rerun-dbt"),
            stored_run(id=3, created_at=at + timedelta(hours=2), status="failed",
                       error="POST http://es/_cache/clear → 503", seconds=12),
            stored_run(id=4, created_at=at + timedelta(hours=3), status="rolled_back",
                       playbook="rerun-dbt", seconds=95),
            stored_run(id=5, created_at=at + timedelta(hours=4), status="expired",
                       playbook="rerun-dbt"),
            stored_run(id=6, created_at=at + timedelta(hours=5), status="pending",
                       expires_at=at + timedelta(hours=5, minutes=30)),
            stored_run(id=7, created_at=DAY - timedelta(hours=3), status="failed"),  # before
        ],
    )  # fmt: skip


async def test_the_daily_digest_reads_at_a_glance_in_the_console(
    scheduled: ScheduledFactory, clock: FastClock, stub_server: StubServer
) -> None:
    bot = await scheduled(config=CONFIG, playbooks={"tidy": TIDY})
    await seed_day(bot, bot.bot.deps.store.engine)
    kpis(stub_server, par_90=5.4, collection_rate=1.2, latency=8.5)
    clock.current = DAY + timedelta(days=1, seconds=30)  # Monday 08:00:30

    fired = await bot.tick("daily-summary")

    assert fired is not None and fired.ok, fired
    assert fired.fire.fire_time == DAY + timedelta(days=1)
    [posted] = [m for m in bot.bot.chat.messages if m.report is not None]
    assert posted.channel == "fintech-reports"
    lines = posted.text.splitlines()
    assert lines[0] == "┏ 📊 Daily summary · daily-summary"
    assert lines[1] == (
        "┃ 6 runs · 2 failed or rolled back · 1 metric critical · 1 metric warning"
        " · 1 metric unknown"
    )
    assert lines[-1] == "┗ Period: Sun 22 Nov 08:00 UTC → Mon 23 Nov 08:00 UTC"
    text = posted.text
    for expected in [
        "┃ ▸ Runs by outcome",
        "┃   ✅ succeeded: 2",
        "┃   ❌ failed: 1",
        "┃   ↩️ rolled back: 1",
        "┃   ⌛ expired: 1",
        "┃   🟡 pending: 1",
        "┃ ▸ Runs by playbook",
        "┃   `clear-cache`: 3 (✅ 1 · ❌ 1 · 🟡 1)",
        "┃   `rerun-dbt`: 3 (✅ 1 · ↩️ 1 · ⌛ 1)",
        "┃ ▸ Failures and rollbacks (2)",
        "┃   ↩️ #4 `rerun-dbt` rolled back Sun 22 Nov 12:01 UTC  ↪ thread of message card-4"
        " in #incidents",
        "┃   ❌ #3 `clear-cache` failed Sun 22 Nov 11:00 UTC: POST http://es/_cache/clear → 503"
        "  ↪ thread of message card-3 in #incidents",
        "┃ ▸ Approvals",
        "┃   🟡 Waiting now: 1",
        "┃   ⌛ Expired in the period: 1",
        "┃   🟡 #6 `clear-cache` waiting since Sun 22 Nov 14:00 UTC, expires Sun 22 Nov 14:30 UTC"
        "  ↪ thread of message card-6 in #incidents",
        "┃ ▸ Slowest runs",
        "┃   ✅ #2 `rerun-dbt` 11m 40s (succeeded)  ↪ thread of message card-2 in #incidents",
        "┃ ▸ Metrics",
        "┃   🔴 PAR 90: 5.4% · critical, off target",
        "┃       (first reading) since the last digest",
        "┃       target < 3.0% · warning > 3.0% · critical > 5.0%",
        "┃   🟠 Collection rate: 1.2% · warning, off target",
        "┃   🟢 Pipeline latency: 8.5 min · ok",
        f"┃   ⚪ Data freshness: unknown: {stub_server.url} answered HTTP 503",
        "┃ ▸ Next scheduled",
        "┃   Mon 30 Nov 02:00 UTC · `weekly-maintenance`: playbook `tidy` in #ops",
        "┃   Tue 24 Nov 08:00 UTC · `daily-summary`: digest to #fintech-reports (last 24h)",
    ]:
        assert expected in lines, f"{expected}\n---\n{text}"
    assert text.index("Runs by outcome") < text.index("Failures") < text.index("Metrics")


async def test_the_next_digest_shows_each_metrics_change_since_the_previous(
    scheduled: ScheduledFactory, clock: FastClock, stub_server: StubServer
) -> None:
    bot = await scheduled(config=CONFIG, playbooks={"tidy": TIDY})
    kpis(stub_server, par_90=5.4, collection_rate=1.2, latency=8.5)
    clock.current = DAY
    assert await bot.tick("daily-summary") is not None
    kpis(stub_server, par_90=4.9, collection_rate=1.2, latency=13)
    stub_server.route("GET", "/kpis", status=500)  # PAR 90 and collection rate fail today
    clock.current = DAY + timedelta(days=1)
    assert await bot.tick("daily-summary") is not None
    kpis(stub_server, par_90=4.9, collection_rate=1.6, latency=13)
    clock.current = DAY + timedelta(days=2)
    assert await bot.tick("daily-summary") is not None

    first, second, third = (r.text.splitlines() for r in bot_reports(bot))
    assert "┃   🟢 Pipeline latency: 8.5 min · ok" in first
    assert "┃   🟠 Pipeline latency: 13 min · warning, off target" in second
    assert "┃       ▲ 4.5 min since the last digest" in second
    assert f"┃   ⚪ PAR 90: unknown: {stub_server.url} answered HTTP 500" in second
    # A metric unknown yesterday compares with the last value it had.
    assert "┃   🟠 PAR 90: 4.9% · warning, off target" in third
    assert "┃       ▼ 0.5% since the last digest" in third
    assert "┃       ▲ 0.4% since the last digest" in third  # collection rate 1.2 → 1.6
    assert "┃       = same since the last digest" in third  # pipeline latency


def bot_reports(bot: object) -> list[object]:
    from tests.scheduler.conftest import ScheduledBot

    assert isinstance(bot, ScheduledBot)
    return [m for m in bot.bot.chat.messages if m.report is not None]


async def test_a_digest_with_no_runs_and_no_metrics_still_posts(
    scheduled: ScheduledFactory, clock: FastClock
) -> None:
    config = """
channels:
  fintech-reports: {shell: fintech-reports}
schedules:
  daily-summary: {cron: "0 8 * * *", digest: {channel: fintech-reports}}
"""
    bot = await scheduled(config=config)
    clock.current = DAY + timedelta(minutes=3)
    fired = await bot.tick("daily-summary")
    assert fired is not None and fired.outcome.summary == "posted to #fintech-reports on shell"
    [report] = bot.reports("fintech-reports")
    assert report.summary == "0 runs"
    assert report.sections[0].lines[0].text == "No runs in this period."

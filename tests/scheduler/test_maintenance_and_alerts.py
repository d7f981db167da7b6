"""Maintenance playbooks on the calendar, and alert rules that post to their channels with
mentions and a button for the suggested playbook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.lifecycle import RunStatus
from tests.scheduler.conftest import ScheduledFactory
from tests.support.clock import FastClock
from tests.support.stub_server import StubResponse, StubServer

MAINTENANCE_CONFIG = """
roles:
  sre-lead: {shell: [carol]}
  sre: {shell: [alice]}
channels:
  ops: {shell: ops}
schedules:
  weekly-maintenance:
    cron: "0 2 * * mon"
    playbook: {name: weekly-maintenance, channel: ops, params: {days: 30}}
    allowed: [sre-lead]
  monthly-maintenance:
    cron: "0 2 1-7 * mon"
    playbook: {name: monthly-maintenance, channel: ops}
"""

WEEKLY = """
name: weekly-maintenance
title: Weekly maintenance
allowed: [sre]
params:
  days: {type: integer, default: 7}
steps:
  - id: cleanup
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/cleanup", query: {days: "{{ params.days }}"}}
"""

MONTHLY = """
name: monthly-maintenance
title: Monthly maintenance
approval: {required: true, approvers: [sre-lead], expires_after: 30m}
steps:
  - id: rotate
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/rotate"}
"""

MONDAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
FIRST_MONDAY_OF_DECEMBER = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


async def test_weekly_maintenance_posts_its_card_requested_by_the_schedule_and_runs(
    scheduled: ScheduledFactory, clock: FastClock, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/cleanup", json={"deleted": 12})
    bot = await scheduled(
        config=MAINTENANCE_CONFIG,
        playbooks={"weekly-maintenance": WEEKLY, "monthly-maintenance": MONTHLY},
    )
    clock.current = MONDAY + timedelta(seconds=3)
    fired = await bot.tick("weekly-maintenance")
    assert fired is not None
    assert fired.outcome.summary == "run #1 of `weekly-maintenance` in #ops: started"

    run = await bot.bot.finished(1)
    assert run.status is RunStatus.SUCCEEDED
    assert run.requested_by == "shell:schedule:weekly-maintenance"
    card = bot.bot.card(1)
    assert bot.bot.card_message(1).channel == "ops"
    assert {f.label: f.value for f in card.fields}["Requested by"] == (
        "schedule `weekly-maintenance`"
    )
    assert bot.bot.thread(1)[0] == "▶️ Started by schedule `weekly-maintenance`."
    assert [r.query for r in stub_server.calls("POST", "/cleanup")] == [{"days": ["30"]}]


async def test_a_maintenance_playbook_that_needs_approval_waits_and_expires_like_any_run(
    scheduled: ScheduledFactory, clock: FastClock, stub_server: StubServer
) -> None:
    bot = await scheduled(
        config=MAINTENANCE_CONFIG,
        playbooks={"weekly-maintenance": WEEKLY, "monthly-maintenance": MONTHLY},
    )
    clock.current = FIRST_MONDAY_OF_DECEMBER + timedelta(seconds=3)
    fired = await bot.tick("monthly-maintenance")
    assert fired is not None
    assert fired.outcome.summary == "run #1 of `monthly-maintenance` in #ops: waits for approval"
    run = await bot.bot.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.PENDING
    request = bot.bot.thread(1)[0]
    assert request.startswith("🔐 Approval needed for run #1 (`monthly-maintenance`, none),")
    assert "requested by schedule `monthly-maintenance`. @carol:" in request

    clock.advance(31 * 60)
    await bot.bot.service.check_approvals()
    run = await bot.bot.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.EXPIRED
    assert stub_server.calls("POST", "/rotate") == []


async def test_a_scheduled_run_is_cancelled_by_whoever_may_start_its_playbook(
    scheduled: ScheduledFactory, clock: FastClock, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/cleanup", json={}, delay=5)  # still cleaning when cancelled
    bot = await scheduled(
        config=MAINTENANCE_CONFIG,
        playbooks={"weekly-maintenance": WEEKLY, "monthly-maintenance": MONTHLY},
    )
    clock.current = MONDAY + timedelta(seconds=3)
    await bot.tick("weekly-maintenance")
    await bot.bot.wait_until(lambda: bool(stub_server.calls("POST", "/cleanup")))
    [refused] = await bot.bot.send("/playbook cancel 1", user="carol")
    assert refused.text == (
        "Only schedule `weekly-maintenance`, who requested run #1 or `sre`, can cancel it."
    )
    said = await bot.bot.send("/playbook cancel 1", user="alice")
    assert said[-1].text == "Run #1 cancelled."
    run = await bot.bot.finished(1)
    assert run.status is RunStatus.CANCELLED


async def test_firing_a_maintenance_schedule_by_hand_takes_the_right_to_start_it(
    scheduled: ScheduledFactory, clock: FastClock
) -> None:
    config = MAINTENANCE_CONFIG.replace("allowed: [sre-lead]", "allowed: [sre-lead, sre]")
    bot = await scheduled(
        config=config, playbooks={"weekly-maintenance": WEEKLY, "monthly-maintenance": MONTHLY}
    )
    [refused] = await bot.bot.send("/schedule run weekly-maintenance", user="carol")
    assert refused.text == (
        "You can't run `weekly-maintenance` by hand: it starts `weekly-maintenance`,"
        " which is limited to `sre`."
    )
    assert await bot.bot.deps.store.get_run(1) is None


ALERT_CONFIG = """
roles:
  cfo: {shell: [carol]}
  sre-oncall: {shell: [alice, bob]}
channels:
  executive-briefing: {shell: executive-briefing}
  devops-alerts: {shell: devops-alerts}
metrics:
  par_90:
    title: PAR 90
    unit: "%"
    source: {http: {url: "{{ env.API_URL }}/kpis", field: par_90}}
    target: "< 3.0%"
    warning: "> 3.0%"
    critical: "> 5.0%"
alerts:
  par-90-critical:
    metric: par_90
    when: critical
    channel: executive-briefing
    mention: [cfo]
    repeat: 1h
    suggest: {playbook: freeze-lending, params: {region: all}}
  pipeline-failure:
    runs: {playbooks: [nightly-dbt]}
    channel: devops-alerts
    mention: [sre-oncall]
schedules:
  risk-checks: {every: 15m, alerts: [par-90-critical]}
  pipeline-watch: {every: 1m, alerts: [pipeline-failure]}
"""

FREEZE = """
name: freeze-lending
title: Freeze new lending
allowed: [cfo]
params:
  region: {type: string, default: eu}
steps:
  - id: freeze
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/freeze/{{ params.region }}"}
"""

RERUN = """
name: nightly-dbt
title: Rerun dbt
steps:
  - id: run
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/dbt"}
"""

TEN = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def values(stub: StubServer, *readings: float | None) -> None:
    stub.route_sequence(
        "GET",
        "/kpis",
        [
            StubResponse(500) if value is None else StubResponse(json={"par_90": value})
            for value in readings
        ],
    )


async def test_a_metric_alert_posts_on_entering_repeats_hourly_and_posts_the_recovery(
    scheduled: ScheduledFactory, clock: FastClock, stub_server: StubServer
) -> None:
    # Every 15 minutes: ok, critical for an hour and a quarter (the source fails once), ok.
    values(stub_server, 2.1, 5.4, 5.6, None, 5.8, 6.0, 5.9, 2.5, 2.4)
    bot = await scheduled(
        config=ALERT_CONFIG, playbooks={"freeze-lending": FREEZE, "nightly-dbt": RERUN}
    )
    summaries = []
    for step in range(9):
        clock.current = TEN + timedelta(minutes=15 * step, seconds=1)
        fired = await bot.tick("risk-checks")
        assert fired is not None
        summaries.append(fired.outcome.summary)
    posts = bot.reports("executive-briefing")
    assert [p.title for p in posts] == [
        "🔴 PAR 90 is critical: 5.4%",
        "🔴 PAR 90 is still critical: 6%",
        "✅ PAR 90 recovered: 2.5%",
    ]
    entered = posts[0]
    lines = [line.text for section in entered.sections for line in section.lines]
    assert lines == [
        "Now critical. critical > 5.0% · warning > 3.0% · target < 3.0%",
        "@carol",
        "Suggested: `freeze-lending` with region=all. Press Start to open its run card"
        " (you are its requester).",
    ]
    assert [b.label for b in entered.buttons] == ["Start"]
    assert posts[2].buttons == []
    assert summaries[3].startswith("`par-90-critical` unknown (")
    assert "answered HTTP 500" in summaries[3]


async def test_start_on_an_alert_opens_the_suggested_run_card_for_whoever_presses(
    scheduled: ScheduledFactory, clock: FastClock, stub_server: StubServer
) -> None:
    values(stub_server, 7.2)
    bot = await scheduled(
        config=ALERT_CONFIG, playbooks={"freeze-lending": FREEZE, "nightly-dbt": RERUN}
    )
    clock.current = TEN
    await bot.tick("risk-checks")
    [alert] = bot.reports("executive-briefing")
    ref = alert.buttons[0].run_id

    await bot.bot.session.execute(":channel executive-briefing")
    refused = await bot.bot.press("Start", ref, user="bob")
    assert [m.text for m in refused] == [
        "You can't start `freeze-lending`: it is limited to `cfo`. Ask someone who holds one of"
        " them."
    ]
    await bot.bot.press("Start", ref, user="carol")
    card = bot.bot.card(1)
    fields = {f.label: f.value for f in card.fields}
    assert (fields["Requested by"], fields["Params"]) == ("carol", "region=all")
    assert bot.bot.card_message(1).channel == "executive-briefing"
    [wrong] = await bot.bot.press("Start", ref + 99, user="carol")
    assert wrong.text == "That suggestion is no longer configured, so nothing was started."


async def test_a_failed_run_of_a_watched_playbook_is_posted_with_mentions(
    scheduled: ScheduledFactory, clock: FastClock, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/dbt", status=500, json={"error": "model orders failed"})
    bot = await scheduled(
        config=ALERT_CONFIG, playbooks={"freeze-lending": FREEZE, "nightly-dbt": RERUN}
    )
    clock.current = TEN
    first = await bot.tick("pipeline-watch")
    assert first is not None and first.outcome.summary == "`pipeline-failure` watching from now on"

    clock.current = TEN + timedelta(seconds=20)
    await bot.bot.send("/playbook nightly-dbt", user="alice")
    await bot.bot.press("Run", 1, user="alice")
    run = await bot.bot.finished(1)
    assert run.status is RunStatus.FAILED
    clock.current = TEN + timedelta(minutes=1)
    await bot.tick("pipeline-watch")
    clock.current = TEN + timedelta(minutes=2)
    await bot.tick("pipeline-watch")  # nothing new: nothing posted again

    [post] = bot.reports("devops-alerts")
    assert post.title == "❌ `nightly-dbt` run #1 failed"
    lines = [line for section in post.sections for line in section.lines]
    assert lines[0].text == "Run #1 (none), requested by alice: see its thread."
    card = bot.bot.card_message(1)
    assert lines[0].link is not None and lines[0].link.message_id == card.id
    assert lines[1].text.startswith("Error: ")
    assert lines[2].text == "@alice @bob"

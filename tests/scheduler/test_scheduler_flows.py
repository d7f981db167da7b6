"""Schedules as operators live with them: a fire missed during a downtime runs once, a
pause holds for every replica and restart, two replicas fire each job once, and
`/schedule` answers only those allowed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.scheduler.conftest import ScheduledFactory
from tests.support.clock import FastClock

CONFIG = """
roles:
  sre-lead: {shell: [alice]}
  sre: {shell: [alice, bob]}
channels:
  fintech-reports: {shell: fintech-reports}
  ops: {shell: ops}
schedules:
  summary:
    every: 5m
    grace: 10m
    digest: {channel: fintech-reports, period: 1h}
    allowed: [sre-lead]
  daily-summary:
    cron: "0 8 * * *"
    digest: {channel: fintech-reports}
"""

TEN = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def test_a_fire_missed_during_a_downtime_runs_once_at_start_up(
    scheduled: ScheduledFactory, clock: FastClock
) -> None:
    clock.current = TEN + timedelta(seconds=2)
    before = await scheduled(config=CONFIG)
    assert (await before.tick("summary")) is not None
    await before.surface.close()
    await before.bot.close()

    # Every replica was down from 10:00 to 10:43: eight fires of `summary` were missed.
    clock.current = TEN + timedelta(minutes=43)
    after = await scheduled(config=CONFIG)
    caught_up = await after.runner.catch_up()
    assert [f.fire.fire_time for f in caught_up] == [TEN + timedelta(minutes=40)]
    assert len(after.reports("fintech-reports")) == 1
    # Started twice more within the same minute (a crash loop): still that one fire.
    assert await after.runner.catch_up() == []
    assert await after.tick("summary") is None


async def test_a_fire_missed_beyond_its_grace_window_is_not_run(
    scheduled: ScheduledFactory, clock: FastClock
) -> None:
    clock.current = TEN + timedelta(hours=1, minutes=59)  # `daily-summary` was due at 08:00
    bot = await scheduled(config=CONFIG.replace("every: 5m", "every: 1d"))
    assert await bot.runner.catch_up() == []
    assert bot.reports() == []


async def test_a_pause_holds_across_a_restart_until_resumed(
    scheduled: ScheduledFactory, clock: FastClock
) -> None:
    clock.current = TEN + timedelta(seconds=1)
    bot = await scheduled(config=CONFIG)
    said = await bot.bot.send("/schedule pause summary", user="alice")
    assert [m.text for m in said] == [
        "⏸️ Paused `summary` on every replica: it will not fire until `/schedule resume summary`."
    ]
    await bot.surface.close()
    await bot.bot.close()

    clock.current = TEN + timedelta(minutes=5, seconds=1)
    restarted = await scheduled(config=CONFIG)
    assert await restarted.tick("summary") is None
    listing = (await restarted.bot.send("/schedule list", user="bob"))[0].text
    assert "• `summary` — digest to #fintech-reports (last 1h); every 5m · ⏸️ paused by alice" in (
        listing
    )
    said = await restarted.bot.send("/schedule resume summary", user="alice")
    assert said[0].text == "▶️ Resumed `summary`; next fire Sun 22 Nov 10:10 UTC."
    fired = await restarted.tick("summary")
    assert fired is not None and fired.fire.fire_time == TEN + timedelta(minutes=5)
    audit = await restarted.bot.deps.store.audit_events()
    assert [(e.kind, e.actor) for e in audit] == [
        ("schedule.paused", "shell:alice"),
        ("schedule.resumed", "shell:alice"),
    ]


async def test_two_replicas_on_one_database_fire_each_job_exactly_once(
    scheduled: ScheduledFactory, clock: FastClock, database_url: str
) -> None:
    first = await scheduled(config=CONFIG, database_url=database_url)
    second = await scheduled(config=CONFIG, database_url=database_url)
    fires = 40
    for step in range(fires):
        clock.current = TEN + timedelta(minutes=5 * step, seconds=step % 7)
        if step % 4 == 3:  # one after the other: the second replica wins, the first finds it
            assert await second.tick("summary") is not None
            assert await first.tick("summary") is None
            continue
        await asyncio.gather(first.tick("summary"), second.tick("summary"), first.tick("summary"))
    posted = first.reports("fintech-reports") + second.reports("fintech-reports")
    assert len(posted) == fires
    async with first.bot.deps.store.engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT fire_time, outcome FROM schedule_fires ORDER BY fire_time")
            )
        ).all()
    assert len(rows) == fires
    assert {outcome for _, outcome in rows} == {"ok"}


async def test_schedule_list_shows_what_each_does_next_and_last(
    scheduled: ScheduledFactory, clock: FastClock
) -> None:
    clock.current = TEN + timedelta(seconds=1)
    bot = await scheduled(config=CONFIG)
    await bot.tick("summary")
    [answer] = await bot.bot.send("/schedule list", user="bob")
    assert answer.kind == "private"
    lines = answer.text.splitlines()
    assert lines[0] == "*Schedules* (2):"
    assert lines[1] == (
        "• `summary` — digest to #fintech-reports (last 1h); every 5m · next Sun 22 Nov 10:05 UTC"
    )
    assert lines[2].startswith("   last: Sun 22 Nov 10:00 UTC ✅ ok in ")
    assert lines[2].endswith(": posted to #fintech-reports on shell")
    assert lines[3] == (
        "• `daily-summary` — digest to #fintech-reports (last 24h); cron `0 8 * * *` (UTC)"
        " · next Mon 23 Nov 08:00 UTC"
    )
    assert lines[4] == "   last: never fired"


async def test_schedule_run_fires_now_as_a_manual_fire(
    scheduled: ScheduledFactory, clock: FastClock
) -> None:
    clock.current = TEN + timedelta(minutes=2)
    bot = await scheduled(config=CONFIG)
    said = await bot.bot.send("/schedule run summary", user="alice")
    assert said[-1].text == "✅ Fired `summary` now: posted to #fintech-reports on shell"
    assert len(bot.reports("fintech-reports")) == 1
    # The scheduled fire of 10:00 is another fire: it still runs once.
    assert await bot.tick("summary") is not None
    last = (await bot.runner.fires.last_fires(["summary"]))["summary"]
    assert (last.fire_time, last.manual) == (TEN + timedelta(minutes=2), True)
    audit = await bot.bot.deps.store.audit_events()
    assert [(e.kind, e.actor, e.detail) for e in audit] == [
        ("schedule.run", "shell:alice", {"schedule": "summary"})
    ]


async def test_someone_not_allowed_is_refused_privately_and_nothing_changes(
    scheduled: ScheduledFactory, clock: FastClock
) -> None:
    clock.current = TEN + timedelta(seconds=1)
    bot = await scheduled(config=CONFIG)
    for verb in ("pause", "run", "resume"):
        [answer] = await bot.bot.send(f"/schedule {verb} summary", user="bob")
        assert answer.kind == "private" and answer.to_user == "bob"
        assert answer.text == f"You can't {verb} `summary`: it is limited to `sre-lead`."
    assert bot.reports() == []
    assert await bot.tick("summary") is not None  # not paused
    assert await bot.bot.deps.store.audit_events() == []
    [unknown] = await bot.bot.send("/schedule pause nope", user="alice")
    assert unknown.text == "There is no schedule `nope` (schedules: `summary`, `daily-summary`)."


async def test_without_schedules_the_commands_and_the_help_say_so(
    scheduled: ScheduledFactory,
) -> None:
    bot = await scheduled()
    [answer] = await bot.bot.send("/schedule list")
    assert answer.text == (
        "No schedules are configured: add `schedules` to chatops.yaml, see docs/scheduler.md."
    )
    [helped] = await bot.bot.send("/playbook help")
    assert helped.text.splitlines()[-1] == (
        "• `/schedule list` · `/schedule run|pause|resume ID`"
        " — not available: no schedules are configured (see docs/scheduler.md)"
    )


async def test_with_schedules_the_help_offers_the_schedule_commands(
    scheduled: ScheduledFactory,
) -> None:
    bot = await scheduled(config=CONFIG)
    [helped] = await bot.bot.send("/playbook help")
    assert helped.text.splitlines()[-1] == (
        "• `/schedule list` · `/schedule run|pause|resume ID` — the config's schedules"
    )

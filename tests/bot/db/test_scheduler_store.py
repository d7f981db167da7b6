"""The scheduler's tables on SQLite and PostgreSQL: a fire is claimed once, a pause holds
for every replica and every restart, alert rule states move by compare-and-set, and the
digest reads runs by period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event

from bot.chat import Actor
from bot.db.alerts import AlertStore
from bot.db.connect import create_engine
from bot.db.digests import DigestQueries
from bot.db.schedules import ScheduleStore
from bot.db.store import Store
from bot.lifecycle import RunStatus
from tests.support.stored_runs import insert_runs, stored_run

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ALICE = Actor("shell", "alice", "alice")


async def test_a_fire_is_claimed_by_one_replica_only(database_url: str) -> None:
    first_store, second_store = await Store.open(database_url), await Store.open(database_url)
    first, second = ScheduleStore(first_store.engine), ScheduleStore(second_store.engine)
    try:
        claims = await asyncio.gather(
            *(
                store.claim("daily", NOON + timedelta(days=day), owner=name)
                for day in range(20)
                for store, name in ((first, "a"), (second, "b"))
            )
        )
        won = [claim for claim in claims if claim is not None]
        assert sorted(c.fire_time for c in won) == [NOON + timedelta(days=d) for d in range(20)]
        # The same fire time again, later: nobody runs it twice.
        assert await first.claim("daily", NOON, owner="a") is None
    finally:
        await first_store.close()
        await second_store.close()


async def test_a_pause_holds_across_a_restart_and_is_audited(database_url: str) -> None:
    store = await Store.open(database_url)
    schedules = ScheduleStore(store.engine)
    assert await schedules.set_paused("weekly", True, by=ALICE) is True
    assert await schedules.set_paused("weekly", True, by=ALICE) is False  # already paused
    await store.close()

    restarted = await Store.open(database_url)
    try:
        schedules = ScheduleStore(restarted.engine)
        assert (await schedules.states())["weekly"].paused is True
        assert await schedules.claim("weekly", NOON, owner="b") is None
        manual = await schedules.claim("weekly", NOON, owner="b", manual=True, requested_by=ALICE)
        assert manual is not None and manual.requested_by == "shell:alice"
        assert await schedules.set_paused("weekly", False, by=ALICE) is True
        assert await schedules.claim("weekly", NOON, owner="b") is not None
        kinds = [(e.kind, e.actor, e.detail) for e in await restarted.audit_events()]
        assert kinds == [
            ("schedule.paused", "shell:alice", {"schedule": "weekly"}),
            ("schedule.run", "shell:alice", {"schedule": "weekly"}),
            ("schedule.resumed", "shell:alice", {"schedule": "weekly"}),
        ]
    finally:
        await restarted.close()


async def test_resuming_a_schedule_never_paused_changes_nothing(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        assert await ScheduleStore(store.engine).set_paused("daily", False, by=ALICE) is False
        assert await store.audit_events() == []
    finally:
        await store.close()


async def test_each_schedule_keeps_its_last_fire_outcome_and_result(store: Store) -> None:
    schedules = ScheduleStore(store.engine, clock=lambda: NOON)
    first = await schedules.claim("daily", NOON - timedelta(days=1), owner="a")
    assert first is not None
    await schedules.finish(
        first, outcome="ok", summary="posted", duration_ms=12, result={"metrics": {"x": 1.5}}
    )
    second = await schedules.claim("daily", NOON, owner="a")
    assert second is not None
    assert await schedules.previous_result("daily", before=second) == {"metrics": {"x": 1.5}}
    await schedules.finish(second, outcome="failed", summary="Slack down", duration_ms=40)

    last = await schedules.last_fires(["daily", "weekly"])
    assert list(last) == ["daily"]
    assert (last["daily"].fire_time, last["daily"].outcome, last["daily"].duration_ms) == (
        NOON,
        "failed",
        40,
    )


async def test_an_alert_rule_state_moves_once_when_two_evaluations_race(store: Store) -> None:
    alerts = AlertStore(store.engine, clock=lambda: NOON)
    state = (await alerts.states(["par-90"]))["par-90"]
    assert (state.level, state.bad, state.version) == ("unknown", False, 0)
    moves = await asyncio.gather(
        *(
            alerts.save(
                state,
                level="critical",
                bad=True,
                bad_since=NOON,
                last_posted_at=NOON,
                watermark=None,
            )
            for _ in range(5)
        )
    )
    assert sum(move is not None for move in moves) == 1
    again = (await alerts.states(["par-90"]))["par-90"]
    assert (again.level, again.bad, again.version, again.id) == ("critical", True, 1, state.id)
    assert await alerts.rule_of(state.id) == "par-90"
    assert await alerts.rule_of(state.id + 1000) is None


async def test_the_digest_reads_one_period_of_top_level_runs(store: Store) -> None:
    day = NOON - timedelta(days=1)
    rows = [
        stored_run(id=1, created_at=day - timedelta(hours=1), status="failed"),  # before
        stored_run(id=2, created_at=day + timedelta(hours=1), status="succeeded", seconds=90),
        stored_run(id=3, created_at=day + timedelta(hours=2), status="failed", error="boom"),
        stored_run(id=4, created_at=day + timedelta(hours=3), status="rolled_back", seconds=600),
        stored_run(id=5, created_at=day + timedelta(hours=4), status="expired", playbook="x"),
        stored_run(id=6, created_at=day + timedelta(hours=5), status="pending"),
        stored_run(id=7, created_at=day + timedelta(hours=6), status="failed", parent_run_id=3),
        stored_run(id=8, created_at=NOON, status="failed"),  # the end is not in the period
        stored_run(id=9, created_at=day + timedelta(hours=7), dry_run=True),  # nothing ran
    ]
    await insert_runs(store.engine, rows)
    facts = await DigestQueries(store.engine).facts(day, NOON, items=5)
    tallies = {(t.playbook, t.status): t.count for t in facts.tallies}
    assert tallies == {
        ("clear-cache", RunStatus.SUCCEEDED): 1,
        ("clear-cache", RunStatus.FAILED): 1,
        ("clear-cache", RunStatus.ROLLED_BACK): 1,
        ("x", RunStatus.EXPIRED): 1,
        ("clear-cache", RunStatus.PENDING): 1,
    }
    assert [r.id for r in facts.failures] == [4, 3]
    assert [r.id for r in facts.expired] == [5]
    assert ([r.id for r in facts.pending], facts.pending_total) == ([6], 1)
    assert [r.id for r in facts.slowest] == [4, 2, 3]
    assert facts.failures[1].card is not None


async def test_the_digest_reads_a_wide_period_through_its_own_indexes(database_url: str) -> None:
    # A period holding every stored run takes SQLite off the created_at index: the answer
    # must be the same.
    store = await Store.open(database_url)
    try:
        start = NOON - timedelta(days=3)
        rows = [
            stored_run(
                id=i,
                created_at=start + timedelta(minutes=10 * i),
                status=("succeeded", "failed", "rolled_back")[i % 3],
                playbook=f"p{i % 4}",
                seconds=i,
            )
            for i in range(1, 300)
        ]
        await insert_runs(store.engine, rows)
        facts = await DigestQueries(store.engine).facts(start, NOON, items=3)
        assert sum(t.count for t in facts.tallies) == 299
        assert [r.id for r in facts.slowest] == [299, 298, 297]
        assert [r.id for r in facts.failures] == [299, 298, 296]
    finally:
        await store.close()


async def test_a_rule_watching_runs_reads_the_runs_that_ended_since_it_looked(
    store: Store,
) -> None:
    rows = [
        stored_run(id=1, created_at=NOON, playbook="rerun-dbt", status="failed", seconds=60),
        stored_run(id=2, created_at=NOON, playbook="rerun-dbt", status="succeeded", seconds=60),
        stored_run(id=3, created_at=NOON, playbook="other", status="failed", seconds=60),
        stored_run(id=4, created_at=NOON, playbook="rerun-dbt", status="rolled_back", seconds=9),
    ]
    await insert_runs(store.engine, rows)
    ended = await DigestQueries(store.engine).ended_runs(
        playbooks=["rerun-dbt"],
        statuses=["failed", "rolled_back"],
        after=NOON,
        until=NOON + timedelta(hours=1),
    )
    assert [r.id for r in ended] == [4, 1]


async def test_two_engines_on_one_database_share_the_pause(database_url: str) -> None:
    first, second = create_engine(database_url), create_engine(database_url)
    store = await Store.open(database_url)  # migrates
    try:
        await ScheduleStore(first).set_paused("daily", True, by=ALICE)
        assert await ScheduleStore(second).claim("daily", NOON, owner="b") is None
    finally:
        await store.close()
        await first.dispose()
        await second.dispose()


async def test_the_digest_counts_a_wide_period_from_its_index_alone(tmp_path: Path) -> None:
    # Over a million runs, reading the table for each row of the period made the digest five
    # times slower than its floor (bench/scheduler.py): every column its tallies filter and
    # group by must be in the index, dry_run included.
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/chatops.db")
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    try:
        start = NOON - timedelta(days=3)
        await insert_runs(
            store.engine,
            [stored_run(id=i, created_at=start + timedelta(hours=i)) for i in range(1, 60)],
        )
        event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
        await DigestQueries(store.engine).facts(start, NOON)
        event.remove(store.engine.sync_engine, "before_cursor_execute", seen)
        [tallies] = [s for s in statements if "GROUP BY" in s]
        async with store.engine.connect() as connection:
            plan = await connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {tallies}", (start.isoformat(" "), NOON.isoformat(" "))
            )
            details = " ".join(str(row[-1]) for row in plan)
        assert "USING COVERING INDEX ix_runs_status_playbook_created" in details, details
    finally:
        await store.close()

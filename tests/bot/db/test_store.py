"""The store, run on SQLite and PostgreSQL alike (see tests/support/databases.py).

On SQLite the engine has one connection, so concurrent calls queue up; the race tests are
real races on PostgreSQL, where the gathered calls run on separate connections at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from bot.chat import Actor, MessageRef, Place
from bot.db.connect import create_engine
from bot.db.migrate import HEAD, current_revision, head_revision, upgrade
from bot.db.records import RunRecord
from bot.db.store import Store
from bot.lifecycle import RunStatus, StepStatus
from tests.support.databases import aiosqlite_workers_stopped

ALICE = Actor("slack", "U0ALICE", "Alice")
BOB = Actor("slack", "U0BOB", "Bob")
CAROL = Actor("telegram", "42", "Carol")
OPS = Place("slack", "C0OPS", None, "ops")
REPLICA = "replica-1"


class Clock:
    """A clock the test moves by hand, so durations and timestamps are exact."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def new_run(store: Store, playbook: str = "restart-api", **kwargs: Any) -> RunRecord:
    params = kwargs.pop("params", {"service": "api"})
    return await store.create_run(
        playbook=playbook, params=params, actor=ALICE, place=OPS, **kwargs
    )


async def start(store: Store, run_id: int, owner: str = REPLICA) -> RunRecord | None:
    return await store.transition(
        run_id,
        expected={RunStatus.PENDING},
        to=RunStatus.RUNNING,
        actor=ALICE.key,
        surface="slack",
        owner=owner,
    )


async def kinds(store: Store, run_id: int) -> list[str]:
    return [event.kind for event in await store.audit_events(run_id=run_id)]


async def query(store: Store, sql: str) -> list[tuple[Any, ...]]:
    async with store.engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text(sql))).all()]


def is_postgres(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


def assert_raced_on_several_connections(store: Store) -> None:
    """On PostgreSQL the gathered calls must have had connections of their own at once."""
    if is_postgres(store):
        pool = store.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedin() > 1, "the race ran on a single connection"


@pytest_asyncio.fixture
async def clock_store(database_url: str) -> AsyncIterator[tuple[Store, Clock]]:
    clock = Clock()
    opened = await Store.open(database_url, clock=clock)
    try:
        yield opened, clock
    finally:
        await opened.close()


# -- migrations -----------------------------------------------------------------------


async def test_current_revision_is_head_after_open(store: Store) -> None:
    assert head_revision() is not None
    assert await current_revision(store.engine) == head_revision()


async def test_upgrading_again_is_a_no_op(store: Store) -> None:
    run = await new_run(store)

    await upgrade(store.engine)
    await upgrade(store.engine)

    assert await current_revision(store.engine) == head_revision()
    assert await store.get_run(run.id) == run
    assert await query(store, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


async def test_concurrent_upgrades_of_a_fresh_database_both_succeed(database_url: str) -> None:
    first, second = create_engine(database_url), create_engine(database_url)
    try:
        await asyncio.gather(upgrade(first), upgrade(second))
        assert await current_revision(first) == head_revision()
        assert await current_revision(second) == head_revision()
    finally:
        await first.dispose()
        await second.dispose()


async def test_postgres_tables_and_alembic_version_land_in_the_test_schema(
    postgres_url: str,
) -> None:
    store = await Store.open(postgres_url)
    try:
        [(schema,)] = await query(store, "SELECT current_schema()")
        assert schema.startswith("chatops_test_")
        tables = await query(
            store,
            "SELECT table_name FROM information_schema.tables "
            f"WHERE table_schema = '{schema}' ORDER BY table_name",
        )
        assert [name for (name,) in tables] == [
            "alembic_version",
            "alert_states",
            "approval_messages",
            "approvals",
            "audit_events",
            "callback_tokens",
            "opened_forms",
            "processed_events",
            "runs",
            "schedule_fires",
            "schedule_states",
            "step_results",
        ]
    finally:
        await store.close()


# -- runs -----------------------------------------------------------------------------


async def test_create_run_is_pending_and_audited_with_its_params(store: Store) -> None:
    run = await new_run(store, params={"service": "api", "replicas": 3}, dry_run=True)

    assert run.status is RunStatus.PENDING
    assert run.requested_by == "slack:U0ALICE"
    assert run.requester_display == "Alice"
    assert run.place == OPS
    assert run.version == 0
    assert run.started_at is None
    assert run.finished_at is None
    [event] = await store.audit_events(run_id=run.id)
    assert event.kind == "run.created"
    assert event.actor == "slack:U0ALICE"
    assert event.surface == "slack"
    assert event.detail == {
        "playbook": "restart-api",
        "params": {"service": "api", "replicas": 3},
        "dry_run": True,
    }


async def test_get_run_reads_back_what_was_created(store: Store) -> None:
    run = await new_run(store, params={"service": "api", "tags": ["a", "b"]})

    assert await store.get_run(run.id) == run
    assert await store.get_run(run.id + 1000) is None


async def test_list_runs_newest_first_by_playbook_without_children(store: Store) -> None:
    first = await new_run(store, "restart-api")
    other = await new_run(store, "rotate-keys")
    second = await new_run(store, "restart-api")
    child = await new_run(store, "restart-api", parent_run_id=second.id, parent_step="sub")

    assert [r.id for r in await store.list_runs()] == [second.id, other.id, first.id]
    assert [r.id for r in await store.list_runs(playbook="restart-api")] == [second.id, first.id]
    assert [r.id for r in await store.list_runs(limit=2)] == [second.id, other.id]
    everything = await store.list_runs(top_level_only=False)
    assert [r.id for r in everything] == [child.id, second.id, other.id, first.id]
    await start(store, other.id)
    running = await store.list_runs(statuses={RunStatus.RUNNING})
    assert [r.id for r in running] == [other.id]


async def test_child_runs_lists_a_runs_children_in_order(store: Store) -> None:
    parent = await new_run(store, "deploy")
    one = await new_run(store, "migrate", parent_run_id=parent.id, parent_step="db")
    two = await new_run(store, "warm-cache", parent_run_id=parent.id, parent_step="cache")
    await new_run(store, "unrelated")

    children = await store.child_runs(parent.id)

    assert [(c.id, c.parent_step) for c in children] == [(one.id, "db"), (two.id, "cache")]
    assert all(c.parent_run_id == parent.id for c in children)
    assert await store.child_runs(one.id) == []


async def test_a_run_report_reads_the_run_and_all_it_shows_at_one_moment(store: Store) -> None:
    run = await new_run(store, needs_approval=True, expires_at=datetime.now(UTC) + IN_AN_HOUR)
    await store.record_decision(run_id=run.id, step_id="", actor=BOB, decision="approve")
    child = await new_run(store, "warm-cache", parent_run_id=run.id, parent_step="warm")
    await store.start_step(
        run_id=run.id, step_id="warm", phase="main", position=0, action="playbook", actor="x"
    )

    report = await store.run_report(run.id)

    assert report is not None
    assert report.run.status is RunStatus.RUNNING  # the one approval needed started it
    assert [s.step_id for s in report.steps] == ["warm"]
    assert [(d.actor, d.decision) for d in report.decisions] == [("slack:U0BOB", "approve")]
    assert [e.kind for e in report.audit] == ["run.created", "approval.approve", "run.running"]
    assert [c.id for c in report.children] == [child.id]
    assert await store.run_report(run.id + 1000) is None


async def test_a_sweep_reads_only_the_runs_other_processes_are_running(store: Store) -> None:
    mine, theirs, child, idle = [await new_run(store) for _ in range(4)]
    await start(store, mine.id, owner="me")
    await start(store, theirs.id, owner="them")
    await start(store, child.id, owner="gone")
    await store.transition(
        idle.id, expected={RunStatus.PENDING}, to=RunStatus.CANCELLED, actor="x", surface="x"
    )

    found = await store.running_elsewhere("me")

    assert [(r.id, r.owner) for r in found] == [(theirs.id, "them"), (child.id, "gone")]


async def test_only_pending_runs_whose_window_closes_soon_are_read_for_deadlines(
    store: Store,
) -> None:
    now = datetime.now(UTC)
    soon = await new_run(store, needs_approval=True, expires_at=now + timedelta(minutes=5))
    card = await new_run(store, expires_at=now + timedelta(minutes=1))  # Run not pressed
    await new_run(store, expires_at=now + timedelta(hours=20))  # not soon
    await new_run(store)  # no window at all
    decided = await new_run(store, needs_approval=True, expires_at=now + timedelta(minutes=2))
    await start(store, decided.id)

    found = await store.pending_deadlines(before=now + timedelta(minutes=10))

    assert [r.id for r in found] == [card.id, soon.id]  # soonest first


# -- transitions ----------------------------------------------------------------------


async def test_transition_happy_path_sets_times_owner_and_heartbeat(
    clock_store: tuple[Store, Clock],
) -> None:
    store, clock = clock_store
    run = await new_run(store)
    clock.advance(10)
    started_at = clock.now

    running = await start(store, run.id, owner="replica-7")

    assert running is not None
    assert running.status is RunStatus.RUNNING
    assert running.owner == "replica-7"
    assert running.started_at == started_at
    assert running.heartbeat_at == started_at
    assert running.finished_at is None
    assert running.version == run.version + 1

    clock.advance(5)
    done = await store.transition(
        run.id,
        expected={RunStatus.RUNNING},
        to=RunStatus.SUCCEEDED,
        actor="system",
        surface="system",
        detail={"steps": 1},
    )

    assert done is not None
    assert done.status is RunStatus.SUCCEEDED
    assert done.started_at == started_at
    assert done.finished_at == clock.now
    assert done.version == run.version + 2
    assert await store.get_run(run.id) == done
    events = await store.audit_events(run_id=run.id)
    assert [e.kind for e in events] == ["run.created", "run.running", "run.succeeded"]
    assert events[-1].detail == {"steps": 1}


async def test_resuming_an_interrupted_run_keeps_its_start_and_clears_the_error(
    clock_store: tuple[Store, Clock],
) -> None:
    store, clock = clock_store
    run = await new_run(store)
    first = await start(store, run.id)
    assert first is not None
    clock.advance(60)
    interrupted = await store.transition(
        run.id,
        expected={RunStatus.RUNNING},
        to=RunStatus.INTERRUPTED,
        actor="system",
        surface="system",
        error="replica-1 stopped heartbeating",
    )
    assert interrupted is not None
    assert interrupted.error == "replica-1 stopped heartbeating"

    clock.advance(60)
    resumed = await store.transition(
        run.id,
        expected={RunStatus.INTERRUPTED},
        to=RunStatus.RUNNING,
        actor=BOB.key,
        surface="slack",
        owner="replica-2",
    )

    assert resumed is not None
    assert resumed.started_at == first.started_at
    assert resumed.heartbeat_at == clock.now
    assert resumed.owner == "replica-2"
    assert resumed.error is None
    events = await store.audit_events(run_id=run.id)
    assert events[2].detail == {"error": "replica-1 stopped heartbeating"}


async def test_transition_from_a_wrong_status_returns_none_and_changes_nothing(
    store: Store,
) -> None:
    run = await new_run(store)
    events_before = await store.audit_events(run_id=run.id)

    result = await store.transition(
        run.id,
        expected={RunStatus.RUNNING},
        to=RunStatus.SUCCEEDED,
        actor="system",
        surface="system",
    )

    assert result is None
    after = await store.get_run(run.id)
    assert after == run
    assert after is not None and after.status is RunStatus.PENDING and after.version == 0
    assert await store.audit_events(run_id=run.id) == events_before


async def test_transition_of_an_unknown_run_returns_none(store: Store) -> None:
    assert await start(store, 999_999) is None
    assert await store.audit_events() == []


async def test_an_illegal_transition_raises_and_changes_nothing(store: Store) -> None:
    run = await new_run(store)

    with pytest.raises(ValueError, match="succeeded"):
        await store.transition(
            run.id,
            expected={RunStatus.SUCCEEDED},
            to=RunStatus.RUNNING,
            actor=ALICE.key,
            surface="slack",
        )

    assert await store.get_run(run.id) == run
    assert await kinds(store, run.id) == ["run.created"]


# -- races ----------------------------------------------------------------------------


async def test_fifty_concurrent_starts_exactly_one_wins(store: Store) -> None:
    run = await new_run(store)

    results = await asyncio.gather(*(start(store, run.id, owner=f"r{i}") for i in range(50)))

    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    # Within one process transitions are group-committed, so this race is settled in one
    # transaction; the race between processes, on their own connections, is the next test.
    final = await store.get_run(run.id)
    assert final is not None
    assert final.status is RunStatus.RUNNING
    assert final.owner == winners[0].owner
    assert final.version == 1
    assert (await kinds(store, run.id)).count("run.running") == 1


async def test_two_replicas_racing_to_start_exactly_one_wins(
    store: Store, database_url: str
) -> None:
    other = await Store.open(database_url)
    try:
        runs = [await new_run(store) for _ in range(5)]
        attempts = [
            start(replica, run.id, owner=name)
            for run in runs
            for _ in range(10)
            for replica, name in ((store, "replica-a"), (other, "replica-b"))
        ]

        results = await asyncio.gather(*attempts)

        for run in runs:
            winners = [r for r in results if r is not None and r.id == run.id]
            assert len(winners) == 1, f"run {run.id} started {len(winners)} times"
            final = await other.get_run(run.id)
            assert final is not None and final.owner == winners[0].owner
            assert final.version == 1
            assert (await kinds(store, run.id)).count("run.running") == 1
    finally:
        await other.close()


async def test_a_cancel_racing_a_start_exactly_one_wins(store: Store, database_url: str) -> None:
    other = await Store.open(database_url)
    try:
        runs = [await new_run(store) for _ in range(10)]

        async def cancel(run_id: int) -> RunRecord | None:
            return await other.transition(
                run_id,
                expected={RunStatus.PENDING},
                to=RunStatus.CANCELLED,
                actor=BOB.key,
                surface="slack",
            )

        pairs = await asyncio.gather(
            *(asyncio.gather(start(store, run.id), cancel(run.id)) for run in runs)
        )

        for run, (started, cancelled) in zip(runs, pairs, strict=True):
            assert (started is None) != (cancelled is None)
            winner = started or cancelled
            assert winner is not None
            final = await store.get_run(run.id)
            assert final is not None
            assert final.status is winner.status
            assert final.version == 1
            assert await kinds(store, run.id) == ["run.created", f"run.{winner.status.value}"]
    finally:
        await other.close()


# -- approvals ------------------------------------------------------------------------

IN_AN_HOUR = timedelta(hours=1)


async def awaiting_approval(store: Store, now: datetime | None = None) -> RunRecord:
    """A pending run that waits for approvals until an hour after ``now``."""
    expires_at = (now or datetime.now(UTC)) + IN_AN_HOUR
    return await new_run(store, needs_approval=True, expires_at=expires_at)


async def paused_at_gate(store: Store, step_id: str = "gate", now: datetime | None = None) -> int:
    """A running run whose step ``step_id`` waits at its approval gate for an hour."""
    run = await new_run(store)
    await start(store, run.id)
    await store.wait_at_gate(
        run_id=run.id,
        step_id=step_id,
        position=0,
        action="http",
        expires_at=(now or datetime.now(UTC)) + IN_AN_HOUR,
    )
    return run.id


async def test_the_same_person_deciding_twice_counts_once(store: Store) -> None:
    run = await awaiting_approval(store)

    first = await store.record_decision(
        run_id=run.id, step_id="", actor=ALICE, decision="approve", reason="lgtm", needed=2
    )
    again = await store.record_decision(
        run_id=run.id, step_id="", actor=ALICE, decision="deny", reason="changed my mind", needed=2
    )

    assert first.approval is not None
    assert first.approval.actor == "slack:U0ALICE"
    assert first.approval.actor_name == "Alice"
    assert first.approval.decision == "approve"
    assert first.run is None  # one of two: still pending
    assert again.approval is None and again.already_decided
    assert [d.decision for d in await store.decisions(run.id)] == ["approve"]
    assert await kinds(store, run.id) == ["run.created", "approval.approve"]


async def test_twenty_concurrent_clicks_by_one_person_on_two_replicas_are_stored_once(
    store: Store, database_url: str
) -> None:
    other = await Store.open(database_url)
    try:
        run_id = await paused_at_gate(store)

        results = await asyncio.gather(
            *(
                replica.record_decision(
                    run_id=run_id, step_id="gate", actor=BOB, decision="approve", needed=2
                )
                for _ in range(10)
                for replica in (store, other)
            )
        )

        assert len([r for r in results if r.approval is not None]) == 1
        assert len([r for r in results if r.already_decided]) == 19
        assert len(await store.decisions(run_id)) == 1
        assert (await kinds(store, run_id)).count("approval.approve") == 1
    finally:
        await other.close()


async def test_different_people_are_all_stored_in_order(store: Store) -> None:
    run_id = await paused_at_gate(store)
    await store.wait_at_gate(
        run_id=run_id,
        step_id="other",
        position=1,
        action="http",
        expires_at=datetime.now(UTC) + IN_AN_HOUR,
    )

    for actor in (ALICE, BOB, CAROL):
        stored = await store.record_decision(
            run_id=run_id, step_id="gate", actor=actor, decision="approve", needed=3
        )
        assert stored.approval is not None
    await store.record_decision(run_id=run_id, step_id="other", actor=ALICE, decision="approve")

    gate = await store.decisions(run_id, "gate")
    assert [(d.actor, d.decision) for d in gate] == [
        ("slack:U0ALICE", "approve"),
        ("slack:U0BOB", "approve"),
        ("telegram:42", "approve"),
    ]
    assert [d.step_id for d in await store.decisions(run_id)] == ["gate", "gate", "gate", "other"]


async def test_the_approval_that_meets_the_threshold_starts_the_run_in_the_same_step(
    store: Store,
) -> None:
    run = await awaiting_approval(store)

    first = await store.record_decision(
        run_id=run.id, step_id="", actor=ALICE, decision="approve", needed=2, owner=REPLICA
    )
    second = await store.record_decision(
        run_id=run.id, step_id="", actor=BOB, decision="approve", needed=2, owner=REPLICA
    )
    late = await store.record_decision(
        run_id=run.id, step_id="", actor=CAROL, decision="deny", reason="stop", needed=2
    )

    assert first.run is None
    assert second.run is not None
    assert second.run.status is RunStatus.RUNNING
    assert second.run.owner == REPLICA
    assert [d.actor_name for d in second.decisions] == ["Alice", "Bob"]
    assert late.approval is None and not late.already_decided
    assert [d.decision for d in await store.decisions(run.id)] == ["approve", "approve"]
    events = await store.audit_events(run_id=run.id)
    assert [e.kind for e in events] == [
        "run.created",
        "approval.approve",
        "approval.approve",
        "run.running",
    ]
    assert events[-1].actor == BOB.key
    assert events[-1].detail == {"approved_by": ["Alice", "Bob"]}


async def test_a_deny_ends_the_run_and_later_decisions_are_refused(store: Store) -> None:
    run = await awaiting_approval(store)

    denied = await store.record_decision(
        run_id=run.id, step_id="", actor=BOB, decision="deny", reason="freeze", needed=2
    )
    after = await store.record_decision(
        run_id=run.id, step_id="", actor=CAROL, decision="approve", needed=2
    )

    assert denied.run is not None and denied.run.status is RunStatus.DENIED
    assert denied.run.finished_at is not None
    assert after.approval is None
    assert await kinds(store, run.id) == ["run.created", "approval.deny", "run.denied"]
    events = await store.audit_events(run_id=run.id)
    assert events[-1].detail == {"reason": "freeze"}


async def test_a_deny_racing_the_deciding_approval_on_another_replica_leaves_one_trail(
    store: Store, database_url: str
) -> None:
    other = await Store.open(database_url)
    try:
        runs = [await awaiting_approval(store) for _ in range(10)]

        async def approve(run_id: int) -> Any:
            return await store.record_decision(
                run_id=run_id, step_id="", actor=ALICE, decision="approve", owner="a"
            )

        async def deny(run_id: int) -> Any:
            return await other.record_decision(
                run_id=run_id, step_id="", actor=BOB, decision="deny", reason="stop"
            )

        pairs = await asyncio.gather(
            *(asyncio.gather(approve(run.id), deny(run.id)) for run in runs)
        )

        for run, (approved, denied) in zip(runs, pairs, strict=True):
            assert (approved.approval is None) != (denied.approval is None)
            winner = approved if approved.approval is not None else denied
            assert winner.run is not None
            final = await other.get_run(run.id)
            assert final is not None and final.status is winner.run.status
            decisions = await store.decisions(run.id)
            assert decisions == [winner.approval]
            expected = "running" if winner is approved else "denied"
            assert await kinds(store, run.id) == [
                "run.created",
                f"approval.{decisions[0].decision}",
                f"run.{expected}",
            ]
    finally:
        await other.close()


async def test_decisions_at_or_after_the_window_are_refused_and_write_nothing(
    clock_store: tuple[Store, Clock],
) -> None:
    store, clock = clock_store
    run = await awaiting_approval(store, clock.now)
    gate_run = await paused_at_gate(store, now=clock.now)
    clock.advance(IN_AN_HOUR.total_seconds())  # exactly at expires_at

    on_run = await store.record_decision(run_id=run.id, step_id="", actor=BOB, decision="approve")
    on_gate = await store.record_decision(
        run_id=gate_run, step_id="gate", actor=BOB, decision="approve"
    )

    assert on_run.approval is None and on_gate.approval is None
    assert await store.decisions(run.id) == [] and await store.decisions(gate_run) == []
    pending = await store.get_run(run.id)
    assert pending is not None and pending.status is RunStatus.PENDING  # expiring is not ours
    assert "approval.approve" not in await kinds(store, run.id) + await kinds(store, gate_run)


async def test_nothing_is_recorded_where_nothing_waits_for_a_decision(store: Store) -> None:
    plain = await new_run(store)  # needs no approval
    settled = await paused_at_gate(store)
    await store.record_decision(run_id=settled, step_id="gate", actor=ALICE, decision="approve")

    refused = [
        await store.record_decision(run_id=plain.id, step_id="", actor=BOB, decision="approve"),
        await store.record_decision(
            run_id=settled, step_id="other", actor=BOB, decision="approve"
        ),  # no such gate waits
        await store.record_decision(run_id=settled, step_id="gate", actor=BOB, decision="deny"),
        await store.record_decision(run_id=settled, step_id="", actor=BOB, decision="approve"),
    ]

    assert all(r.approval is None and not r.already_decided for r in refused)
    assert await store.decisions(plain.id) == []
    assert [d.actor for d in await store.decisions(settled)] == [ALICE.key]


@pytest.mark.parametrize("step_id", [None, "gate"], ids=["run", "step"])
async def test_two_replicas_claim_a_reminder_exactly_once(
    store: Store, database_url: str, step_id: str | None
) -> None:
    other = await Store.open(database_url)
    try:
        if step_id is None:
            run_ids = [(await awaiting_approval(store)).id for _ in range(5)]
        else:
            run_ids = [await paused_at_gate(store, step_id) for _ in range(5)]

        claims = await asyncio.gather(
            *(
                replica.mark_reminded(run_id, step_id)
                for run_id in run_ids
                for _ in range(10)
                for replica in (store, other)
            )
        )

        assert_raced_on_several_connections(store)
        per_run = [claims[i * 20 : (i + 1) * 20] for i in range(len(run_ids))]
        assert [sum(c) for c in per_run] == [1] * len(run_ids)
        assert not any([await other.mark_reminded(run_id, step_id) for run_id in run_ids])
    finally:
        await other.close()


async def test_a_waits_posted_requests_are_each_closed_by_one_replica_once(
    store: Store, database_url: str
) -> None:
    other = await Store.open(database_url)
    try:
        run = await awaiting_approval(store)
        gated = await paused_at_gate(store, "deploy")
        posted = [
            (run.id, "", MessageRef("slack", "C0OPS", "1.1", "1.0"), "🔐 Approval needed"),
            (run.id, "", MessageRef("slack", "C0OPS", "1.2", "1.0"), "⏰ Reminder"),
            (gated, "deploy", MessageRef("slack", "C0OPS", "2.1", "2.0"), "🔐 Step gate"),
        ]
        for run_id, step_id, ref, said in posted:
            await store.record_approval_message(run_id=run_id, step_id=step_id, ref=ref, text=said)

        claims = await asyncio.gather(
            *(replica.close_approval_messages(run.id, "") for replica in (store, other) * 5)
        )

        assert sorted(claims, key=len, reverse=True) == [
            [(posted[0][2], "🔐 Approval needed"), (posted[1][2], "⏰ Reminder")],
            *[[]] * 9,
        ]
        assert await other.close_approval_messages(gated, "") == []  # not the run's own
        assert await other.close_approval_messages(gated, "deploy") == [
            (posted[2][2], "🔐 Step gate")
        ]
    finally:
        await other.close()


async def test_a_gate_whose_wait_ended_refuses_decisions_and_returns_those_before(
    store: Store,
) -> None:
    run_id = await paused_at_gate(store)
    before = await store.record_decision(
        run_id=run_id, step_id="gate", actor=ALICE, decision="approve", needed=2
    )

    ended = await store.end_gate_wait(run_id, "gate")
    after = await store.record_decision(
        run_id=run_id, step_id="gate", actor=BOB, decision="approve", needed=2
    )

    assert ended == [before.approval]
    assert after.approval is None
    assert await store.decisions(run_id, "gate") == ended
    [gate] = await store.steps(run_id)
    assert gate.status is StepStatus.RUNNING  # no longer waiting for anyone


async def test_decisions_racing_a_gate_ending_on_another_replica_are_each_seen_or_refused(
    store: Store, database_url: str
) -> None:
    other = await Store.open(database_url)
    try:
        run_ids = [await paused_at_gate(store) for _ in range(10)]

        async def decide(run_id: int) -> Any:
            return await other.record_decision(
                run_id=run_id, step_id="gate", actor=BOB, decision="approve"
            )

        pairs = await asyncio.gather(
            *(asyncio.gather(decide(r), store.end_gate_wait(r, "gate")) for r in run_ids)
        )

        for run_id, (decided, seen) in zip(run_ids, pairs, strict=True):
            # Recorded means the ending gate saw it; refused means it is nowhere.
            stored = await store.decisions(run_id, "gate")
            if decided.approval is not None:
                assert seen == [decided.approval] == stored
            else:
                assert seen == [] == stored
                assert "approval.approve" not in await kinds(store, run_id)
    finally:
        await other.close()


async def test_a_resumed_gate_keeps_the_reminder_it_already_sent(store: Store) -> None:
    run_id = await paused_at_gate(store)
    assert await store.mark_reminded(run_id, "gate")
    [gate] = await store.steps(run_id)

    assert gate.expires_at is not None
    await store.wait_at_gate(
        run_id=run_id,
        step_id="gate",
        position=0,
        action="http",
        expires_at=gate.expires_at,
        resumed=True,
    )
    assert not await store.mark_reminded(run_id, "gate")

    # A new wait at the gate (not a resume) may remind again.
    await store.wait_at_gate(
        run_id=run_id, step_id="gate", position=0, action="http", expires_at=gate.expires_at
    )
    assert await store.mark_reminded(run_id, "gate")


# -- steps ----------------------------------------------------------------------------


async def test_start_and_finish_step_record_status_attempts_duration_output(
    clock_store: tuple[Store, Clock],
) -> None:
    store, clock = clock_store
    run = await new_run(store)
    await start(store, run.id)

    started_at = await store.start_step(
        run_id=run.id, step_id="restart", phase="main", position=0, action="http", actor="system"
    )
    [running] = await store.steps(run.id)
    assert running.status is StepStatus.RUNNING
    assert running.started_at == clock.now

    clock.advance(1.5)
    finished = await store.finish_step(
        run_id=run.id,
        step_id="restart",
        phase="main",
        position=0,
        action="http",
        status=StepStatus.SUCCEEDED,
        attempts=2,
        summary="200 OK",
        output="restarted 3 pods",
        error=None,
        actor="system",
        started_at=started_at,
    )

    assert finished.status is StepStatus.SUCCEEDED
    assert finished.attempts == 2
    assert finished.duration_ms == 1500
    assert finished.output == "restarted 3 pods"
    assert finished.summary == "200 OK"
    assert finished.finished_at == clock.now
    assert await store.steps(run.id) == [finished]
    events = await store.audit_events(run_id=run.id)
    assert [e.kind for e in events][-1:] == ["step.succeeded"]
    assert events[-1].detail == {
        "step": "restart",
        "phase": "main",
        "action": "http",
        "attempts": 2,
        "duration_ms": 1500,
        "summary": "200 OK",
    }


async def test_a_step_finished_without_starting_has_no_duration(store: Store) -> None:
    run = await new_run(store)

    skipped = await store.finish_step(
        run_id=run.id,
        step_id="notify",
        phase="main",
        position=3,
        action="notify",
        status=StepStatus.SKIPPED,
        attempts=0,
        summary="condition false",
        output="",
        error=None,
        actor="system",
    )

    assert skipped.status is StepStatus.SKIPPED
    assert skipped.duration_ms is None
    assert skipped.position == 3
    assert await store.steps(run.id) == [skipped]


async def test_restarting_a_step_on_resume_updates_the_same_row(store: Store) -> None:
    run = await new_run(store)
    step: dict[str, Any] = {"run_id": run.id, "step_id": "migrate", "phase": "main", "position": 1}
    await store.start_step(**step, action="sql", actor="system")
    await store.finish_step(
        **step,
        action="sql",
        status=StepStatus.FAILED,
        attempts=3,
        summary="timeout",
        output="",
        error="lock timeout",
        actor="system",
    )

    await store.start_step(**step, action="sql", actor="system")

    [resumed] = await store.steps(run.id)
    assert resumed.status is StepStatus.RUNNING
    assert resumed.error is None
    assert resumed.finished_at is None
    assert await query(store, f"SELECT count(*) FROM step_results WHERE run_id = {run.id}") == [
        (1,)
    ]


async def test_steps_list_main_before_rollback_by_position(store: Store) -> None:
    run = await new_run(store)
    for phase, position, step_id in (
        ("rollback", 1, "undo-b"),
        ("main", 2, "c"),
        ("rollback", 0, "undo-a"),
        ("main", 0, "a"),
        ("main", 1, "b"),
    ):
        await store.start_step(
            run_id=run.id,
            step_id=step_id,
            phase=phase,
            position=position,
            action="shell",
            actor="system",
        )

    steps = await store.steps(run.id)

    assert [(s.phase, s.step_id) for s in steps] == [
        ("main", "a"),
        ("main", "b"),
        ("main", "c"),
        ("rollback", "undo-a"),
        ("rollback", "undo-b"),
    ]


# -- redaction ------------------------------------------------------------------------


async def test_a_secret_is_never_stored_in_outputs_errors_or_audit_details(
    database_url: str,
) -> None:
    secret = "hunter2"
    store = await Store.open(database_url, redact=lambda s: s.replace(secret, "***"))
    try:
        run = await new_run(store, params={"password": secret})
        await start(store, run.id)
        step: dict[str, Any] = {
            "run_id": run.id,
            "step_id": "login",
            "phase": "main",
            "position": 0,
        }
        await store.start_step(**step, action="shell", actor="system")
        finished = await store.finish_step(
            **step,
            action="shell",
            status=StepStatus.FAILED,
            attempts=1,
            summary=f"login with {secret} failed",
            output=f"$ login --password {secret}\ndenied",
            error=f"bad password {secret}",
            actor="system",
        )
        await store.wait_at_gate(
            run_id=run.id,
            step_id="gate",
            position=1,
            action="http",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
        denied = await store.record_decision(
            run_id=run.id, step_id="gate", actor=BOB, decision="deny", reason=f"{secret} leaked"
        )
        assert denied.approval is not None
        failed = await store.transition(
            run.id,
            expected={RunStatus.RUNNING},
            to=RunStatus.FAILED,
            actor="system",
            surface="system",
            detail={"note": f"password {secret}", "nested": [{"value": secret}]},
            error=f"step login failed: {secret}",
        )
        await store.audit(actor="system", surface="system", kind="note", detail={"x": secret})

        assert finished.output == "$ login --password ***\ndenied"
        assert failed is not None and failed.error == "step login failed: ***"
        stored = [
            *await query(store, "SELECT summary, output, error FROM step_results"),
            *await query(store, "SELECT error FROM runs"),
            *await query(store, "SELECT reason FROM approvals"),
            *await query(store, "SELECT CAST(detail AS TEXT) FROM audit_events"),
        ]
        dump = json.dumps(stored, default=str)
        assert "***" in dump
        assert secret not in dump
    finally:
        await store.close()


# -- connectivity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "unreachable",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql+psycopg://postgres@127.0.0.1:1/x", id="postgresql"),
    ],
)
async def test_ping_raises_when_the_database_is_unreachable(
    unreachable: str, tmp_path: Any
) -> None:
    if unreachable == "sqlite":
        (tmp_path / "chatops.db").mkdir()  # a folder where the database file should be
        unreachable = f"sqlite+aiosqlite:///{tmp_path}/chatops.db"
    store = await Store.open(unreachable, migrate=False)
    try:
        async with asyncio.timeout(20):
            with pytest.raises(OperationalError):
                await store.ping()
    finally:
        await store.close()
        await aiosqlite_workers_stopped()


async def test_ping_succeeds_on_a_reachable_database(store: Store) -> None:
    await store.ping()


async def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    store = await Store.open(sqlite_url)
    try:
        assert await query(store, "PRAGMA journal_mode") == [("wal",)]
    finally:
        await store.close()


def test_head_constant_matches_the_migrations() -> None:
    # Start-up skips importing alembic when the database is at HEAD: it must be the real head.
    assert head_revision() == HEAD

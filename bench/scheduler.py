"""The scheduler at scale: the digest over a million stored runs, the store's answers on that
database, and a hundred metrics behind a slow source.

- **digest**: 1,000,000 runs spread over 90 days (with their audit events — created, started,
  ended — and a step each, about 5 million rows) are written straight into a fresh database,
  SQLite file or PostgreSQL scratch schema, migrated as the bot migrates it (so with the
  indexes of migration 0007). The digest is then composed as a fire composes it — the
  period's facts read (``DigestQueries.facts``), the Report built (``compose_digest``) and
  laid out as Slack blocks — over the whole 90 days and over the last 24 hours, beside the
  floor: one ``SELECT status, count(*) … GROUP BY status`` over the same period.
  PostgreSQL is ANALYZEd after the load, as autovacuum would; SQLite is not (the digest must
  not need statistics).
- **store**: on that same database, ``/playbook history NAME`` and ``/playbook status N``
  answered through the service (``ChatOpsService.handle``, to a console chat) for random
  playbooks and runs; p99 of ``--asks`` each.
- **metrics**: 100 metrics, each its own URL on a local stub that answers after 200 ms, read
  by ``MetricReader.read_all`` (concurrently, a timeout each).

Targets: the digest ≤ 300 ms on each backend (median of ``--repeat``); history and status
≤ 50 ms p99; 100 metrics ≤ 1 s (every repetition).

    python -m bench.scheduler [--runs 1000000] [--days 90] [--repeat 7] [--asks 300]
                              [--backend all|sqlite|postgresql] [--skip-metrics]

PostgreSQL runs when ``CHATOPS_TEST_POSTGRES_URL`` is set (a scratch schema, dropped after).
Exits 1 if a target is missed. About 2 minutes per backend, most of it loading the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.results import Row, markdown_table, missed, percentile, verdict

__all__ = ["main"]

POSTGRES_URL_ENV = "CHATOPS_TEST_POSTGRES_URL"
DIGEST_TARGET_MS = 300.0
ANSWER_TARGET_MS = 50.0
METRICS_TARGET_S = 1.0
METRICS = 100
METRIC_DELAY_S = 0.2
END = datetime(2026, 12, 1, tzinfo=UTC)
PLAYBOOKS = [f"playbook-{n:02d}" for n in range(30)]
# Outcomes as a busy bot sees them: mostly successes, some failures and rollbacks, a few
# cancelled, denied or expired, and a handful still pending.
STATUSES = (
    ["succeeded"] * 850
    + ["failed"] * 60
    + ["rolled_back"] * 20
    + ["cancelled"] * 30
    + ["denied"] * 10
    + ["expired"] * 20
    + ["pending"] * 10
)
NOT_STARTED = {"pending", "denied", "expired"}
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime on SQLite
STAND_IN = """\
name: {name}
steps:
  - id: main
    action: http
    with: {{url: "http://127.0.0.1:9/api"}}
"""


# -- the stored runs ------------------------------------------------------------------------


def runs(count: int, days: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` runs created evenly over the ``days`` before END, oldest first."""
    rng = random.Random(seed)
    span = days * 86400
    start = END - timedelta(days=days)
    for run_id in range(1, count + 1):
        created = start + timedelta(seconds=span * (run_id - 1) / count)
        status = rng.choice(STATUSES)
        started = None if status in NOT_STARTED else created + timedelta(seconds=rng.randint(1, 90))
        finished = None
        if status != "pending":
            ran = rng.expovariate(1 / 40) if started else 1800
            finished = (started or created) + timedelta(seconds=ran)
        yield {
            "id": run_id,
            "playbook": PLAYBOOKS[min(int(rng.expovariate(1 / 6)), len(PLAYBOOKS) - 1)],
            "status": status,
            "created_at": created,
            "started_at": started,
            "finished_at": finished,
            "needs_approval": status in NOT_STARTED or rng.random() < 0.1,
            "error": "POST http://target/api → 503"
            if status in ("failed", "rolled_back")
            else None,
            "card_ref": f"slack|C0INCIDENTS|{int(created.timestamp())}.{run_id % 1_000_000:06d}|",
        }


RUN_COLUMNS = [
    "id",
    "playbook",
    "params",
    "status",
    "dry_run",
    "requested_by",
    "requester_name",
    "surface",
    "channel",
    "channel_name",
    "card_ref",
    "estimate_seconds",
    "estimate_cost_usd",
    "needs_approval",
    "expires_at",
    "error",
    "version",
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
]
AUDIT_COLUMNS = ["at", "run_id", "actor", "surface", "kind", "detail"]
STEP_COLUMNS = [
    "run_id",
    "step_id",
    "phase",
    "position",
    "action",
    "status",
    "attempts",
    "summary",
    "output",
    "started_at",
    "finished_at",
    "duration_ms",
]


def rows_of(run: dict[str, Any], when: Callable[[datetime | None], Any]) -> tuple[
    tuple[Any, ...], list[tuple[Any, ...]], tuple[Any, ...] | None
]:  # fmt: skip
    """The run's row, its audit events and its step, with times through ``when``."""
    created, started, finished = run["created_at"], run["started_at"], run["finished_at"]
    expires = created + timedelta(minutes=30) if run["needs_approval"] else None
    run_row = (
        run["id"], run["playbook"], "{}", run["status"], False, "slack:U0ALICE", "alice",
        "slack", "C0INCIDENTS", "incidents", run["card_ref"], 30.0, 0.0, run["needs_approval"],
        when(expires), run["error"], 2, when(created), when(started), when(finished),
        when(finished or created),
    )  # fmt: skip
    detail = json.dumps({"playbook": run["playbook"]})
    audit = [(when(created), run["id"], "slack:U0ALICE", "slack", "run.created", detail)]
    if started is not None:
        audit.append((when(started), run["id"], "slack:U0ALICE", "slack", "run.running", "{}"))
    if finished is not None:
        kind = f"run.{run['status']}"
        audit.append((when(finished), run["id"], "system", "system", kind, "{}"))
    step = None
    if started is not None:
        step_status = "succeeded" if run["status"] in ("succeeded", "cancelled") else "failed"
        took = int(((finished or started) - started).total_seconds() * 1000)
        step = (
            run["id"], "main", "main", 0, "http", step_status, 1, "POST /api → 200", "",
            when(started), when(finished), took,
        )  # fmt: skip
    return run_row, audit, step


def load_sqlite(path: Path, count: int, days: int) -> None:
    def when(moment: datetime | None) -> str | None:
        return moment.strftime(SQLITE_TIME) if moment is not None else None

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    batch: list[tuple[Any, ...]] = []
    audit: list[tuple[Any, ...]] = []
    steps: list[tuple[Any, ...]] = []

    def flush() -> None:
        marks = ",".join("?" * len(RUN_COLUMNS))
        run_sql = f"INSERT INTO runs ({','.join(RUN_COLUMNS)}) VALUES ({marks})"
        audit_sql = f"INSERT INTO audit_events ({','.join(AUDIT_COLUMNS)}) VALUES (?,?,?,?,?,?)"
        step_sql = (
            f"INSERT INTO step_results ({','.join(STEP_COLUMNS)}) "
            f"VALUES ({','.join('?' * len(STEP_COLUMNS))})"
        )
        connection.executemany(run_sql, batch)
        connection.executemany(audit_sql, audit)
        connection.executemany(step_sql, steps)
        batch.clear()
        audit.clear()
        steps.clear()

    with connection:
        for run in runs(count, days):
            run_row, events, step = rows_of(run, when)
            batch.append(run_row)
            audit.extend(events)
            if step is not None:
                steps.append(step)
            if len(batch) == 20_000:
                flush()
        flush()
    connection.close()


def load_postgres(url: str, count: int, days: int) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)  # psycopg, synchronous: COPY
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        tables = (
            ("runs", RUN_COLUMNS),
            ("audit_events", AUDIT_COLUMNS),
            ("step_results", STEP_COLUMNS),
        )
        for index, (table, columns) in enumerate(tables):
            # One pass over the (seeded, so identical) runs per table: nothing held in memory.
            with cursor.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                for run in runs(count, days):
                    parts = rows_of(run, lambda moment: moment)
                    if index == 0:
                        copy.write_row(parts[0])
                    elif index == 1:
                        for event in parts[1]:
                            copy.write_row(event)
                    elif parts[2] is not None:
                        copy.write_row(parts[2])
        cursor.execute("SELECT setval(pg_get_serial_sequence('runs', 'id'), %s)", (count,))
        # As autovacuum would after such a load; only these tables (the database is shared).
        cursor.execute("ANALYZE runs, audit_events, step_results")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


@contextmanager
def database(backend: str, count: int, days: int) -> Iterator[tuple[str, float]]:
    """A migrated database holding the runs: (its URL, seconds the load took)."""
    from bot.db.connect import create_engine
    from bot.db.migrate import upgrade

    async def migrate(url: str) -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="chatops-bench-") as folder:
            path = Path(folder) / "chatops.db"
            url = f"sqlite+aiosqlite:///{path}"
            asyncio.run(migrate(url))
            began = time.perf_counter()
            load_sqlite(path, count, days)
            yield url, time.perf_counter() - began
        return
    from tests.support.scratch_schema import scratch_schema

    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        raise RuntimeError(f"the postgresql rows need {POSTGRES_URL_ENV}")
    with scratch_schema(base, prefix="chatops_bench") as url:
        asyncio.run(migrate(url))
        began = time.perf_counter()
        load_postgres(url, count, days)
        yield url, time.perf_counter() - began


# -- what is measured -----------------------------------------------------------------------


async def timed(work: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` runs of ``work`` (after one to warm up)."""
    await work()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await work()
        times.append((time.perf_counter() - began) * 1000)
    return times


async def measure_store(url: str, count: int, repeat: int, asks: int) -> list[Row]:
    from sqlalchemy import func, select

    from bot.chat import Actor, Invocation, Place
    from bot.commands import History, RunStatusQuery
    from bot.db.digests import DigestQueries
    from bot.db.statements import RUNS
    from bot.dependencies import open_dependencies
    from bot.service import ChatOpsService
    from bot.settings import Settings
    from handlers.shell.output import ShellChat
    from handlers.slack.reports import permalink, report_blocks
    from scheduler.digest import compose_digest

    folder = tempfile.TemporaryDirectory(prefix="chatops-bench-playbooks-")
    for name in PLAYBOOKS:  # the stored runs' playbooks, so history names known ones
        (Path(folder.name) / f"{name}.yaml").write_text(STAND_IN.format(name=name))
    settings = Settings(DATABASE_URL=url, CHATOPS_PLAYBOOK_DIRS=folder.name)
    deps = await open_dependencies(settings, environ={})
    service = ChatOpsService(deps)
    said: list[str] = []
    chat = ShellChat(said.append)
    service.attach(chat)
    queries = DigestQueries(deps.store.engine)
    rows: list[Row] = []
    try:
        for label, period in (("90 days", timedelta(days=90)), ("last 24 h", timedelta(days=1))):
            start = END - period

            async def digest(start: datetime = start) -> None:
                facts = await queries.facts(start, END)
                report = compose_digest(title="Daily summary", facts=facts, metrics=[], upcoming=[])
                report_blocks(report, lambda ref: permalink("https://x.slack.com/", ref))

            async def floor(start: datetime = start) -> None:
                query = (
                    select(RUNS.c.status, func.count())
                    .where(RUNS.c.created_at >= start, RUNS.c.created_at < END)
                    .group_by(RUNS.c.status)
                )
                async with deps.store.engine.connect() as connection:
                    (await connection.execute(query)).all()

            async with deps.store.engine.connect() as connection:
                in_period = (
                    await connection.execute(
                        select(func.count())
                        .select_from(RUNS)
                        .where(RUNS.c.created_at >= start, RUNS.c.created_at < END)
                    )
                ).scalar_one()
            digest_ms = await timed(digest, repeat)
            floor_ms = await timed(floor, repeat)
            median = statistics.median(digest_ms)
            rows.append(
                Row(
                    f"digest, {label} ({in_period:,} runs)",
                    f"median {median:.0f} ms, max {max(digest_ms):.0f} ms",
                    f"≤ {DIGEST_TARGET_MS:.0f} ms" if label == "90 days" else "—",
                    verdict(median <= DIGEST_TARGET_MS) if label == "90 days" else "",
                )
            )
            rows.append(
                Row(
                    f"… floor: one GROUP BY status, {label}",
                    f"median {statistics.median(floor_ms):.0f} ms, max {max(floor_ms):.0f} ms",
                    "—",
                    "",
                )
            )
        rng = random.Random(11)
        place = Place("shell", "incidents", name="incidents")
        actor = Actor("shell", "alice", "alice")

        async def ask(command: Any) -> float:
            began = time.perf_counter()
            await service.handle(Invocation(actor, place, ""), command)
            return (time.perf_counter() - began) * 1000

        for label, make in (
            ("/playbook history NAME", lambda: History(rng.choice(PLAYBOOKS))),
            ("/playbook status N", lambda: RunStatusQuery(rng.randint(1, count))),
        ):
            await ask(make())
            times = [await ask(make()) for _ in range(asks)]
            p99 = percentile(times, 99)
            rows.append(
                Row(
                    f"{label} ({asks} asks)",
                    f"p50 {percentile(times, 50):.1f} ms, p99 {p99:.1f} ms",
                    f"p99 ≤ {ANSWER_TARGET_MS:.0f} ms",
                    verdict(p99 <= ANSWER_TARGET_MS),
                )
            )
    finally:
        await service.shutdown()
        await deps.close()
        folder.cleanup()
    wrong = [line for line in said if "Unknown playbook" in line or "no run" in line]
    if wrong:
        raise RuntimeError(f"the answers were refusals: {wrong[:3]}")
    return rows


async def measure_metrics(repeat: int) -> list[Row]:
    from bot.config import Config
    from bot.outbound_http import step_http_client
    from scheduler.metrics import METRIC_CONNECTIONS, MetricReader
    from scheduler.thresholds import Level
    from tests.support.stub_server import StubServer

    server = StubServer().start()
    client = step_http_client(per_origin=METRIC_CONNECTIONS)
    try:
        metrics = {}
        for n in range(METRICS):
            server.route("GET", f"/kpi/{n}", json={"value": n}, delay=METRIC_DELAY_S)
            metrics[f"m{n}"] = {
                "source": {"http": {"url": f"{server.url}/kpi/{n}", "field": "value"}},
                "critical": "> 1000",
            }
        reader = MetricReader(
            Config.model_validate({"metrics": metrics}),
            http=client,
            environ={},
            redact=str,
            remember_secret=lambda _value: None,
        )
        seconds = []
        for _ in range(repeat):
            began = time.perf_counter()
            readings = await reader.read_all(list(metrics))
            seconds.append(time.perf_counter() - began)
            if any(r.level is not Level.OK for r in readings.values()):
                raise RuntimeError("a metric was not read")
    finally:
        await client.aclose()
        server.stop()
    return [
        Row(
            f"{METRICS} metrics, each behind a {METRIC_DELAY_S * 1000:.0f} ms source",
            f"median {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"
            f" ({server.most_at_once} requests at once)",
            f"≤ {METRICS_TARGET_S:.0f} s",
            verdict(max(seconds) <= METRICS_TARGET_S),
        )
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--asks", type=int, default=300)
    parser.add_argument("--backend", choices=["all", "sqlite", "postgresql"], default="all")
    parser.add_argument("--skip-metrics", action="store_true")
    args = parser.parse_args(argv)

    import logging

    from bot.logs import configure_logging
    from playbooks.secrets import Redactor

    configure_logging(level="WARNING", json=False, redact=Redactor())
    logging.getLogger("httpx").setLevel(logging.WARNING)

    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    if "postgresql" in backends and not os.environ.get(POSTGRES_URL_ENV):
        print(f"(postgresql rows skipped: {POSTGRES_URL_ENV} is not set)", file=sys.stderr)
        backends.remove("postgresql")
    failed = False
    for backend in backends:
        with database(backend, args.runs, args.days) as (url, load_s):
            rows = asyncio.run(measure_store(url, args.runs, args.repeat, args.asks))
        rows.append(Row("(loading the runs, audit events and steps)", f"{load_s:.0f} s", "—", ""))
        title = f"Digest and store on {backend}: {args.runs:,} runs over {args.days} days"
        print(markdown_table(title, rows), end="\n\n", flush=True)
        failed |= missed(rows)
    if not args.skip_metrics:
        rows = asyncio.run(measure_metrics(args.repeat))
        print(markdown_table("Metric sources read at once", rows), flush=True)
        failed |= missed(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Concurrency benchmark: 1,000 runs at once, each an HTTP call to a local stub and a 1 s wait.

A whole bot (ConsoleBot: real store, engine, catalog, real clock) on a fresh SQLite file,
and — when ``CHATOPS_TEST_POSTGRES_URL`` is set — on a scratch PostgreSQL schema as a second
row. Each backend is measured in its own child process, so each row's peak RSS is its own.
The stub target runs in yet another process, so its CPU does not slow the bot's event loop.

Phases: post 1,000 cards (``/playbook bench-ping``, all at once), then press Run on all of
them at once and wait until every run has ended, sampling the latency of ``/playbook list``
every 100 ms meanwhile (open loop: a late probe is measured from when it was due), and of
``/playbook status N``, which reads the database, every second.

    python -m bench.concurrent_runs [--runs 1000] [--backend all|sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from bench.results import Row, markdown_table, missed, percentile, rss_kib, verdict

__all__ = ["BackendResult", "main", "run_backend"]

POSTGRES_URL_ENV = "CHATOPS_TEST_POSTGRES_URL"
PLAYBOOK = "bench-ping"
PING_PATH = "/ping"
STATS_PATH = "/__stats"
WALL_TARGET_S = 10.0
PEAK_RSS_TARGET_MIB = 300.0
# No figure is set for command latency while runs execute; Slack's deadline to acknowledge
# a slash command (3 s) is the reference the table compares against.
LATENCY_REFERENCE_S = 3.0
PROBE_EVERY_S = 0.100
# A command that reads the database adds load to what it measures: probed 10x less often.
STATUS_PROBE_EVERY_S = 1.0
PROBE_USER = "probe"
CHILD_DEADLINE_S = 80.0  # a backend's whole measurement, in the child
CHILD_KILL_AFTER_S = 85.0  # the parent gives up on a child after this
RESULT_MARK = "BENCH-RESULT "

# The estimate is well above what a run takes under the wave (3-5 s): a run still going at
# twice its estimate says so in its thread, and 1,000 such posts would be measured instead of
# the runs (trees before the overdue rule never made them).
PLAYBOOK_YAML = f"""\
name: {PLAYBOOK}
title: Benchmark ping
description: One HTTP call to the local stub, then a one-second wait.
risk: low
estimate: {{duration: 10s}}
steps:
  - id: ping
    name: Ping the stub
    action: http
    with:
      method: POST
      url: "{{{{ env.BENCH_STUB_URL }}}}{PING_PATH}"
      json: {{bench: true}}
    timeout: 30s
  - id: pause
    name: Wait a second
    action: wait
    with: {{duration: 1s}}
"""


@dataclass
class BackendResult:
    backend: str
    runs: int
    ok: bool = False
    error: str = ""
    open_s: float = 0.0
    rss_after_open_kib: int = 0
    post_wall_s: float = 0.0
    post_latencies_s: list[float] = field(default_factory=list)
    cards_posted: int = 0
    press_wall_s: float = 0.0
    runs_wall_s: float = 0.0
    last_run_started_s: float = 0.0
    run_durations_s: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    stub_requests: dict[str, int] = field(default_factory=dict)
    probe_latencies_s: list[float] = field(default_factory=list)
    probe_unanswered: int = 0
    status_latencies_s: list[float] = field(default_factory=list)
    status_unanswered: int = 0
    peak_rss_kib: int = 0
    run_phase_statements: int = 0
    run_phase_checkouts: int = 0
    run_phase_connection_held_s: float = 0.0
    log_warnings: int = 0
    log_samples: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return self.statuses.get("succeeded", 0)

    @property
    def pings(self) -> int:
        return self.stub_requests.get(f"POST {PING_PATH}", 0)


# -- the stub target (its own process) ---------------------------------------------------


def _stub_process(conn: Connection) -> None:
    asyncio.run(_serve_stub(conn))


async def _serve_stub(conn: Connection) -> None:
    """A minimal HTTP/1.1 keep-alive server: 200 with a small JSON body; counts requests."""
    counts: Counter[str] = Counter()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _version = request_line.split(" ", 2)
                length, close = 0, False
                for line in header_lines:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                if length:
                    await reader.readexactly(length)
                if target == STATS_PATH:
                    body = json.dumps(counts).encode()
                else:
                    counts[f"{method} {target.split('?')[0]}"] += 1
                    body = b'{"ok": true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    # A deep backlog: the bot opens up to 200 connections at the same moment.
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    conn.send(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


@contextmanager
def stub_target() -> Iterator[str]:
    """Start the stub in a separate process; yields its base URL."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_stub_process, args=(theirs,), name="bench-stub")
    process.start()
    try:
        if not ours.poll(20):
            raise RuntimeError("the stub server did not start within 20 s")
        yield f"http://127.0.0.1:{ours.recv()}"
    finally:
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)


# -- databases ---------------------------------------------------------------------------


def postgres_schema(base: str) -> AbstractContextManager[str]:
    """A URL whose connections use a fresh scratch schema, dropped (CASCADE) afterwards."""
    from tests.support.scratch_schema import scratch_schema

    return scratch_schema(base, prefix="chatops_bench")


# -- one backend (in a child process) ----------------------------------------------------


class _CountingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.samples) < 5:
            self.samples.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:300])


def _quiet_logs() -> _CountingHandler:
    from bot.logs import configure_logging
    from playbooks.secrets import Redactor

    configure_logging(level="WARNING", json=True, redact=Redactor())
    counter = _CountingHandler()
    logging.getLogger().addHandler(counter)
    return counter


class _DatabaseCounter:
    """Counts SQL statements and connection checkouts, and how long connections are held."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.statements = 0
        self.checkouts = 0
        self.held_s = 0.0
        self._since: dict[int, float] = {}

    def _statement(self, *_args: Any) -> None:
        self.statements += 1

    def _checkout(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        self.checkouts += 1
        self._since[id(record)] = time.perf_counter()

    def _checkin(self, _dbapi: Any, record: Any) -> None:
        since = self._since.pop(id(record), None)
        if since is not None:
            self.held_s += time.perf_counter() - since

    def __enter__(self) -> _DatabaseCounter:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "checkout", self._checkout)
        event.listen(self.engine, "checkin", self._checkin)
        return self

    def __exit__(self, *_exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "checkout", self._checkout)
        event.remove(self.engine, "checkin", self._checkin)


async def _timed(awaitable: Awaitable[object]) -> float:
    started = time.perf_counter()
    await awaitable
    return time.perf_counter() - started


class _Prober:
    """Issues ``command`` every ``every`` s (open loop) until stopped; keeps the latencies."""

    def __init__(self, bot: Any, command: str, user: str, every: float) -> None:
        self.bot = bot
        self.command = command
        self.user = user
        self.every = every
        self.latencies: list[float] = []
        self.tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    async def _probe(self, due: float) -> None:
        said = await self.bot.send(self.command, user=self.user)
        answered = time.perf_counter()
        if any(m.kind == "private" and m.to_user == self.user for m in said):
            self.latencies.append(answered - due)

    async def run(self) -> None:
        start = time.perf_counter()
        issued = 0
        while not self._stop.is_set():
            due = start + issued * self.every
            now = time.perf_counter()
            if due > now:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), due - now)
                continue
            # Every probe that fell due while the loop was busy is issued now, timed from
            # when it was due: a slow loop shows up as latency, not as missing samples.
            self.tasks.append(asyncio.create_task(self._probe(due)))
            issued += 1

    async def finish(self, running: asyncio.Task[None]) -> tuple[list[float], int]:
        """Stop issuing, wait for the probes in flight; (latencies, unanswered)."""
        self._stop.set()
        await running
        await asyncio.gather(*self.tasks)
        return self.latencies, len(self.tasks) - len(self.latencies)


async def _measure(backend: str, database_url: str, runs: int, workdir: Path) -> BackendResult:
    from bot.clock import SystemClock
    from bot.settings import Settings
    from handlers.shell.testing import ConsoleBot

    result = BackendResult(backend=backend, runs=runs)
    counter = _quiet_logs()
    folder = workdir / "playbooks"
    folder.mkdir()
    (folder / f"{PLAYBOOK}.yaml").write_text(PLAYBOOK_YAML)
    config = workdir / "chatops.yaml"
    config.write_text("# built-in defaults\n")

    with stub_target() as stub_url:
        opened_at = time.perf_counter()
        bot = await ConsoleBot.open(
            Settings(
                DATABASE_URL=database_url,
                CHATOPS_PLAYBOOK_DIRS=str(folder),
                CHATOPS_CONFIG=str(config),
            ),
            environ={"BENCH_STUB_URL": stub_url},
            clock=SystemClock(),
        )
        result.open_s = time.perf_counter() - opened_at
        result.rss_after_open_kib = rss_kib(os.getpid())
        try:
            await _phases(bot, runs, result)
        finally:
            await bot.close()
        async with httpx.AsyncClient() as client:
            response = await client.get(stub_url + STATS_PATH)
            result.stub_requests = dict(response.json())

    result.peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.log_warnings = counter.count
    result.log_samples = counter.samples
    result.ok = (
        result.cards_posted == runs
        and result.succeeded == runs
        and result.pings == runs
        and sum(result.stub_requests.values()) == runs
    )
    return result


async def _phases(bot: Any, runs: int, result: BackendResult) -> None:
    # Phase 1: 1,000 people type `/playbook bench-ping` at the same moment.
    started = time.perf_counter()
    result.post_latencies_s = list(
        await asyncio.gather(
            *(_timed(bot.send(f"/playbook {PLAYBOOK}", user="alice")) for _ in range(runs))
        )
    )
    result.post_wall_s = time.perf_counter() - started
    run_ids = sorted(
        {m.card.run_id for m in bot.chat.messages if m.card is not None and m.card.run_id}
    )
    result.cards_posted = len(run_ids)
    if result.cards_posted != runs:
        refusals = bot.private("alice")[:3]
        raise RuntimeError(f"{len(run_ids)} cards posted for {runs} commands; said: {refusals}")

    # Phase 2: Run pressed on every card at once; commands keep arriving meanwhile.
    listing = _Prober(bot, "/playbook list", PROBE_USER, PROBE_EVERY_S)
    status = _Prober(bot, f"/playbook status {run_ids[0]}", "alice", STATUS_PROBE_EVERY_S)
    probing = [asyncio.create_task(p.run()) for p in (listing, status)]
    wall_started = time.time()
    with _DatabaseCounter(bot.deps.store.engine.sync_engine) as database:
        started = time.perf_counter()
        await asyncio.gather(*(bot.press("Run", run_id, user="alice") for run_id in run_ids))
        result.press_wall_s = time.perf_counter() - started
        await bot.service.wait_idle()
        result.runs_wall_s = time.perf_counter() - started
    result.run_phase_statements = database.statements
    result.run_phase_checkouts = database.checkouts
    result.run_phase_connection_held_s = database.held_s
    result.probe_latencies_s, result.probe_unanswered = await listing.finish(probing[0])
    result.status_latencies_s, result.status_unanswered = await status.finish(probing[1])

    records = await bot.deps.store.list_runs(playbook=PLAYBOOK, limit=runs + 10)
    result.statuses = dict(Counter(r.status.value for r in records))
    starts = [r.started_at.timestamp() for r in records if r.started_at]
    result.last_run_started_s = max(starts) - wall_started if starts else 0.0
    result.run_durations_s = [
        (r.finished_at - r.started_at).total_seconds()
        for r in records
        if r.started_at and r.finished_at
    ]


def run_backend(backend: str, runs: int) -> BackendResult:
    """Measure one backend in this process (call it in a fresh process: peak RSS is global)."""
    with tempfile.TemporaryDirectory(prefix="chatops-bench-runs-") as tmp:
        workdir = Path(tmp)

        async def go(url: str) -> BackendResult:
            async with asyncio.timeout(CHILD_DEADLINE_S):
                return await _measure(backend, url, runs, workdir)

        if backend == "sqlite":
            return asyncio.run(go(f"sqlite+aiosqlite:///{workdir}/chatops.db"))
        base = os.environ.get(POSTGRES_URL_ENV)
        if not base:
            raise RuntimeError(f"the postgresql row needs {POSTGRES_URL_ENV}")
        with postgres_schema(base) as url:
            return asyncio.run(go(url))


# -- the parent: one child per backend, one table ---------------------------------------


def _child(backend: str, runs: int) -> BackendResult:
    command = [sys.executable, "-m", "bench.concurrent_runs", "--child", backend]
    command += ["--runs", str(runs)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CHILD_KILL_AFTER_S, check=False
        )
    except subprocess.TimeoutExpired:
        return BackendResult(backend, runs, error=f"gave up after {CHILD_KILL_AFTER_S:.0f} s")
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            data = json.loads(line[len(RESULT_MARK) :])
            return BackendResult(**data)
    tail = "\n".join(done.stderr.strip().splitlines()[-15:])
    return BackendResult(backend, runs, error=f"exit {done.returncode}:\n{tail}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _lat(samples: Sequence[float]) -> str:
    if not samples:
        return "no samples"
    return (
        f"{_ms(percentile(samples, 50))} / {_ms(percentile(samples, 99))} / "
        f"{_ms(max(samples))} (n={len(samples)})"
    )


def report(result: BackendResult) -> tuple[str, bool]:
    """The Markdown table of one backend, and whether every target was met."""
    n = result.runs
    title = f"{n:,} concurrent runs — {result.backend}"
    if result.error:
        failed = [Row("benchmark", "did not finish", "-", verdict(False))]
        return markdown_table(title, failed) + f"\n\n```\n{result.error}\n```", False
    probe_max = max(result.probe_latencies_s, default=0.0)
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
    rows = [
        Row(
            f"post {n:,} cards (`/playbook {PLAYBOOK}` x {n:,} at once): wall",
            f"{result.post_wall_s:.2f} s ({n / result.post_wall_s:.0f} commands/s)",
            "(info)",
            "—",
        ),
        Row(
            "post phase: per-command latency p50 / p99 / max",
            _lat(result.post_latencies_s),
            "(info)",
            "—",
        ),
        Row(
            f"first Run press → last of {n:,} runs finished",
            f"{result.runs_wall_s:.2f} s",
            f"≤ {WALL_TARGET_S:.0f} s",
            verdict(result.runs_wall_s <= WALL_TARGET_S),
        ),
        Row(
            f"… all {n:,} Run presses answered / last run started",
            f"{result.press_wall_s:.2f} s / +{result.last_run_started_s:.2f} s",
            "(info)",
            "—",
        ),
        Row(
            "… one run's own duration (started → finished) p50 / p99 / max",
            _lat(result.run_durations_s),
            "(info; 1 s of it is the wait step)",
            "—",
        ),
        Row(
            "… SQL statements / connection checkouts per run (press → finished)",
            f"{result.run_phase_statements / n:.1f} / {result.run_phase_checkouts / n:.1f}; "
            f"connections held {result.run_phase_connection_held_s:.1f} s in total",
            "(info)",
            "—",
        ),
        Row(
            "peak RSS of the bot process (ru_maxrss)",
            f"{result.peak_rss_kib / 1024:.1f} MiB (after open: "
            f"{result.rss_after_open_kib / 1024:.1f} MiB)",
            f"≤ {PEAK_RSS_TARGET_MIB:.0f} MiB",
            verdict(result.peak_rss_kib <= PEAK_RSS_TARGET_MIB * 1024),
        ),
        Row(
            "runs succeeded",
            f"{result.succeeded:,}/{n:,} ({statuses})",
            f"{n:,}/{n:,}",
            verdict(result.succeeded == n),
        ),
        Row(
            "requests the stub received",
            f"{sum(result.stub_requests.values()):,} ({result.pings:,} x POST {PING_PATH})",
            f"exactly {n:,}",
            verdict(result.pings == n and sum(result.stub_requests.values()) == n),
        ),
        Row(
            f"`/playbook list` latency during the runs, every {_ms(PROBE_EVERY_S)}: "
            "p50 / p99 / max",
            _lat(result.probe_latencies_s)
            + (f", {result.probe_unanswered} unanswered" if result.probe_unanswered else ""),
            f"none set (reference: Slack acks within {LATENCY_REFERENCE_S:.0f} s)",
            verdict(probe_max <= LATENCY_REFERENCE_S and not result.probe_unanswered),
        ),
        Row(
            f"`/playbook status N` (reads the database) every {STATUS_PROBE_EVERY_S:.0f} s "
            "meanwhile: p50 / p99 / max",
            _lat(result.status_latencies_s)
            + (f", {result.status_unanswered} unanswered" if result.status_unanswered else ""),
            "(info)",
            "—",
        ),
        Row(
            "warnings/errors logged",
            str(result.log_warnings),
            "0",
            verdict(result.log_warnings == 0),
        ),
    ]
    table = markdown_table(title, rows)
    if result.log_samples:
        table += "\n\nfirst log lines:\n" + "\n".join(f"- `{s}`" for s in result.log_samples)
    return table, result.ok and not missed(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--backend", choices=["all", "sqlite", "postgresql"], default="all")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        try:
            result = run_backend(args.child, args.runs)
        except Exception as exc:
            result = BackendResult(args.child, args.runs, error=f"{type(exc).__name__}: {exc}")
        print(RESULT_MARK + json.dumps(asdict(result)), flush=True)
        return 0

    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    if "postgresql" in backends and not os.environ.get(POSTGRES_URL_ENV):
        print(f"(postgresql row skipped: {POSTGRES_URL_ENV} is not set)", file=sys.stderr)
        backends.remove("postgresql")
    met = bool(backends)
    for backend in backends:
        print(f"measuring {backend} …", file=sys.stderr, flush=True)
        table, ok = report(_child(backend, args.runs))
        print(table + "\n", flush=True)
        met = met and ok
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

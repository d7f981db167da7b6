"""Slack ack latency: signed ``/playbook`` commands over real HTTP, ours beside bare slack-bolt.

Three apps, each served by uvicorn on 127.0.0.1 in its own process (so every figure includes
the HTTP stack, and no app competes with the load generator's event loop):

- **bare default**: ``AsyncApp(process_before_response=False)`` (slack-bolt's default) with a
  ``/playbook`` listener that only calls ``await ack()``;
- **bare pbr**: the same with ``process_before_response=True``;
- **chatops**: the real :class:`~handlers.slack.app.SlackSurface` + ``ChatOpsService`` on a
  fresh SQLite file, served by ``build_http_app``; the command is
  ``/playbook clear-cache index_name=kb``, which posts a run card (nothing executes).

A fake Slack Web API (``tests/support/fake_slack.py``) runs in a fourth process; every app's
Web API client points at it (bolt calls ``auth.test`` on the first request). A thread-based
fake inside the load generator would take the GIL from it, so it runs apart; the benchmark
asks it over a pipe when the ``chat.postMessage`` count reached a number (it polls
``fake.count("chat.postMessage")`` every 2 ms — a counter, not a scan of every call, so the
poll costs the measured apps no CPU — and answers with ``time.perf_counter()``, which is
CLOCK_MONOTONIC and so comparable across processes).

For each of 1, 8 and 32 concurrent clients (closed loop: each client sends its next request
when the previous one is answered) and each app, in alternating order over ``--rounds``
rounds: a warm-up (20 requests, or 2 per client if that is more, so every keep-alive
connection is open), then ``--requests`` requests, each signed beforehand (v0 scheme, fresh
timestamp). 1,000 requests a round make a burst longer than chatops holds acknowledged work
back (``WorkQueue.max_wait``, 0.25 s) at every client count, so its acks are measured while
the commands' work runs beside them, and each row's p99 rests on 2,000 requests, not on the
few slowest of a burst a single scheduling hiccup decides. Ack latency is client-side: from
sending the request until the HTTP 200 is read. The default load generator writes prepared
HTTP/1.1 bytes on one keep-alive asyncio stream per client (a few µs per request);
``--client httpx`` uses httpx.AsyncClient instead, which costs ~1 ms of CPU per request at 1
client and ~3 ms at 32, saturating a core and measuring itself rather than the apps at 32
clients. Each app's CPU per request (/proc) and its full garbage collections during the
measured requests are reported too. For chatops, "cards" is the time from the first measured
request sent until the fake Slack has received every card (``chat.postMessage``) of the
measured requests.

The aim (from the project's issue): our ack p99 within 1.25x the bare app's, at every client
count. Both bare variants are reported; the verdict is given against each.

    python -m bench.slack_ack [--requests 1000] [--rounds 2] [--clients 1,8,32] [--client raw]

Exits 1 if the aim is missed against the bare default app, or if any request failed or card
went missing. Only loopback traffic; stops by itself (~60 s with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import hmac
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.children import Child, serve_on_loopback, spawn
from bench.results import percentile, scrub_environ

__all__ = ["Phase", "main", "measure"]

SIGNING_SECRET = "bench-signing-secret-0123456789ab"
BOT_TOKEN = "xoxb-bench-token"
COMMAND = "/playbook"
TEXT = "clear-cache index_name=kb"
AIM = 1.25
WARMUP = 20
CHANNEL = "C0BENCH"
EVENTS_PATH = "/slack/events"
CARD_POLL_S = 0.002
SETTLE_S = 0.2
KEEP_ALIVE_S = 120  # uvicorn closes idle connections after 5 s by default
CARD_TIMEOUT_S = 60.0
BARE_DEFAULT = "bare default"
BARE_PBR = "bare pbr"
CHATOPS = "chatops"
APPS = (BARE_DEFAULT, BARE_PBR, CHATOPS)
APP_LABELS = {
    BARE_DEFAULT: "bare slack-bolt, `process_before_response=False` (default)",
    BARE_PBR: "bare slack-bolt, `process_before_response=True`",
    CHATOPS: "chatops (SlackSurface + ChatOpsService, SQLite)",
}


# -- the fake Slack Web API (its own process) --------------------------------------------


def _fake_slack_process(conn: Connection) -> None:
    """Serve FakeSlack; answer ``("count",)`` and ``("wait", n, timeout)`` on ``conn``."""
    from http.server import ThreadingHTTPServer

    from tests.support.fake_slack import FakeSlack

    # slack_sdk opens a new connection per Web API call; socketserver's listen backlog of 5
    # would drop bursts of them (and the client retransmits its SYN after 1 s).
    ThreadingHTTPServer.request_queue_size = 1024

    with FakeSlack() as fake:
        conn.send((fake.url, fake.api_url))
        while True:
            request = conn.recv()
            if request[0] == "stop":
                conn.send(len(fake.calls))
                return
            if request[0] == "count":
                conn.send(fake.count("chat.postMessage"))
            elif request[0] == "wait":
                _, wanted, timeout = request
                deadline = time.perf_counter() + timeout
                reached: float | None = None
                while time.perf_counter() < deadline:
                    if fake.count("chat.postMessage") >= wanted:
                        reached = time.perf_counter()
                        break
                    time.sleep(CARD_POLL_S)
                conn.send((reached, fake.count("chat.postMessage")))


# -- the apps (one process each) ---------------------------------------------------------


def _app_process(
    kind: str, api_url: str, workdir: str, profile: str | None, conn: Connection
) -> None:
    scrub_environ()
    if profile is None or kind != CHATOPS:
        asyncio.run(_serve_app(kind, conn, api_url, Path(workdir)))
        return
    # --profile: where chatops spends its CPU per command (timings under the profiler are
    # slower and are not the benchmark's figures).
    import cProfile

    with cProfile.Profile() as profiler:
        asyncio.run(_serve_app(kind, conn, api_url, Path(workdir)))
    profiler.dump_stats(profile)


def _watch_gc() -> list[tuple[int, float]]:
    """(generation, seconds) of every garbage collection from now on."""
    pauses: list[tuple[int, float]] = []
    started = [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], time.perf_counter() - started[0]))

    gc.callbacks.append(watch)
    return pauses


def _quiet_logs() -> list[str]:
    """WARNING and above only; returns a list that collects what was logged."""
    from bot.logs import configure_logging
    from playbooks.secrets import Redactor

    configure_logging(level="WARNING", json=True, redact=Redactor())
    logged: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:300])

    logging.getLogger().addHandler(Collect(level=logging.WARNING))
    return logged


def _bare_app(api_url: str, *, process_before_response: bool) -> Any:
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    app = AsyncApp(
        signing_secret=SIGNING_SECRET,
        # The token rides in the client (bolt warns when both are given): it is the same.
        client=AsyncWebClient(token=BOT_TOKEN, base_url=api_url),
        process_before_response=process_before_response,
    )

    @app.command(COMMAND)
    async def only_ack(ack: Any) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


async def _serve_app(kind: str, conn: Connection, api_url: str, workdir: Path) -> None:

    logged = _quiet_logs()
    closers: list[Any] = []
    if kind == CHATOPS:
        from app.assembly import assemble
        from bot.dependencies import open_dependencies
        from bot.settings import Settings

        config = workdir / "chatops.yaml"
        config.write_text("# built-in defaults\n")
        settings = Settings(
            DATABASE_URL=f"sqlite+aiosqlite:///{workdir}/chatops.db",
            CHATOPS_CONFIG=str(config),
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=api_url,
        )
        # Nothing executes (the card waits for Run); ES_URL only has to be a local address.
        deps = await open_dependencies(settings, environ={"ES_URL": "http://127.0.0.1:9"})
        # The same assembly as `chatops run` (surfaces, service start, gc.freeze).
        assembly = await assemble(settings, deps)
        app = assembly.app
        closers = [assembly.close, deps.close]
    else:
        app = _bare_app(api_url, process_before_response=kind == BARE_PBR)

    server, serving, port = await serve_on_loopback(app, keep_alive_s=KEEP_ALIVE_S)
    pauses = _watch_gc()
    conn.send((port, os.getpid()))
    while (await asyncio.to_thread(conn.recv))[0] == "gc":
        conn.send(list(pauses))
    server.should_exit = True
    await serving
    for close in closers:
        await close()
    conn.send({"logged": logged, "gc": pauses})


# -- requests ----------------------------------------------------------------------------


def _signed(body: bytes, timestamp: int) -> dict[str, str]:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }


@dataclass(frozen=True)
class _Request:
    body: bytes
    headers: dict[str, str]
    raw: bytes  # the whole HTTP/1.1 request, for the raw client


def _requests(count: int, fake_url: str, serial: int, host: str) -> list[_Request]:
    """``count`` slash commands as Slack sends them, signed now (fresh timestamp)."""
    timestamp = int(time.time())
    signed = []
    for i in range(count):
        form = {
            "token": "verification-token-unused",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": CHANNEL,
            "channel_name": "bench",
            "user_id": "U0ALICE",
            "user_name": "alice",
            "command": COMMAND,
            "text": TEXT,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": f"{fake_url}/response/{serial + i}",
            "trigger_id": f"1337.42.{serial + i:x}",
        }
        body = urlencode(form).encode()
        headers = _signed(body, timestamp)
        head = f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Slackbot 1.0\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        signed.append(_Request(body, headers, head.encode() + body))
    return signed


class _RawClients:
    """One keep-alive HTTP/1.1 connection per client; each request is written as prepared
    bytes and the answer read by Content-Length (or chunks): a few µs of Python per request.
    """

    def __init__(self, host: str, port: int, count: int) -> None:
        self.host, self.port = host, port
        self.connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.count = count

    async def __aenter__(self) -> _RawClients:
        for _ in range(self.count):
            self.connections.append(await asyncio.open_connection(self.host, self.port))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for _, writer in self.connections:
            writer.close()
        for _, writer in self.connections:
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def post(self, client: int, request: _Request) -> tuple[int, bytes]:
        reader, writer = self.connections[client]
        writer.write(request.raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = value == "close"
        body = await reader.readexactly(length) if length else b""
        while chunked:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:size]
            chunked = size > 0
        if close:
            writer.close()
            self.connections[client] = await asyncio.open_connection(self.host, self.port)
        return status, body


class _HttpxClients:
    """httpx.AsyncClient with one pooled connection per client (``--client httpx``)."""

    def __init__(self, base_url: str, count: int) -> None:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
        self.client = httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=httpx.Timeout(30.0)
        )

    async def __aenter__(self) -> _HttpxClients:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.client.aclose()

    async def post(self, _client: int, request: _Request) -> tuple[int, bytes]:
        response = await self.client.post(
            EVENTS_PATH, content=request.body, headers=request.headers
        )
        return response.status_code, response.content


@dataclass
class _Load:
    latencies_s: list[float]
    first_sent: float
    wall_s: float
    failures: list[str]


async def _load(
    clients: _RawClients | _HttpxClients, requests: Sequence[_Request], count: int
) -> _Load:
    """``count`` clients in a closed loop: each sends its next request once answered."""
    latencies = [0.0] * len(requests)
    failures: list[str] = []
    order = iter(range(len(requests)))

    async def one_client(client: int) -> None:
        for i in order:  # shared: each client takes the next request when it is free
            sent = time.perf_counter()
            try:
                status, body = await clients.post(client, requests[i])
            except (OSError, asyncio.IncompleteReadError, httpx.HTTPError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies[i] = time.perf_counter() - sent
            if status != 200:
                failures.append(f"HTTP {status}: {body[:100]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(one_client(c) for c in range(count)))
    return _Load(latencies, started, time.perf_counter() - started, failures)


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Phase:
    """Every measured request of one app at one client count, over all rounds."""

    app: str
    clients: int
    latencies_s: list[float] = field(default_factory=list)
    ack_walls_s: list[float] = field(default_factory=list)
    cards_s: list[float] = field(default_factory=list)
    cards_missing: int = 0
    failures: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0  # the app's process, measured requests and what follows them
    loadgen_cpu_s: float = 0.0  # this process, while sending them
    full_gc_s: list[float] = field(default_factory=list)  # the app's, meanwhile

    def pct_ms(self, pct: float) -> float:
        return percentile(self.latencies_s, pct) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.latencies_s, default=float("nan")) * 1000


class _Cards:
    """The fake Slack's chat.postMessage count, and how many cards we expect by now."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.expected = 0

    def count(self) -> int:
        self.conn.send(("count",))
        got: int = self.conn.recv()
        return got

    def ask_when(self, wanted: int) -> None:
        self.conn.send(("wait", wanted, CARD_TIMEOUT_S))

    def answer(self) -> tuple[float | None, int]:
        if not self.conn.poll(CARD_TIMEOUT_S + 5):
            raise RuntimeError("the fake Slack stopped answering")
        reached, count = self.conn.recv()
        return reached, count


def _cpu_s(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, from /proc (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _Target:
    port: int
    pid: int
    conn: Connection
    host: str = "127.0.0.1"

    def full_gcs(self) -> list[float]:
        """Seconds of each full (generation-2) garbage collection in the app so far."""
        self.conn.send(("gc",))
        return [seconds for generation, seconds in self.conn.recv() if generation == 2]


async def _phase(
    target: _Target,
    clients: int,
    requests: int,
    client_kind: str,
    fake_url: str,
    cards: _Cards,
    serial: int,
    phase: Phase,
) -> None:
    ours = phase.app == CHATOPS
    host = f"{target.host}:{target.port}"
    senders = (
        _RawClients(target.host, target.port, clients)
        if client_kind == "raw"
        else _HttpxClients(f"http://{host}", clients)
    )
    async with senders:
        warmup = _requests(max(WARMUP, 2 * clients), fake_url, serial, host)
        warm = await _load(senders, warmup, clients)
        phase.failures += warm.failures
        if ours:
            cards.expected += len(warmup)
            cards.ask_when(cards.expected)  # let the warm-up's cards land first
            cards.answer()
        await asyncio.sleep(SETTLE_S)  # and whatever follows them (card refs, auth.test)
        measured = _requests(requests, fake_url, serial + len(warmup), host)
        if ours:
            cards.expected += requests
            cards.ask_when(cards.expected)
        full_gcs = len(target.full_gcs())
        server_cpu, own_cpu = _cpu_s(target.pid), time.process_time()
        load = await _load(senders, measured, clients)
        phase.loadgen_cpu_s += time.process_time() - own_cpu
        phase.latencies_s += [s for s in load.latencies_s if s > 0]
        phase.ack_walls_s.append(load.wall_s)
        phase.failures += load.failures
        if ours:
            reached, count = cards.answer()
            if reached is None:
                phase.cards_missing += cards.expected - count
                cards.expected = count
            else:
                phase.cards_s.append(reached - load.first_sent)
        await asyncio.sleep(SETTLE_S)
        phase.server_cpu_s += _cpu_s(target.pid) - server_cpu
        phase.full_gc_s += target.full_gcs()[full_gcs:]


async def measure(
    targets: dict[str, _Target],
    fake_url: str,
    cards: _Cards,
    client_counts: Sequence[int],
    requests: int,
    rounds: int,
    client_kind: str = "raw",
) -> list[Phase]:
    cards.expected = cards.count()
    phases = {(app, c): Phase(app, c) for c in client_counts for app in APPS}
    serial = 1
    for clients in client_counts:
        for round_no in range(rounds):
            order = APPS if round_no % 2 == 0 else tuple(reversed(APPS))
            for app in order:
                await _phase(
                    targets[app],
                    clients,
                    requests,
                    client_kind,
                    fake_url,
                    cards,
                    serial,
                    phases[(app, clients)],
                )
                serial += requests + max(WARMUP, 2 * clients)
                print(
                    f"  {clients:>2} clients, round {round_no + 1}, {app}: "
                    f"p99 {percentile(phases[(app, clients)].latencies_s, 99) * 1000:.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    return list(phases.values())


# -- reporting -----------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.1f}"


def table(phases: Sequence[Phase]) -> str:
    by = {(p.app, p.clients): p for p in phases}
    lines = [
        "| app | clients | n | ack p50 ms | ack p99 ms | ack max ms | all acked, s "
        "| all cards posted, s | app CPU ms/request | app full GCs (longest ms) "
        "| our p99 ÷ bare default p99 | our p99 ÷ bare pbr p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in sorted(phases, key=lambda p: (p.clients, APPS.index(p.app))):
        default, pbr = by[(BARE_DEFAULT, p.clients)], by[(BARE_PBR, p.clients)]
        walls = " to ".join(f"{w:.2f}" for w in (min(p.ack_walls_s), max(p.ack_walls_s)))
        if p.app == CHATOPS:
            cards = (
                " to ".join(f"{c:.2f}" for c in (min(p.cards_s), max(p.cards_s)))
                if p.cards_s
                else "never"
            )
            if p.cards_missing:
                cards += f" (**{p.cards_missing} missing**)"
            ratios = [p.pct_ms(99) / ref.pct_ms(99) for ref in (default, pbr)]
            shown = [f"**{r:.2f}x**" if r > AIM else f"{r:.2f}x" for r in ratios]
        else:
            cards, shown = "—", ["—", "—"]
        lines.append(
            f"| {p.app} | {p.clients} | {len(p.latencies_s)} | {_ms(p.pct_ms(50))} "
            f"| {_ms(p.pct_ms(99))} | {_ms(p.max_ms)} | {walls} | {cards} "
            f"| {p.server_cpu_s * 1000 / max(1, len(p.latencies_s)):.2f} "
            f"| {len(p.full_gc_s)} ({max(p.full_gc_s, default=0) * 1000:.0f}) "
            f"| {shown[0]} | {shown[1]} |"
        )
    return "\n".join(lines)


def verdict_table(phases: Sequence[Phase]) -> str:
    """Per client count: our p99 against AIM x each bare variant's p99."""
    by = {(p.app, p.clients): p for p in phases}
    lines = [
        f"| clients | chatops p99 ms | bare default p99 ms | ≤ {AIM}x bare default? "
        f"| bare pbr p99 ms | ≤ {AIM}x bare pbr? |",
        "|---|---|---|---|---|---|",
    ]
    for clients in sorted({p.clients for p in phases}):
        ours = by[(CHATOPS, clients)].pct_ms(99)
        cells = []
        for ref in (BARE_DEFAULT, BARE_PBR):
            theirs = by[(ref, clients)].pct_ms(99)
            ok = ours <= AIM * theirs
            cells.append(f"{_ms(theirs)} | {'pass' if ok else '**MISS**'} ({ours / theirs:.2f}x)")
        lines.append(f"| {clients} | {_ms(ours)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def verdicts(phases: Sequence[Phase]) -> dict[str, bool]:
    """Whether our p99 is within AIM x the reference's at every client count, per reference."""
    by = {(p.app, p.clients): p for p in phases}
    counts = sorted({p.clients for p in phases})
    return {
        ref: all(by[(CHATOPS, c)].pct_ms(99) <= AIM * by[(ref, c)].pct_ms(99) for c in counts)
        for ref in (BARE_DEFAULT, BARE_PBR)
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="measured per app, round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating app order")
    parser.add_argument("--clients", default="1,8,32", help="comma-separated client counts")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: prepared bytes on asyncio streams, or httpx.AsyncClient",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run chatops under cProfile and write its stats to FILE (figures then not valid)",
    )
    args = parser.parse_args(argv)
    client_counts = [int(c) for c in args.clients.split(",")]

    started = time.perf_counter()
    children: list[Child] = []
    reports: dict[str, dict[str, Any]] = {}
    try:
        fake, (fake_url, api_url) = spawn("fake-slack", _fake_slack_process)
        children.append(fake)
        targets: dict[str, _Target] = {}
        with tempfile.TemporaryDirectory(prefix="chatops-bench-ack-") as workdir:
            for app in APPS:
                child, (port, pid) = spawn(app, _app_process, app, api_url, workdir, args.profile)
                children.append(child)
                targets[app] = _Target(port, pid, child.conn)
            took = time.perf_counter() - started
            print(f"apps up after {took:.1f} s: {targets}", file=sys.stderr)
            cards = _Cards(fake.conn)
            phases = asyncio.run(
                measure(
                    targets,
                    fake_url,
                    cards,
                    client_counts,
                    args.requests,
                    args.rounds,
                    args.client,
                )
            )
            for child in children[1:]:
                reports[child.name] = child.stop() or {}
    finally:
        for child in reversed(children):
            child.stop()

    print(
        f"\n### Slack ack latency ({args.requests} requests x {args.rounds} rounds per row,"
        f" {args.client} client)\n"
    )
    print(table(phases))
    print()
    for app in APPS:
        print(f"- {app}: {APP_LABELS[app]}")
    result = verdicts(phases)
    print()
    print(verdict_table(phases))
    print()
    for ref, ok in result.items():
        verdict = "pass" if ok else "**MISS**"
        print(f"- aim: chatops ack p99 ≤ {AIM}x {ref} p99 at every client count: {verdict}")
    failures = [f for p in phases for f in p.failures]
    missing = sum(p.cards_missing for p in phases)
    print(f"- failed requests: {len(failures)} {failures[:3] if failures else ''}".rstrip())
    print(f"- cards missing: {missing}")
    wall = sum(sum(p.ack_walls_s) for p in phases)
    own = sum(p.loadgen_cpu_s for p in phases)
    print(f"- load generator CPU while sending: {own:.1f} s over {wall:.1f} s ({own / wall:.0%})")
    for name, report in reports.items():
        lines = report.get("logged", [])
        full = [seconds for generation, seconds in report.get("gc", []) if generation == 2]
        print(
            f"- {name}: {len(full)} full (generation-2) garbage collections while serving,"
            f" longest {max(full, default=0) * 1000:.0f} ms; warnings/errors logged:"
            f" {len(lines)}{' ' + repr(lines[:3]) if lines else ''}"
        )
    print(f"- whole benchmark: {time.perf_counter() - started:.0f} s")
    return 0 if result[BARE_DEFAULT] and not failures and not missing else 1


if __name__ == "__main__":
    sys.exit(main())

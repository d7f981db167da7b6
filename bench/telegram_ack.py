"""Telegram: update to card, ours beside bare python-telegram-bot apps; edits of a long run.

**Update to card.** In webhook mode, bursts of 32 concurrent ``/playbook`` updates, each in a
chat of its own, POSTed to ``/telegram/webhook``; each update's time is from the moment its
request is written until its card's ``sendMessage`` reaches the fake Bot API. The apps, each
under uvicorn on 127.0.0.1 in its own process:

- **bare**: a python-telegram-bot ``Application`` as its builder makes it (updates handled
  one at a time, no rate limiter) whose ``CommandHandler("playbook")`` answers with one
  ``sendMessage``, fed by a Starlette route that queues each update (PTB's own custom-webhook
  example);
- **bare paced**: the same with PTB's ``AIORateLimiter`` (Telegram's limits: 30 messages a
  second in all, 20 a minute to one group), as chatops must send;
- **bare concurrent**: the same with ``concurrent_updates(True)``;
- **bare limited**: the same, concurrent, with PTB's ``AIORateLimiter`` (Telegram's limits:
  30 messages a second in all, 20 a minute to one group), as chatops sends;
- **chatops**: ``chatops run``'s assembly (``app.assembly.assemble``) with Telegram in webhook
  mode on a fresh SQLite file; the command posts a run card (nothing executes).

The fake Bot API (``tests/support/fake_telegram.py``) runs in its own process and stamps each
call with CLOCK_MONOTONIC on arrival, which the load generator reads too. By default it is on
loopback; ``--rtt-ms`` puts it a round trip away, as api.telegram.org is from a real bot
(each call arrives half of it after it is sent, and is answered half of it later). Each
round sends one burst to each app (alternating the order), a second apart, after one burst
of warm-up; the load generator writes prepared HTTP/1.1 bytes on 32 keep-alive connections.

**Edits of a 30-step run.** chatops in webhook mode with its default pacing, in this process
with the fake: a playbook of 30 ``wait`` steps is started and run; every ``editMessageText``
to its chat is counted, and the most made in any 60 seconds is reported (aim: ≤ 20), and so
are the messages and edits together (the group's limit: ≤ 20) and whether every step's
progress line and the card's final state arrived, for steps of 2 s (a run of about a minute)
and of 0.1 s (a burst).

    python -m bench.telegram_ack [--rounds 10] [--updates 32] [--rtt-ms 0]
                                 [--edits-only | --ack-only]

Each app's first and last card of a burst (medians over bursts) show where the time goes.
Telegram's 30 messages a second hold the 31st and 32nd cards of a burst until 33 and 67 ms
after the first, whatever the app: the bare app, which sends without that limit, sets a p99
no app within the limit can reach (see BENCHMARKS.md). So the exit code compares chatops
with the bare app held to the same limits.

Exits 1 if an aim is missed (p99 ≤ 1.25x the bare paced app's; ≤ 20 edits, and ≤ 20
messages and edits together, a minute; every step's line shown), or if an update failed or a
card went missing. Only loopback traffic; ~2.5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.children import Child, serve_on_loopback, spawn
from bench.results import percentile, scrub_environ

__all__ = ["burst_chats", "fake_process", "main"]

AIM = 1.25
EDITS_AIM = 20
SECRET = "bench-webhook-secret"
WEBHOOK_PATH = "/telegram/webhook"
TEXT = "/playbook clear-cache index_name=kb"
FIRST_CHAT = -1002000000000
PAUSE_S = 1.0  # between bursts: limiters refill, the previous burst's work is over
CARD_TIMEOUT_S = 30.0
KEEP_ALIVE_S = 300
BARE, BARE_PACED, BARE_CONCURRENT, BARE_LIMITED, CHATOPS = (
    "bare",
    "bare paced",
    "bare concurrent",
    "bare limited",
    "chatops",
)
APPS = (BARE, BARE_PACED, BARE_CONCURRENT, BARE_LIMITED, CHATOPS)
LABELS = {
    BARE: "PTB Application, builder defaults (one update at a time, no rate limiter)",
    BARE_PACED: "PTB Application, builder defaults + AIORateLimiter (Telegram's limits)",
    BARE_CONCURRENT: "PTB Application, concurrent_updates(True)",
    BARE_LIMITED: "PTB Application, concurrent_updates(True) + AIORateLimiter",
    CHATOPS: "chatops (TelegramSurface + ChatOpsService, SQLite, webhook mode)",
}


def burst_chats(count: int) -> list[int]:
    """``count`` group chats, one per update of a burst."""
    return [FIRST_CHAT - n for n in range(count)]


# -- the fake Bot API (its own process) ----------------------------------------------------


def fake_process(chats: list[int], one_way_s: float, conn: Connection) -> None:
    """Serve FakeTelegram, ``one_way_s`` away from the bots; answer ``("count",)`` and
    ``("cards", since, n, timeout)``."""
    from http.server import ThreadingHTTPServer

    from tests.support.fake_telegram import FakeTelegram

    ThreadingHTTPServer.request_queue_size = 1024
    with FakeTelegram() as fake:
        fake.one_way = one_way_s
        for chat in chats:
            fake.add_chat(chat, title=f"team {chat}")
        conn.send((fake.api_url, fake.token))
        while True:
            request = conn.recv()
            if request[0] == "stop":
                conn.send(len(fake.calls))
                return
            if request[0] == "count":
                conn.send(len(fake.calls))
            elif request[0] == "cards":
                _, since, wanted, timeout = request
                deadline = time.monotonic() + timeout
                found: list[tuple[int, float]] = []
                while time.monotonic() < deadline:
                    calls = fake.calls[since:]
                    found = [
                        (int(c.args["chat_id"]), c.at)
                        for c in calls
                        if c.method == "sendMessage" and not c.failed
                    ]
                    if len(found) >= wanted:
                        break
                    time.sleep(0.002)
                conn.send((found, len(fake.calls)))


# -- the apps (one process each) -----------------------------------------------------------


def _app_process(
    kind: str, api_url: str, token: str, workdir: str, profile: str | None, conn: Connection
) -> None:
    scrub_environ()
    if profile is None or kind != CHATOPS:
        asyncio.run(_serve(kind, api_url, token, Path(workdir), conn))
        return
    # --profile: where chatops spends its CPU (timings under the profiler are not figures).
    import cProfile

    with cProfile.Profile() as profiler:
        asyncio.run(_serve(kind, api_url, token, Path(workdir), conn))
    profiler.dump_stats(profile)


def _bare_app(kind: str, api_url: str, token: str) -> tuple[Any, Any]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from telegram import Update
    from telegram.ext import AIORateLimiter, ApplicationBuilder, CommandHandler, ContextTypes

    builder = ApplicationBuilder().token(token).base_url(api_url).updater(None)
    if kind in (BARE_CONCURRENT, BARE_LIMITED):
        builder = builder.concurrent_updates(True)
    paced = kind in (BARE_PACED, BARE_LIMITED)
    application = builder.rate_limiter(AIORateLimiter()).build() if paced else builder.build()

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "ok")

    application.add_handler(CommandHandler("playbook", answer))

    async def webhook(request: Request) -> Response:
        data = await request.json()
        await application.update_queue.put(Update.de_json(data, application.bot))
        return Response()

    return Starlette(routes=[Route(WEBHOOK_PATH, webhook, methods=["POST"])]), application


async def _serve(kind: str, api_url: str, token: str, workdir: Path, conn: Connection) -> None:
    from bot.logs import configure_logging
    from playbooks.secrets import Redactor

    configure_logging(level="WARNING", json=True, redact=Redactor())
    closers: list[Any] = []
    if kind == CHATOPS:
        from app.assembly import assemble
        from bot.dependencies import open_dependencies
        from bot.settings import Settings

        config = workdir / "chatops.yaml"
        config.write_text(f"telegram: {{allowed_chats: {json.dumps(burst_chats(256))}}}\n")
        settings = Settings(
            DATABASE_URL=f"sqlite+aiosqlite:///{workdir}/chatops.db",
            CHATOPS_CONFIG=str(config),
            TELEGRAM_BOT_TOKEN=token,
            TELEGRAM_API_URL=api_url,
            TELEGRAM_WEBHOOK_URL="https://bench.invalid/telegram/webhook",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
        )
        deps = await open_dependencies(settings, environ={"ES_URL": "http://127.0.0.1:9"})
        assembly = await assemble(settings, deps)
        app = assembly.app
        closers = [assembly.close, deps.close]
    else:
        app, application = _bare_app(kind, api_url, token)
        await application.initialize()
        await application.start()
        closers = [application.stop, application.shutdown]

    server, serving, port = await serve_on_loopback(app, keep_alive_s=KEEP_ALIVE_S)
    conn.send(port)
    await asyncio.to_thread(conn.recv)  # ("stop",)
    server.should_exit = True
    await serving
    for close in closers:
        await close()
    conn.send("stopped")


# -- the load ------------------------------------------------------------------------------


def _update(update_id: int, chat: int) -> bytes:
    message = {
        "message_id": update_id % 1_000_000,
        "from": {"id": 111111111, "is_bot": False, "first_name": "Alice", "username": "alice"},
        "chat": {"id": chat, "title": "team", "type": "supergroup"},
        "date": 1732270000,
        "text": TEXT,
        "entities": [{"offset": 0, "length": len("/playbook"), "type": "bot_command"}],
    }
    return json.dumps({"update_id": update_id, "message": message}).encode()


def _raw(body: bytes, port: int) -> bytes:
    head = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Connections:
    """Keep-alive HTTP/1.1 connections to one app; a burst writes one request on each."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def open(self) -> None:
        for _ in range(self.count):
            self.streams.append(await asyncio.open_connection("127.0.0.1", self.port))

    async def close(self) -> None:
        for _, writer in self.streams:
            writer.close()

    async def burst(self, requests: Sequence[bytes]) -> tuple[list[float], list[str]]:
        """Write each request on its connection; the moment each was written, and failures."""
        sent: list[float] = []
        for (_, writer), raw in zip(self.streams, requests, strict=True):
            sent.append(time.monotonic())
            writer.write(raw)
        answers = await asyncio.gather(*(self._status(reader) for reader, _ in self.streams))
        return sent, [f"HTTP {status}" for status in answers if status != 200]

    @staticmethod
    async def _status(reader: asyncio.StreamReader) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length:
            await reader.readexactly(length)
        return int(lines[0].split(" ", 2)[1])


@dataclass
class Phase:
    app: str
    latencies_s: list[float] = field(default_factory=list)
    first_s: list[float] = field(default_factory=list)  # each burst's first card
    last_s: list[float] = field(default_factory=list)  # each burst's last card
    cpu_s: float = 0.0
    """The app process's CPU time (user + system) over its measured bursts and the pauses
    after them, when the work each burst started is done."""
    missing: int = 0
    failures: list[str] = field(default_factory=list)

    def pct_ms(self, pct: float) -> float:
        return percentile(self.latencies_s, pct) * 1000


async def _burst(
    app: str,
    connections: _Connections,
    fake: Connection,
    update_ids: list[int],
    chats: list[int],
    phase: Phase | None,
) -> None:
    fake.send(("count",))
    since = fake.recv()
    pairs = zip(update_ids, chats, strict=True)
    requests = [_raw(_update(u, c), connections.port) for u, c in pairs]
    sent, failures = await connections.burst(requests)
    fake.send(("cards", since, len(chats), CARD_TIMEOUT_S))
    found, _ = await asyncio.to_thread(fake.recv)
    if phase is None:
        return
    phase.failures += failures
    arrived = dict(found)
    burst: list[float] = []
    for chat, at in zip(chats, sent, strict=True):
        if chat in arrived:
            burst.append(arrived[chat] - at)
        else:
            phase.missing += 1
    phase.latencies_s += burst
    if burst:
        phase.first_s.append(min(burst))
        phase.last_s.append(max(burst))


def _cpu_s(pid: int) -> float:
    """A process's CPU time so far, user + system (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_acks(
    ports: dict[str, int], pids: dict[str, int], fake: Connection, updates: int, rounds: int
) -> list[Phase]:
    phases = {app: Phase(app) for app in APPS}
    chats = burst_chats(updates)
    pool = {app: _Connections(port, updates) for app, port in ports.items()}
    for connections in pool.values():
        await connections.open()
    serial = 1
    try:
        for round_no in range(rounds + 1):  # the first is the warm-up
            order = APPS if round_no % 2 == 0 else tuple(reversed(APPS))
            for app in order:
                ids = list(range(serial, serial + updates))
                serial += updates
                cpu_before = _cpu_s(pids[app])
                await _burst(app, pool[app], fake, ids, chats, phases[app] if round_no else None)
                await asyncio.sleep(PAUSE_S)
                if round_no:
                    phases[app].cpu_s += _cpu_s(pids[app]) - cpu_before
            if round_no:
                shown = ", ".join(f"{a} {phases[a].pct_ms(99):.1f}" for a in APPS)
                print(f"  round {round_no}: p99 ms {shown}", file=sys.stderr, flush=True)
    finally:
        for connections in pool.values():
            await connections.close()
    return list(phases.values())


# -- edits of a long run -------------------------------------------------------------------


@dataclass
class EditCount:
    steps: int
    step_s: float
    run_s: float
    edits: int
    most_in_a_minute: int
    posts: int
    most_calls_in_a_minute: int  # messages and edits to the chat together
    steps_shown: int  # steps whose progress line reached the chat
    final_shown: bool


async def count_edits(steps: int, step_s: float, workdir: Path) -> EditCount:
    """Run a playbook of ``steps`` waits of ``step_s`` on Telegram; count its chat's edits."""
    import httpx

    from app.assembly import assemble
    from bot.dependencies import open_dependencies
    from bot.lifecycle import RunStatus
    from bot.logs import configure_logging
    from bot.settings import Settings
    from playbooks.secrets import Redactor
    from tests.support.fake_telegram import ALICE, FakeTelegram

    configure_logging(level="WARNING", json=True, redact=Redactor())
    chat = FIRST_CHAT
    lines = ["name: long-run", "title: A long run", "steps:"]
    for n in range(steps):
        lines.append(f"  - {{id: step{n + 1}, action: wait, with: {{duration: {step_s}s}}}}")
    folder = workdir / "playbooks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "long.yaml").write_text("\n".join(lines) + "\n")
    config = workdir / "chatops.yaml"
    config.write_text(f"telegram: {{allowed_chats: [{chat}]}}\n")
    with FakeTelegram() as fake:
        fake.add_chat(chat)
        settings = Settings(
            DATABASE_URL=f"sqlite+aiosqlite:///{workdir}/edits.db",
            CHATOPS_CONFIG=str(config),
            CHATOPS_PLAYBOOK_DIRS=str(folder),
            TELEGRAM_BOT_TOKEN=fake.token,
            TELEGRAM_API_URL=fake.api_url,
            TELEGRAM_WEBHOOK_URL="https://bench.invalid/telegram/webhook",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
        )
        deps = await open_dependencies(settings, environ={})
        assembly = await assemble(settings, deps)
        transport = httpx.ASGITransport(app=assembly.app)
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
                update = fake.command_update("/playbook long-run", chat=chat)
                await client.post(WEBHOOK_PATH, json=update, headers=headers)
                while not fake.messages(chat):
                    await asyncio.sleep(0.01)
                card = fake.messages(chat)[0]
                press = fake.callback_update(card, dict(card.buttons)["Run"], user=ALICE)
                started = time.monotonic()
                await client.post(WEBHOOK_PATH, json=press, headers=headers)
                while True:
                    run = await deps.store.get_run(1)
                    if run is not None and run.status is RunStatus.SUCCEEDED:
                        break
                    await asyncio.sleep(0.05)
                run_s = time.monotonic() - started
                # What the pacing still holds is delivered as the chat's budget allows.
                while "Succeeded" not in fake.message(chat, card.id).text or not any(
                    "Run #1 succeeded" in m.text for m in fake.messages(chat)
                ):
                    await asyncio.sleep(0.05)
        finally:
            await assembly.close()
            await deps.close()
        edits = sorted(c.at for c in fake.of("editMessageText") if c.args["chat_id"] == chat)
        sends = sorted(c.at for c in fake.of("sendMessage") if not c.failed)
        most = _most_in_a_minute(edits)
        calls = _most_in_a_minute(sorted(edits + sends))
        said = "\n".join(m.text for m in fake.messages(chat))
        shown = sum(1 for n in range(steps) if f"step{n + 1} succeeded" in said)
        final = fake.message(chat, card.id).text.splitlines()[1].startswith("Succeeded")
    return EditCount(steps, step_s, run_s, len(edits), most, len(sends), calls, shown, final)


def _most_in_a_minute(times: list[float]) -> int:
    """The most of ``times`` (sorted) within any 60 seconds."""
    return max((sum(1 for t in times if s <= t < s + 60) for s in times), default=0)


# -- reporting -----------------------------------------------------------------------------


def paced_floor_ms(updates: int) -> float:
    """How long after its first message AIORateLimiter's default overall limit (Telegram's
    30 messages a second, a bucket of 30 leaking at 30 a second) lets the last of
    ``updates`` messages to different chats go: 0 for up to 30 of them."""
    return max(0, updates - 30) / 30 * 1000


def ack_table(phases: Sequence[Phase]) -> str:
    by = {p.app: p for p in phases}
    lines = [
        "| app | n | p50 ms | p99 ms | max ms | first card ms | last card ms "
        "| CPU ms per update | chatops p99 ÷ this p99 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ours = by[CHATOPS].pct_ms(99)
    for app in APPS:
        p = by[app]
        ratio = "—" if app == CHATOPS else f"{ours / p.pct_ms(99):.2f}x"
        worst = max(p.latencies_s, default=float("nan")) * 1000
        cpu = p.cpu_s * 1000 / len(p.latencies_s) if p.latencies_s else float("nan")
        lines.append(
            f"| {app} | {len(p.latencies_s)} | {p.pct_ms(50):.1f} | {p.pct_ms(99):.1f} "
            f"| {worst:.1f} | {_median_ms(p.first_s):.1f} | {_median_ms(p.last_s):.1f} "
            f"| {cpu:.2f} | {ratio} |"
        )
    return "\n".join(lines)


def _median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def edits_table(counts: Sequence[EditCount]) -> str:
    lines = [
        "| steps x step | run took s | card edits | most edits in any 60 s | ≤ 20? "
        "| messages posted | most messages + edits in any 60 s | ≤ 20? | step lines shown "
        "| final state shown |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in counts:
        ok = "pass" if c.most_in_a_minute <= EDITS_AIM else "**MISS**"
        within = "pass" if c.most_calls_in_a_minute <= EDITS_AIM else "**MISS**"
        lines.append(
            f"| {c.steps} x {c.step_s:g} s | {c.run_s:.1f} | {c.edits} | {c.most_in_a_minute} "
            f"| {ok} | {c.posts} | {c.most_calls_in_a_minute} | {within} "
            f"| {c.steps_shown}/{c.steps} "
            f"| {'yes' if c.final_shown else '**no**'} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=32, help="concurrent updates a burst")
    parser.add_argument("--rounds", type=int, default=10, help="measured bursts per app")
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=0.0,
        help="round trip between the apps and the fake Bot API (default: loopback only)",
    )
    parser.add_argument("--ack-only", action="store_true", help="skip the edits count")
    parser.add_argument("--edits-only", action="store_true", help="skip the update-to-card part")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run chatops under cProfile and write its stats to FILE (figures then not valid)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    ok = True

    if not args.edits_only:
        children: list[Child] = []
        try:
            fake, (api_url, token) = spawn(
                "fake-telegram", fake_process, burst_chats(args.updates), args.rtt_ms / 2000
            )
            children.append(fake)
            ports: dict[str, int] = {}
            pids: dict[str, int] = {}
            with tempfile.TemporaryDirectory(prefix="chatops-bench-telegram-") as workdir:
                for app in APPS:
                    child, port = spawn(
                        app, _app_process, app, api_url, token, workdir, args.profile
                    )
                    children.append(child)
                    ports[app] = port
                    assert child.process.pid is not None
                    pids[app] = child.process.pid
                phases = asyncio.run(
                    measure_acks(ports, pids, fake.conn, args.updates, args.rounds)
                )
                for child in children[1:]:
                    child.stop()
        finally:
            for child in reversed(children):
                child.stop()
        by = {p.app: p for p in phases}
        print(
            f"\n### Telegram: update to card, {args.updates} concurrent updates (webhook), "
            f"{args.rounds} bursts per app, "
            + (f"{args.rtt_ms:g} ms round trip to the Bot API\n" if args.rtt_ms else "loopback\n")
        )
        print(ack_table(phases))
        print()
        for app in APPS:
            print(f"- {app}: {LABELS[app]}")
        ours = by[CHATOPS].pct_ms(99)
        floor = paced_floor_ms(args.updates)
        print(
            f"- Telegram's 30 messages a second (AIORateLimiter): the last of {args.updates} "
            f"cards can leave no sooner than {floor:.1f} ms after the first; "
            f"{AIM}x bare p99 is {AIM * by[BARE].pct_ms(99):.1f} ms"
        )
        for ref in (BARE, BARE_PACED, BARE_CONCURRENT, BARE_LIMITED):
            within = ours <= AIM * by[ref].pct_ms(99)
            print(
                f"- aim: chatops p99 ≤ {AIM}x {ref} p99: "
                f"{'pass' if within else '**MISS**'} ({ours / by[ref].pct_ms(99):.2f}x)"
            )
        ok = ours <= AIM * by[BARE_PACED].pct_ms(99)
        failures = [f for p in phases for f in p.failures]
        missing = sum(p.missing for p in phases)
        print(f"- failed updates: {len(failures)}; cards missing: {missing}")
        ok = ok and not failures and not missing

    if not args.ack_only:
        counts = []
        with tempfile.TemporaryDirectory(prefix="chatops-bench-edits-") as workdir:
            for steps, step_s in ((30, 2.0), (30, 0.1)):
                run_dir = Path(workdir) / f"{step_s:g}"
                counts.append(asyncio.run(count_edits(steps, step_s, run_dir)))
        print("\n### Telegram: card edits of a 30-step run (default pacing)\n")
        print(edits_table(counts))
        ok = ok and all(
            c.most_in_a_minute <= EDITS_AIM
            and c.most_calls_in_a_minute <= EDITS_AIM
            and c.final_shown
            and c.steps_shown == c.steps
            for c in counts
        )

    print(f"\n- whole benchmark: {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

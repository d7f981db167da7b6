"""Telegram: what a burst of ``sendMessage`` calls costs, by how the bot holds its connections.

python-telegram-bot sends through httpx. Its pool looks at every connection it holds (is it
idle, has it expired, has the server closed it) on each request and response, and when
several calls start while it holds idle keep-alive connections it hands them all the same
one: one call gets it, the others go round again (encode/httpcore#822). So a burst over warm
connections leaves one call at a time. This measures it: bursts of 32 concurrent
``sendMessage`` calls, each to a chat of its own, from an ``ExtBot`` whose request is

- PTB's default (one pool of up to 256 connections);
- one pool of 30 connections (chatops's count);
- chatops's :class:`handlers.telegram.lanes.Lanes`: 30 single-connection clients, each call
  on the least busy;

beside the same calls made one after another over one connection. Every burst after the
first runs over the connections the earlier ones opened. The fake Bot API
(``tests/support/fake_telegram.py``) runs in its own process, ``--rtt-ms`` away; the figures
are this process's CPU time (user + system) per call and each burst's wall time, medians
over rounds, the setups alternating.

    python -m bench.telegram_send [--rounds 7] [--bursts 30] [--rtt-ms 0]

Exits 1 if chatops's lanes cost more CPU per call, or take longer per burst, than PTB's
default pool. ~1 minute on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.children import spawn
from bench.telegram_ack import burst_chats, fake_process

__all__ = ["main"]

CALLS = 32  # a burst: the webhook benchmark's concurrent updates
PTB_DEFAULT = "PTB default pool (256)"
POOL = "one pool of 30"
LANES = "30 lanes (chatops)"
ONE_AT_A_TIME = "one after another, one connection"
SETUPS = (ONE_AT_A_TIME, PTB_DEFAULT, POOL, LANES)


@dataclass
class Burst:
    cpu_ms_per_call: float
    wall_ms: float  # median burst, from the first call made to the last answer


def _request(setup: str) -> Any:
    from telegram.request import HTTPXRequest

    from handlers.telegram.app import Limits
    from handlers.telegram.lanes import Lanes

    count = Limits().api_connections
    if setup == LANES:
        return Lanes(count, connection_wait=30.0)
    if setup == POOL:
        return HTTPXRequest(connection_pool_size=count, pool_timeout=30.0)
    if setup == PTB_DEFAULT:
        return HTTPXRequest(pool_timeout=30.0)
    return HTTPXRequest(connection_pool_size=1, pool_timeout=30.0)


async def _bursts(api_url: str, token: str, setup: str, bursts: int) -> Burst:
    """Costs over ``bursts`` bursts, after one that opens the connections."""
    from telegram.ext import ExtBot

    bot: ExtBot[None] = ExtBot(token, base_url=api_url, request=_request(setup))
    await bot.initialize()
    chats = burst_chats(CALLS)
    spent = 0.0
    walls: list[float] = []
    try:
        for burst in range(bursts + 1):
            started, began = time.process_time(), time.monotonic()
            if setup == ONE_AT_A_TIME:
                for chat in chats:
                    await bot.send_message(chat, "ok")
            else:
                await asyncio.gather(*(bot.send_message(chat, "ok") for chat in chats))
            if burst:
                spent += time.process_time() - started
                walls.append(time.monotonic() - began)
    finally:
        await bot.shutdown()
    return Burst(spent * 1000 / (bursts * CALLS), statistics.median(walls) * 1000)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds, the setups alternating")
    parser.add_argument("--bursts", type=int, default=30, help="bursts of 32 calls per round")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="round trip to the fake")
    args = parser.parse_args(argv)

    results: dict[str, list[Burst]] = {setup: [] for setup in SETUPS}
    fake, (api_url, token) = spawn(
        "fake-telegram", fake_process, burst_chats(CALLS), args.rtt_ms / 2000
    )
    try:
        for round_no in range(args.rounds):
            order = SETUPS if round_no % 2 == 0 else SETUPS[::-1]
            for setup in order:
                results[setup].append(asyncio.run(_bursts(api_url, token, setup, args.bursts)))
    finally:
        fake.stop()

    def cpu(setup: str) -> float:
        return statistics.median(r.cpu_ms_per_call for r in results[setup])

    def wall(setup: str) -> float:
        return statistics.median(r.wall_ms for r in results[setup])

    away = f"{args.rtt_ms:g} ms round trip" if args.rtt_ms else "loopback"
    print(f"\n### Telegram: bursts of {CALLS} sendMessage calls, warm connections, {away}\n")
    print("| how | CPU ms per call (median) | min | max | burst ms (median) |")
    print("|---|---|---|---|---|")
    for setup in SETUPS:
        spent = [r.cpu_ms_per_call for r in results[setup]]
        print(
            f"| {setup} | {cpu(setup):.3f} | {min(spent):.3f} | {max(spent):.3f} "
            f"| {wall(setup):.1f} |"
        )
    cheaper = cpu(LANES) <= cpu(PTB_DEFAULT)
    sooner = wall(LANES) <= wall(PTB_DEFAULT)
    print(
        f"\n- lanes no dearer per call than PTB's default pool: {'pass' if cheaper else '**MISS**'}"
    )
    print(f"- lanes' bursts no longer than PTB's default pool: {'pass' if sooner else '**MISS**'}")
    return 0 if cheaper and sooner else 1


if __name__ == "__main__":
    sys.exit(main())

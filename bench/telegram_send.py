"""Telegram: the CPU one ``sendMessage`` costs, by how many connections the bot keeps.

python-telegram-bot sends through httpx, whose connection pool looks at every connection it
holds (is it idle, has it expired, has the server closed it) on each request and response.
So the more connections a burst of concurrent calls opens, the dearer each call gets. This
measures it: bursts of 32 concurrent ``sendMessage`` calls, each to a chat of its own, from
an ``ExtBot`` whose pool holds at most 256 (python-telegram-bot's default), 32, 8 (chatops's
:attr:`handlers.telegram.app.Limits.api_connections`) or 2 connections, beside the same
calls made one after another over one connection. The fake Bot API
(``tests/support/fake_telegram.py``) runs in its own process; the figure is this process's
CPU time (user + system) per call, the median over rounds, pool sizes alternating.

    python -m bench.telegram_send [--rounds 7] [--bursts 30]

Exits 1 if chatops's pool costs more per call than PTB's default one. ~1 minute.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence

from bench.children import spawn
from bench.telegram_ack import burst_chats, fake_process

__all__ = ["main"]

CALLS = 32  # a burst: the webhook benchmark's concurrent updates
PTB_DEFAULT = 256
ONE_AT_A_TIME = "one after another"


async def _cpu_per_call(
    api_url: str, token: str, pool: int, concurrent: bool, bursts: int
) -> float:
    """CPU ms per ``sendMessage`` over ``bursts`` bursts (after one to open connections)."""
    from telegram.ext import ExtBot
    from telegram.request import HTTPXRequest

    bot: ExtBot[None] = ExtBot(
        token,
        base_url=api_url,
        request=HTTPXRequest(connection_pool_size=pool, pool_timeout=30.0),
    )
    await bot.initialize()
    chats = burst_chats(CALLS)
    spent = 0.0
    try:
        for burst in range(bursts + 1):
            started = time.process_time()
            if concurrent:
                await asyncio.gather(*(bot.send_message(chat, "ok") for chat in chats))
            else:
                for chat in chats:
                    await bot.send_message(chat, "ok")
            if burst:
                spent += time.process_time() - started
    finally:
        await bot.shutdown()
    return spent * 1000 / (bursts * CALLS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds, pool sizes alternating")
    parser.add_argument("--bursts", type=int, default=30, help="bursts of 32 calls per round")
    args = parser.parse_args(argv)

    from handlers.telegram.app import Limits

    ours = Limits().api_connections
    # (connections, concurrent): one after another over one, then bursts over each size.
    setups = [(1, False)] + [(pool, True) for pool in sorted({PTB_DEFAULT, 32, ours, 2})[::-1]]
    costs: dict[tuple[int, bool], list[float]] = {setup: [] for setup in setups}
    fake, (api_url, token) = spawn("fake-telegram", fake_process, burst_chats(CALLS))
    try:
        for _ in range(args.rounds):
            for pool, concurrent in setups:
                costs[pool, concurrent].append(
                    asyncio.run(_cpu_per_call(api_url, token, pool, concurrent, args.bursts))
                )
    finally:
        fake.stop()

    print(f"\n### Telegram: CPU per sendMessage, bursts of {CALLS} at once, by pool size\n")
    print("| calls | pool | CPU ms per call (median) | min | max |")
    print("|---|---|---|---|---|")
    for pool, concurrent in setups:
        spent = costs[pool, concurrent]
        calls = f"{CALLS} at once" if concurrent else ONE_AT_A_TIME
        mark = " (chatops)" if concurrent and pool == ours else ""
        mark += " (PTB default)" if pool == PTB_DEFAULT else ""
        print(
            f"| {calls} | {pool}{mark} | {statistics.median(spent):.3f} "
            f"| {min(spent):.3f} | {max(spent):.3f} |"
        )
    ok = statistics.median(costs[ours, True]) <= statistics.median(costs[PTB_DEFAULT, True])
    print(
        f"\n- chatops's {ours} connections no dearer than {PTB_DEFAULT}: "
        f"{'pass' if ok else '**MISS**'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

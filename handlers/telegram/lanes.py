"""Bot API calls spread over lanes: one HTTPX client with one connection each.

PTB's default request keeps one httpx pool of many connections. When several calls start
at once while that pool holds idle keep-alive connections (a burst of cards seconds after
the last one), httpcore 1.0 hands every waiting call the same idle connection: one gets it
and the others go round again (``ConnectionNotAvailable``, encode/httpcore#822), each round
a pass over the pool for every call still waiting. So the burst leaves one call at a time,
and every call costs more CPU the more connections the pool holds.

A lane is a PTB ``HTTPXRequest`` with a pool of one connection, so that never happens: a
call takes the least busy lane (the first of them, so light traffic keeps reusing the same
warm connections), and waits in that lane's pool only when every lane is busy. That is
rare: the rate limiter in front lets at most 30 messages through at once. (Playbook steps'
HTTP, bot/outbound_http.py, keeps its pools from queueing with a semaphore instead.)

Bursts of 32 calls over warm connections, 50 ms from the fake Bot API (bench/telegram_send.py,
BENCHMARKS.md): 136 ms and 1.19 ms of CPU a call over 30 lanes, 159 ms and 4.67 ms over PTB's
default pool.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from telegram.request import BaseRequest, HTTPXRequest, RequestData

__all__ = ["Lanes"]


class Lanes(BaseRequest):
    """``count`` single-connection HTTPX clients behind one PTB request."""

    def __init__(self, count: int, *, connection_wait: float) -> None:
        if count < 1:
            raise ValueError("at least one lane")
        # One TLS context for all: each client would otherwise load the CA bundle again
        # (30 lanes: 0.75 s and 27 MiB at start-up; shared, 23 ms and 1 MiB).
        tls = httpx.create_ssl_context()
        self._lanes = [
            HTTPXRequest(
                connection_pool_size=1,
                pool_timeout=connection_wait,
                httpx_kwargs={"verify": tls},
            )
            for _ in range(count)
        ]
        self._busy = [0] * count

    @property
    def read_timeout(self) -> float | None:
        return self._lanes[0].read_timeout

    async def initialize(self) -> None:
        await asyncio.gather(*(lane.initialize() for lane in self._lanes))

    async def shutdown(self) -> None:
        await asyncio.gather(*(lane.shutdown() for lane in self._lanes))

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        # Timeouts pass through as PTB gives them (a number, None, or "not given").
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        busy = self._busy
        lane = busy.index(min(busy))
        busy[lane] += 1
        try:
            return await self._lanes[lane].do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        finally:
            busy[lane] -= 1

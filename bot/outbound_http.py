"""The HTTP client playbook steps share: one small connection pool per target origin.

httpcore's pool rescans all of its connections each time a request enters or leaves it,
and asks each idle one whether the server closed it (a poll and a getpeername per
connection). A thousand runs hitting one target through one large pool spent a tenth of
the bot's CPU on that scan. So each origin (scheme, host, port) gets at most ``per_origin``
connections, all kept alive, split into pools of ``SHARD`` connections (a request goes to the
least busy), with a semaphore in front so no pool ever queues: each scan stays short, and a
slow target only makes its own steps wait, never the steps calling other targets.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

__all__ = ["USER_AGENT", "PerOriginTransport", "step_http_client"]

USER_AGENT = "chatops/0.1"
PER_ORIGIN = 16
SHARD = 4
# Origins are named by playbooks, but a templated URL can name new ones without end; past
# this many, origins with nothing in flight are closed and forgotten.
MAX_ORIGINS = 256

Origin = tuple[str, str, int | None]


@dataclass
class _Shard:
    transport: httpx.AsyncBaseTransport
    in_flight: int = 0


@dataclass
class _OriginPool:
    shards: list[_Shard]
    slots: asyncio.Semaphore
    in_flight: int = field(default=0)

    def least_busy(self) -> _Shard:
        return min(self.shards, key=lambda shard: shard.in_flight)

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.transport.aclose()


class PerOriginTransport(httpx.AsyncBaseTransport):
    """Routes each request to its origin's pool; at most ``per_origin`` in flight per origin."""

    def __init__(
        self,
        per_origin: int,
        new_pool: Callable[[int], httpx.AsyncBaseTransport] | None = None,
        *,
        max_origins: int = MAX_ORIGINS,
    ) -> None:
        self._per_origin = per_origin
        self._new_pool = new_pool or _keep_alive_pool
        self._max_origins = max_origins
        self._pools: dict[Origin, _OriginPool] = {}
        self._retired: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._pool(request.url)
        pool.in_flight += 1
        try:
            async with pool.slots:
                shard = pool.least_busy()
                shard.in_flight += 1
                try:
                    response = await shard.transport.handle_async_request(request)
                    # Hold the slot until the body is read: the connection is held until then.
                    await response.aread()
                    return response
                finally:
                    shard.in_flight -= 1
        finally:
            pool.in_flight -= 1

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
        if self._retired:
            await asyncio.gather(*self._retired, return_exceptions=True)

    @property
    def origins(self) -> int:
        """How many origins have a pool now."""
        return len(self._pools)

    def _pool(self, url: httpx.URL) -> _OriginPool:
        origin: Origin = (url.scheme, url.host, url.port)
        pool = self._pools.get(origin)
        if pool is None:
            if len(self._pools) >= self._max_origins:
                self._retire_idle()
            sizes = [min(SHARD, self._per_origin - n) for n in range(0, self._per_origin, SHARD)]
            shards = [_Shard(self._new_pool(size)) for size in sizes]
            pool = _OriginPool(shards, asyncio.Semaphore(self._per_origin))
            self._pools[origin] = pool
        return pool

    def _retire_idle(self) -> None:
        for origin, pool in list(self._pools.items()):
            if pool.in_flight == 0:
                del self._pools[origin]
                task = asyncio.create_task(pool.aclose())
                self._retired.add(task)
                task.add_done_callback(self._retired.discard)


def _keep_alive_pool(size: int) -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(
        verify=_tls(),
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    # One context for every pool: each builds its own otherwise, loading the CA bundle
    # again (~20 ms), so the first request to an origin paid for all its shards' bundles.
    return httpx.create_ssl_context()


def step_http_client(*, per_origin: int = PER_ORIGIN) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=PerOriginTransport(per_origin),
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(30.0),
        follow_redirects=False,
    )

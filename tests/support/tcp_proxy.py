"""A TCP proxy between the bot and its database, to break the network in tests.

    proxy = await TcpProxy.start("127.0.0.1", 5432)
    url = proxy.url_for(database_url)   # the same database, reached through the proxy
    await proxy.cut()       # every connection reset; new ones refused
    await proxy.restore()   # connections accepted and forwarded again
    await proxy.blackhole() # connections reset; new ones accepted but never answered
    await proxy.close()

It runs on the test's event loop. Only connections made through it are affected, so a test
can take "the database" away from one bot while everyone else's connections to the same
server carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from enum import Enum

from sqlalchemy.engine import make_url

__all__ = ["Mode", "TcpProxy", "proxy_to"]

_CHUNK = 65536


class Mode(Enum):
    FORWARD = "forward"
    CUT = "cut"  # nothing listens: connections are refused
    BLACKHOLE = "blackhole"  # connections are accepted, then nothing ever comes back


class TcpProxy:
    """Listens on a free 127.0.0.1 port and forwards each connection to ``target``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = Mode.FORWARD
        self.accepted = 0  # connections accepted since the proxy started
        self._server: asyncio.Server | None = None
        self._sockets: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, target_host: str, target_port: int) -> TcpProxy:
        proxy = cls(target_host, target_port)
        await proxy._listen()
        return proxy

    def url_for(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by the proxy's."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    async def cut(self) -> None:
        """Reset every connection and stop listening: a new connection is refused."""
        self.mode = Mode.CUT
        await self._stop_listening()
        await self._drop_connections()

    async def blackhole(self) -> None:
        """Reset every connection; new ones are accepted and then never answered (a host
        that has gone silent)."""
        self.mode = Mode.BLACKHOLE
        await self._drop_connections()
        if self._server is None:
            await self._listen()

    async def restore(self) -> None:
        """Forward connections again (on the same port)."""
        self.mode = Mode.FORWARD
        await self._drop_connections()  # any held by the blackhole
        if self._server is None:
            await self._listen()

    async def close(self) -> None:
        await self._stop_listening()
        await self._drop_connections()

    # -- internals ------------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    async def _drop_connections(self) -> None:
        for writer in list(self._sockets):
            writer.transport.abort()  # a reset, as a broken network gives
        self._sockets.clear()
        pumps = list(self._pumps)
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._sockets.add(writer)
        if self.mode is not Mode.FORWARD:
            return  # held open, never answered, until the next cut or restore drops it
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self._sockets.discard(writer)
            return
        self._sockets.add(upstream)
        for source, sink in ((reader, upstream), (upstream_reader, writer)):
            pump = asyncio.create_task(self._pump(source, sink))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(_CHUNK):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side closed: close the other, so the peer sees the connection end.
            with contextlib.suppress(Exception):
                sink.close()
            self._sockets.discard(sink)


@contextlib.asynccontextmanager
async def proxy_to(database_url: str) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the server ``database_url`` names, closed afterwards."""
    url = make_url(database_url)
    proxy = await TcpProxy.start(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield proxy
    finally:
        await proxy.close()

"""A real HTTP server on a free 127.0.0.1 port, served from a daemon thread (test doubles)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

__all__ = ["LocalHTTPServer"]


class _Server(ThreadingHTTPServer):
    # socketserver's backlog of 5 drops the sixth of many simultaneous connections, which
    # the client retries a second later: a burst would measure the kernel, not the code.
    request_queue_size = 128


class LocalHTTPServer(ABC):
    """Subclasses give the request handler; this starts, stops and names the server."""

    thread_name = "local-http"

    def __init__(self) -> None:
        self.url = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @abstractmethod
    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class bound to this server's state."""

    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), self.handler())
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""A recording stub HTTP server for tests: real sockets, canned answers, every request kept.

    with StubServer() as server:
        server.route("POST", "/kb/_cache/clear", json={"acknowledged": True})
        ...  # point the code under test at server.url
        assert len(server.calls("POST", "/kb/_cache/clear")) == 1

Unrouted requests get a 404 with a JSON error and are recorded too, so a test can assert
that nothing at all was requested (``server.requests == []``).
"""

from __future__ import annotations

import json as jsonlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.local_server import LocalHTTPServer

__all__ = ["RecordedRequest", "StubResponse", "StubServer"]


@dataclass
class RecordedRequest:
    """One request as the server received it; header names are lower-cased."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)


@dataclass
class StubResponse:
    """A canned answer. ``json`` (when not None) wins over ``body`` and sets the content type."""

    status: int = 200
    json: Any = None
    body: str | bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.json is not None:
            payload = jsonlib.dumps(self.json).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            payload = self.body.encode() if isinstance(self.body, str) else self.body
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return payload, headers


class _Route:
    def __init__(self, responses: list[StubResponse]) -> None:
        if not responses:
            raise ValueError("a route needs at least one response")
        self._responses = responses
        self._served = 0

    def next(self) -> StubResponse:
        # The last response repeats once the sequence is used up.
        response = self._responses[min(self._served, len(self._responses) - 1)]
        self._served += 1
        return response


class StubServer(LocalHTTPServer):
    """A ThreadingHTTPServer on 127.0.0.1 (a free port) in a daemon thread."""

    thread_name = "stub-http"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        self.most_at_once = 0  # the most requests this server was answering at one time
        self._answering = 0
        self._routes: dict[tuple[str, str], _Route] = {}
        self._lock = threading.Lock()

    # -- configuration -------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: str | bytes = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer ``method path`` with one response (replacing any earlier route for it)."""
        response = StubResponse(status, json, body, dict(headers or {}), delay)
        self.route_sequence(method, path, [response])

    def route_sequence(self, method: str, path: str, responses: list[StubResponse]) -> None:
        """Answer successive calls with successive responses; the last one repeats."""
        with self._lock:
            self._routes[(method.upper(), path)] = _Route(list(responses))

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests for ``method path`` (path without the query string)."""
        with self._lock:
            return [r for r in self.requests if r.method == method.upper() and r.path == path]

    # -- lifecycle -----------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    # -- used by the handler thread ------------------------------------------------------

    def _began(self) -> None:
        with self._lock:
            self._answering += 1
            self.most_at_once = max(self.most_at_once, self._answering)

    def _ended(self) -> None:
        with self._lock:
            self._answering -= 1

    def _record_and_answer(self, request: RecordedRequest) -> StubResponse:
        with self._lock:
            self.requests.append(request)
            route = self._routes.get((request.method, request.path))
            if route is None:
                return StubResponse(
                    status=404,
                    json={"error": f"no stub route for {request.method} {request.path}"},
                )
            return route.next()


def _handler_for(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 so clients can keep connections alive, as they would with a real server.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
        # client's delayed ACK (~40 ms a request on a kept-alive connection).
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            stub._began()
            try:
                self._answer()
            finally:
                stub._ended()

        def _answer(self) -> None:
            parts = urlsplit(self.path)
            request = RecordedRequest(
                method=self.command.upper(),
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=self._read_body(),
            )
            response = stub._record_and_answer(request)
            if response.delay:
                time.sleep(response.delay)
            payload, headers = response.encode()
            try:
                self.send_response(response.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test); nothing left to answer.
                self.close_connection = True

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()  # the blank line after the last chunk
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, format: str, *args: Any) -> None:
            # Quiet: pytest output should show test failures, not access logs.
            return

    return Handler

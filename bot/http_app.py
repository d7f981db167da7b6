"""The bot's HTTP listener: health, readiness and metrics; surfaces add their routes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.service import ChatOpsService

__all__ = ["RequestRefused", "build_http_app", "read_bounded_body"]

READY_TIMEOUT = 2.0


class RequestRefused(Exception):
    """A request a surface's route answers with ``status`` before any handler read it;
    ``reason`` is for the log (it never quotes the body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_bounded_body(request: Request, limit: int) -> bytes:
    """The body, read only while it stays within ``limit`` bytes: refused (413) from its
    Content-Length, or as soon as more than that has arrived, never read whole."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()) or len(declared) > 12:
            raise RequestRefused(400, "unreadable Content-Length")
        if int(declared) > limit:
            raise RequestRefused(413, f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestRefused(413, f"body over the {limit}-byte limit")
            chunks.append(chunk)
    except ClientDisconnect:
        raise RequestRefused(400, "the client went away before its body arrived") from None
    return b"".join(chunks)


def build_http_app(service: ChatOpsService, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """``GET /healthz``, ``GET /readyz``, ``GET /metrics`` plus the surfaces' ``routes``."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_request: Request) -> Response:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await service.store.ping()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            reason = type(exc).__name__
            return JSONResponse(
                {"status": "unavailable", "database": f"unreachable ({reason})"}, status_code=503
            )
        return JSONResponse({"status": "ready", "database": "ok"})

    async def metrics(_request: Request) -> Response:
        body = generate_latest(service.deps.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *routes,
        ]
    )

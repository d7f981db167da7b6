"""The bot's HTTP listener: health, readiness and metrics; surfaces add their routes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.service import ChatOpsService

__all__ = ["build_http_app"]

READY_TIMEOUT = 2.0


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

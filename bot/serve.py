"""``chatops run``: wire every configured surface to one service and serve until a signal.

The one place besides the CLI that knows every adapter; each surface's SDK is imported only
when that surface is configured, so a bot without Slack never pays for slack-bolt.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.http import build_http_app
from bot.runtime import Dependencies
from bot.service import ChatOpsService
from bot.settings import Settings
from bot.startup import return_freed_memory, settle
from playbooks.errors import ChatOpsError

__all__ = ["Assembly", "assemble", "serve"]

log = structlog.get_logger("chatops")


@dataclass
class Assembly:
    """A started service with its surfaces and the HTTP app that serves them."""

    service: ChatOpsService
    app: Starlette
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        # The service first: runs executing here become ``interrupted`` and their cards say
        # so while the surfaces can still post; then the surfaces close their connections.
        await self.service.shutdown()
        for close in self.closers:
            await close()


async def assemble(settings: Settings, deps: Dependencies) -> Assembly:
    """Attach every configured surface, start the service, and build the HTTP app.

    Settings are checked before anything is opened; on any failure, whatever was opened is
    closed again before the error propagates.
    """
    _check_surfaces(settings)
    service = ChatOpsService(deps)
    routes: list[BaseRoute] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        from scheduler.surface import SchedulerSurface

        scheduler = SchedulerSurface(service)
        await scheduler.open()
        closers.append(scheduler.close)
        slack = None
        if settings.slack_bot_token is not None:
            from handlers.slack.app import SlackSurface

            slack = SlackSurface(service, settings)
            closers.append(slack.close)
            service.attach(slack.chat)
            await slack.start()
            if settings.slack_app_token is None:
                routes += slack.routes()
                log.info("slack_ready", mode="http", path="/slack/events")
        await service.start()
        if slack is not None and settings.slack_app_token is not None:
            # Only once the service runs: events arrive as soon as the socket is open.
            await slack.start_socket_mode(settings.slack_app_token.get_secret_value())
            log.info("slack_connected", mode="socket")
        await scheduler.start()
    except BaseException:
        await Assembly(service, build_http_app(service), closers).close()
        raise
    assembly = Assembly(service, build_http_app(service, routes), closers)
    # Everything loaded so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise walk ~200k objects and pause every ack for ~100 ms.
    settle()
    return_freed_memory()
    return assembly


def _check_surfaces(settings: Settings) -> None:
    """Refuse settings that name a surface without what it needs (before opening anything)."""
    if (
        settings.slack_bot_token is not None
        and settings.slack_app_token is None
        and settings.slack_signing_secret is None
    ):
        raise ChatOpsError(
            "Slack over HTTP needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)"
        )


async def serve(settings: Settings, deps: Dependencies) -> None:
    """Serve HTTP, the surfaces and the engine until SIGINT/SIGTERM; then stop gracefully."""
    assembly = await assemble(settings, deps)
    server = uvicorn.Server(
        uvicorn.Config(
            assembly.app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    log.info(
        "chatops_started",
        host=settings.host,
        port=settings.port,
        playbooks=len(deps.catalog),
        surfaces=sorted(assembly.service.chats),
    )
    # uvicorn restores the handlers it found and re-raises the signal after its own graceful
    # stop; with Python's defaults that kills the process before the cleanup below runs.
    # Handlers of ours make the re-raised signal a no-op, so shutdown completes and exits 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, server.handle_exit)
    try:
        await server.serve()  # returns on SIGINT / SIGTERM
    finally:
        await assembly.close()
        log.info("chatops_stopped")

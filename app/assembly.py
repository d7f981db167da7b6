"""``chatops run``: the service, every configured surface and the HTTP app, served until a
signal.

Surfaces come from :mod:`app.surfaces` and are driven through the
:class:`~bot.surface.Surface` port: all are built (a surface with incomplete settings
refuses before anything is opened), their chats attached, each opened, the service started,
then each started; at the end the service stops first, then the surfaces close.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from app.surfaces import configured_surfaces
from bot.dependencies import Dependencies
from bot.http_app import build_http_app
from bot.service import ChatOpsService
from bot.settings import Settings
from bot.startup import return_freed_memory, settle
from bot.surface import Surface

__all__ = ["Assembly", "assemble", "serve"]

log = structlog.get_logger("chatops")


@dataclass
class Assembly:
    """A started service with its surfaces and the HTTP app that serves them."""

    service: ChatOpsService
    app: Starlette
    surfaces: list[Surface] = field(default_factory=list)

    async def close(self) -> None:
        # The service first: runs executing here become ``interrupted`` and their cards say
        # so while the surfaces can still post; then the surfaces close their connections.
        await self.service.shutdown()
        for surface in reversed(self.surfaces):
            try:
                await surface.close()
            except Exception:
                log.warning("surface_close_failed", surface=surface.name, exc_info=True)


async def assemble(settings: Settings, deps: Dependencies) -> Assembly:
    """Build, open and start every configured surface around a started service, and the
    HTTP app that serves their routes.

    Settings are checked before anything is opened; on any failure, whatever was opened is
    closed again before the error propagates.
    """
    service = ChatOpsService(deps)
    built: list[Surface] = []
    try:
        built += configured_surfaces(service, settings)
        for surface in built:
            if surface.chat is not None:
                service.attach(surface.chat)
            await surface.open()
        await service.start()
        for surface in built:
            await surface.start()
    except BaseException:
        await Assembly(service, build_http_app(service), built).close()
        raise
    routes: list[BaseRoute] = [route for surface in built for route in surface.routes()]
    if not built:
        log.warning(
            "no_surface_configured",
            hint="nothing can send commands: set SLACK_BOT_TOKEN (or another surface's "
            "settings), or use `chatops shell`",
        )
    assembly = Assembly(service, build_http_app(service, routes), built)
    # Everything loaded so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise walk ~200k objects and pause every ack for ~100 ms.
    settle()
    return_freed_memory()
    return assembly


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
        surfaces=[surface.name for surface in assembly.surfaces],
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

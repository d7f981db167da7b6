"""The Surface port: what the composition root asks of every surface it wires up.

A surface is anything that feeds the service from outside or speaks for it: a chat
platform (Slack, Telegram), the console, the scheduler, the Alertmanager intake. The root
builds each configured one, attaches its :class:`~bot.chat.Chat` (if it has one) to the
service, and then drives every surface through the same four steps:

1. :meth:`Surface.open` — check credentials and open connections (a token the platform
   refuses stops start-up with a :class:`~playbooks.errors.ChatOpsError` naming why); no
   input is taken yet.
2. the service starts;
3. :meth:`Surface.start` — start taking input (a socket, long polling, the scheduler's
   timers); HTTP input arrives through :meth:`Surface.routes`, served on the bot's own
   HTTP app;
4. at shutdown, after the service has stopped (runs it was executing are interrupted
   while the surfaces can still post), :meth:`Surface.close`.

``bot/`` never imports a surface: each lives in its own folder and is named once, in the
composition root.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from starlette.routing import BaseRoute

from bot.chat import Chat

__all__ = ["Surface"]


class Surface(Protocol):
    """One configured surface, as the composition root drives it."""

    name: str
    """What logs and ``/readyz`` call it: ``slack``, ``telegram``, ``scheduler``…"""

    @property
    def chat(self) -> Chat | None:
        """The Chat the service renders to on this surface (None: it posts nothing itself)."""
        ...

    async def open(self) -> None:
        """Check credentials and open connections; no input is taken yet."""
        ...

    def routes(self) -> Sequence[BaseRoute]:
        """The HTTP routes it serves on the bot's own app (none for most)."""
        ...

    async def start(self) -> None:
        """Start taking input; the service is running."""
        ...

    async def close(self) -> None:
        """Stop taking input and close connections; the service has stopped."""
        ...

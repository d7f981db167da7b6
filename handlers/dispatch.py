"""Hand a typed command to the service; grammar errors go privately to whoever typed."""

from __future__ import annotations

from bot.chat import Chat, Invocation
from bot.service import ChatOpsService
from handlers.grammar import GrammarError, parse_command

__all__ = ["dispatch_command"]


async def dispatch_command(
    service: ChatOpsService, chat: Chat, invocation: Invocation, command: str, arguments: str
) -> None:
    """Parse ``command arguments`` and run it; a malformed command gets the usage privately."""
    try:
        parsed = parse_command(command, arguments)
    except GrammarError as exc:
        await chat.reply_private(invocation, exc.reason)
        return
    await service.handle(invocation, parsed)

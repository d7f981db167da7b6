"""A typed command read by the grammar, or its author told privately why it is not one."""

from __future__ import annotations

import structlog

from bot.chat import Chat, Invocation
from bot.commands import Command
from bot.service import ChatOpsService
from handlers.grammar import GrammarError, parse_command

__all__ = ["dispatch_command", "parse_or_answer"]

log = structlog.get_logger(__name__)


async def parse_or_answer(
    chat: Chat, invocation: Invocation, command: str, arguments: str
) -> Command | None:
    """``command arguments`` as a neutral command; None once the grammar's reason (usage,
    a bad quote, a length over the limit) went privately to whoever typed it."""
    try:
        return parse_command(command, arguments)
    except GrammarError as exc:
        try:
            await chat.reply_private(invocation, exc.reason)
        except Exception:
            log.warning("private_reply_failed", surface=chat.surface, exc_info=True)
        return None


async def dispatch_command(
    service: ChatOpsService, chat: Chat, invocation: Invocation, command: str, arguments: str
) -> None:
    """Parse ``command arguments`` and run it; a malformed command gets the usage privately."""
    parsed = await parse_or_answer(chat, invocation, command, arguments)
    if parsed is not None:
        await service.handle(invocation, parsed)

"""``chatops shell``: read lines from the terminal (or a script on stdin) into a session."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from handlers.grammar import MAX_COMMAND_LENGTH
from handlers.shell.session import ShellSession

__all__ = ["run_console"]

BANNER = "chatops console — you are {user} in #{channel}. `:help` for console commands."


async def run_console(session: ShellSession, stdin: TextIO | None = None) -> None:
    """Read and act on lines until EOF or ``:quit``; then wait for running runs to end.

    With a terminal, a prompt shows the acting user; piped input runs as a script.
    """
    source = stdin or sys.stdin
    interactive = source.isatty()
    if interactive:
        print(BANNER.format(user=session.user, channel=session.channel), flush=True)
    loop = asyncio.get_running_loop()
    while session.running:
        prompt = f"{session.user}@#{session.channel}> " if interactive else ""
        line = await loop.run_in_executor(None, _read_line, source, prompt, interactive)
        if line is None:
            break
        await session.execute(line)
    if not interactive and session.running:
        # A script's runs finish before the console exits, so its output is complete; after
        # `:quit` or Ctrl-D the caller shuts down and runs still executing become interrupted.
        await session.service.wait_idle()


def _read_line(source: TextIO, prompt: str, interactive: bool) -> str | None:
    if interactive:
        try:
            return input(prompt)
        except EOFError:
            return None
    # A line is read up to one character past the longest command, so the session refuses it
    # as too long; the rest of it is read and dropped a piece at a time, never held whole.
    line = source.readline(MAX_COMMAND_LENGTH + 1)
    if len(line) > MAX_COMMAND_LENGTH and not line.endswith("\n"):
        while (rest := source.readline(MAX_COMMAND_LENGTH)) and not rest.endswith("\n"):
            pass
    return line if line else None

"""The chat grammar shared by every surface: text in, a neutral command out. Pure.

``/playbook list`` · ``/playbook help [NAME]`` · ``/playbook NAME [key=value ...] [--dry-run]``
· ``/playbook status RUN`` · ``/playbook history [NAME]`` · ``/playbook cancel RUN``
· ``/schedule list`` · ``/schedule run|pause|resume ID``
"""

from __future__ import annotations

import shlex

from bot.commands import (
    CancelRun,
    Command,
    Help,
    History,
    ListPlaybooks,
    RunStatusQuery,
    ScheduleCommand,
    StartRun,
)
from bot.replies import usage
from playbooks.errors import ChatOpsError

__all__ = ["GrammarError", "parse_command", "parse_run_id", "split_command"]

COMMANDS = ("playbook", "schedule")


class GrammarError(ChatOpsError):
    """The text is not a command of the grammar; ``reason`` says what was expected."""


def split_command(text: str) -> tuple[str, str]:
    """``("/playbook", "rest of line")`` from a typed line; strips Telegram's ``@botname``."""
    head, _, rest = text.strip().partition(" ")
    return head.split("@", 1)[0].lower(), rest.strip()


def parse_command(command: str, text: str) -> Command:
    """Parse the arguments ``text`` of slash command ``command`` (``/playbook`` or ``playbook``)."""
    name = command.lstrip("/").lower()
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise GrammarError(f"Couldn't read that: {exc} (check your quotes).") from None
    if name == "playbook":
        return _playbook(words)
    if name == "schedule":
        return _schedule(words)
    raise GrammarError(f"Unknown command `/{name}`.\n{usage()}")


def parse_run_id(word: str) -> int:
    digits = word.removeprefix("#")
    # ASCII only: "²".isdigit() is true, but int() cannot read it.
    if not (digits.isascii() and digits.isdigit()):
        raise GrammarError(f"`{word}` is not a run number; runs look like `#12`.")
    return int(digits)


def _playbook(words: list[str]) -> Command:
    if not words:
        return Help()
    verb, rest = words[0], words[1:]
    if verb == "list":
        _no_more(rest, "/playbook list")
        return ListPlaybooks()
    if verb == "help":
        _at_most_one(rest, "/playbook help [NAME]")
        return Help(rest[0] if rest else None)
    if verb == "history":
        _at_most_one(rest, "/playbook history [NAME]")
        return History(rest[0] if rest else None)
    if verb in ("status", "cancel"):
        if len(rest) != 1:
            raise GrammarError(
                f"Usage: `/playbook {verb} RUN`, for example `/playbook {verb} #12`."
            )
        run_id = parse_run_id(rest[0])
        return RunStatusQuery(run_id) if verb == "status" else CancelRun(run_id)
    return _start(verb, rest)


def _start(name: str, words: list[str]) -> StartRun:
    params: dict[str, str] = {}
    dry_run = False
    for word in words:
        if word in ("--dry-run", "--dryrun", "--plan"):
            dry_run = True
            continue
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise GrammarError(
                f"Expected `key=value` but got `{word}`. "
                f'Quote values with spaces: `key="a b"`. See `/playbook help {name}`.'
            )
        if key in params:
            raise GrammarError(f"`{key}` is given twice.")
        params[key] = value
    return StartRun(name, params, dry_run)


def _schedule(words: list[str]) -> Command:
    if not words or words == ["list"]:
        return ScheduleCommand("list")
    verb, rest = words[0], words[1:]
    if verb in ("run", "pause", "resume") and len(rest) == 1:
        return ScheduleCommand(verb, rest[0])
    raise GrammarError("Usage: `/schedule list` or `/schedule run|pause|resume ID`.")


def _no_more(rest: list[str], form: str) -> None:
    if rest:
        raise GrammarError(f"Usage: `{form}`.")


def _at_most_one(rest: list[str], form: str) -> None:
    if len(rest) > 1:
        raise GrammarError(f"Usage: `{form}`.")

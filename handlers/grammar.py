"""The chat grammar shared by every surface: text in, a neutral command out. Pure.

``/playbook list`` · ``/playbook help [NAME]`` · ``/playbook NAME [key=value ...] [--dry-run]``
· ``/playbook status RUN`` · ``/playbook history [NAME]`` · ``/playbook cancel RUN``
· ``/schedule list`` · ``/schedule run|pause|resume ID``

A command is at most :data:`MAX_COMMAND_LENGTH` characters, refused before it is read; a
run number at most the largest id the store can hold (:data:`bot.db.ids.MAX_ID`).
"""

from __future__ import annotations

from collections.abc import Callable

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
from bot.db.ids import MAX_ID, MAX_ID_DIGITS
from bot.replies import usage
from handlers.words import QuoteError, split_words
from playbooks.errors import ChatOpsError
from playbooks.model import RESERVED_NAMES

__all__ = [
    "MAX_COMMAND_LENGTH",
    "GrammarError",
    "check_length",
    "parse_command",
    "parse_run_id",
    "read_words",
    "run_number",
    "split_command",
]

COMMANDS = ("playbook", "schedule")
# Commands are typed in a chat composer: Slack asks clients to keep a message to 4,000
# characters and Telegram caps one at 4,096. Longer text is not a command anyone typed.
MAX_COMMAND_LENGTH = 4_000
TOO_LONG = (
    f"That command is longer than {MAX_COMMAND_LENGTH:,} characters, the most a command may be."
)
# How much of a long word an error message repeats.
_SHOWN = 24


class GrammarError(ChatOpsError):
    """The text is not a command of the grammar; ``reason`` says what was expected."""


def split_command(text: str) -> tuple[str, str]:
    """``("/playbook", "rest of line")`` from a typed line; strips Telegram's ``@botname``.

    Never refuses (a caller may not expect it to): a line too long for a command is split
    all the same, in linear time, and :func:`parse_command` refuses it.
    """
    head, _, rest = text.strip().partition(" ")
    return head.split("@", 1)[0].lower(), rest.strip()


def check_length(line: str) -> None:
    """Refuse a line longer than any command, before anything reads it."""
    if len(line) > MAX_COMMAND_LENGTH:
        raise GrammarError(TOO_LONG)


def parse_command(command: str, text: str) -> Command:
    """Parse the arguments ``text`` of slash command ``command`` (``/playbook`` or ``playbook``)."""
    # The command word counts too: a mention with no space in it is all command word.
    if len(command) + len(text) > MAX_COMMAND_LENGTH:
        raise GrammarError(TOO_LONG)
    name = command.lstrip("/").lower()
    words = read_words(text)
    if name == "playbook":
        return _playbook(words)
    if name == "schedule":
        return _schedule(words)
    raise GrammarError(f"Unknown command `/{name}`.\n{usage()}")


def read_words(text: str) -> list[str]:
    """The words of ``text`` (quotes as in ``key="a b"``); a clear error for an open quote."""
    try:
        return split_words(text)
    except QuoteError as exc:
        raise GrammarError(f"Couldn't read that: {exc} (check your quotes).") from None


def parse_run_id(word: str) -> int:
    """The run a word names: ``#12`` or ``12``."""
    digits = word.removeprefix("#")
    # ASCII only: "²".isdigit() is true, but int() cannot read it.
    if not (digits.isascii() and digits.isdigit()):
        raise GrammarError(f"`{_shorten(word)}` is not a run number; runs look like `#12`.")
    return run_number(digits)


def run_number(digits: str) -> int:
    """The run id written in ASCII ``digits``; a GrammarError past the largest id there is.

    The digits are counted before they are read: a 5,000-digit number is refused without
    Python's own limit on reading one (4,300 digits) or the time a long one takes.
    """
    significant = digits.lstrip("0") or "0"
    if len(significant) > MAX_ID_DIGITS or int(significant) > MAX_ID:
        raise GrammarError(f"There is no run #{_shorten(digits)}: run numbers go up to {MAX_ID}.")
    return int(significant)


def _playbook(words: list[str]) -> Command:
    if not words:
        return Help()
    verb, rest = words[0], words[1:]
    if verb in RESERVED_NAMES:
        return _VERBS[verb](rest)
    return _start(verb, rest)


def _list(rest: list[str]) -> Command:
    _no_more(rest, "/playbook list")
    return ListPlaybooks()


def _help(rest: list[str]) -> Command:
    _at_most_one(rest, "/playbook help [NAME]")
    return Help(rest[0] if rest else None)


def _history(rest: list[str]) -> Command:
    _at_most_one(rest, "/playbook history [NAME]")
    return History(rest[0] if rest else None)


def _run_verb(verb: str) -> Callable[[list[str]], Command]:
    def parse(rest: list[str]) -> Command:
        if len(rest) != 1:
            raise GrammarError(
                f"Usage: `/playbook {verb} RUN`, for example `/playbook {verb} #12`."
            )
        run_id = parse_run_id(rest[0])
        return RunStatusQuery(run_id) if verb == "status" else CancelRun(run_id)

    return parse


# The words after `/playbook` that are not a playbook: exactly the names a playbook may
# not take (playbooks.model.RESERVED_NAMES), so neither can shadow the other.
_VERBS: dict[str, Callable[[list[str]], Command]] = {
    "list": _list,
    "help": _help,
    "history": _history,
    "status": _run_verb("status"),
    "cancel": _run_verb("cancel"),
}


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


def _shorten(word: str) -> str:
    """``word``, or its start when repeating it whole would drown the message."""
    return word if len(word) <= _SHOWN else f"{word[:_SHOWN]}…"

"""Fuzzed command lines: whatever is typed, the grammar answers with its own errors only.

The lines are built from the grammar's own pieces (verbs, ``key=value``, both quotes, run
numbers of any size, digits that are not ASCII, NULs, ``--dry-run``) joined with and without
spaces, so most of them get past the first word and reach every branch. The examples are
the same on every run (``derandomize``): a failure is a line to add to the grammar tests.
"""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import CancelRun, RunStatusQuery
from bot.db.ids import MAX_ID
from bot.service import DATABASE_DOWN, UNEXPECTED
from handlers.grammar import MAX_COMMAND_LENGTH, GrammarError, parse_command, split_command
from handlers.shell.console import run_console
from handlers.shell.testing import ConsoleBot

# Texts Python's own errors carry; none may reach a user.
PYTHON_ERRORS = ("Traceback", "Exceeds the limit", "invalid literal", "object has no attribute")

VERBS = ["list", "help", "status", "cancel", "history", "run", "pause", "resume", "clear-cache"]
NUMBERS = ["0", "12", "007", "2147483647", "2147483648", "9223372036854775808", "1" * 40]
HUGE = ["9" * 4_300, "9" * 4_301, "1" * 6_000]  # past Python's own limit on reading digits
ODD = ["²", "①", "٣", "\x00", "\u00a0", "é", "@chatops_bot", "<@U0BOT>", "&amp;", "\\"]
QUOTES = ['"', "'"]
KEYS = ["index_name", "models", "", "a=b"]
VALUES = ["kb", "a b", "query,request", "", "=", "12", "²", "\x00"]
# The pieces lines are made of, about as often as a person types them: separators, every
# grammar word and flag, run numbers of every size (with and without "#"), key=value with
# and without quotes, lone and unbalanced quotes, and characters that look like digits or
# spaces but are not ASCII.
PIECES = [
    *[" "] * 40,
    *["  ", "\t", "\n", "\r"],
    *VERBS * 3,
    *["--dry-run", "--dryrun", "--plan"] * 3,
    *NUMBERS,
    *(f"#{n}" for n in NUMBERS),
    "#",
    *ODD,
    *QUOTES,
    "=",
    ",",
    *(f"{k}={v}" for k in KEYS for v in VALUES),
    *(f"{k}={q}{v}{q}" for k in KEYS for q in QUOTES for v in VALUES),
    *(f"{k}={q}{v}" for k in KEYS[:2] for q in QUOTES for v in VALUES[:2]),
    *(f"{verb} {n}" for verb in ("status", "cancel") for n in [*NUMBERS, "#2147483648", "²"]),
]
EVERY_PIECE = [*PIECES, *HUGE, *(f"#{n}" for n in HUGE)]
LINES_PER_EXAMPLE = 12
# Drawing costs hypothesis about 50 µs a choice here, too slow for 12,000 separate examples:
# each example is a run of pieces and a scrap of any text, and its first six prefixes and
# first six suffixes are lines.
RUNS = st.builds(
    lambda pieces, at, scrap: [*pieces[:at], scrap, *pieces[at:]],
    st.lists(st.sampled_from(EVERY_PIECE), min_size=LINES_PER_EXAMPLE, max_size=LINES_PER_EXAMPLE),
    st.integers(min_value=0, max_value=LINES_PER_EXAMPLE),
    st.text(max_size=6),
)
ARGUMENTS = st.lists(st.sampled_from(EVERY_PIECE), max_size=8).map("".join)
COMMAND = st.sampled_from(["playbook", "/playbook", "/PLAYBOOK", "schedule", "/schedule", "/x"])


def parsed_or_refused(command: str, text: str) -> str:
    """Parse; only a GrammarError may come out (its reason is returned), and what is parsed
    names a run that may exist."""
    try:
        parsed = parse_command(command, text)
    except GrammarError as exc:
        return exc.reason
    if isinstance(parsed, RunStatusQuery | CancelRun):
        assert 0 <= parsed.run_id <= MAX_ID
    assert len(command) + len(text) <= MAX_COMMAND_LENGTH
    return ""


def lines_of(run: list[str]) -> list[str]:
    """The lines one example makes: the run's shortest prefixes and longest suffixes."""
    half = LINES_PER_EXAMPLE // 2
    prefixes = ["".join(run[:end]) for end in range(1, half + 1)]
    return prefixes + ["".join(run[start:]) for start in range(half)]


def plain(reason: str) -> bool:
    return not any(marker in reason for marker in PYTHON_ERRORS)


@settings(
    max_examples=12_000 // LINES_PER_EXAMPLE,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(command=COMMAND, space=st.sampled_from(["", " ", "\t", "@x "]), run=RUNS)
def test_no_fuzzed_command_line_raises_anything_but_a_grammar_error(
    command: str, space: str, run: list[str]
) -> None:
    for text in lines_of(run):
        # A slash command (Slack sends the word and the text), then a mention or a console line.
        assert plain(parsed_or_refused(command, text))
        assert plain(parsed_or_refused(*split_command(f"{command}{space}{text}")))


LABELS = ["Run", "Approve", "Deny", "Cancel", "Resume", "Abort", "run", "x"]
CONSOLE_LINE = st.one_of(
    st.builds(lambda command, text: f"{command} {text}", COMMAND, ARGUMENTS),
    st.builds(lambda label, text: f":press {label} {text}", st.sampled_from(LABELS), ARGUMENTS),
    st.builds(lambda verb, text: f":{verb} {text}", st.sampled_from(["as", "channel"]), ARGUMENTS),
)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(line=CONSOLE_LINE)
async def test_no_fuzzed_console_line_gets_anything_but_a_plain_answer(
    bot: ConsoleBot, line: str
) -> None:
    before = len(bot.chat.messages)
    bot.session.running = True  # after a fuzzed `:quit`

    # As `chatops shell` reads a script: line by line from its input. Never raises.
    await run_console(bot.session, io.StringIO(f"{line}\n"))

    for message in bot.chat.messages[before:]:
        assert message.text not in (UNEXPECTED, DATABASE_DOWN), line
        assert plain(message.text), message.text

"""The chat grammar shared by every surface, as the README documents it."""

from __future__ import annotations

import pytest

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
from bot.db.ids import MAX_ID
from bot.replies import usage
from handlers.grammar import (
    MAX_COMMAND_LENGTH,
    GrammarError,
    parse_command,
    parse_run_id,
    split_command,
)

TOO_LONG = "That command is longer than 4,000 characters, the most a command may be."


def grammar_error(command: str, text: str) -> str:
    with pytest.raises(GrammarError) as caught:
        parse_command(command, text)
    return caught.value.reason


@pytest.mark.parametrize(
    ("command", "text", "parsed"),
    [
        ("playbook", "list", ListPlaybooks()),
        ("/playbook", "list", ListPlaybooks()),
        ("playbook", "", Help()),
        ("playbook", "help", Help()),
        ("playbook", "help clear-cache", Help("clear-cache")),
        ("playbook", "clear-cache", StartRun("clear-cache", {}, dry_run=False)),
        (
            "playbook",
            "clear-cache index_name=kb --dry-run",
            StartRun("clear-cache", {"index_name": "kb"}, dry_run=True),
        ),
        (
            "playbook",
            "clear-cache --dry-run index_name=kb cache_types=query,request",
            StartRun(
                "clear-cache", {"index_name": "kb", "cache_types": "query,request"}, dry_run=True
            ),
        ),
        ("playbook", "status #12", RunStatusQuery(12)),
        ("playbook", "status 12", RunStatusQuery(12)),
        ("playbook", "history", History()),
        ("playbook", "history clear-cache", History("clear-cache")),
        ("playbook", "cancel #7", CancelRun(7)),
        ("playbook", "cancel 7", CancelRun(7)),
        ("schedule", "list", ScheduleCommand("list")),
        ("schedule", "", ScheduleCommand("list")),
        ("schedule", "run weekly-log-cleanup", ScheduleCommand("run", "weekly-log-cleanup")),
        ("schedule", "pause weekly-log-cleanup", ScheduleCommand("pause", "weekly-log-cleanup")),
        ("/schedule", "resume daily-digest", ScheduleCommand("resume", "daily-digest")),
    ],
)
def test_every_form_of_the_grammar(command: str, text: str, parsed: Command) -> None:
    assert parse_command(command, text) == parsed


def test_quoted_values_keep_their_spaces() -> None:
    assert parse_command("playbook", "retrain models=\"a b\" note='two words' n=3") == StartRun(
        "retrain", {"models": "a b", "note": "two words", "n": "3"}
    )


def test_a_value_may_contain_an_equals_sign_or_be_empty() -> None:
    assert parse_command("playbook", "query filter=a=b note=") == StartRun(
        "query", {"filter": "a=b", "note": ""}
    )


def test_values_stay_text_for_the_playbook_to_type() -> None:
    command = parse_command("playbook", "refresh-synonyms reindex=true")

    assert command == StartRun("refresh-synonyms", {"reindex": "true"})


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["x12", "#", "#-1", "twelve", "²", "#①"])
def test_a_bad_run_number_is_explained(word: str) -> None:
    assert grammar_error("playbook", f"status {word}") == (
        f"`{word}` is not a run number; runs look like `#12`."
    )


def test_the_largest_run_number_the_store_holds_is_read() -> None:
    assert MAX_ID == 2_147_483_647  # the runs.id column is a PostgreSQL INTEGER
    assert parse_command("playbook", "status #2147483647") == RunStatusQuery(MAX_ID)
    assert parse_command("playbook", f"cancel {'0' * 3000}7") == CancelRun(7)


@pytest.mark.parametrize(
    ("word", "shown"),
    [
        ("2147483648", "2147483648"),
        ("#9223372036854775808", "9223372036854775808"),
        ("9" * 3000, "999999999999999999999999…"),
    ],
)
@pytest.mark.parametrize("verb", ["status", "cancel"])
def test_a_run_number_past_the_largest_id_names_no_run(verb: str, word: str, shown: str) -> None:
    assert grammar_error("playbook", f"{verb} {word}") == (
        f"There is no run #{shown}: run numbers go up to 2147483647."
    )


def test_a_run_number_longer_than_python_reads_is_refused_by_the_grammar() -> None:
    # 4,301 digits or more: int() itself refuses them (sys.get_int_max_str_digits).
    with pytest.raises(GrammarError) as caught:
        parse_run_id("#" + "1" * 5000)

    assert caught.value.reason == (
        "There is no run #111111111111111111111111…: run numbers go up to 2147483647."
    )


def test_a_long_word_that_is_no_run_number_is_shown_cut() -> None:
    assert grammar_error("playbook", f"status {'x' * 300}") == (
        "`xxxxxxxxxxxxxxxxxxxxxxxx…` is not a run number; runs look like `#12`."
    )


@pytest.mark.parametrize("verb", ["status", "cancel"])
def test_status_and_cancel_need_exactly_one_run(verb: str) -> None:
    usage_text = f"Usage: `/playbook {verb} RUN`, for example `/playbook {verb} #12`."

    assert grammar_error("playbook", verb) == usage_text
    assert grammar_error("playbook", f"{verb} 1 2") == usage_text


def test_list_takes_nothing_more() -> None:
    assert grammar_error("playbook", "list all") == "Usage: `/playbook list`."


def test_help_and_history_take_at_most_one_name() -> None:
    assert grammar_error("playbook", "help a b") == "Usage: `/playbook help [NAME]`."
    assert grammar_error("playbook", "history a b") == "Usage: `/playbook history [NAME]`."


@pytest.mark.parametrize("word", ["index_name", "=kb"])
def test_a_param_without_key_and_equals_is_explained(word: str) -> None:
    assert grammar_error("playbook", f"clear-cache {word}") == (
        f"Expected `key=value` but got `{word}`. "
        'Quote values with spaces: `key="a b"`. See `/playbook help clear-cache`.'
    )


def test_a_quoted_value_with_spaces_but_no_key_is_explained() -> None:
    assert grammar_error("playbook", 'retrain "a b"') == (
        "Expected `key=value` but got `a b`. "
        'Quote values with spaces: `key="a b"`. See `/playbook help retrain`.'
    )


def test_a_key_given_twice_is_refused() -> None:
    assert grammar_error("playbook", "clear-cache index_name=a index_name=b") == (
        "`index_name` is given twice."
    )


def test_an_unbalanced_quote_is_refused() -> None:
    assert grammar_error("playbook", 'retrain models="a b') == (
        "Couldn't read that: No closing quotation (check your quotes)."
    )
    assert grammar_error("playbook", "retrain note='a b") == (
        "Couldn't read that: No closing quotation (check your quotes)."
    )


def test_a_backslash_at_the_very_end_is_refused() -> None:
    assert grammar_error("playbook", "retrain note=a\\") == (
        "Couldn't read that: No escaped character (check your quotes)."
    )


def test_quotes_may_be_joined_to_a_word_as_a_shell_writes_them() -> None:
    assert parse_command("playbook", "retrain note='it'\"'\"'s' path=a\\ b") == StartRun(
        "retrain", {"note": "it's", "path": "a b"}
    )


# --- the length of a command ---------------------------------------------------------------


def test_a_command_as_long_as_the_limit_is_read() -> None:
    value = "x" * (MAX_COMMAND_LENGTH - len("/playbook") - len("retrain note="))

    assert parse_command("/playbook", f"retrain note={value}") == StartRun(
        "retrain", {"note": value}
    )


@pytest.mark.parametrize("size", [4_001, 100_000, 1_000_000])
def test_a_command_past_the_limit_is_refused_before_it_is_read(size: int) -> None:
    # An open quote: were the text read at all, the error would be about the quote.
    text = 'retrain note="' + "x" * size

    assert grammar_error("/playbook", text) == TOO_LONG


def test_a_command_word_past_the_limit_is_refused_too() -> None:
    # A mention without a space is all command word.
    command, rest = split_command("/" + "x" * MAX_COMMAND_LENGTH)

    assert grammar_error(command, rest) == TOO_LONG


@pytest.mark.parametrize("text", ["stop weekly", "run", "run a b", "list all"])
def test_a_bad_schedule_command_shows_its_usage(text: str) -> None:
    assert grammar_error("schedule", text) == (
        "Usage: `/schedule list` or `/schedule run|pause|resume ID`."
    )


def test_an_unknown_command_shows_every_command() -> None:
    reason = grammar_error("/deploy", "api")

    assert reason == f"Unknown command `/deploy`.\n{usage()}"
    assert "`/playbook NAME [key=value ...] [--dry-run]`" in reason
    assert "`/schedule list` · `/schedule run|pause|resume ID`" in reason


# --- the command word ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "split"),
    [
        ("/playbook list", ("/playbook", "list")),
        ("/playbook@chatops_bot list", ("/playbook", "list")),
        (
            "  /Playbook@ChatOpsBot   clear-cache  index_name=kb ",
            ("/playbook", "clear-cache  index_name=kb"),
        ),
        ("/schedule@chatops_bot", ("/schedule", "")),
        ("/playbook", ("/playbook", "")),
    ],
)
def test_split_command_strips_the_bot_name(typed: str, split: tuple[str, str]) -> None:
    assert split_command(typed) == split


def test_a_split_line_parses_like_a_slash_command() -> None:
    command, rest = split_command('/playbook@chatops_bot retrain models="a b" --dry-run')

    assert parse_command(command, rest) == StartRun("retrain", {"models": "a b"}, dry_run=True)


def test_the_grammar_s_verbs_are_exactly_the_names_a_playbook_may_not_take() -> None:
    from handlers.grammar import _VERBS
    from playbooks.model import RESERVED_NAMES

    assert frozenset(_VERBS) == RESERVED_NAMES

"""Splitting a command line into words: the quoting rules of a POSIX shell, in linear time."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.words import QuoteError, split_words

# The characters that mean something to the splitter, and a few that must not.
SPECIAL = " \t\r\n'\"\\=,#@-²\x00é"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("", []),
        ("  \t\n ", []),
        ("clear-cache index_name=kb", ["clear-cache", "index_name=kb"]),
        ('models="a b"', ["models=a b"]),
        ("note='two  words'", ["note=two  words"]),
        ("a\\ b c", ["a b", "c"]),
        ('""', [""]),
        ("a= ''", ["a=", ""]),
        ("'it'\"'\"'s'", ["it's"]),
        ('"say \\"hi\\""', ['say "hi"']),
        ('"a\\\\b"', ["a\\b"]),
        ('"a\\nb"', ["a\\nb"]),  # in double quotes a backslash escapes only " and \
        ("'a\\nb'", ["a\\nb"]),  # in single quotes nothing is escaped
        ("#12 x", ["#12", "x"]),  # not a comment
        ("a\x00b ²", ["a\x00b", "²"]),
    ],
)
def test_words_are_split_as_a_shell_quotes_them(line: str, words: list[str]) -> None:
    assert split_words(line) == words


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('models="a b', "No closing quotation"),
        ("note='a", "No closing quotation"),
        ('x "a\\"', "No closing quotation"),
        ("x\\", "No escaped character"),
        ('"a\\', "No escaped character"),
    ],
)
def test_an_open_quote_or_a_dangling_backslash_is_refused(line: str, error: str) -> None:
    with pytest.raises(QuoteError, match=error):
        split_words(line)


def shlex_split(line: str) -> list[str] | str:
    """The splitter the grammar used before, as the reference: its words or its error."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        return str(exc)


def words_or_error(line: str) -> list[str] | str:
    try:
        return split_words(line)
    except QuoteError as exc:
        return str(exc)


@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet=st.sampled_from(SPECIAL + "ab"), max_size=16))
def test_every_line_splits_exactly_as_shlex_split_did(line: str) -> None:
    assert words_or_error(line) == shlex_split(line)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.lists(st.text(max_size=12)))
def test_words_quoted_by_shlex_join_come_back_unchanged(words: list[str]) -> None:
    # `chatops plan NAME key=value ...` hands its arguments to the grammar this way.
    assert split_words(shlex.join(words)) == words

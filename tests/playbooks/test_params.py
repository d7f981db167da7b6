"""Turning what a user typed in chat (``key=value`` strings) into typed parameter values."""

from __future__ import annotations

from typing import Any

import pytest

from playbooks.errors import ParamError
from playbooks.model import Playbook
from playbooks.params import resolve_params


def playbook_with(**params: dict[str, Any]) -> Playbook:
    return Playbook.model_validate(
        {
            "name": "demo",
            "params": params,
            "steps": [{"id": "pause", "action": "wait", "with": {"duration": "1s"}}],
        }
    )


def error_of(playbook: Playbook, given: dict[str, Any]) -> str:
    with pytest.raises(ParamError) as caught:
        resolve_params(playbook, given)
    return caught.value.reason


# --- types ---------------------------------------------------------------------------------


def test_a_string_stays_as_typed() -> None:
    playbook = playbook_with(index={"type": "string"})

    assert resolve_params(playbook, {"index": "knowledge base"}) == {"index": "knowledge base"}


def test_string_is_the_default_type() -> None:
    playbook = playbook_with(index={})

    assert resolve_params(playbook, {"index": "42"}) == {"index": "42"}


@pytest.mark.parametrize(("typed", "value"), [("5", 5), (" 7 ", 7), ("-3", -3), ("+3", 3)])
def test_an_integer_is_read_from_text(typed: str, value: int) -> None:
    playbook = playbook_with(count={"type": "integer"})

    assert resolve_params(playbook, {"count": typed}) == {"count": value}


@pytest.mark.parametrize("typed", ["1.5", "abc", "1e3", ""])
def test_an_integer_refuses_anything_but_a_whole_number(typed: str) -> None:
    playbook = playbook_with(count={"type": "integer"})

    assert error_of(playbook, {"count": typed}) == (
        f"`count`: expected a whole number, got {typed!r}"
    )


@pytest.mark.parametrize(("typed", "value"), [("0.25", 0.25), ("3", 3.0), ("1e-1", 0.1)])
def test_a_number_is_read_from_text(typed: str, value: float) -> None:
    playbook = playbook_with(ratio={"type": "number"})

    assert resolve_params(playbook, {"ratio": typed}) == {"ratio": value}


@pytest.mark.parametrize("typed", ["half", "nan", "inf", "-inf"])
def test_a_number_refuses_what_is_not_a_finite_number(typed: str) -> None:
    playbook = playbook_with(ratio={"type": "number", "min": 0, "max": 1})

    assert error_of(playbook, {"ratio": typed}) == f"`ratio`: expected a number, got {typed!r}"


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("y", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("n", False),
        ("off", False),
        ("0", False),
    ],
)
def test_a_boolean_accepts_the_usual_words(typed: str, value: bool) -> None:
    playbook = playbook_with(force={"type": "boolean"})

    assert resolve_params(playbook, {"force": typed}) == {"force": value}


@pytest.mark.parametrize("typed", ["maybe", "2", ""])
def test_a_boolean_refuses_anything_else(typed: str) -> None:
    playbook = playbook_with(force={"type": "boolean"})

    assert error_of(playbook, {"force": typed}) == (
        f"`force`: expected true or false, got {typed!r}"
    )


@pytest.mark.parametrize(
    ("typed", "value"),
    [("a,b", ["a", "b"]), (" a , b ,", ["a", "b"]), ("solo", ["solo"]), ("", [])],
)
def test_a_list_is_comma_separated(typed: str, value: list[str]) -> None:
    playbook = playbook_with(models={"type": "list"})

    assert resolve_params(playbook, {"models": typed}) == {"models": value}


# --- constraints ---------------------------------------------------------------------------


def test_a_scalar_must_be_one_of_its_choices() -> None:
    playbook = playbook_with(mode={"choices": ["fast", "slow"]})

    assert resolve_params(playbook, {"mode": "slow"}) == {"mode": "slow"}
    assert error_of(playbook, {"mode": "Fast"}) == "`mode`: 'Fast' is not one of: fast, slow"


def test_integer_choices_compare_the_typed_value() -> None:
    playbook = playbook_with(level={"type": "integer", "choices": [1, 2, 3]})

    assert resolve_params(playbook, {"level": "2"}) == {"level": 2}
    assert error_of(playbook, {"level": "5"}) == "`level`: '5' is not one of: 1, 2, 3"


def test_each_list_item_must_be_one_of_the_choices() -> None:
    playbook = playbook_with(caches={"type": "list", "choices": ["query", "request", "fielddata"]})

    assert resolve_params(playbook, {"caches": "query,fielddata"}) == {
        "caches": ["query", "fielddata"]
    }
    assert error_of(playbook, {"caches": "query,disk"}) == (
        "`caches`: `disk` is not one of: query, request, fielddata"
    )


def test_min_and_max_bound_numbers() -> None:
    playbook = playbook_with(
        count={"type": "integer", "min": 1, "max": 10},
        ratio={"type": "number", "min": 0.5, "max": 2.5},
    )

    assert resolve_params(playbook, {"count": "1", "ratio": "2.5"}) == {"count": 1, "ratio": 2.5}
    assert error_of(playbook, {"count": "0"}) == "`count`: 0 is below the minimum 1"
    assert error_of(playbook, {"count": "11"}) == "`count`: 11 is above the maximum 10"
    assert error_of(playbook, {"ratio": "0.1"}) == "`ratio`: 0.1 is below the minimum 0.5"
    assert error_of(playbook, {"ratio": "3"}) == "`ratio`: 3.0 is above the maximum 2.5"


def test_a_pattern_must_match_the_whole_value() -> None:
    playbook = playbook_with(index={"pattern": "[a-z0-9_]+"})

    assert resolve_params(playbook, {"index": "kb_2"}) == {"index": "kb_2"}
    assert error_of(playbook, {"index": "kb-2"}) == (
        "`index`: 'kb-2' does not match the pattern [a-z0-9_]+"
    )


# --- missing, unknown, defaults ------------------------------------------------------------


def test_a_required_param_that_is_missing_says_what_it_wants() -> None:
    playbook = playbook_with(
        region={"required": True, "description": "the AWS region"},
        zone={"required": True, "choices": ["a", "b"]},
        replicas={"type": "integer", "required": True},
        label={"required": True},
    )

    assert error_of(playbook, {}) == (
        "`region` is required (the AWS region); "
        "`zone` is required (one of: a, b); "
        "`replicas` is required (an integer); "
        "`label` is required (a string)"
    )


def test_an_unknown_param_lists_the_known_ones() -> None:
    playbook = playbook_with(index_name={}, cache_types={"type": "list"})

    assert error_of(playbook, {"index": "kb"}) == (
        "`index` is not a parameter of demo (parameters: `index_name`, `cache_types`)"
    )


def test_a_playbook_without_params_says_so() -> None:
    playbook = playbook_with()

    assert error_of(playbook, {"force": "yes"}) == (
        "`force` is not a parameter of demo (parameters: none)"
    )


def test_every_problem_is_reported_at_once() -> None:
    playbook = playbook_with(
        count={"type": "integer", "max": 10},
        mode={"choices": ["fast", "slow"]},
        region={"required": True},
    )

    reason = error_of(playbook, {"count": "99", "mode": "medium", "colour": "red", "size": "xl"})

    assert reason == (
        "`colour` is not a parameter of demo (parameters: `count`, `mode`, `region`); "
        "`size` is not a parameter of demo (parameters: `count`, `mode`, `region`); "
        "`count`: 99 is above the maximum 10; "
        "`mode`: 'medium' is not one of: fast, slow; "
        "`region` is required (a string)"
    )


def test_defaults_fill_in_what_was_not_given() -> None:
    playbook = playbook_with(
        index_name={"default": "knowledge_base"},
        cache_types={
            "type": "list",
            "choices": ["query", "request", "fielddata"],
            "default": ["query", "request"],
        },
        full_refresh={"type": "boolean", "default": False},
        threshold={"type": "number", "default": 0.5},
        note={},
    )

    assert resolve_params(playbook, {"index_name": "kb"}) == {
        "index_name": "kb",
        "cache_types": ["query", "request"],
        "full_refresh": False,
        "threshold": 0.5,
        "note": None,
    }


def test_defaults_written_as_text_are_typed_like_given_values() -> None:
    playbook = playbook_with(
        count={"type": "integer", "default": "5"},
        force={"type": "boolean", "default": "yes"},
        models={"type": "list", "default": "a, b"},
    )

    assert resolve_params(playbook, {}) == {"count": 5, "force": True, "models": ["a", "b"]}

"""Conditions as people read them: the words cards, help and dry runs use."""

from __future__ import annotations

import pytest

from playbooks.describe import describe_condition


@pytest.mark.parametrize(
    ("condition", "said"),
    [
        ("{{ params.big }}", "`big` is true"),
        ("{{ not params.big }}", "`big` is false"),
        ("params.big", "`big` is true"),
        ("{{ steps.monitor.failed }}", "`monitor` failed"),
        ("{{ steps.monitor.ok }}", "`monitor` succeeded"),
        ("{{ steps.monitor.skipped }}", "`monitor` was skipped"),
        ("{{ not steps.monitor.ok }}", "`monitor` did not succeed"),
        ("{{ not steps.monitor.failed }}", "`monitor` did not fail"),
        ("{{ not steps.monitor.skipped }}", "`monitor` was not skipped"),
    ],
)
def test_a_condition_on_a_param_or_an_earlier_step_reads_as_words(
    condition: str, said: str
) -> None:
    assert describe_condition(condition) == said


def test_a_chain_of_and_or_of_or_is_said_part_by_part() -> None:
    assert describe_condition("{{ steps.lookup.ok and params.n > 2 }}") == (
        "`lookup` succeeded and `n > 2`"
    )
    assert describe_condition(
        "{{ not steps.quality.ok or steps.quality.value < params.min_score }}"
    ) == ("`quality` did not succeed or `steps.quality.value < min_score`")


def test_anything_else_is_the_expression_without_braces_or_params_prefixes() -> None:
    assert describe_condition("{{ params.mode == 'full' }}") == "`mode == 'full'`"
    # Grouping or a mix of `and` and `or` is shown whole: splitting it could change its sense.
    assert describe_condition("{{ (steps.a.ok or steps.b.ok) and params.go }}") == (
        "`(steps.a.ok or steps.b.ok) and go`"
    )
    assert describe_condition("{{ steps.a.ok and steps.b.ok or params.go }}") == (
        "`steps.a.ok and steps.b.ok or go`"
    )


def test_a_constant_condition_is_always_or_never() -> None:
    assert describe_condition(True) == "always"
    assert describe_condition(False) == "never"

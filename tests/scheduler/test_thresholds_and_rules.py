"""Metric thresholds in both directions, and when an alert rule posts: on entering, at most
every `repeat` while bad, at once when it gets worse, once on recovery, never on unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config_schedules import MetricConfig, parse_threshold
from scheduler.alert_rules import AlertState, Post, step
from scheduler.thresholds import Level, Reading, judge, unknown

SOURCE = {"http": {"url": "http://kpis", "field": "v"}}
PAR_90 = MetricConfig(
    title="PAR 90", unit="%", source=SOURCE, target="< 3.0%", warning="> 3.0%", critical="> 5.0%"
)
COLLECTION_RATE = MetricConfig(
    title="Collection rate",
    unit="%",
    source=SOURCE,
    target="> 1.5%",
    warning="< 1.5%",
    critical="< 1.0%",
)
ERROR_COUNT = MetricConfig(
    title="Error count", source=SOURCE, target="0", warning="> 5", critical="> 10"
)


@pytest.mark.parametrize(
    ("value", "level", "off_target"),
    [(2.1, Level.OK, False), (3.0, Level.OK, True), (3.4, Level.WARNING, True),
     (5.0, Level.WARNING, True), (5.01, Level.CRITICAL, True)],
)  # fmt: skip
def test_par_90_is_bad_when_high(value: float, level: Level, off_target: bool) -> None:
    reading = judge("par_90", PAR_90, value)
    assert (reading.level, reading.off_target) == (level, off_target)


@pytest.mark.parametrize(
    ("value", "level"),
    [(2.0, Level.OK), (1.5, Level.OK), (1.2, Level.WARNING), (0.8, Level.CRITICAL)],
)
def test_collection_rate_is_bad_when_low(value: float, level: Level) -> None:
    assert judge("collection_rate", COLLECTION_RATE, value).level is level


def test_a_bare_number_is_a_target_of_exactly_that() -> None:
    assert judge("errors", ERROR_COUNT, 0).off_target is False
    assert judge("errors", ERROR_COUNT, 3).off_target is True
    assert judge("errors", ERROR_COUNT, 3).level is Level.OK
    assert judge("errors", ERROR_COUNT, 11).level is Level.CRITICAL


def test_thresholds_read_as_the_runbook_writes_them() -> None:
    assert parse_threshold("> 12min").unit == "min"
    assert parse_threshold("< 6hrs").holds(5.9)
    assert parse_threshold(">=.5").holds(0.5)
    with pytest.raises(ValueError, match="cannot read the threshold 'about five'"):
        parse_threshold("about five")


def test_a_value_that_is_not_a_number_is_unknown_never_ok() -> None:
    assert judge("par_90", PAR_90, float("nan")).level is Level.UNKNOWN


T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def reading(level: Level, value: float = 1.0) -> Reading:
    return Reading("par_90", level, value)


def run_rule(
    levels: list[Level | None], *, when: str = "critical", every: float = 900, repeat: float = 3600
) -> list[Post | None]:
    """Evaluate a rule every ``every`` seconds on these levels (None: the source failed)."""
    state, posts = AlertState(), []
    for index, level in enumerate(levels):
        now = T0 + timedelta(seconds=every * index)
        seen = unknown("par_90", "down") if level is None else reading(level)
        moved = step(state, seen, when=when, repeat=repeat, now=now)
        state = moved.state
        posts.append(moved.post)
    return posts


def test_a_rule_posts_when_its_metric_enters_critical_then_at_most_every_repeat() -> None:
    crit, ok = Level.CRITICAL, Level.OK
    # Every 15 minutes with repeat 1h: posted at 0, again at 60 and 120 minutes.
    posts = run_rule([ok, crit, crit, crit, crit, crit, crit, crit, crit, crit])
    assert posts == [None, Post.ENTERED, None, None, None, Post.STILL, None, None, None, Post.STILL]


def test_a_rule_posts_once_when_the_metric_recovers() -> None:
    crit, ok = Level.CRITICAL, Level.OK
    assert run_rule([crit, crit, ok, ok, ok]) == [Post.ENTERED, None, Post.RECOVERED, None, None]


def test_a_warning_rule_posts_at_once_when_it_gets_worse() -> None:
    warn, crit = Level.WARNING, Level.CRITICAL
    assert run_rule([warn, warn, crit, crit], when="warning") == [
        Post.ENTERED,
        None,
        Post.WORSENED,
        None,
    ]


def test_a_critical_rule_ignores_warnings() -> None:
    assert run_rule([Level.WARNING, Level.WARNING, Level.OK]) == [None, None, None]


def test_a_failing_source_neither_alerts_nor_recovers() -> None:
    crit, ok = Level.CRITICAL, Level.OK
    assert run_rule([crit, None, None, ok]) == [Post.ENTERED, None, None, Post.RECOVERED]
    assert run_rule([None, None]) == [None, None]

"""When schedules fire: cron in a time zone across DST changes, intervals every replica
computes alike, and what is due after a downtime."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config_schedules import ScheduleConfig
from scheduler.triggers import build_trigger, fires_between, latest_due, next_fire


def trigger(**config: Any) -> Any:
    config.setdefault("digest", {"channel": "fintech-reports"})
    return build_trigger(ScheduleConfig(**config))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_cron_without_a_time_zone_fires_in_utc() -> None:
    daily = trigger(cron="0 8 * * *")
    assert next_fire(daily, utc(2026, 11, 22, 7, 59)) == utc(2026, 11, 22, 8, 0)
    assert next_fire(daily, utc(2026, 11, 22, 8, 0)) == utc(2026, 11, 23, 8, 0)


def test_a_cron_in_a_time_zone_fires_at_that_zones_wall_clock_time() -> None:
    daily = trigger(cron="0 9 * * *", timezone="Europe/London")
    # Winter (GMT) then summer (BST): 09:00 in London is 09:00 then 08:00 UTC.
    assert next_fire(daily, utc(2026, 1, 10, 0, 0)) == utc(2026, 1, 10, 9, 0)
    assert next_fire(daily, utc(2026, 7, 10, 0, 0)) == utc(2026, 7, 10, 8, 0)


def test_the_maintenance_calendar_fires_on_the_seed_days() -> None:
    weekly = trigger(cron="0 2 * * mon")
    monthly = trigger(cron="0 2 1-7 * mon")  # APScheduler ANDs the day fields: first Monday
    quarterly = trigger(cron="0 2 1 1,4,7,10 *")
    year = (utc(2026, 1, 1), utc(2026, 12, 31, 23, 59))

    assert [f.day for f in fires_between(weekly, *year)][:3] == [5, 12, 19]
    assert all(f.weekday() == 0 and f.hour == 2 for f in fires_between(weekly, *year))
    assert [(f.month, f.day) for f in fires_between(monthly, *year)] == [
        (1, 5), (2, 2), (3, 2), (4, 6), (5, 4), (6, 1),
        (7, 6), (8, 3), (9, 7), (10, 5), (11, 2), (12, 7),
    ]  # fmt: skip
    assert list(fires_between(quarterly, *year)) == [
        utc(2026, 1, 1, 2), utc(2026, 4, 1, 2), utc(2026, 7, 1, 2), utc(2026, 10, 1, 2)
    ]  # fmt: skip


def test_a_local_time_skipped_when_clocks_go_forward_fires_an_hour_later_once() -> None:
    # New York, 8 March 2026: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist.
    daily = trigger(cron="30 2 * * *", timezone="America/New_York")
    fires = list(fires_between(daily, utc(2026, 3, 7), utc(2026, 3, 10)))
    assert fires == [
        utc(2026, 3, 7, 7, 30),  # 02:30 EST
        utc(2026, 3, 8, 7, 30),  # the missing 02:30, as APScheduler 3 runs it: 03:30 EDT
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]


def test_a_local_time_repeated_when_clocks_go_back_fires_in_each_of_its_hours() -> None:
    # New York, 1 November 2026: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    daily = trigger(cron="30 1 * * *", timezone="America/New_York")
    fires = list(fires_between(daily, utc(2026, 10, 31), utc(2026, 11, 3)))
    assert fires == [
        utc(2026, 10, 31, 5, 30),
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT
        utc(2026, 11, 1, 6, 30),  # 01:30 EST, an hour later
        utc(2026, 11, 2, 6, 30),
    ]
    # Asked from inside the repeated hour, the next fire is never an earlier one.
    assert next_fire(daily, utc(2026, 11, 1, 6, 0)) == utc(2026, 11, 1, 6, 30)
    assert next_fire(daily, utc(2026, 11, 1, 6, 30)) == utc(2026, 11, 2, 6, 30)


def test_hourly_fires_stay_an_hour_apart_across_both_dst_changes() -> None:
    hourly = trigger(cron="0 * * * *", timezone="Europe/London")
    for start in (utc(2026, 3, 28, 22), utc(2026, 10, 24, 22)):
        fires = list(fires_between(hourly, start, start + timedelta(hours=6)))
        gaps = {b - a for a, b in itertools.pairwise(fires)}
        assert gaps == {timedelta(hours=1)}, fires


def test_interval_fire_times_are_the_same_whenever_a_replica_starts() -> None:
    every = trigger(every="15m")
    seen_by_first = next_fire(every, utc(2026, 11, 22, 10, 7, 3))
    seen_by_second = next_fire(every, utc(2026, 11, 22, 10, 14, 59, 999999))
    assert seen_by_first == seen_by_second == utc(2026, 11, 22, 10, 15)


def test_an_interval_counts_from_a_declared_start() -> None:
    every = trigger(every="1h", start="2026-01-01T00:20:00Z")
    assert next_fire(every, utc(2026, 11, 22, 10, 0)) == utc(2026, 11, 22, 10, 20)
    assert latest_due(every, utc(2026, 11, 22, 10, 25), grace=600) == utc(2026, 11, 22, 10, 20)


def test_after_a_downtime_only_the_latest_fire_within_grace_is_due() -> None:
    every = trigger(every="5m")
    # Down from 10:00 to 10:43: nine fires were missed; one is due, the latest.
    assert latest_due(every, utc(2026, 11, 22, 10, 43), grace=600) == utc(2026, 11, 22, 10, 40)
    daily = trigger(cron="0 8 * * *")
    assert latest_due(daily, utc(2026, 11, 22, 8, 30), grace=3600) == utc(2026, 11, 22, 8, 0)
    # Past the grace window, nothing: the next fire comes at its time.
    assert latest_due(daily, utc(2026, 11, 22, 9, 30), grace=3600) is None


@pytest.mark.parametrize("cron", ["0 2 * * 1", "0 2 * * 0-4", "0 2 1-7 * 1"])
def test_a_numeric_weekday_is_refused(cron: str) -> None:
    with pytest.raises(ValueError, match="write weekdays as names"):
        ScheduleConfig(cron=cron, digest={"channel": "x"})

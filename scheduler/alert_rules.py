"""An alert rule over a metric: when to post, from its stored state and a new reading. Pure.

    ok ──(enters warning/critical)──> bad: post "entered"
    bad ──(worse: warning → critical)──> bad: post "worsened" at once
    bad ──(still bad, ``repeat`` since the last post)──> bad: post "still"
    bad ──(back to ok)──> ok: post "recovered", once
    any ──(the source fails: unknown)──> unchanged, nothing posted

A rule with ``when: warning`` is bad at warning or critical; ``when: critical`` only at
critical. The state is stored (bot.db.alerts), so restarts and replicas agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from scheduler.thresholds import Level, Reading

__all__ = ["AlertState", "Post", "Transition", "is_bad", "step"]


class Post(StrEnum):
    ENTERED = "entered"
    WORSENED = "worsened"
    STILL = "still"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class AlertState:
    level: Level = Level.UNKNOWN
    bad: bool = False
    bad_since: datetime | None = None
    last_posted_at: datetime | None = None


@dataclass(frozen=True)
class Transition:
    state: AlertState
    post: Post | None = None


def is_bad(level: Level, when: str) -> bool:
    """Whether ``level`` is bad for a rule that fires at ``when`` (warning | critical)."""
    floor = Level.CRITICAL if when == "critical" else Level.WARNING
    return level.rank >= floor.rank


def step(
    state: AlertState, reading: Reading, *, when: str, repeat: float, now: datetime
) -> Transition:
    """The rule's next state and what to post (None: nothing) for ``reading`` at ``now``."""
    if reading.level is Level.UNKNOWN:
        return Transition(state)
    bad = is_bad(reading.level, when)
    moved = replace(state, level=reading.level)
    if bad and not state.bad:
        return Transition(replace(moved, bad=True, bad_since=now, last_posted_at=now), Post.ENTERED)
    if bad:
        if state.level is not Level.UNKNOWN and reading.level.rank > state.level.rank:
            return Transition(replace(moved, last_posted_at=now), Post.WORSENED)
        last = state.last_posted_at
        if last is None or now - last >= timedelta(seconds=repeat):
            return Transition(replace(moved, last_posted_at=now), Post.STILL)
        return Transition(moved)
    if state.bad:
        return Transition(
            replace(moved, bad=False, bad_since=None, last_posted_at=now), Post.RECOVERED
        )
    return Transition(moved)

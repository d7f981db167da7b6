"""What a fire does: post a digest, start a playbook, or evaluate alert rules.

Each job gathers its inputs (the database, metric sources, the schedule's previous fire),
hands them to a pure function (scheduler.digest, scheduler.alert_rules) and posts what
comes back through the chats of the connected surfaces. A job returns an :class:`Outcome`;
the runner records it on the fire.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from bot.chat import Actor, Chat, Invocation, MessageRef, Place, Report
from bot.commands import StartRun
from bot.config import Config
from bot.config_schedules import AlertRule
from bot.db.alerts import AlertStateRecord, AlertStore
from bot.db.digests import DigestQueries
from bot.db.records import RunRecord
from bot.db.schedules import FireRecord, ScheduleStore
from bot.policy import role_identities
from bot.service import ChatOpsService
from playbooks.errors import ChatOpsError
from scheduler.alert_reports import metric_alert, run_alert
from scheduler.alert_rules import AlertState, step
from scheduler.digest import MetricRow, UpcomingFire, compose_digest
from scheduler.metrics import MetricReader
from scheduler.model import Schedule
from scheduler.posting import channel_places, run_place
from scheduler.thresholds import Level, Reading

__all__ = ["Jobs", "Outcome"]

log = structlog.get_logger(__name__)

# A run-watching rule posts at most this many runs per evaluation, then says how many more.
_RUNS_PER_CHECK = 10
_POST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    summary: str
    result: dict[str, Any] = field(default_factory=dict)


class Jobs:
    def __init__(
        self,
        *,
        service: ChatOpsService,
        fires: ScheduleStore,
        alerts: AlertStore,
        digests: DigestQueries,
        reader: MetricReader,
        upcoming: Callable[[datetime], Awaitable[Sequence[UpcomingFire]]],
    ) -> None:
        self.service = service
        self.fires = fires
        self.alerts = alerts
        self.digests = digests
        self.reader = reader
        self.upcoming = upcoming

    @property
    def config(self) -> Config:
        return self.service.deps.config

    def _now(self) -> datetime:
        return self.service.deps.clock.now()

    # -- digest -------------------------------------------------------------------------

    async def digest(self, schedule: Schedule, fire: FireRecord) -> Outcome:
        spec = schedule.config.digest
        assert spec is not None
        places = channel_places(spec.channel, self.service.chats, self.config)
        if not places:
            return Outcome(False, f"no connected surface has the channel #{spec.channel}")
        end = fire.fire_time
        keys = list(self.config.metrics) if spec.metrics is None else spec.metrics
        facts, readings, previous, upcoming = await asyncio.gather(
            self.digests.facts(end - timedelta(seconds=spec.period), end, items=spec.items),
            self.reader.read_all(keys),
            self.fires.previous_result(schedule.id, before=fire),
            self.upcoming(self._now()),
        )
        earlier: Mapping[str, Any] = previous.get("metrics", {})
        rows = [
            MetricRow(key, self.config.metrics[key], readings[key], _float(earlier.get(key)))
            for key in keys
        ]
        title = "Daily summary" if spec.period == 86400 else "Summary"
        report = compose_digest(
            title=f"{title} · {schedule.id}",
            facts=facts,
            metrics=rows,
            upcoming=upcoming,
        )
        values = {key: r.value for key, r in readings.items() if r.value is not None}
        # A metric unknown now keeps the value it had, so the next digest compares with it.
        remembered = {**{k: v for k, v in earlier.items() if k in keys}, **values}
        posted, failed = await self._post(places, lambda _chat: report)
        summary = _where(spec.channel, posted, failed)
        return Outcome(bool(posted), summary, {"metrics": remembered})

    # -- maintenance --------------------------------------------------------------------

    async def playbook(self, schedule: Schedule, fire: FireRecord) -> Outcome:
        spec = schedule.config.playbook
        assert spec is not None
        place = run_place(spec, self.service.chats, self.config)
        if place is None:
            where = f" on {spec.surface}" if spec.surface else ""
            return Outcome(False, f"no connected surface{where} has the channel #{spec.channel}")
        actor = Actor.for_schedule(place.surface, schedule.id)
        command = StartRun(spec.name, dict(spec.params))
        run = await self.service.start_scheduled(
            Invocation(actor, place, f"/playbook {spec.name}"), command
        )
        if run is None:
            return Outcome(False, f"the run card of `{spec.name}` could not be posted")
        state = "waits for approval" if run.needs_approval else "started"
        return Outcome(True, f"run #{run.id} of `{spec.name}` in #{spec.channel}: {state}")

    # -- alert rules --------------------------------------------------------------------

    async def alert_rules(self, schedule: Schedule, fire: FireRecord) -> Outcome:
        rule_ids = list(schedule.config.alerts or [])
        rules = {rule_id: self.config.alerts[rule_id] for rule_id in rule_ids}
        states = await self.alerts.states(rule_ids)
        metric_keys = [rule.metric for rule in rules.values() if rule.metric is not None]
        readings = await self.reader.read_all(metric_keys)
        notes: list[str] = []
        for rule_id, rule in rules.items():
            state = states[rule_id]
            if rule.metric is not None:
                notes.append(await self._metric_rule(rule_id, rule, state, readings[rule.metric]))
            else:
                notes.append(await self._run_rule(rule_id, rule, state))
        failed = [note for note in notes if note.startswith("failed")]
        return Outcome(
            not failed, "; ".join(f"`{r}` {n}" for r, n in zip(rules, notes, strict=True))
        )

    async def _metric_rule(
        self, rule_id: str, rule: AlertRule, stored: AlertStateRecord, reading: Reading
    ) -> str:
        assert rule.metric is not None
        now = self._now()
        before = AlertState(
            Level(stored.level), stored.bad, stored.bad_since, stored.last_posted_at
        )
        moved = step(before, reading, when=rule.when, repeat=rule.repeat, now=now)
        if reading.level is Level.UNKNOWN:
            return f"unknown ({reading.reason})"
        if moved.state == before:
            return reading.level.value
        saved = await self.alerts.save(
            stored,
            level=moved.state.level.value,
            bad=moved.state.bad,
            bad_since=moved.state.bad_since,
            last_posted_at=moved.state.last_posted_at,
            watermark=stored.watermark,
        )
        if saved is None:
            return f"{reading.level.value} (evaluated elsewhere at the same time)"
        if moved.post is None:
            return reading.level.value
        post = moved.post
        bad_for = (now - before.bad_since).total_seconds() if before.bad_since else None
        metric = self.config.metrics[rule.metric]

        def report(chat: Chat) -> Report:
            return metric_alert(
                rule_id=rule_id,
                rule=rule,
                metric_key=rule.metric or "",
                metric=metric,
                reading=reading,
                post=post,
                bad_for=bad_for,
                mentions=self._mentions(rule, chat),
                suggestion_ref=saved.id,
            )

        posted, failed = await self._post(self._places(rule), report)
        if not posted:
            await self.alerts.forget_post(saved)
            return f"failed to post ({_where(rule.channel, posted, failed)})"
        return f"{reading.level.value}: posted {post.value} to #{rule.channel}"

    async def _run_rule(self, rule_id: str, rule: AlertRule, stored: AlertStateRecord) -> str:
        assert rule.runs is not None
        now = self._now()
        if stored.watermark is None:
            # First look: only runs that end from now on are news.
            await self.alerts.save(
                stored,
                level=stored.level,
                bad=False,
                bad_since=None,
                last_posted_at=stored.last_posted_at,
                watermark=now,
            )
            return "watching from now on"
        runs = await self.digests.ended_runs(
            playbooks=rule.runs.playbooks,
            statuses=rule.runs.status,
            after=stored.watermark,
            until=now,
            limit=_RUNS_PER_CHECK + 1,
        )
        if not runs:
            return "no new runs to report"
        shown = runs[:_RUNS_PER_CHECK]
        last = shown[-1].finished_at or now
        saved = await self.alerts.save(
            stored,
            level=stored.level,
            bad=stored.bad,
            bad_since=stored.bad_since,
            last_posted_at=now,
            watermark=last,
        )
        if saved is None:
            return "evaluated elsewhere at the same time"
        reached = 0
        for run in shown:
            report = functools.partial(self._run_report, rule_id, rule, run, ref=saved.id)
            posted, _failed = await self._post(self._places(rule), report)
            reached += bool(posted)
        more = " (more next time)" if len(runs) > len(shown) else ""
        if not reached:
            return f"failed to post {len(shown)} runs to #{rule.channel}"
        return f"posted {reached} runs to #{rule.channel}{more}"

    def _run_report(
        self, rule_id: str, rule: AlertRule, run: RunRecord, chat: Chat, *, ref: int
    ) -> Report:
        return run_alert(
            rule_id=rule_id,
            rule=rule,
            run=run,
            mentions=self._mentions(rule, chat),
            suggestion_ref=ref,
        )

    def _places(self, rule: AlertRule) -> list[tuple[Chat, Place]]:
        return channel_places(rule.channel, self.service.chats, self.config)

    def _mentions(self, rule: AlertRule, chat: Chat) -> list[str]:
        identities = role_identities(rule.mention, chat.surface, self.config)
        shown = [chat.mention(identity) for identity in identities]
        if rule.mention and not shown:
            shown = [f"({', '.join(rule.mention)}: nobody on {chat.surface} holds it)"]
        return shown

    # -- posting ------------------------------------------------------------------------

    async def _post(
        self, places: Sequence[tuple[Chat, Place]], build: Callable[[Chat], Report]
    ) -> tuple[list[MessageRef], list[str]]:
        """Post to every place; (what was posted, why each other one failed)."""

        async def one(chat: Chat, place: Place) -> MessageRef:
            async with asyncio.timeout(_POST_TIMEOUT):
                return await chat.post_report(place, build(chat))

        results = await asyncio.gather(
            *(one(chat, place) for chat, place in places), return_exceptions=True
        )
        posted: list[MessageRef] = []
        failed: list[str] = []
        for (chat, _place), result in zip(places, results, strict=True):
            if isinstance(result, MessageRef):
                posted.append(result)
            elif isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                log.warning("scheduled_post_failed", surface=chat.surface, error=repr(result))
                failed.append(f"{chat.surface}: {_why(result)}")
        return posted, failed


def _where(channel: str, posted: Sequence[MessageRef], failed: Sequence[str]) -> str:
    parts = []
    if posted:
        surfaces = ", ".join(sorted({ref.surface for ref in posted}))
        parts.append(f"posted to #{channel} on {surfaces}")
    if failed:
        parts.append("not posted on " + "; ".join(failed))
    return "; ".join(parts)


def _why(exc: BaseException) -> str:
    if isinstance(exc, ChatOpsError):
        return exc.reason
    if isinstance(exc, TimeoutError):
        return f"no answer within {_POST_TIMEOUT:.0f}s"
    return f"{type(exc).__name__}: {exc}"[:200]


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

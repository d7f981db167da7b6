"""The config's ``metrics``, ``alerts`` and ``schedules``: their shape and what each may name.

A metric is read from one source (a Prometheus instant query, a field of an HTTP JSON
answer, or a SQL scalar on a named connection) and judged against thresholds written as
people write them: ``"< 3.0%"``, ``"> 12min"``, ``"0"`` (exactly zero). An alert rule watches
a metric (it is bad at ``warning`` or at ``critical``) or the runs of named playbooks; a
schedule does one thing on a cron or an interval: post a digest, start a playbook, or
evaluate alert rules. The reference is docs/scheduler.md.

Pure: no I/O. APScheduler's cron parser is imported only to check a cron expression.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    field_validator,
    model_validator,
)

from playbooks.durations import Duration
from playbooks.yamlsource import Loc

__all__ = [
    "SURFACES",
    "AlertRule",
    "DigestJob",
    "HttpSource",
    "MetricConfig",
    "MetricSource",
    "PlaybookJob",
    "PrometheusSource",
    "RunWatch",
    "ScheduleConfig",
    "SqlSource",
    "Suggestion",
    "Threshold",
    "check_cron",
    "parse_threshold",
    "playbook_references",
    "reference_problems",
]

SURFACES = ("slack", "telegram", "shell")
"""The surfaces a channel or role names ids for, in the order a run's card prefers them."""

_THRESHOLD = re.compile(
    r"^\s*(?P<op><=|>=|==|=|<|>)?\s*(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>\S.*?)?\s*$"
)
_NUMERIC_WEEKDAY = re.compile(r"(?<![A-Za-z])\d")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Threshold:
    """``< 3.0%``: holds for values below 3.0 (``unit`` is what was written after the number)."""

    op: str  # < <= > >= =
    value: float
    unit: str
    text: str

    def holds(self, value: float) -> bool:
        match self.op:
            case "<":
                return value < self.value
            case "<=":
                return value <= self.value
            case ">":
                return value > self.value
            case ">=":
                return value >= self.value
            case _:
                return math.isclose(value, self.value, rel_tol=1e-9, abs_tol=1e-12)

    def __str__(self) -> str:
        return self.text


def parse_threshold(value: object) -> Threshold:
    """A threshold as written in the config; a bare number means exactly that number."""
    if isinstance(value, Threshold):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a threshold such as `< 3.0` or `> 5%`, got {value!r}")
    text = str(value).strip()
    match = _THRESHOLD.match(text)
    if match is None:
        raise ValueError(
            f"cannot read the threshold {text!r}: write an operator (<, <=, >, >=, =), "
            "a number and optionally the metric's unit, e.g. `< 3.0%`"
        )
    op = {"==": "=", None: "="}.get(match.group("op"), match.group("op"))
    return Threshold(op, float(match.group("value")), (match.group("unit") or "").strip(), text)


ThresholdField = Annotated[
    Threshold, PlainValidator(parse_threshold), PlainSerializer(lambda t: t.text, return_type=str)
]


def check_cron(expression: str) -> str:
    """``expression`` if APScheduler 3 reads it as a 5-field crontab; ValueError why not.

    Weekdays must be names (``mon``…``sun``): APScheduler 3 reads ``0`` as Monday where
    crontab reads it as Sunday, so a number would silently fire on the wrong day.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day month weekday), "
            f"`{expression}` has {len(fields)}"
        )
    if _NUMERIC_WEEKDAY.search(fields[4]):
        raise ValueError(
            f"write weekdays as names (mon, tue … sun), not `{fields[4]}`: APScheduler reads "
            "0 as Monday where crontab reads it as Sunday"
        )
    try:
        CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"cannot read the cron expression `{expression}`: {exc}") from None
    return expression


# -- metrics ----------------------------------------------------------------------------


class HttpSource(_Strict):
    """GET ``url`` (templates: ``env``, ``secrets``); the value is ``field`` of the JSON."""

    url: str = Field(min_length=1)
    field: str = Field(min_length=1, description="a dotted path: `kpis.par_90`, `items.0.v`")
    headers: dict[str, str] = Field(default_factory=dict)


class PrometheusSource(_Strict):
    """An instant query; ``url`` defaults to PROMETHEUS_URL."""

    query: str = Field(min_length=1)
    url: str | None = None


class SqlSource(_Strict):
    """One scalar from a query on a named connection (``connections`` in the config)."""

    connection: str = Field(min_length=1)
    query: str = Field(min_length=1)


class MetricSource(_Strict):
    http: HttpSource | None = None
    prometheus: PrometheusSource | None = None
    sql: SqlSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MetricSource:
        given = [name for name in ("http", "prometheus", "sql") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one source: `http`, `prometheus` or `sql`")
        return self


class MetricConfig(_Strict):
    title: str = ""
    unit: str = ""
    source: MetricSource
    timeout: Duration = Field(default=10.0, gt=0)
    target: ThresholdField | None = None
    warning: ThresholdField | None = None
    critical: ThresholdField | None = None


# -- alert rules ------------------------------------------------------------------------


RunEnd = Literal["failed", "rolled_back", "interrupted", "expired", "denied"]


def _failures() -> list[RunEnd]:
    return ["failed", "rolled_back"]


class RunWatch(_Strict):
    """Runs of these playbooks ending in one of these statuses."""

    playbooks: list[str] = Field(min_length=1)
    status: list[RunEnd] = Field(default_factory=_failures, min_length=1)


class Suggestion(_Strict):
    """A button opening this playbook's run card, requested by whoever presses it."""

    playbook: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class AlertRule(_Strict):
    title: str = ""
    metric: str | None = None
    when: Literal["warning", "critical"] = "critical"
    runs: RunWatch | None = None
    channel: str
    mention: list[str] = Field(default_factory=list)
    repeat: Duration = Field(default=3600.0, gt=0)
    suggest: Suggestion | None = None

    @model_validator(mode="after")
    def _watches_one_thing(self) -> AlertRule:
        if (self.metric is None) == (self.runs is None):
            raise ValueError("an alert rule watches either a `metric` or `runs`, exactly one")
        return self


# -- schedules --------------------------------------------------------------------------


class DigestJob(_Strict):
    channel: str
    period: Duration = Field(default=86400.0, gt=0)
    metrics: list[str] | None = None  # None: every configured metric
    items: int = Field(default=5, ge=1, le=20)  # failures, approvals and slowest runs listed


class PlaybookJob(_Strict):
    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    channel: str
    surface: Literal["slack", "telegram", "shell"] | None = None


class ScheduleConfig(_Strict):
    cron: str | None = None
    every: Duration | None = Field(default=None, gt=0)
    start: datetime | None = None  # where `every` counts from; default: the epoch
    timezone: str = "UTC"
    grace: Duration = Field(default=600.0, ge=1)
    digest: DigestJob | None = None
    playbook: PlaybookJob | None = None
    alerts: list[str] | None = Field(default=None, min_length=1)
    allowed: list[str] = Field(default_factory=list)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone `{value}` (e.g. UTC, Europe/London)") from None
        return value

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _one_time_one_job(self) -> ScheduleConfig:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of `cron` or `every`")
        if self.start is not None and self.every is None:
            raise ValueError("`start` aligns an `every` schedule; a cron schedule has none")
        jobs = [name for name in ("digest", "playbook", "alerts") if getattr(self, name)]
        if len(jobs) != 1:
            raise ValueError("a schedule does exactly one thing: `digest`, `playbook` or `alerts`")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# -- what the sections name -------------------------------------------------------------


def reference_problems(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Every channel, role, metric and alert rule the three sections of the config file
    ``data`` (as parsed, before validation) name but do not define, and every threshold
    written in a unit that is not its metric's. Read from the raw document, so a section
    that fails validation elsewhere still has its names checked: every problem at once."""
    problems: list[tuple[Loc, str]] = []
    channels, roles = _keys(data, "channels"), _keys(data, "roles")
    metrics, alerts = _keys(data, "metrics"), _keys(data, "alerts")

    def named(loc: Loc, kind: str, name: Any, known: Collection[str]) -> None:
        if isinstance(name, str) and name not in known:
            defined = ", ".join(sorted(known)) or "none"
            problems.append((loc, f"no {kind} `{name}` in the config ({kind}s: {defined})"))

    def each(loc: Loc, kind: str, names: Any, known: Collection[str]) -> None:
        for index, name in enumerate(names if isinstance(names, list) else []):
            named((*loc, index), kind, name, known)

    for key, metric in _items(data, "metrics"):
        unit = str(metric.get("unit") or "")
        for level in ("target", "warning", "critical"):
            try:
                threshold = parse_threshold(metric[level])
            except (KeyError, ValueError):
                continue  # absent, or unreadable (validation says so)
            if threshold.unit and threshold.unit != unit:
                problems.append(
                    (
                        ("metrics", key, level),
                        f"`{threshold.text}` is in `{threshold.unit}` but the metric's unit is "
                        f"`{unit or '(none)'}`",
                    )
                )
    for key, rule in _items(data, "alerts"):
        named(("alerts", key, "metric"), "metric", rule.get("metric"), metrics)
        named(("alerts", key, "channel"), "channel", rule.get("channel"), channels)
        each(("alerts", key, "mention"), "role", rule.get("mention"), roles)
    for key, schedule in _items(data, "schedules"):
        digest, playbook = schedule.get("digest"), schedule.get("playbook")
        if isinstance(digest, Mapping):
            loc: Loc = ("schedules", key, "digest")
            named((*loc, "channel"), "channel", digest.get("channel"), channels)
            each((*loc, "metrics"), "metric", digest.get("metrics"), metrics)
        if isinstance(playbook, Mapping):
            loc = ("schedules", key, "playbook", "channel")
            named(loc, "channel", playbook.get("channel"), channels)
        each(("schedules", key, "alerts"), "alert rule", schedule.get("alerts"), alerts)
        each(("schedules", key, "allowed"), "role", schedule.get("allowed"), roles)
    return problems


def _keys(data: Mapping[str, Any], section: str) -> frozenset[str]:
    value = data.get(section)
    return frozenset(str(k) for k in value) if isinstance(value, Mapping) else frozenset()


def _items(data: Mapping[str, Any], section: str) -> list[tuple[str, Mapping[str, Any]]]:
    value = data.get(section)
    if not isinstance(value, Mapping):
        return []
    return [(str(k), v) for k, v in value.items() if isinstance(v, Mapping)]


def playbook_references(
    alerts: Mapping[str, AlertRule], schedules: Mapping[str, ScheduleConfig]
) -> list[tuple[Loc, str]]:
    """Every playbook the sections name, with where: checked against the catalog by
    ``chatops check`` and at start-up (the config alone does not know the catalog)."""
    found: list[tuple[Loc, str]] = []
    for key, rule in alerts.items():
        if rule.runs is not None:
            found += [
                (("alerts", key, "runs", "playbooks", i), name)
                for i, name in enumerate(rule.runs.playbooks)
            ]
        if rule.suggest is not None:
            found.append((("alerts", key, "suggest", "playbook"), rule.suggest.playbook))
    for key, schedule in schedules.items():
        if schedule.playbook is not None:
            found.append((("schedules", key, "playbook", "name"), schedule.playbook.name))
    return found

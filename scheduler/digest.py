"""The digest: runs, metric readings and upcoming fires in, a neutral Report out. Pure.

Every surface lays the same Report out its own way (Slack Block Kit fields, Telegram
HTML, console text); each run it lists links to its card's thread where the surface can.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.cards import STATUS_EMOJI
from bot.chat import CardField, Report, ReportLine, ReportSection
from bot.config_schedules import MetricConfig
from bot.db.digests import DigestFacts
from bot.db.records import RunRecord
from bot.lifecycle import RunStatus
from playbooks.durations import format_duration
from scheduler.thresholds import Level, Reading

__all__ = [
    "MetricRow",
    "UpcomingFire",
    "compose_digest",
    "format_change",
    "format_value",
    "metric_title",
]

_OUTCOMES = [
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.ROLLED_BACK,
    RunStatus.CANCELLED,
    RunStatus.DENIED,
    RunStatus.EXPIRED,
    RunStatus.INTERRUPTED,
    RunStatus.RUNNING,
    RunStatus.PENDING,
]
_PLAYBOOK_LINES = 10
_ERROR_CHARS = 120


@dataclass(frozen=True)
class MetricRow:
    """One metric as the digest shows it: its reading and the previous digest's value."""

    key: str
    config: MetricConfig
    reading: Reading
    previous: float | None = None


@dataclass(frozen=True)
class UpcomingFire:
    schedule_id: str
    what: str
    at: datetime
    paused: bool = False


def metric_title(key: str, config: MetricConfig) -> str:
    return config.title or key


def format_value(value: float, unit: str) -> str:
    """``2.1%``, ``12 min``, ``1,234``: at most two decimals, the unit after."""
    number = f"{value:,.2f}".rstrip("0").rstrip(".")
    if not unit:
        return number
    return f"{number}{unit}" if unit in ("%", "‰") else f"{number} {unit}"


def format_change(value: float, previous: float | None, unit: str) -> str:
    """Since the previous digest: ``▲ 0.3%``, ``▼ 2 min``, ``= same`` or ``(first reading)``."""
    if previous is None:
        return "(first reading)"
    delta = value - previous
    if abs(delta) < 1e-9:
        return "= same"
    return f"{'▲' if delta > 0 else '▼'} {format_value(abs(delta), unit)}"


def compose_digest(
    *,
    title: str,
    facts: DigestFacts,
    metrics: Sequence[MetricRow],
    upcoming: Sequence[UpcomingFire],
) -> Report:
    """The digest of ``facts`` (one period), ``metrics`` and the next ``upcoming`` fires."""
    outcomes: Counter[RunStatus] = Counter()
    by_playbook: dict[str, Counter[RunStatus]] = defaultdict(Counter)
    for tally in facts.tallies:
        outcomes[tally.status] += tally.count
        by_playbook[tally.playbook][tally.status] += tally.count
    total = sum(outcomes.values())
    sections = [
        _outcomes(outcomes),
        _playbooks(by_playbook),
        _failures(facts.failures, outcomes),
        _approvals(facts, outcomes),
        _slowest(facts.slowest),
        _metrics(metrics),
        _upcoming(upcoming),
    ]
    return Report(
        title=f"📊 {title}",
        summary=_summary(total, outcomes, metrics),
        sections=[section for section in sections if section is not None],
        footer=f"Period: {_at(facts.start)} → {_at(facts.end)}",
    )


def _summary(total: int, outcomes: Counter[RunStatus], metrics: Sequence[MetricRow]) -> str:
    parts = [f"{total:,} run{'s' if total != 1 else ''}"]
    bad = outcomes[RunStatus.FAILED] + outcomes[RunStatus.ROLLED_BACK]
    if total:
        parts.append(f"{bad:,} failed or rolled back")
    levels = Counter(row.reading.level for row in metrics)
    for level in (Level.CRITICAL, Level.WARNING, Level.UNKNOWN):
        if levels[level]:
            parts.append(f"{levels[level]} metric{'s' if levels[level] > 1 else ''} {level}")
    if metrics and not any(levels[level] for level in (Level.CRITICAL, Level.WARNING)):
        parts.append("no metric past its warning line")
    return " · ".join(parts)


def _outcomes(outcomes: Counter[RunStatus]) -> ReportSection:
    fields = [
        CardField(f"{STATUS_EMOJI[status]} {status.value.replace('_', ' ')}", f"{count:,}")
        for status in _OUTCOMES
        if (count := outcomes[status])
    ]
    lines = [] if fields else [ReportLine("No runs in this period.")]
    return ReportSection("Runs by outcome", fields, lines)


def _playbooks(by_playbook: Mapping[str, Counter[RunStatus]]) -> ReportSection | None:
    if not by_playbook:
        return None
    ranked = sorted(by_playbook.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    lines = []
    for name, counts in ranked[:_PLAYBOOK_LINES]:
        detail = " · ".join(
            f"{STATUS_EMOJI[status]} {counts[status]:,}" for status in _OUTCOMES if counts[status]
        )
        lines.append(ReportLine(f"`{name}`: {sum(counts.values()):,} ({detail})"))
    if len(ranked) > _PLAYBOOK_LINES:
        rest = ranked[_PLAYBOOK_LINES:]
        runs = sum(sum(counts.values()) for _, counts in rest)
        lines.append(ReportLine(f"… {len(rest)} more playbooks, {runs:,} runs"))
    return ReportSection("Runs by playbook", lines=lines)


def _failures(runs: Sequence[RunRecord], outcomes: Counter[RunStatus]) -> ReportSection | None:
    total = outcomes[RunStatus.FAILED] + outcomes[RunStatus.ROLLED_BACK]
    if not total:
        return None
    lines = [
        _run_line(run, f"{_verb(run)} {_at(run.finished_at or run.created_at)}") for run in runs
    ]
    if total > len(runs):
        lines.append(ReportLine(f"… {total - len(runs):,} more (`/playbook history`)"))
    return ReportSection(f"Failures and rollbacks ({total:,})", lines=lines)


def _approvals(facts: DigestFacts, outcomes: Counter[RunStatus]) -> ReportSection:
    expired_total = outcomes[RunStatus.EXPIRED]
    fields = [
        CardField("🟡 Waiting now", f"{facts.pending_total:,}"),
        CardField("⌛ Expired in the period", f"{expired_total:,}"),
    ]
    lines = []
    for run in facts.pending:
        expires = f", expires {_at(run.expires_at)}" if run.expires_at else ""
        lines.append(_run_line(run, f"waiting since {_at(run.created_at)}{expires}"))
    if facts.pending_total > len(facts.pending):
        lines.append(ReportLine(f"… {facts.pending_total - len(facts.pending):,} more waiting"))
    for run in facts.expired:
        lines.append(_run_line(run, f"expired {_at(run.finished_at or run.created_at)}"))
    if expired_total > len(facts.expired):
        lines.append(ReportLine(f"… {expired_total - len(facts.expired):,} more expired"))
    return ReportSection("Approvals", fields, lines)


def _slowest(runs: Sequence[RunRecord]) -> ReportSection | None:
    lines = []
    for run in runs:
        if run.started_at is None or run.finished_at is None:
            continue
        took = format_duration((run.finished_at - run.started_at).total_seconds())
        lines.append(_run_line(run, f"{took} ({run.status.value.replace('_', ' ')})"))
    return ReportSection("Slowest runs", lines=lines) if lines else None


def _metrics(rows: Sequence[MetricRow]) -> ReportSection | None:
    if not rows:
        return None
    fields = []
    for row in rows:
        reading, config = row.reading, row.config
        label = f"{reading.level.emoji} {metric_title(row.key, config)}"
        if reading.value is None:
            fields.append(CardField(label, f"unknown: {reading.reason}"))
            continue
        state = reading.level.value + (", off target" if reading.off_target else "")
        lines = [
            f"{format_value(reading.value, config.unit)} · {state}",
            f"{format_change(reading.value, row.previous, config.unit)} since the last digest",
        ]
        lines.append(_thresholds(config))
        fields.append(CardField(label, "\n".join(line for line in lines if line)))
    return ReportSection("Metrics", fields)


def _thresholds(config: MetricConfig) -> str:
    parts = [
        f"{name} {threshold.text}"
        for name, threshold in (
            ("target", config.target),
            ("warning", config.warning),
            ("critical", config.critical),
        )
        if threshold is not None
    ]
    return " · ".join(parts)


def _upcoming(fires: Sequence[UpcomingFire]) -> ReportSection | None:
    if not fires:
        return None
    lines = [
        ReportLine(
            f"{_at(fire.at)} · `{fire.schedule_id}`: {fire.what}"
            + (" (paused)" if fire.paused else "")
        )
        for fire in fires
    ]
    return ReportSection("Next scheduled", lines=lines)


def _run_line(run: RunRecord, detail: str) -> ReportLine:
    text = f"{STATUS_EMOJI[run.status]} #{run.id} `{run.playbook}` {detail}"
    if run.status in (RunStatus.FAILED, RunStatus.ROLLED_BACK) and run.error:
        error = " ".join(run.error.split())
        if len(error) > _ERROR_CHARS:
            error = error[: _ERROR_CHARS - 1] + "…"
        text += f": {error}"
    return ReportLine(text, run.card)


def _verb(run: RunRecord) -> str:
    return "rolled back" if run.status is RunStatus.ROLLED_BACK else "failed"


def _at(moment: datetime | None) -> str:
    return f"{moment:%a %d %b %H:%M} UTC" if moment is not None else "—"

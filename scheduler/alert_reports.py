"""What an alert rule posts: a short Report naming the metric or the run, its mentions,
and the button of a suggested playbook. Pure: the surface's mention texts come in."""

from __future__ import annotations

from collections.abc import Sequence

from bot.cards import STATUS_EMOJI, format_params
from bot.chat import Button, ButtonAction, Report, ReportLine, ReportSection
from bot.config_schedules import AlertRule, MetricConfig
from bot.db.records import RunRecord
from playbooks.durations import format_duration
from scheduler.alert_rules import Post
from scheduler.digest import format_value, metric_title
from scheduler.thresholds import Level, Reading

__all__ = ["metric_alert", "run_alert"]

_HEADLINE = {
    Post.ENTERED: "is {level}",
    Post.WORSENED: "got worse: now {level}",
    Post.STILL: "is still {level}",
    Post.RECOVERED: "recovered",
}


def metric_alert(
    *,
    rule_id: str,
    rule: AlertRule,
    metric_key: str,
    metric: MetricConfig,
    reading: Reading,
    post: Post,
    bad_for: float | None,
    mentions: Sequence[str],
    suggestion_ref: int | None,
) -> Report:
    """``🔴 PAR 90 is critical: 5.4%`` with the thresholds, whom it concerns, and a Start
    button for the suggested playbook (not on a recovery)."""
    title = metric_title(metric_key, metric)
    level = reading.level
    emoji = "✅" if post is Post.RECOVERED else level.emoji
    value = format_value(reading.value, metric.unit) if reading.value is not None else "?"
    headline = _HEADLINE[post].format(level=level.value)
    lines = [ReportLine(_thresholds(metric, level))]
    if post is Post.STILL and bad_for is not None:
        lines.append(
            ReportLine(
                f"Bad for {format_duration(bad_for)}; repeated every "
                f"{format_duration(rule.repeat)} while it stays so."
            )
        )
    buttons: list[Button] = []
    if post is not Post.RECOVERED:
        if mentions:
            lines.append(ReportLine(" ".join(mentions)))
        if rule.suggest is not None and suggestion_ref is not None:
            lines.append(ReportLine(_suggestion(rule)))
            buttons.append(Button(ButtonAction.START, suggestion_ref, style="primary"))
    return Report(
        title=f"{emoji} {rule.title or title} {headline}: {value}",
        summary=f"alert `{rule_id}` · #{rule.channel}",
        sections=[ReportSection("", lines=lines)],
        buttons=buttons,
    )


def run_alert(
    *,
    rule_id: str,
    rule: AlertRule,
    run: RunRecord,
    mentions: Sequence[str],
    suggestion_ref: int | None,
) -> Report:
    """``❌ rerun-dbt run #12 failed`` with its error, a link to its card, and mentions."""
    status = run.status.value.replace("_", " ")
    lines = [
        ReportLine(
            f"Run #{run.id} ({format_params(run.params)}), requested by "
            f"{run.requester_display}: see its thread.",
            run.card,
        )
    ]
    if run.error:
        lines.append(ReportLine(f"Error: {' '.join(run.error.split())[:300]}"))
    if mentions:
        lines.append(ReportLine(" ".join(mentions)))
    buttons: list[Button] = []
    if rule.suggest is not None and suggestion_ref is not None:
        lines.append(ReportLine(_suggestion(rule)))
        buttons.append(Button(ButtonAction.START, suggestion_ref, style="primary"))
    headline = rule.title or f"`{run.playbook}` run #{run.id} {status}"
    return Report(
        title=f"{STATUS_EMOJI[run.status]} {headline}",
        summary=f"alert `{rule_id}` · #{rule.channel}",
        sections=[ReportSection("", lines=lines)],
        buttons=buttons,
    )


def _thresholds(metric: MetricConfig, level: Level) -> str:
    parts = []
    for name, threshold in (
        ("critical", metric.critical),
        ("warning", metric.warning),
        ("target", metric.target),
    ):
        if threshold is not None:
            parts.append(f"{name} {threshold.text}")
    return f"Now {level.value}. " + " · ".join(parts)


def _suggestion(rule: AlertRule) -> str:
    assert rule.suggest is not None
    params = format_params(rule.suggest.params) if rule.suggest.params else "its defaults"
    return (
        f"Suggested: `{rule.suggest.playbook}` with {params}. "
        "Press Start to open its run card (you are its requester)."
    )

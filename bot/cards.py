"""Render a run as a neutral card: what it will do, where it stands, which buttons apply. Pure."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.chat import Button, ButtonAction, Card, CardField
from bot.db.records import ApprovalRecord, RunRecord, StepRecord
from bot.lifecycle import RunStatus, StepStatus
from bot.policy import approval_state
from playbooks.describe import describe_condition
from playbooks.durations import format_duration
from playbooks.params import as_typed
from playbooks.plan import Estimate, Plan, PlannedStep

__all__ = [
    "STATUS_EMOJI",
    "STEP_MARK",
    "command_params",
    "format_expiry",
    "format_params",
    "render_run_card",
]

STATUS_EMOJI = {
    RunStatus.PENDING: "🟡",
    RunStatus.RUNNING: "🔵",
    RunStatus.SUCCEEDED: "✅",
    RunStatus.FAILED: "❌",
    RunStatus.ROLLED_BACK: "↩️",
    RunStatus.CANCELLED: "⛔",
    RunStatus.DENIED: "🚫",
    RunStatus.EXPIRED: "⌛",
    RunStatus.INTERRUPTED: "⚠️",
}
STEP_MARK = {
    StepStatus.RUNNING: "▶️",
    StepStatus.SUCCEEDED: "✅",
    StepStatus.FAILED: "❌",
    StepStatus.SKIPPED: "⏭️",
    StepStatus.CANCELLED: "⛔",
    StepStatus.WAITING: "⏸️",
}
_NOT_STARTED = "▫️"


SECONDS_SHOWN_UNDER = 180.0
"""A window shorter than this (seconds) has its end shown to the second: "expires 07:15"
for a 20-second window opened at 07:14:41 would say less than the window itself."""


DATE_SHOWN_FROM = 12 * 3600.0
"""A window this long (seconds) or longer has its end shown with its date."""


def format_expiry(expires_at: datetime, window: float) -> str:
    """When a window of ``window`` seconds closes, as people read it: ``07:45 UTC``,
    ``07:15:01 UTC`` for a short one, ``2026-12-07 07:45 UTC`` for a long one."""
    if window < SECONDS_SHOWN_UNDER:
        return f"{expires_at:%H:%M:%S} UTC"
    if window >= DATE_SHOWN_FROM:
        return f"{expires_at:%Y-%m-%d %H:%M} UTC"
    return f"{expires_at:%H:%M} UTC"


def format_params(params: dict[str, Any]) -> str:
    """``a=1, b=x`` for people to read."""
    return ", ".join(f"{k}={as_typed(v)}" for k, v in params.items() if v is not None) or "none"


def command_params(params: dict[str, Any]) -> str:
    """``a=1 b="x y"`` as someone would type it after ``/playbook NAME``."""
    return " ".join(f"{k}={shlex.quote(as_typed(v))}" for k, v in params.items() if v is not None)


def render_run_card(
    run: RunRecord,
    plan: Plan,
    steps: Sequence[StepRecord],
    decisions: Sequence[ApprovalRecord] = (),
) -> Card:
    """The card of ``run``: title, status line, fields, the plan marked with progress, buttons."""
    playbook = plan.playbook
    by_id = {(s.phase, s.step_id): s for s in steps}
    fields = [
        CardField("Requested by", run.requester_display),
        CardField("Params", format_params(run.params)),
        CardField("Risk", playbook.risk.value),
        CardField("Estimate", _estimate(run, plan.estimate)),
        CardField("Approval", _approval_line(run, plan, steps, decisions)),
    ]
    lines = [_plan_line(i, s, by_id.get(("main", s.id))) for i, s in enumerate(plan.steps, 1)]
    if plan.changes:
        lines.append("Changes:")
        lines += [f"• {change}" for change in plan.changes]
    if plan.rollback:
        lines.append("If a step fails, roll back:")
        lines += [
            _plan_line(i, s, by_id.get(("rollback", s.id)), prefix="↩")
            for i, s in enumerate(reversed(plan.rollback), 1)
        ]
    notes = [f"⚠️ {problem}" for problem in plan.problems]
    if run.error:
        notes.append(f"Error: {run.error}")
    return Card(
        title=f"{playbook.display_title} · run #{run.id}",
        status=_status_line(run, plan, steps),
        status_emoji=STATUS_EMOJI[run.status],
        fields=fields,
        plan=lines,
        notes=notes,
        buttons=_buttons(run, plan),
        run_id=run.id,
    )


def _estimate(run: RunRecord, estimate: Estimate) -> str:
    """The estimate recorded with the run; "unknown" when nothing gave it one."""
    if not estimate.known and not run.estimate_seconds and not run.estimate_cost_usd:
        return "unknown"
    rate = estimate.rate
    text = f"~{format_duration(run.estimate_seconds)}"
    if rate is not None and rate.seconds:
        text += f" ({format_duration(rate.seconds)} per {rate.unit})"
    if run.estimate_cost_usd:
        text += f" · ${run.estimate_cost_usd:,.2f}"
    else:
        text += " · $0"
    if rate is not None and rate.cost_usd:
        text += f" (${rate.cost_usd:,.2f} per {rate.unit})"
    return text


def _approval_line(
    run: RunRecord,
    plan: Plan,
    steps: Sequence[StepRecord],
    decisions: Sequence[ApprovalRecord],
) -> str:
    """The run's own approval, then each step gate that waits or has had decisions."""
    parts = []
    if plan.needs_approval:
        policy = plan.playbook.approval
        assert policy is not None
        state = approval_state(policy, [d for d in decisions if not d.step_id])
        line = state.describe(policy)
        if run.status is RunStatus.PENDING and run.expires_at is not None:
            window = (run.expires_at - run.created_at).total_seconds()
            line += f"; expires {format_expiry(run.expires_at, window)}"
        parts.append(line)
    records = {s.step_id: s for s in steps if s.phase == "main"}
    for step in plan.playbook.steps:
        if step.approval is None:
            continue
        record = records.get(step.id)
        expires_at = record.expires_at if record and record.status is StepStatus.WAITING else None
        gate_decisions = [d for d in decisions if d.step_id == step.id]
        if expires_at is None and not gate_decisions:
            continue
        state = approval_state(step.approval, gate_decisions)
        line = f"step `{step.id}`: {state.describe(step.approval)}"
        if expires_at is not None:
            line += f"; expires {format_expiry(expires_at, step.approval.expires_after)}"
        parts.append(line)
    if not parts:
        line = f"not required; {run.requester_display} presses Run after reviewing the plan"
        if run.status is RunStatus.PENDING and run.expires_at is not None:
            window = (run.expires_at - run.created_at).total_seconds()
            line += f" (by {format_expiry(run.expires_at, window)})"
        return line
    return " · ".join(parts)


def _plan_line(
    index: int, planned: PlannedStep, record: StepRecord | None, *, prefix: str = ""
) -> str:
    if record:
        mark = STEP_MARK[record.status]
    else:
        mark = STEP_MARK[StepStatus.SKIPPED] if planned.skipped else _NOT_STARTED
    text = f"{mark} {prefix}{index}. `{planned.id}` {planned.text}"
    if planned.skipped:
        return text + " (skipped with these params)"
    if planned.gated:
        text += " 🔐 asks for approval first"
    if planned.condition:
        text += f" (only if {describe_condition(planned.condition)})"
    if record and record.status in (StepStatus.SUCCEEDED, StepStatus.FAILED) and record.summary:
        text += f" → {_outcome(record.summary, planned.text)}"
    if planned.problem and not record:
        text += " ⚠️"  # the problem itself is in the card's notes
    return text


def _outcome(summary: str, planned: str) -> str:
    """What a step's summary adds to its plan line: a summary that repeats what the plan
    already says (``POST …/before → 200`` under ``POST …/before``) shows only its outcome."""
    said, arrow, outcome = summary.rpartition(" → ")
    if arrow and said.strip() and said.strip() in planned:
        return outcome
    return summary


def _status_line(run: RunRecord, plan: Plan, steps: Sequence[StepRecord]) -> str:
    status = run.status
    if status is RunStatus.PENDING:
        return "Waiting for approval" if plan.needs_approval else "Dry run ready: waiting for Run"
    if status is RunStatus.RUNNING and any(s.status is StepStatus.WAITING for s in steps):
        waiting = next(s for s in steps if s.status is StepStatus.WAITING)
        return f"Paused: step `{waiting.step_id}` waits for approval"
    if status is RunStatus.RUNNING:
        return _progress_line(plan, steps)
    took = ""
    if run.started_at and run.finished_at:
        took = f" in {format_duration((run.finished_at - run.started_at).total_seconds())}"
    return {
        RunStatus.SUCCEEDED: f"Succeeded{took}",
        RunStatus.FAILED: f"Failed{took}",
        RunStatus.ROLLED_BACK: f"Failed and rolled back{took}",
        RunStatus.CANCELLED: "Cancelled",
        RunStatus.DENIED: "Denied",
        RunStatus.EXPIRED: (
            "Expired before it was approved"
            if run.needs_approval
            else "Expired: nobody pressed Run in time"
        ),
        RunStatus.INTERRUPTED: "Interrupted before it finished. Resume or Abort?",
    }[status]


def _progress_line(plan: Plan, steps: Sequence[StepRecord]) -> str:
    """Which step a running run is at: the one running (a resumed run re-runs the step that
    stopped it, so its own place in the plan, not a count of steps seen), or, once a step
    failed, which rollback step undoes it, numbered in the order rollback runs them."""
    running = next((s for s in steps if s.status is StepStatus.RUNNING), None)
    rolling_back = any(s.phase == "rollback" for s in steps)
    if rolling_back and plan.rollback:
        total = len(plan.rollback)
        if running is not None and running.phase == "rollback":
            index = total - running.position  # bottom-up: the last one defined runs first
            return f"Rolling back {index} of {total}: `{running.step_id}`"
        done = sum(1 for s in steps if s.phase == "rollback")
        return f"Rolling back {min(done + 1, total)} of {total}"
    total = len(plan.steps)
    if running is not None:
        return f"Running step {running.position + 1} of {total}: `{running.step_id}`"
    # Between two steps: the first one not done yet is next (a resumed run runs again the
    # step that stopped it; one that failed and let the run go on is done).
    records = {s.step_id: s for s in steps if s.phase == "main"}
    for index, step in enumerate(plan.playbook.steps, 1):
        record = records.get(step.id)
        done = record is not None and (
            record.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
            or (record.status is StepStatus.FAILED and step.continue_on_failure)
        )
        if not done:
            return f"Running step {index} of {total}: `{step.id}`"
    return f"Running step {total} of {total}"


def _buttons(run: RunRecord, plan: Plan) -> list[Button]:
    if run.status is RunStatus.PENDING and plan.needs_approval:
        # Approve / Deny live in the approval request in the thread; it starts once approved.
        return [Button(ButtonAction.CANCEL, run.id)]
    if run.status is RunStatus.PENDING:
        run_button = Button(
            ButtonAction.RUN,
            run.id,
            style="primary",
            confirm=f"Run {plan.playbook.name} now?" if plan.playbook.risk != "low" else None,
        )
        return [run_button, Button(ButtonAction.CANCEL, run.id)]
    if run.status is RunStatus.RUNNING:
        return [Button(ButtonAction.CANCEL, run.id, style="danger", confirm="Cancel this run?")]
    if run.status is RunStatus.INTERRUPTED:
        return [
            Button(ButtonAction.RESUME, run.id, style="primary", confirm="Resume this run?"),
            Button(ButtonAction.ABORT, run.id, style="danger", confirm="Abort this run?"),
        ]
    return []

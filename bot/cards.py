"""Render a run as a neutral card: what it will do, where it stands, which buttons apply. Pure."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from bot.chat import Button, ButtonAction, Card, CardField
from bot.db.records import ApprovalRecord, RunRecord, StepRecord
from bot.lifecycle import RunStatus, StepStatus
from bot.policy import approval_state
from playbooks.durations import format_duration
from playbooks.plan import Plan, PlannedStep

__all__ = ["STATUS_EMOJI", "STEP_MARK", "command_params", "format_params", "render_run_card"]

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


def format_params(params: dict[str, Any]) -> str:
    """``a=1, b=x`` for people to read."""
    return ", ".join(f"{k}={_value(v)}" for k, v in params.items() if v is not None) or "none"


def command_params(params: dict[str, Any]) -> str:
    """``a=1 b="x y"`` as someone would type it after ``/playbook NAME``."""
    return " ".join(f"{k}={shlex.quote(_value(v))}" for k, v in params.items() if v is not None)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


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
        CardField("Estimate", _estimate(run)),
        CardField("Approval", _approval_line(run, plan, steps, decisions)),
    ]
    lines = [_plan_line(i, s, by_id.get(("main", s.id))) for i, s in enumerate(plan.steps, 1)]
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


def _estimate(run: RunRecord) -> str:
    text = f"~{format_duration(run.estimate_seconds)}"
    if run.estimate_cost_usd:
        text += f" · ${run.estimate_cost_usd:,.2f}"
    else:
        text += " · $0"
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
            line += f"; expires {run.expires_at:%H:%M} UTC"
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
            line += f"; expires {expires_at:%H:%M} UTC"
        parts.append(line)
    if not parts:
        return f"not required; {run.requester_display} presses Run after reviewing the plan"
    return " · ".join(parts)


def _plan_line(
    index: int, planned: PlannedStep, record: StepRecord | None, *, prefix: str = ""
) -> str:
    mark = STEP_MARK[record.status] if record else _NOT_STARTED
    text = f"{mark} {prefix}{index}. `{planned.id}` {planned.text}"
    if planned.gated:
        text += " 🔐 asks for approval first"
    if planned.condition:
        text += f" (only if {planned.condition.strip('{} ')})"
    if record and record.status in (StepStatus.SUCCEEDED, StepStatus.FAILED) and record.summary:
        text += f" → {record.summary}"
    if planned.problem and not record:
        text += " ⚠️"  # the problem itself is in the card's notes
    return text


def _status_line(run: RunRecord, plan: Plan, steps: Sequence[StepRecord]) -> str:
    status = run.status
    if status is RunStatus.PENDING:
        return "Waiting for approval" if plan.needs_approval else "Dry run ready: waiting for Run"
    if status is RunStatus.RUNNING and any(s.status is StepStatus.WAITING for s in steps):
        waiting = next(s for s in steps if s.status is StepStatus.WAITING)
        return f"Paused: step `{waiting.step_id}` waits for approval"
    if status is RunStatus.RUNNING:
        done = sum(1 for s in steps if s.phase == "main" and s.status is not StepStatus.RUNNING)
        running = next((s.step_id for s in steps if s.status is StepStatus.RUNNING), None)
        current = f": `{running}`" if running else ""
        return f"Running step {min(done + 1, len(plan.steps))} of {len(plan.steps)}{current}"
    took = ""
    if run.started_at and run.finished_at:
        took = f" in {format_duration((run.finished_at - run.started_at).total_seconds())}"
    return {
        RunStatus.SUCCEEDED: f"Succeeded{took}",
        RunStatus.FAILED: f"Failed{took}",
        RunStatus.ROLLED_BACK: f"Failed and rolled back{took}",
        RunStatus.CANCELLED: "Cancelled",
        RunStatus.DENIED: "Denied",
        RunStatus.EXPIRED: "Expired before it was approved",
        RunStatus.INTERRUPTED: "Interrupted before it finished. Resume or Abort?",
    }[status]


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

"""Texts the bot answers with: catalog, help, status, history, plans. Pure formatting."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.cards import STATUS_EMOJI, STEP_MARK, command_params, format_params
from bot.db.records import ApprovalRecord, AuditRecord, RunRecord, StepRecord
from playbooks.describe import describe_condition
from playbooks.durations import format_duration
from playbooks.model import ParamSpec, ParamType, Playbook
from playbooks.plan import Plan, format_estimate, format_rate

__all__ = [
    "DRY_RUN_MARK",
    "NO_SCHEDULES",
    "actions_taken",
    "format_catalog",
    "format_help",
    "format_history",
    "format_output",
    "format_plan",
    "format_status",
    "usage",
]

USAGE = [
    "`/playbook list` — the catalog",
    "`/playbook help [NAME]` — what a playbook does and its params",
    "`/playbook NAME [key=value ...] [--dry-run]` — post a run card (or only show the plan)",
    "`/playbook status RUN` — a run's steps, decisions and audit trail",
    "`/playbook history [NAME]` — recent runs",
    "`/playbook cancel RUN` — stop a run",
]
SCHEDULE_USAGE = "`/schedule list` · `/schedule run|pause|resume ID`"
_SCHEDULES_HERE = {
    True: " — the config's schedules",
    False: " — not available: no schedules are configured (see docs/scheduler.md)",
    None: " — when the config has `schedules`",
}
NO_SCHEDULES = (
    "No schedules are configured: add `schedules` to chatops.yaml, see docs/scheduler.md."
)


def usage(*, schedules: bool | None = None) -> str:
    """The commands, saying whether ``/schedule`` works here: ``schedules`` tells whether
    this process has schedules, None when the caller cannot know (a grammar error)."""
    schedule = SCHEDULE_USAGE + _SCHEDULES_HERE[schedules]
    return "Commands:\n" + "\n".join(f"• {line}" for line in [*USAGE, schedule])


def format_catalog(playbooks: Iterable[Playbook]) -> str:
    rows = [
        f"• `{p.name}` — {p.display_title} (risk {p.risk.value}{_approval_note(p)})"
        for p in playbooks
    ]
    if not rows:
        return "No playbooks are loaded."
    return f"*Playbooks* ({len(rows)}):\n" + "\n".join(rows) + "\nDetails: `/playbook help NAME`"


def format_help(playbook: Playbook, plan: Plan | None) -> str:
    lines = [f"*{playbook.display_title}* (`{playbook.name}`)"]
    if playbook.description:
        lines.append(playbook.description.strip())
    lines.append(f"Risk: {playbook.risk.value}")
    if playbook.use_when:
        lines.append("Use when: " + "; ".join(playbook.use_when))
    if plan is None and (rate := format_rate(playbook.estimate)) is not None:
        lines.append(f"Estimate: {rate}")
    if plan is not None:
        lines.append(f"Estimate with defaults: {_estimate(plan)}")
        if plan.changes:
            lines.append("Changes with defaults: " + "; ".join(plan.changes))
    if playbook.allowed:
        lines.append(f"Who may start it: {', '.join(playbook.allowed)}")
    if playbook.approval:
        policy = playbook.approval
        when = describe_condition(policy.required)
        if isinstance(policy.required, str):
            when = f"when {when}"
        approvers = ", ".join(policy.approvers) or "anyone allowed"
        lines.append(f"Approval: {when} — {policy.min_approvals} of {approvers}")
    if playbook.params:
        lines.append("Params:")
        lines += [f"• {_param_line(name, spec)}" for name, spec in playbook.params.items()]
    else:
        lines.append("Params: none")
    lines.append(f"Steps: {', '.join(f'`{s.id}`' for s in playbook.steps)}")
    example = " ".join(
        f"{name}={_example(spec)}" for name, spec in playbook.params.items() if spec.required
    )
    lines.append(f"Run: `/playbook {playbook.name}{' ' + example if example else ''}`")
    return "\n".join(lines)


def _param_line(name: str, spec: ParamSpec) -> str:
    kind = spec.type.value
    if spec.choices:
        kind += f", one of {'/'.join(str(c) for c in spec.choices)}"
    if spec.min is not None or spec.max is not None:
        kind += f", {_bound(spec.min, spec)} to {_bound(spec.max, spec)}"
    default = (
        "required"
        if spec.required
        else f"default {format_params({'': spec.default})[1:]}"
        if spec.default is not None
        else "optional"
    )
    text = f"`{name}` ({kind}; {default})"
    return f"{text} — {spec.description}" if spec.description else text


def _bound(value: float | None, spec: ParamSpec) -> str:
    """A min or max as written for its type: ``5`` for an integer param, not ``5.0``."""
    if value is None:
        return "…"
    if spec.type is ParamType.INTEGER or value.is_integer():
        return str(int(value))
    return str(value)


def _approval_note(playbook: Playbook) -> str:
    """How ``/playbook list`` says whether a playbook needs approval: to start, or (when it
    starts without) before one of its steps."""
    policy = playbook.approval
    if policy is not None and policy.required is not False:
        if isinstance(policy.required, str):
            return ", approval depends on params"
        return ", needs approval"
    gates = [step.approval for step in playbook.steps if step.approval is not None]
    gates = [gate for gate in gates if gate.required is not False]
    if not gates:
        return ""
    if all(isinstance(gate.required, str) for gate in gates):
        return ", a step's approval depends on params"
    return ", a step needs approval"


def _example(spec: ParamSpec) -> str:
    if spec.choices:
        return str(spec.choices[0])
    return {"integer": "1", "number": "1.0", "boolean": "true", "list": "a,b"}.get(
        spec.type.value, "…"
    )


def _estimate(plan: Plan) -> str:
    return format_estimate(plan.estimate)


def format_plan(plan: Plan) -> str:
    """A dry run as text: what each step would do, the estimate, and approval."""
    playbook = plan.playbook
    lines = [
        f"*Dry run: {playbook.display_title}* (`{playbook.name}`) — nothing was executed",
        f"Params: {format_params(dict(plan.params))}",
        f"Risk: {playbook.risk.value} · Estimate: {_estimate(plan)}",
        "Approval: " + ("required" if plan.needs_approval else "not required"),
    ]
    for index, step in enumerate(plan.steps, 1):
        condition = f" (only if {describe_condition(step.condition)})" if step.condition else ""
        gated = " 🔐 asks for approval first" if step.gated and not step.skipped else ""
        skipped = " (skipped with these params)" if step.skipped else ""
        lines.append(f"{index}. `{step.id}` {step.text}{gated}{condition}{skipped}")
    if plan.changes:
        lines.append("Changes:")
        lines += [f"• {change}" for change in plan.changes]
    if plan.rollback:
        lines.append("If a step fails, roll back:")
        lines += [
            f"↩ `{s.id}` {s.text}" + (" (skipped with these params)" if s.skipped else "")
            for s in reversed(plan.rollback)
        ]
    lines += [f"⚠️ {problem}" for problem in plan.problems]
    typed = command_params(dict(plan.params))
    lines.append(f"Start it: `/playbook {playbook.name}{' ' + typed if typed else ''}`")
    return "\n".join(lines)


def format_status(
    run: RunRecord,
    steps: Sequence[StepRecord],
    decisions: Sequence[ApprovalRecord],
    audit: Sequence[AuditRecord],
    children: Sequence[RunRecord],
) -> str:
    if run.dry_run:
        return _dry_run_status(run, audit)
    lines = [
        f"{STATUS_EMOJI[run.status]} *Run #{run.id}* `{run.playbook}` — {run.status.value}",
        f"Requested by {run.requester_display} on {run.surface}"
        f" at {run.created_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Params: {format_params(run.params)}",
    ]
    if run.started_at:
        end = run.finished_at
        took = f", took {format_duration((end - run.started_at).total_seconds())}" if end else ""
        lines.append(f"Started {run.started_at:%H:%M:%S} UTC{took}")
    if run.error:
        lines.append(f"Error: {run.error}")
    if steps:
        lines.append("Steps:")
    for step in _in_order_run(steps):
        took = f" ({step.duration_ms / 1000:.1f}s)" if step.duration_ms is not None else ""
        retries = f", {step.attempts} attempts" if step.attempts > 1 else ""
        phase = "↩ " if step.phase == "rollback" else ""
        detail = step.error or step.summary
        lines.append(
            f"{STEP_MARK[step.status]} {phase}`{step.step_id}` {step.status.value}{took}{retries}"
            + (f" — {detail}" if detail else "")
        )
        if step.output and step.action != "notify":  # a notify's output is its message
            lines.append(
                format_output(
                    step.output,
                    max_lines=STATUS_OUTPUT_LINES,
                    max_chars=STATUS_OUTPUT_CHARS,
                    cut_note="earlier output cut",
                )
            )
    for child in children:
        lines.append(f"↳ sub-playbook `{child.playbook}` run #{child.id}: {child.status.value}")
    if decisions:
        lines.append("Decisions:")
        lines += [
            f"• {d.actor_name or d.actor} {_PAST[d.decision]}"
            + (f" step `{d.step_id}`" if d.step_id else "")
            + f" at {d.decided_at:%H:%M:%S} via {d.surface}"
            + (f": {d.reason}" if d.reason else "")
            for d in decisions
        ]
    if audit:
        lines.append("Audit trail:")
        lines += [_audit_line(e) for e in audit[-20:]]
    lines.append(actions_taken(run))
    return "\n".join(lines)


def actions_taken(run: RunRecord) -> str:
    """One line to paste into incident notes: what ran, with which params, how it ended."""
    params = ", ".join(f"{k}: {_plain(v)}" for k, v in run.params.items() if v is not None)
    what = f"{run.playbook} ({params})" if params else run.playbook
    if run.dry_run:
        return f"Dry run: {what}. Nothing was executed."
    took = ""
    if run.started_at and run.finished_at:
        took = f" Duration: {format_duration((run.finished_at - run.started_at).total_seconds())}."
    result = run.status.value.replace("_", " ")
    return f"Executed: {what}. Result: {result}.{took}"


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _audit_line(event: AuditRecord) -> str:
    """An audit event as a line: when, what (and which step), by whom, through what."""
    step = event.detail.get("step") if isinstance(event.detail, dict) else None
    which = f" `{step}`" if isinstance(step, str) and step else ""
    return f"• {event.at:%H:%M:%S} {event.kind}{which} by {event.actor} ({event.surface})"


def _dry_run_status(run: RunRecord, audit: Sequence[AuditRecord]) -> str:
    """A dry run's record: who asked, when, with which params, and the plan they were shown."""
    plan = next((e.detail.get("plan") for e in audit if e.kind == "run.dry_run"), None)
    lines = [
        f"{DRY_RUN_MARK} *Run #{run.id}* `{run.playbook}` — dry run: nothing was executed",
        f"Asked for by {run.requester_display} on {run.surface}"
        f" at {run.created_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Params: {format_params(run.params)}",
    ]
    if isinstance(plan, list) and plan:
        lines.append("The plan shown:")
        lines += [f"> {line}" for line in plan if isinstance(line, str)]
    lines.append(actions_taken(run))
    return "\n".join(lines)


_PAST = {"approve": "approved", "deny": "denied"}
DRY_RUN_MARK = "🧪"
# A step's output in `/playbook status`: a longer tail than under its line in the thread.
STATUS_OUTPUT_LINES = 30
STATUS_OUTPUT_CHARS = 3000


def _in_order_run(steps: Sequence[StepRecord]) -> list[StepRecord]:
    """Main steps first, then rollback steps as they ran: bottom-up."""
    main = sorted((s for s in steps if s.phase != "rollback"), key=lambda s: s.position)
    rollback = sorted((s for s in steps if s.phase == "rollback"), key=lambda s: -s.position)
    return main + rollback


def format_output(output: str, *, max_lines: int, max_chars: int, cut_note: str) -> str:
    """The end of a step's output (at most ``max_lines`` lines and ``max_chars`` characters)
    as a code block; ``cut_note`` follows it in italics when something was left out."""
    lines = output.strip("\n").splitlines()
    cut = len(lines) > max_lines
    tail = "\n".join(lines[-max_lines:])
    if len(tail) > max_chars:
        cut = True
        tail = tail[-max_chars:]
        newline = tail.find("\n")
        if 0 <= newline < len(tail) - 1:
            tail = tail[newline + 1 :]  # a whole first line, not the end of one
    block = "```\n" + tail.replace("```", "'''") + "\n```"  # keep the block closed
    return f"{block}\n_({cut_note})_" if cut else block


def format_history(runs: Sequence[RunRecord], playbook: str | None) -> str:
    scope = f" of `{playbook}`" if playbook else ""
    if not runs:
        return f"No runs{scope} yet."
    lines = [f"*Recent runs{scope}*:"]
    for run in runs:
        took = ""
        if run.started_at and run.finished_at:
            took = f", {format_duration((run.finished_at - run.started_at).total_seconds())}"
        mark, status = (
            (DRY_RUN_MARK, "dry run")
            if run.dry_run
            else (
                STATUS_EMOJI[run.status],
                run.status.value,
            )
        )
        params = f" ({format_params(run.params)})" if run.dry_run and run.params else ""
        lines.append(
            f"{mark} #{run.id} `{run.playbook}` {status}{params}"
            f" — {run.requester_display}, {run.created_at:%Y-%m-%d %H:%M} UTC{took}"
        )
    return "\n".join(lines)

"""What a run says in its card's thread, as text. Pure: no I/O, no state."""

from __future__ import annotations

from datetime import datetime

from bot.cards import STATUS_EMOJI, STEP_MARK, format_expiry, format_params
from bot.db.records import RunRecord, StepRecord
from bot.lifecycle import RunStatus
from bot.replies import format_output
from playbooks.durations import format_duration
from playbooks.errors import ChatOpsError
from playbooks.model import ApprovalPolicy

__all__ = [
    "INTERRUPTED_WAIT",
    "ROLLING_BACK",
    "THREAD_OUTPUT_CHARS",
    "THREAD_OUTPUT_LINES",
    "approval_request",
    "failure_reason",
    "outcome_message",
    "overdue_line",
    "retry_line",
    "step_line",
]

# A step's output under its line in the thread: the end of it, where errors usually are.
THREAD_OUTPUT_LINES = 15
THREAD_OUTPUT_CHARS = 1500
INTERRUPTED_WAIT = "⏸ Interrupted before this was decided; Resume asks again."
ROLLING_BACK = "↩️ Rolling back…"


def outcome_message(run: RunRecord) -> str | None:
    """The thread's line when a run ends (or is interrupted)."""
    took = ""
    if run.started_at and run.finished_at:
        took = f" in {format_duration((run.finished_at - run.started_at).total_seconds())}"
    emoji = STATUS_EMOJI[run.status]
    match run.status:
        case RunStatus.SUCCEEDED:
            return f"{emoji} Run #{run.id} succeeded{took}."
        case RunStatus.FAILED:
            return f"{emoji} Run #{run.id} failed{took}: {run.error}"
        case RunStatus.ROLLED_BACK:
            return f"{emoji} Run #{run.id} failed and was rolled back{took}: {run.error}"
        case RunStatus.INTERRUPTED:
            return (
                f"{emoji} Run #{run.id} was interrupted: {run.error}. "
                "Resume continues after the last step that succeeded; Abort cancels it."
            )
    return None


def step_line(run: RunRecord, root: RunRecord, step: StepRecord) -> str:
    """The thread's line when a step of ``run`` ends (``root``: the run whose card it is,
    itself or the parent of a sub-playbook), with the tail of its output."""
    prefix = f"↳ `{run.playbook}` " if root.id != run.id else ""
    phase = "rollback " if step.phase == "rollback" else ""
    took = f" ({step.duration_ms / 1000:.1f}s)" if step.duration_ms is not None else ""
    detail = step.error if step.error else step.summary
    text = f"{STEP_MARK[step.status]} {prefix}{phase}`{step.step_id}` {step.status.value}{took}"
    if detail:
        text += f": {detail}"
    # A notify step's output is the message it has just posted.
    if step.output and step.action != "notify":
        text += "\n" + format_output(
            step.output,
            max_lines=THREAD_OUTPUT_LINES,
            max_chars=THREAD_OUTPUT_CHARS,
            cut_note=f"output cut; `/playbook status {root.id}` shows more",
        )
    return text


def overdue_line(run: RunRecord, took: float, mentions: list[str]) -> str:
    """The thread's line when a run is still going at twice its estimate."""
    who = " ".join(mentions)
    lead = f"{who}: " if who else ""
    return (
        f"⏱ {lead}run #{run.id} (`{run.playbook}`) is still running after "
        f"{format_duration(took)}, twice its estimate of {format_duration(run.estimate_seconds)}. "
        "Please take a look; Cancel stops it."
    )


def retry_line(step_id: str, attempt: int, of: int, reason: str) -> str:
    return f"🔁 `{step_id}` failed ({reason}); attempt {attempt} of {of}…"


def approval_request(
    run: RunRecord,
    step_id: str | None,
    policy: ApprovalPolicy,
    expires_at: datetime,
    *,
    mentions: list[str],
    surface: str,
    nobody_holds: bool = False,
    reminder: bool = False,
) -> str:
    """The request in the thread that asks ``mentions`` (already in the surface's mention
    syntax) to decide on ``run`` or its step gate ``step_id``; ``nobody_holds``: no identity
    on ``surface`` holds the approver roles (the config is likely wrong)."""
    roles = ", ".join(policy.approvers) or "anyone allowed"
    who = " ".join(mentions) if mentions else f"({roles})"
    what = f"step `{step_id}` of run #{run.id}" if step_id else f"run #{run.id}"
    lead = "⏰ Reminder: still waiting for" if reminder else "🔐 Approval needed for"
    text = (
        f"{lead} {what} (`{run.playbook}`, {format_params(run.params)}), requested by "
        f"{run.requester_display}. {who}: {policy.min_approvals} approval"
        f"{'s' if policy.min_approvals > 1 else ''} from {roles} needed; "
        f"expires {format_expiry(expires_at, policy.expires_after)}."
    )
    if nobody_holds and policy.approvers:
        text += f" ⚠️ Nobody on {surface} holds {roles}: check `roles` in the config."
    return text


def failure_reason(exc: BaseException) -> str:
    """Why a chat call failed, in words for a log line or a failed notify step."""
    if isinstance(exc, TimeoutError):
        return "chat did not answer in time"
    if isinstance(exc, ChatOpsError):
        return exc.reason
    return str(exc) or type(exc).__name__

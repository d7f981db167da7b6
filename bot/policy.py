"""Access and approval decisions: who may start, decide or cancel. Pure: no I/O.

Roles come from the config and map to identities per surface (Slack user and user-group
IDs, Telegram user IDs, console names). An actor holds a role when its id, or one of its
groups, is listed under that role for its surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.chat import Actor, Place
from bot.config import Config
from bot.db.records import ApprovalRecord, RunRecord
from playbooks.model import ApprovalPolicy, Playbook

__all__ = [
    "APPROVE",
    "DENY",
    "ApprovalState",
    "approval_state",
    "approver_identities",
    "may_cancel",
    "may_decide",
    "may_resume",
    "may_run",
    "may_start",
    "reminder_due",
    "role_identities",
    "roles_of",
    "tally",
]

APPROVE = "approve"
DENY = "deny"


def roles_of(actor: Actor, config: Config) -> frozenset[str]:
    """Every role ``actor`` holds on its surface."""
    held = set()
    identities = {actor.id, *actor.groups}
    for role, members in config.roles.items():
        listed = {str(m) for m in getattr(members, actor.surface, [])}
        if identities & listed:
            held.add(role)
    return frozenset(held)


def may_start(actor: Actor, playbook: Playbook, place: Place, config: Config) -> str | None:
    """None if ``actor`` may start ``playbook`` in ``place``; else the reason to tell them.

    A schedule may start what it names, where it says: the config that schedules it decides
    (who may fire it by hand is the schedule's own ``allowed``).
    """
    if actor.schedule is not None:
        return None
    if playbook.allowed and not roles_of(actor, config) & set(playbook.allowed):
        return (
            f"You can't start `{playbook.name}`: it is limited to "
            f"{_roles(playbook.allowed)}. Ask someone who holds one of them."
        )
    if playbook.channels and not any(_in_channel(place, c, config) for c in playbook.channels):
        names = ", ".join(f"#{c}" for c in playbook.channels)
        return f"`{playbook.name}` can only be started in {names}."
    return None


def may_run(actor: Actor, run: RunRecord) -> str | None:
    """Run is the requester's, after reading the plan; a run needing approval starts by itself."""
    if actor.key != run.requested_by:
        return f"Only {run.requester_display}, who requested run #{run.id}, can press Run."
    if run.needs_approval:
        return f"Run #{run.id} needs approval; it starts by itself once it is approved."
    return None


def may_resume(actor: Actor, run: RunRecord, playbook: Playbook, config: Config) -> str | None:
    """Resuming executes the rest of a playbook: it takes the right to start it (``allowed``).

    The channel rule does not apply again: the run already lives in its channel.
    """
    if playbook.allowed and not roles_of(actor, config) & set(playbook.allowed):
        return (
            f"You can't resume run #{run.id}: `{playbook.name}` is limited to "
            f"{_roles(playbook.allowed)}."
        )
    return None


def may_decide(actor: Actor, run: RunRecord, policy: ApprovalPolicy, config: Config) -> str | None:
    """None if ``actor`` may approve or deny under ``policy``; else why not."""
    if actor.key == run.requested_by and not policy.allow_self_approval:
        return f"You requested run #{run.id}, so someone else must approve or deny it."
    if policy.approvers and not roles_of(actor, config) & set(policy.approvers):
        return f"You may not approve or deny run #{run.id}: it needs {_roles(policy.approvers)}."
    return None


def may_cancel(
    actor: Actor, run: RunRecord, playbook: Playbook | None, config: Config
) -> str | None:
    """The requester may cancel, and so may anyone who could approve the playbook. A run a
    schedule requested has no person behind it: whoever may start the playbook may cancel."""
    if actor.key == run.requested_by:
        return None
    held = roles_of(actor, config)
    approvers = {role for policy in _policies(playbook) for role in policy.approvers}
    if approvers and held & approvers:
        return None
    if _scheduled(run) and playbook is not None:
        if not playbook.allowed or held & set(playbook.allowed):
            return None
        approvers |= set(playbook.allowed)
    who = f" or {_roles(sorted(approvers))}" if approvers else ""
    return f"Only {run.requester_display}, who requested run #{run.id}{who}, can cancel it."


def _scheduled(run: RunRecord) -> bool:
    """Whether a schedule requested ``run`` (its requester is ``Actor.for_schedule``'s)."""
    return run.requested_by.partition(":")[2].startswith("schedule:")


@dataclass(frozen=True)
class ApprovalState:
    approved_by: tuple[str, ...]
    denied_by: tuple[str, ...]
    needed: int
    reasons: tuple[str, ...] = ()

    @property
    def remaining(self) -> int:
        return max(self.needed - len(self.approved_by), 0)

    @property
    def approved(self) -> bool:
        return not self.denied_by and self.remaining == 0

    @property
    def denied(self) -> bool:
        return bool(self.denied_by)

    @property
    def settled(self) -> bool:
        """The wait is over: one deny ends it, or enough approvals."""
        return self.denied or self.approved

    def describe(self, policy: ApprovalPolicy) -> str:
        if self.denied:
            why = f": {self.reasons[0]}" if self.reasons else ""
            return f"denied by {', '.join(self.denied_by)}{why}"
        parts = [f"{len(self.approved_by)} of {self.needed} from {_roles(policy.approvers)}"]
        if self.approved_by:
            parts.append(f"approved by {', '.join(self.approved_by)}")
        if self.remaining:
            parts.append(f"waiting for {self.remaining} more")
        return "; ".join(parts)


def tally(decisions: Sequence[ApprovalRecord], needed: int) -> ApprovalState:
    """The one rule that counts decisions: each person once (the store keeps one row per
    person and wait), one deny settles the wait, ``needed`` approvals settle it too."""
    return ApprovalState(
        approved_by=tuple(d.actor_name or d.actor for d in decisions if d.decision == APPROVE),
        denied_by=tuple(d.actor_name or d.actor for d in decisions if d.decision == DENY),
        needed=needed,
        reasons=tuple(d.reason for d in decisions if d.decision == DENY and d.reason),
    )


def approval_state(policy: ApprovalPolicy, decisions: Sequence[ApprovalRecord]) -> ApprovalState:
    """:func:`tally` of ``decisions`` against the approvals ``policy`` needs."""
    return tally(decisions, policy.min_approvals)


def reminder_due(
    expires_at: datetime, now: datetime, window: float, already_reminded: bool
) -> bool:
    """A reminder goes out once, when a fifth of the window (at most 5 minutes) is left."""
    if already_reminded or now >= expires_at:
        return False
    lead = timedelta(seconds=min(window / 5, 300))
    return now >= expires_at - lead


def approver_identities(policy: ApprovalPolicy, surface: str, config: Config) -> list[str]:
    """The ids to mention on ``surface`` so the approvers are notified."""
    return role_identities(policy.approvers, surface, config)


def role_identities(roles: Sequence[str], surface: str, config: Config) -> list[str]:
    """The ids to mention on ``surface`` so whoever holds one of ``roles`` is notified."""
    found: list[str] = []
    for role in roles:
        members = config.roles.get(role)
        for member in getattr(members, surface, []) if members else []:
            if str(member) not in found:
                found.append(str(member))
    return found


def _policies(playbook: Playbook | None) -> list[ApprovalPolicy]:
    if playbook is None:
        return []
    found = [playbook.approval] if playbook.approval else []
    return found + [s.approval for s in playbook.steps if s.approval]


def _in_channel(place: Place, name: str, config: Config) -> bool:
    ids = config.channels.get(name)
    configured = getattr(ids, place.surface, None) if ids else None
    if configured is not None:
        return str(configured) == place.channel
    return name.lstrip("#") in (place.channel, place.name)


def _roles(roles: Sequence[str]) -> str:
    return " or ".join(f"`{r}`" for r in roles) or "anyone"

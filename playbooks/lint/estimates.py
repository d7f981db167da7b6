"""Estimate check: a declared estimate is not below what the steps alone must take.

What every run must take is :func:`playbooks.plan_estimate.least_seconds`: the ``wait`` steps
it always goes through. A declared duration under that is a warning (the card would promise
a run quicker than any can be, and a run would be called overdue for no reason). A
templated duration depends on the params and a per-item one on how many items are given:
neither is checked.
"""

from __future__ import annotations

from playbooks.durations import format_duration
from playbooks.lint.checked_file import CheckedFile
from playbooks.model import Playbook
from playbooks.plan_estimate import least_seconds

__all__ = ["check_estimate"]


def check_estimate(checked: CheckedFile, playbook: Playbook) -> None:
    """Warn when ``playbook`` declares a duration below what its waits alone take."""
    declared = playbook.estimate.duration
    if isinstance(declared, str) or playbook.estimate.per is not None:
        return
    if not declared and not playbook.estimate.cost_usd:
        return  # none declared: the card sums the steps instead
    least, waits = least_seconds(playbook)
    if declared >= least:
        return
    named = ", ".join(f"`{step}`" for step in waits)
    checked.warn(
        ("estimate", "duration"),
        f"{format_duration(declared)} is less than the {format_duration(least)} every run"
        f" waits ({named}): declare at least {format_duration(least)}",
    )

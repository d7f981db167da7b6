"""Prometheus metrics: what an operator graphs about the bot itself."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    """One registry per process (tests build their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.runs_finished = Counter(
            "chatops_runs_finished_total",
            "Runs that reached an end state, by playbook and status.",
            ["playbook", "status"],
            registry=self.registry,
        )
        self.steps = Histogram(
            "chatops_step_duration_seconds",
            "How long steps took, by action and status.",
            ["action", "status"],
            buckets=(0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900),
            registry=self.registry,
        )
        self.commands = Counter(
            "chatops_commands_total",
            "Commands and button presses handled, by surface and outcome.",
            ["surface", "outcome"],
            registry=self.registry,
        )
        self.approvals_requested = Counter(
            "chatops_approvals_requested_total",
            "Approval waits opened (a run's own, or a step gate's), by playbook.",
            ["playbook", "wait"],
            registry=self.registry,
        )
        self.approval_decisions = Counter(
            "chatops_approval_decisions_total",
            "Approve and Deny decisions that counted, by playbook.",
            ["playbook", "decision"],
            registry=self.registry,
        )
        self.approvals_expired = Counter(
            "chatops_approvals_expired_total",
            "Approval waits that closed undecided when their window passed, by playbook.",
            ["playbook", "wait"],
            registry=self.registry,
        )
        self.approval_wait = Histogram(
            "chatops_approval_decision_seconds",
            "Time from an approval request to each decision that counted.",
            ["decision"],
            buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
            registry=self.registry,
        )
        self.http_refused = Counter(
            "chatops_http_requests_refused_total",
            "Requests refused before any handler read them (bad signature or secret, too "
            "large, malformed), by surface and HTTP status.",
            ["surface", "status"],
            registry=self.registry,
        )
        self.active_runs = Gauge(
            "chatops_active_runs", "Runs executing in this process.", registry=self.registry
        )

"""Dry-run plans: built from a playbook and params, and kept for the runs seen last.

A plan is pure but not free to build; a run's card is re-rendered from its plan on every
edit, so the plans of the last :data:`PLANS_KEPT` runs are kept (bounded: a card nobody
presses Run on would otherwise keep its plan for good).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from bot.config import Config
from bot.db.records import RunRecord
from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import Catalog
from playbooks.lint import ConfigNames
from playbooks.model import Playbook
from playbooks.plan import Plan, build_plan

__all__ = ["PLANS_KEPT", "Plans", "config_names"]

PLANS_KEPT = 2048  # above the runs one process executes at once, so theirs stay


def config_names(config: Config) -> ConfigNames:
    """What ``config`` defines that playbooks name: plans warn about what it lacks."""
    return ConfigNames(
        source=config.source,
        roles=frozenset(config.roles),
        channels=frozenset(config.channels),
        connections=frozenset(config.connections),
        connection_env={name: c.url_env for name, c in config.connections.items()},
    )


class Plans:
    """Builds plans against the catalog, the config and this process's environment; keeps
    recent ones."""

    def __init__(
        self,
        registry: ActionRegistry,
        catalog: Catalog,
        environ: Mapping[str, str],
        names: ConfigNames | None = None,
    ) -> None:
        self._registry = registry
        self._catalog = catalog
        self._environ = environ
        self._names = names
        self._kept: OrderedDict[int, Plan] = OrderedDict()

    def build(self, playbook: Playbook, params: Mapping[str, Any]) -> Plan:
        """The dry-run plan of ``playbook`` with ``params`` (ParamError if they are wrong)."""
        return build_plan(
            playbook,
            dict(params),
            self._registry,
            self._catalog.by_name,
            self._environ,
            names=self._names,
        )

    def remember(self, run_id: int, plan: Plan) -> None:
        """Keep the run's plan for its next card edits (the oldest kept one goes if too many)."""
        self._kept[run_id] = plan
        self._kept.move_to_end(run_id)
        if len(self._kept) > PLANS_KEPT:
            self._kept.popitem(last=False)

    def of(self, run: RunRecord, *, keep: bool) -> Plan:
        """The plan of ``run``: the one kept, or built again; with ``keep``, kept for next
        time, else let go (the run has ended: its card will not change again)."""
        plan = self._kept.pop(run.id, None)
        if plan is None:
            plan = self.build(self._catalog.get(run.playbook), run.params)
        if keep:
            self.remember(run.id, plan)
        return plan

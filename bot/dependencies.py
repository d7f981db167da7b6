"""Everything the service needs, built once from settings: store, config, catalog, clients."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from bot.clock import Clock, SystemClock
from bot.config import Config, load_config
from bot.db.store import Store
from bot.metrics import Metrics
from bot.outbound_http import step_http_client
from bot.settings import Settings
from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import Catalog
from playbooks.secrets import Redactor

__all__ = ["Dependencies", "open_dependencies"]


@dataclass
class Dependencies:
    settings: Settings
    config: Config
    store: Store
    catalog: Catalog
    registry: ActionRegistry
    http: httpx.AsyncClient
    redactor: Redactor
    clock: Clock = field(default_factory=SystemClock)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    metrics: Metrics = field(default_factory=Metrics)

    async def close(self) -> None:
        await self.http.aclose()
        await self.store.close()


def load_catalog(settings: Settings, config: Config, registry: ActionRegistry) -> Catalog:
    """Built-in playbooks, then the config's folders, then CHATOPS_PLAYBOOK_DIRS."""
    return Catalog.load([*config.playbook_dirs, *settings.extra_playbook_dirs()], registry)


async def open_dependencies(
    settings: Settings,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    http: httpx.AsyncClient | None = None,
    redactor: Redactor | None = None,
) -> Dependencies:
    """Load config and catalog (raising a precise error if either is wrong), then open the store.

    ``redactor`` is the process's own, when its log lines already use one: a secret a step
    reads later (``secrets.NAME``) is then redacted from the logs too.
    """
    env = dict(os.environ if environ is None else environ)
    config = load_config(settings.resolved_config_path())
    registry = ActionRegistry.default()
    catalog = load_catalog(settings, config, registry)
    redactor = redactor or Redactor.from_environ(env)
    clock = clock or SystemClock()
    store = await Store.open(settings.database_url, redact=redactor, clock=clock.now)
    client = http or step_http_client()
    return Dependencies(
        settings=settings,
        config=config,
        store=store,
        catalog=catalog,
        registry=registry,
        http=client,
        redactor=redactor,
        clock=clock,
        environ=env,
    )

"""Fixtures for the catalog's tests: a bot whose every target is a local stub.

HTTP targets (Elasticsearch, Prometheus, the deploy and canary APIs …) are one recording
stub server; commands (dbt, kubectl, gh, git …) are stub executables first on PATH; the
``app`` connection is a SQLite file unless a test gives PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.settings import normalize_database_url
from handlers.shell.testing import ConsoleBot
from tests.playbooks.catalog.commands import StubCommands
from tests.support.console import BotFactory
from tests.support.databases import POSTGRES_URL_ENV
from tests.support.stub_server import StubServer

# Who decides, where escalations go, which databases `sql` steps use; approvals polled fast.
TEAM = """
roles:
  sre-lead: {shell: [bob]}
channels:
  devops-alerts: {shell: devops-alerts}
  security: {shell: security}
  incidents: {shell: incidents}
  executive-briefing: {shell: executive-briefing}
  data-team: {shell: data-team}
connections:
  app: {url_env: APP_DATABASE_URL}
engine: {approval_poll_every: 50ms}
"""

CatalogBot = Callable[..., Awaitable[ConsoleBot]]


@pytest.fixture
def commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StubCommands:
    """Stub executables first on PATH (shell steps inherit PATH from the bot's process)."""
    stubs = StubCommands(tmp_path / "bin")
    # Only the stubs: a command a test did not stub is "not found", never the real one.
    monkeypatch.setenv("PATH", str(stubs.folder))
    return stubs


@pytest.fixture
def workdirs(tmp_path: Path) -> dict[str, str]:
    """Folders the playbooks work in (dbt project, pipeline checkout …), created empty."""
    names = {
        "DBT_PROJECT_DIR": "dbt",
        "PIPELINE_DIR": "pipeline",
        "CCT_REPO_DIR": "cct",
        "COMPOSE_PROJECT_DIR": "compose",
        "ARCHIVE_DIR": "archive",
        "BACKUP_DIR": "backup",
    }
    folders = {}
    for variable, name in names.items():
        folder = tmp_path / "work" / name
        folder.mkdir(parents=True)
        folders[variable] = str(folder)
    return folders


@pytest.fixture
def catalog_env(stub_server: StubServer, workdirs: dict[str, str]) -> dict[str, str]:
    """Every variable the catalog's playbooks read, targets pointing at the stubs."""
    return {
        **workdirs,
        "DEPLOY_API_URL": stub_server.url,
        "DEPLOY_API_KEY": "deploy-key-6c1d",
        "GRAFANA_URL": "https://grafana.example.com",
        "CCT_URL": stub_server.url,
        "X_API_KEY": "cct-key-93fa",
        "GH_TOKEN": "gh-token-51e0",
        "GH_REPO": "example/cct",
        "MODEL_REGISTRY_URL": stub_server.url,
        "MODEL_REGISTRY_API_KEY": "registry-key-7d2c",
        "API_ADMIN_KEY": "admin-key-0b8e",
        "SUPABASE_URL": stub_server.url,
        "SUPABASE_KEY": "supabase-key-4a11",
        "SUPABASE_SERVICE_ROLE_KEY": "service-role-key-9c3b",
        "CASCADE_SESSION_COOKIE": "cascade-cookie-2f7e",
    }


@pytest.fixture
def catalog_bot(make_bot: BotFactory, catalog_env: dict[str, str]) -> CatalogBot:
    """``await catalog_bot(env={...})``: the built-in catalog with TEAM's config."""

    async def open_bot(*, env: dict[str, str] | None = None, config: str = TEAM) -> ConsoleBot:
        return await make_bot(config=config, env={**catalog_env, **(env or {})})

    return open_bot


async def dry_run(bot: ConsoleBot, command: str, *, user: str = "alice") -> str:
    """What ``/playbook COMMAND --dry-run`` answers ``user`` (privately)."""
    said = await bot.send(f"/playbook {command} --dry-run", user=user)
    assert said, f"no answer to {command!r}"
    return said[-1].text


def requested(stub_server: StubServer) -> list[str]:
    """``METHOD /path`` of every request the stub server received, in order."""
    return [f"{r.method} {r.path}" for r in stub_server.requests]


def execute_sql(url: str, *statements: str) -> list[Any]:
    """Run ``statements`` on the database at ``url`` (a test's own schema); the last one's
    rows, if it returns any."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = None
            for statement in statements:
                result = conn.execute(text(statement))
            return list(result) if result is not None and result.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def own_database() -> Iterator[str]:
    """A PostgreSQL database of this test's own (random name), dropped afterwards: for steps
    that act on every session of their database, which the shared one must never see."""
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_ENV}")
    url = make_url(normalize_database_url(base))
    name = f"chatops_catalog_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

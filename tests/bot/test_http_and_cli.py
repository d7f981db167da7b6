"""The HTTP endpoints and the command line, as an operator meets them."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from bot.cli import app
from bot.http import build_http_app
from tests.support.console import BotFactory

runner = CliRunner()

BROKEN = """\
name: broken
steps:
  - id: call
    action: htp
    with: {url: "http://x"}
"""


async def test_health_ready_and_metrics(make_bot: BotFactory, tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    bot = await make_bot(database_url=f"sqlite+aiosqlite:///{folder}/chatops.db")
    await bot.send("/playbook list")
    transport = httpx.ASGITransport(app=build_http_app(bot.service))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        assert (await client.get("/healthz")).json() == {"status": "alive"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'chatops_commands_total{outcome="ok",surface="shell"} 1.0' in metrics
        assert "chatops_active_runs 0.0" in metrics

        folder.rename(tmp_path / "db-gone")
        await bot.deps.store.engine.dispose()
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["status"] == "unavailable"
        assert (await client.get("/healthz")).status_code == 200


def test_check_passes_on_the_built_in_catalog(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check"], env={"CHATOPS_PLAYBOOK_DIRS": ""})
    assert result.exit_code == 0, result.output
    assert "3 playbooks" in result.output


def test_check_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    result = runner.invoke(app, ["check"], env={"CHATOPS_PLAYBOOK_DIRS": str(tmp_path)})
    assert result.exit_code == 1
    assert f"error: {tmp_path}/broken.yaml:4: steps[0].action: unknown action `htp`" in (
        result.output
    )


def test_check_refuses_secrets_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    config.write_text("roles: {}\nslack_bot_token: xoxb-123\n")
    result = runner.invoke(app, ["check"], env={"CHATOPS_CONFIG": str(config)})
    assert result.exit_code == 1
    assert f"{config}:2: slack_bot_token: secrets are read from the environment" in result.output


def test_plan_prints_a_dry_run_and_sends_nothing() -> None:
    result = runner.invoke(
        app,
        ["plan", "clear-cache", "index_name=kb"],
        env={"ES_URL": "http://127.0.0.1:9", "CHATOPS_PLAYBOOK_DIRS": ""},
    )
    assert result.exit_code == 0, result.output
    assert "POST http://127.0.0.1:9/kb/_cache/clear" in result.output
    assert "nothing was executed" in result.output


def test_plan_rejects_bad_params_and_unknown_playbooks() -> None:
    bad = runner.invoke(app, ["plan", "clear-cache", "cache_types=nope"])
    assert bad.exit_code == 1
    assert "`nope` is not one of: query, request, fielddata" in bad.output
    unknown = runner.invoke(app, ["plan", "latency-spik"])
    assert unknown.exit_code == 1
    assert "Did you mean `latency-spike`?" in unknown.output


def test_playbooks_list_and_db_upgrade(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["playbooks", "list"])
    assert listed.exit_code == 0
    assert "latency-spike" in listed.output
    upgraded = runner.invoke(
        app, ["db", "upgrade"], env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    assert upgraded.exit_code == 0, upgraded.output
    assert "database at revision 0004" in upgraded.output

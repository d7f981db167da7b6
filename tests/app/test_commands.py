"""The HTTP endpoints and the command line, as an operator meets them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import app
from bot.db.migrate import HEAD
from bot.http_app import build_http_app
from playbooks.catalog import BUILTIN_DIR
from tests.playbooks.plugins import ECHO_PLUGIN, install_plugin
from tests.support.console import BotFactory
from tests.support.databases import aiosqlite_workers_stopped

runner = CliRunner()
BUILT_IN = len(list(BUILTIN_DIR.glob("*.yaml")))
# The connections and channels the built-in playbooks use (README's Configuration lists them).
CATALOG_CONFIG = """
connections:
  app: {url_env: APP_DATABASE_URL}
channels:
  devops-alerts: {shell: devops-alerts}
  executive-briefing: {shell: executive-briefing}
  security: {shell: security}
"""

BROKEN = """\
name: broken
steps:
  - id: call
    action: htp
    with: {url: "http://x"}
"""

BAD_PLAYBOOK = """\
name: bad
params:
  replicas: {type: integer, min: 5, max: 1}
steps:
  - id: a
    action: http
    with: {url: "{{ params.nope }}"}
  - id: b
    action: http
    with: {url: "{{ env.ES_URL | nosuchfilter }}"}
  - id: c
    when: "{{ steps.zzz.failed }}"
    action: playbook
    with: {name: clear-cache, params: {index_nme: x, cache_types: [bogus]}}
  - id: d
    action: poll
    with: {check: {action: nosuch, qury: x}, until: "value <"}
"""

TOO_QUICK = """\
name: too-quick
estimate: {duration: 1s}
steps:
  - id: kick
    action: http
    with: {url: "http://127.0.0.1:9/kick"}
  - id: settle
    action: wait
    with: {duration: 12s}
  - id: maybe
    when: "{{ steps.kick.failed }}"
    action: wait
    with: {duration: 1h}
"""

GUARDED_PLAYBOOK = """\
name: guarded
allowed: [sre]
channels: [incident]
approval:
  approvers: [sre-leads]
steps:
  - id: tell
    action: notify
    with: {message: hello, channel: ops}
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
    await aiosqlite_workers_stopped()


def test_check_passes_on_the_built_in_catalog(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check"], env={"CHATOPS_PLAYBOOK_DIRS": ""})
    assert result.exit_code == 0, result.output
    # Its sql steps query the `app` connection and some steps post to channels, which the
    # built-in defaults do not define: warnings, each naming the file and line.
    warnings = result.stderr.splitlines()
    assert warnings
    assert all(line.startswith(f"warning: {BUILTIN_DIR}") for line in warnings)
    assert all(line.endswith("this step will fail until one is added") for line in warnings)
    count = f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''}"
    assert result.stdout == f"ok: config (built-in defaults), {BUILT_IN} playbooks, {count}\n"


def test_check_does_not_warn_about_connections_and_channels_the_config_defines(
    tmp_path: Path,
) -> None:
    config = tmp_path / "chatops.yaml"
    config.write_text(CATALOG_CONFIG)
    result = runner.invoke(
        app, ["check"], env={"CHATOPS_CONFIG": str(config), "CHATOPS_PLAYBOOK_DIRS": ""}
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout == f"ok: config {config}, {BUILT_IN} playbooks\n"


def test_check_reports_every_problem_of_a_broken_playbook(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    config.write_text(CATALOG_CONFIG)
    folder = tmp_path / "playbooks"
    folder.mkdir()
    path = folder / "bad.yaml"
    path.write_text(BAD_PLAYBOOK)
    result = runner.invoke(
        app, ["check"], env={"CHATOPS_CONFIG": str(config), "CHATOPS_PLAYBOOK_DIRS": str(folder)}
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}:3: params.replicas.min: `min` (5) is greater than `max` (1):"
        " no value can pass",
        f"error: {path}:7: steps[0].with.url: `params.nope` is not a parameter of this playbook"
        " (parameters: `replicas`)",
        f"error: {path}:10: steps[1].with.url: template error: No filter named 'nosuchfilter'.",
        f"error: {path}:12: steps[2].when: `steps.zzz`: no step has the id `zzz`"
        " (steps before this one: a, b)",
        f"error: {path}:14: steps[2].with.params.index_nme: `index_nme` is not a parameter of"
        " clear-cache (parameters: `index_name`, `cache_types`)",
        f"error: {path}:14: steps[2].with.params.cache_types: `bogus` is not one of:"
        " query, request, fielddata",
        f"error: {path}:17: steps[3].with.until: template error: unexpected"
        " 'end of print statement'",
        f"error: {path}:17: steps[3].with.check.action: unknown action `nosuch`"
        " (known: http, notify, playbook, poll, prometheus, shell, sql, wait)",
    ]
    assert result.stdout == ""


def test_check_holds_playbooks_to_the_configs_roles_and_channels(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    config.write_text(
        "roles:\n  sre-lead: {shell: [alice]}\n"
        "channels:\n  incidents: {shell: incidents}\n"
        "connections:\n  app: {url_env: APP_DATABASE_URL}\n"
    )
    folder = tmp_path / "playbooks"
    folder.mkdir()
    path = folder / "guarded.yaml"
    path.write_text(GUARDED_PLAYBOOK)
    result = runner.invoke(
        app, ["check"], env={"CHATOPS_CONFIG": str(config), "CHATOPS_PLAYBOOK_DIRS": str(folder)}
    )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    # The built-in playbooks' warnings (channels this config lacks) come first, by file.
    assert all(
        line.startswith(f"warning: {BUILTIN_DIR}") for line in lines if path.name not in line
    )
    assert [line for line in lines if path.name in line] == [
        f"error: {path}:2: allowed[0]: no role `sre` in the config ({config}; roles: sre-lead)",
        f"error: {path}:3: channels[0]: no channel `incident` in the config ({config};"
        " channels: incidents)",
        f"error: {path}:5: approval.approvers[0]: no role `sre-leads` in the config ({config};"
        " roles: sre-lead)",
        f"warning: {path}:9: steps[0].with.channel: no channel `ops` in the config ({config};"
        " it defines incidents): this step will fail until one is added",
    ]

    # The built-in defaults define no roles or channels: there is nothing to hold them to.
    default = runner.invoke(app, ["check"], env={"CHATOPS_PLAYBOOK_DIRS": str(folder)})
    assert default.exit_code == 0, default.output
    assert "allowed" not in default.stderr


def test_check_reports_config_and_playbook_errors_together(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    config.write_text("roles: {}\ncolour: blue\nslack_bot_token: xoxb-123\n")
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "broken.yaml").write_text(BROKEN)
    result = runner.invoke(
        app, ["check"], env={"CHATOPS_CONFIG": str(config), "CHATOPS_PLAYBOOK_DIRS": str(folder)}
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {config}:2: colour: Extra inputs are not permitted",
        f"error: {config}:3: slack_bot_token: secrets are read from the environment,"
        " never from the config file",
        f"error: {folder}/broken.yaml:4: steps[0].action: unknown action `htp`"
        " (known: http, notify, playbook, poll, prometheus, shell, sql, wait)",
    ]
    assert "xoxb-123" not in result.output


def test_check_names_a_broken_action_plugin_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        module="chatops_broken_cli",
        source="import chatops_nosuchdependency\n",
        entry_points={"pager": "chatops_broken_cli:PagerAction"},
    )
    result = runner.invoke(app, ["check"], env={"CHATOPS_PLAYBOOK_DIRS": ""})
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "error: action plug-in `pager = chatops_broken_cli:PagerAction` (chatops.actions)"
        " failed to load: ModuleNotFoundError: No module named 'chatops_nosuchdependency'"
    )
    assert "Traceback" not in result.output


def test_check_accepts_a_playbook_using_an_installed_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        module="chatops_echo_cli",
        source=ECHO_PLUGIN,
        entry_points={"echo": "chatops_echo_cli:EchoAction"},
    )
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "greet.yaml").write_text(
        "name: greet\nsteps:\n  - {id: hello, action: echo, with: {text: hi}}\n"
    )
    result = runner.invoke(app, ["check"], env={"CHATOPS_PLAYBOOK_DIRS": str(folder)})
    assert result.exit_code == 0, result.output
    assert f"{BUILT_IN + 1} playbooks" in result.stdout
    planned = runner.invoke(app, ["plan", "greet"], env={"CHATOPS_PLAYBOOK_DIRS": str(folder)})
    assert planned.exit_code == 0, planned.output
    assert "say 'hi'" in planned.stdout


def test_check_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    result = runner.invoke(app, ["check"], env={"CHATOPS_PLAYBOOK_DIRS": str(tmp_path)})
    assert result.exit_code == 1
    assert f"error: {tmp_path}/broken.yaml:4: steps[0].action: unknown action `htp`" in (
        result.output
    )


def test_check_warns_about_an_estimate_below_what_the_waits_alone_take(tmp_path: Path) -> None:
    (tmp_path / "quick.yaml").write_text(TOO_QUICK)
    result = runner.invoke(
        app, ["check"], env={"CHATOPS_PLAYBOOK_DIRS": str(tmp_path), "CHATOPS_CONFIG": None}
    )
    assert result.exit_code == 0, result.output
    assert (
        f"warning: {tmp_path}/quick.yaml:2: estimate.duration: 1s is less than the 12s every"
        " run waits (`settle`): declare at least 12s"
    ) in result.stderr.splitlines()


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


UNSET = dict.fromkeys(
    ["ES_URL", "PROMETHEUS_URL", "JAEGER_URL", "API_URL", "GRAFANA_URL", "CHATOPS_CONFIG"]
)


def test_plan_warns_about_everything_latency_spike_would_miss_and_prints_no_template() -> None:
    result = runner.invoke(
        app,
        ["plan", "latency-spike"],
        env={**UNSET, "CHATOPS_PLAYBOOK_DIRS": "", "GRAFANA_URL": "https://grafana"},
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("⚠️")]
    assert warnings == [
        "⚠️ slow_traces: environment variable JAEGER_URL is not set",
        "⚠️ long_queries: no connection `app` in the config"
        " (built-in defaults; it defines no connections)",
        "⚠️ circuit_breakers: environment variable API_URL is not set",
        "⚠️ clear_cache (clear-cache), refresh_synonyms (refresh-synonyms):"
        " environment variable ES_URL is not set",
        "⚠️ monitor: environment variable PROMETHEUS_URL is not set",
    ]
    assert "(only if `monitor` failed)" in result.output
    assert "8. `report` post in the run's thread: if `monitor` succeeded, “p95" in result.output
    assert "{{" not in result.output and "{%" not in result.output


def test_plan_rejects_bad_params_and_unknown_playbooks() -> None:
    bad = runner.invoke(app, ["plan", "clear-cache", "cache_types=nope"])
    assert bad.exit_code == 1
    assert "`nope` is not one of: query, request, fielddata" in bad.output
    unknown = runner.invoke(app, ["plan", "latency-spik"])
    assert unknown.exit_code == 1
    assert "Did you mean `latency-spike`" in unknown.output


def test_playbooks_list_and_db_upgrade(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["playbooks", "list"])
    assert listed.exit_code == 0
    assert "latency-spike" in listed.output
    upgraded = runner.invoke(
        app, ["db", "upgrade"], env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database at revision {HEAD}" in upgraded.output


def test_db_upgrade_names_an_unreachable_database_in_one_line() -> None:
    result = runner.invoke(
        app, ["db", "upgrade"], env={"DATABASE_URL": "postgresql://postgres:s3cret@127.0.0.1:1/x"}
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: cannot open the database postgresql+psycopg://postgres:***@127.0.0.1:1/x:"
        ' connection failed: connection to server at "127.0.0.1", port 1 failed:'
        " Connection refused"
    ]
    assert "s3cret" not in result.output


def test_db_upgrade_names_a_missing_driver(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["db", "upgrade"], env={"DATABASE_URL": "mysql://app:s3cret@db.internal/app"}
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: cannot open the database mysql://app:***@db.internal/app:"
        " its driver `MySQLdb` is not installed"
    ]


@pytest.mark.parametrize("command", [["shell"], ["run"], ["db", "upgrade"]])
def test_every_command_that_opens_the_database_says_why_it_cannot(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "taken").write_text("a file where the database's folder should be\n")
    url = f"sqlite:///{tmp_path}/taken/chatops.db"
    result = runner.invoke(app, command, env={"DATABASE_URL": url}, input="")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: cannot open the database sqlite+aiosqlite:///{tmp_path}/taken/chatops.db:"
        f" cannot make its folder {tmp_path}/taken: File exists"
    ]


def test_a_sqlite_database_in_a_folder_not_made_yet_is_made_with_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/data/chatops/chatops.db"
    result = runner.invoke(app, ["db", "upgrade"], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "chatops" / "chatops.db").is_file()


def test_start_up_names_every_broken_playbook_at_once(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    (tmp_path / "bad.yaml").write_text(BAD_PLAYBOOK)
    database = f"sqlite+aiosqlite:///{tmp_path}/chatops.db"
    result = runner.invoke(
        app,
        ["shell"],
        env={"CHATOPS_PLAYBOOK_DIRS": str(tmp_path), "DATABASE_URL": database},
        input="",
    )
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert len(errors) > 1
    assert all(line.startswith("error: ") for line in errors)
    assert any(f"{tmp_path}/broken.yaml:4: steps[0].action: unknown action" in e for e in errors)
    assert any(f"{tmp_path}/bad.yaml:" in e for e in errors)

"""The config's metrics, alert rules and schedules: `chatops check` names every problem at
once, as `file:line: field: problem`, and passes the sample chatops.example.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from bot.config import ConfigError, load_config

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "chatops.example.yaml"

BROKEN = """\
roles:
  sre-lead: {shell: [alice]}
channels:
  reports: {shell: reports}
metrics:
  par_90:
    unit: "%"
    source: {http: {url: "http://kpis", field: par_90}}
    warning: "> 3.0 hrs"
    critical: "very high"
  freshness:
    source: {http: {url: "http://kpis", field: age}, sql: {connection: a, query: x}}
alerts:
  par-critical:
    metric: par_9
    channel: executive
    mention: [cfo]
  failures:
    runs: {playbooks: [no-such-playbook]}
    channel: reports
schedules:
  digest:
    cron: "0 25 * * *"
    digest: {channel: report}
  weekly:
    cron: "0 2 * * 1"
    playbook: {name: weekly-maintenance, channel: reports}
  checks:
    every: 15m
    timezone: Mars/Olympus
    alerts: [par-critical, nope]
    allowed: [sre]
  both:
    cron: "0 8 * * *"
    every: 1h
    digest: {channel: reports}
"""


def test_the_sample_config_carries_the_runbooks_calendar_metrics_and_rules() -> None:
    config = load_config(EXAMPLE)
    assert set(config.channels) >= {
        "fintech-reports",
        "risk-monitoring",
        "compliance-team",
        "executive-briefing",
        "devops-alerts",
    }
    table = {
        key: (m.target.text if m.target else None, m.warning.text if m.warning else None,
              m.critical.text if m.critical else None)
        for key, m in config.metrics.items()
    }  # fmt: skip
    assert table == {
        "par_90": ("< 3.0%", "> 3.0%", "> 5.0%"),
        "collection_rate": ("> 1.5%", "< 1.5%", "< 1.0%"),
        "rdr_90": ("> 50%", "< 50%", "< 25%"),
        "portfolio_health": ("> 5.0", "< 5.0", "< 3.0"),
        "pipeline_latency": ("< 10min", "> 12min", "> 15min"),
        "data_freshness": ("< 6hrs", "> 8hrs", "> 12hrs"),
        "error_count": ("0", "> 5", "> 10"),
        "compliance_violations": ("0", None, "> 0"),
    }
    rules = {key: (r.channel, r.mention) for key, r in config.alerts.items()}
    assert rules == {
        "par-90-critical": ("executive-briefing", ["cfo"]),
        "collection-rate-low": ("risk-monitoring", []),
        "compliance-violation": ("compliance-team", ["general-counsel"]),
        "pipeline-failure": ("devops-alerts", ["sre-oncall"]),
    }
    schedules = config.schedules
    assert schedules["daily-summary"].digest is not None
    assert schedules["daily-summary"].digest.channel == "fintech-reports"
    assert [schedules[k].cron for k in ("weekly-maintenance", "monthly-maintenance",
                                         "quarterly-maintenance")] == [
        "0 2 * * mon", "0 2 1-7 * mon", "0 2 1 1,4,7,10 *"
    ]  # fmt: skip


def test_check_passes_the_sample_config_with_the_built_in_catalog() -> None:
    result = runner.invoke(
        app, ["check"], env={"CHATOPS_CONFIG": str(EXAMPLE), "CHATOPS_PLAYBOOK_DIRS": ""}
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # not even a warning: every channel and connection is there
    assert result.stdout.startswith(f"ok: config {EXAMPLE}, ")


def test_check_names_a_playbook_the_schedules_need_but_the_catalog_lacks(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    text = EXAMPLE.read_text()
    config.write_text(
        text.replace("name: monthly-maintenance", "name: monthly-maintenanse").replace(
            "name: quarterly-maintenance", "name: quarterly-maintenanse"
        )
    )
    result = runner.invoke(
        app, ["check"], env={"CHATOPS_CONFIG": str(config), "CHATOPS_PLAYBOOK_DIRS": ""}
    )
    assert result.exit_code == 1
    lines = config.read_text().splitlines()
    monthly = next(i for i, line in enumerate(lines, 1) if "name: monthly-maintenanse" in line)
    quarterly = next(i for i, line in enumerate(lines, 1) if "name: quarterly-maintenanse" in line)
    assert result.stderr.splitlines() == [
        f"error: {config}:{monthly}: schedules.monthly-maintenance.playbook.name:"
        " no playbook `monthly-maintenanse` in the catalog",
        f"error: {config}:{quarterly}: schedules.quarterly-maintenance.playbook.name:"
        " no playbook `quarterly-maintenanse` in the catalog",
    ]


def test_check_reports_every_problem_of_the_scheduler_sections_at_once(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    config.write_text(BROKEN)
    result = runner.invoke(
        app, ["check"], env={"CHATOPS_CONFIG": str(config), "CHATOPS_PLAYBOOK_DIRS": ""}
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {config}:9: metrics.par_90.warning: `> 3.0 hrs` is in `hrs` but the metric's"
        " unit is `%`",
        f"error: {config}:10: metrics.par_90.critical: cannot read the threshold 'very high':"
        " write an operator (<, <=, >, >=, =), a number and optionally the metric's unit,"
        " e.g. `< 3.0%`",
        f"error: {config}:12: metrics.freshness.source: give exactly one source: `http`,"
        " `prometheus` or `sql`",
        f"error: {config}:15: alerts.par-critical.metric: no metric `par_9` in the config"
        " (metrics: freshness, par_90)",
        f"error: {config}:16: alerts.par-critical.channel: no channel `executive` in the config"
        " (channels: reports)",
        f"error: {config}:17: alerts.par-critical.mention[0]: no role `cfo` in the config"
        " (roles: sre-lead)",
        f"error: {config}:23: schedules.digest.cron: cannot read the cron expression"
        " `0 25 * * *`: Error validating expression '25': the last value (25) is higher"
        " than the maximum value (23)",
        f"error: {config}:24: schedules.digest.digest.channel: no channel `report` in the"
        " config (channels: reports)",
        f"error: {config}:26: schedules.weekly.cron: write weekdays as names (mon, tue … sun),"
        " not `1`: APScheduler reads 0 as Monday where crontab reads it as Sunday",
        f"error: {config}:30: schedules.checks.timezone: unknown time zone `Mars/Olympus`"
        " (e.g. UTC, Europe/London)",
        f"error: {config}:31: schedules.checks.alerts[1]: no alert rule `nope` in the config"
        " (alert rules: failures, par-critical)",
        f"error: {config}:32: schedules.checks.allowed[0]: no role `sre` in the config"
        " (roles: sre-lead)",
        f"error: {config}:33: schedules.both: give exactly one of `cron` or `every`",
    ]


def test_a_config_with_a_broken_schedule_does_not_load(tmp_path: Path) -> None:
    path = tmp_path / "chatops.yaml"
    path.write_text("schedules:\n  x: {every: 1h}\n")
    with pytest.raises(ConfigError, match=r"chatops.yaml:2: schedules.x: a schedule does"):
        load_config(path)

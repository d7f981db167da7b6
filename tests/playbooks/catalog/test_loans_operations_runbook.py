"""The loans analytics operations runbook: pipeline timeout, high memory, Supabase
connection, deploy rollback and the weekly, monthly and quarterly maintenance, run in a
pipeline checkout of the test's own with stub (or, for file clean-up, real) commands."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from bot.lifecycle import RunStatus, StepStatus
from tests.playbooks.catalog.commands import StubCommands
from tests.playbooks.catalog.conftest import CatalogBot, dry_run
from tests.playbooks.catalog.coverage import dry_run_test, execution_test
from tests.support.stub_server import StubServer

PIPELINE_ENV = {
    "PIPELINE_ENV": "production",
    "CASCADE_SESSION_COOKIE": "cascade-cookie-2f7e",
    "SUPABASE_SERVICE_ROLE_KEY": "service-role-key-9c3b",
}


# --- pipeline-timeout ---------------------------------------------------------------------


@dry_run_test("pipeline-timeout")
async def test_pipeline_timeout_dry_run_reads_logs_and_profiles_only_the_named_phase(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "pipeline-timeout")
    output = await dry_run(bot, "pipeline-timeout phase=output")

    assert "run `grep -r -i -E 'phase|error' '--include=pipeline_*.log' logs/runs/latest`" in text
    assert "run `jq .phases logs/runs/latest/pipeline_summary.json`" in text
    assert "`profile` Profile the phase (skipped with these params)" in text
    assert "Estimate: ~1m · $0" in text
    assert "run `python scripts/performance_stress_test.py --phase output`" in output
    assert "“Output slow: check the Supabase connection" in output
    assert commands.calls() == []


@execution_test("pipeline-timeout")
async def test_pipeline_timeout_finds_the_slow_phase_in_the_checkout_and_profiles_it(
    catalog_bot: CatalogBot, commands: StubCommands, workdirs: dict[str, str]
) -> None:
    commands.add("grep", "jq", "python")
    commands.answer("jq", [".phases"], output='{"ingestion": "14m02s", "output": "0m40s"}')
    bot = await catalog_bot()

    await bot.send("/playbook pipeline-timeout phase=ingestion")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert commands.argvs() == [
        ["grep", "-r", "-i", "-E", "phase|error", "--include=pipeline_*.log", "logs/runs/latest"],
        ["jq", ".phases", "logs/runs/latest/pipeline_summary.json"],
        ["python", "scripts/performance_stress_test.py", "--phase", "ingestion"],
    ]
    assert {c.cwd for c in commands.calls()} == {workdirs["PIPELINE_DIR"]}
    assert any("📣 Ingestion slow: check the Cascade API" in t for t in bot.thread(1))
    assert not any("Output slow" in t for t in bot.thread(1))


# --- high-memory --------------------------------------------------------------------------


@dry_run_test("high-memory")
async def test_high_memory_dry_run_reads_processes_and_sizes(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "high-memory")

    assert "run `ps -eo pid,rss,vsz,etime,args --sort=rss`" in text
    assert "run `du -sh data/raw/cascade/loan_tape.csv`" in text
    assert "• Nothing changes: processes and file sizes are only read" in text
    assert commands.calls() == []


@execution_test("high-memory")
async def test_high_memory_measures_the_processes_and_the_dataset(
    catalog_bot: CatalogBot, commands: StubCommands, workdirs: dict[str, str]
) -> None:
    commands.add("ps", "du")
    commands.answer("du", ["-sh", "data/raw/cascade/loan_tape.csv"], output="12G\tloan_tape.csv")
    bot = await catalog_bot()

    await bot.send("/playbook high-memory")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert commands.argvs() == [
        ["ps", "-eo", "pid,rss,vsz,etime,args", "--sort=rss"],
        ["du", "-sh", "data/raw/cascade/loan_tape.csv"],
        ["du", "-sh", "data/raw"],
    ]
    dataset = next(s for s in await bot.deps.store.steps(1) if s.step_id == "dataset_size")
    assert dataset.output == "12G\tloan_tape.csv"
    assert commands.calls()[1].cwd == workdirs["PIPELINE_DIR"]


# --- database-connection ------------------------------------------------------------------


@dry_run_test("database-connection")
async def test_database_connection_dry_run_probes_supabase_and_the_network(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "database-connection")

    assert f"GET {stub_server.url}/rest/v1/ (headers apikey)" in text
    assert "run `ping -c 3 api.supabase.com`" in text
    assert "supabase-key-4a11" not in text
    assert stub_server.requests == [] and commands.calls() == []


@execution_test("database-connection")
async def test_database_connection_calls_supabase_with_the_key_and_pings_it(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands
) -> None:
    stub_server.route("GET", "/rest/v1/", json={"swagger": "2.0"})
    commands.add("ping")
    commands.fail(
        "ping", [], exit_code=2, output="ping: api.supabase.com: Name or service not known"
    )
    bot = await catalog_bot()

    await bot.send("/playbook database-connection")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    [call] = stub_server.requests
    assert call.headers["apikey"] == "supabase-key-4a11"
    assert commands.argvs() == [["ping", "-c", "3", "api.supabase.com"]]
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["network"] is StepStatus.FAILED
    assert any("📣 Supabase answers with the configured key." in t for t in bot.thread(1))


# --- rollback-deploy ----------------------------------------------------------------------


@dry_run_test("rollback-deploy")
async def test_rollback_deploy_dry_run_always_asks_approval_and_says_what_moves(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "rollback-deploy commit=4f2a9c1")

    assert "Risk: high" in text and "Approval: required" in text
    assert "3. `checkout` Check out the stable commit: run `git checkout 4f2a9c1`" in text
    assert "run `python scripts/run_data_pipeline.py` in" in text
    assert (
        "with CASCADE_SESSION_COOKIE, PIPELINE_ENV, SUPABASE_SERVICE_ROLE_KEY, SUPABASE_URL set"
        in text
    )
    assert "post to #executive-briefing: “Rollback complete to 4f2a9c1 (run #<run.id>).”" in text
    assert "• The pipeline checkout moves to commit 4f2a9c1" in text
    assert commands.calls() == []


@execution_test("rollback-deploy")
async def test_rollback_deploy_checks_out_reinstalls_runs_and_tells_the_team(
    catalog_bot: CatalogBot, commands: StubCommands, workdirs: dict[str, str]
) -> None:
    commands.add("git", "pip", "python")
    commands.answer("git", ["rev-parse"], output="9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e")
    bot = await catalog_bot()

    await bot.send("/playbook rollback-deploy commit=4f2a9c1d")
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert commands.argvs() == [
        ["git", "log", "--oneline", "-10"],
        ["git", "rev-parse", "HEAD"],
        ["git", "checkout", "4f2a9c1d"],
        ["git", "log", "--oneline", "-1"],
        ["pip", "install", "-r", "requirements.txt"],
        ["python", "scripts/run_data_pipeline.py"],
    ]
    assert {c.cwd for c in commands.calls()} == {workdirs["PIPELINE_DIR"]}
    pipeline = commands.calls()[-1].env
    assert {k: pipeline[k] for k in PIPELINE_ENV} == PIPELINE_ENV
    assert bot.channel_posts("executive-briefing") == ["Rollback complete to 4f2a9c1 (run #1)."]
    assert any("The commit before the rollback was 9d8e7f6a5b4c" in t for t in bot.thread(1))


@execution_test("rollback-deploy")
async def test_rollback_deploy_stops_before_running_when_the_reinstall_fails(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    commands.add("git", "pip", "python")
    commands.fail("pip", ["install"], output="ERROR: No matching distribution for pandas==9.9")
    bot = await catalog_bot()

    await bot.send("/playbook rollback-deploy commit=4f2a9c1d")
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.FAILED
    assert [c.name for c in commands.calls()] == ["git", "git", "git", "git", "pip"]
    assert bot.channel_posts("executive-briefing") == []


# --- weekly-maintenance -------------------------------------------------------------------


def aged(path: Path, days: int) -> Path:
    """``path`` with its modification time ``days`` ago."""
    then = time.time() - days * 86400
    os.utime(path, (then, then))
    return path


@dry_run_test("weekly-maintenance")
async def test_weekly_maintenance_dry_run_lists_before_it_deletes(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "weekly-maintenance")

    assert (
        "1. `old_logs` Run logs to delete: run `find logs/runs -mindepth 1 -maxdepth 1 -type d"
        " -mtime +30 -print`"
    ) in text
    assert "-mtime +30 -exec rm -rf '{}' +`" in text
    assert "-mtime +90 -exec mv '{}' data/archive/ ';'`" in text
    assert "run `make audit-code`" in text
    assert "• Run logs older than 30 days are DELETED (logs/runs)" in text
    assert "Approval: not required" in text
    assert commands.calls() == []


@execution_test("weekly-maintenance")
async def test_weekly_maintenance_deletes_only_old_run_folders_and_archives_old_raw_files(
    catalog_bot: CatalogBot, commands: StubCommands, workdirs: dict[str, str]
) -> None:
    # The real find, rm and mv, in the test's own pipeline folder: what they delete matters.
    for tool in ("find", "rm", "mv"):
        real = shutil.which(tool, path="/usr/bin:/bin")
        assert real is not None
        (commands.folder / tool).symlink_to(real)
    commands.add("make")
    root = Path(workdirs["PIPELINE_DIR"])
    runs = root / "logs" / "runs"
    (runs / "2026-09-01").mkdir(parents=True)
    (runs / "2026-09-01" / "pipeline_1.log").write_text("old")
    aged(runs / "2026-09-01", 60)
    (runs / "2026-11-20").mkdir()
    raw = root / "data" / "raw" / "cascade"
    raw.mkdir(parents=True)
    (root / "data" / "archive").mkdir()
    old_tape = raw / "loan_tape_2026-06.csv"
    old_tape.write_text("old")
    aged(old_tape, 120)
    (raw / "loan_tape_2026-11.csv").write_text("new")
    aged(runs, 60)  # logs/runs itself is old too, and must stay
    bot = await catalog_bot()

    await bot.send("/playbook weekly-maintenance")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED, run.error
    assert sorted(p.name for p in runs.iterdir()) == ["2026-11-20"]
    assert sorted(p.name for p in raw.iterdir()) == ["loan_tape_2026-11.csv"]
    assert sorted(p.name for p in (root / "data" / "archive").iterdir()) == [
        "loan_tape_2026-06.csv"
    ]
    listed = next(s for s in await bot.deps.store.steps(1) if s.step_id == "old_logs")
    assert listed.output == "logs/runs/2026-09-01"
    assert commands.argvs() == [["make", "audit-code"]]


# --- monthly-maintenance ------------------------------------------------------------------


@dry_run_test("monthly-maintenance")
async def test_monthly_maintenance_dry_run_backs_up_without_showing_the_database_url(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    db_url = "postgresql://analytics:pw-8c1d@db.supabase.co/postgres"
    bot = await catalog_bot(env={"SUPABASE_DB_URL": db_url})

    text = await dry_run(bot, "monthly-maintenance")
    no_upgrade = await dry_run(bot, "monthly-maintenance upgrade_dependencies=false")

    assert "run `pg_dump --schema=analytics --format=custom" in text
    assert db_url not in text
    assert "run `pg_restore --list" in text
    assert "• Dependencies are upgraded (pip install --upgrade) and checked (make quality)" in text
    assert "`upgrade` Upgrade dependencies: run `pip install --upgrade -r requirements.txt`" in (
        no_upgrade
    )
    assert "(skipped with these params)" in no_upgrade
    assert commands.calls() == []


@execution_test("monthly-maintenance")
async def test_monthly_maintenance_reports_backs_up_checks_the_backup_and_upgrades(
    catalog_bot: CatalogBot, commands: StubCommands, workdirs: dict[str, str]
) -> None:
    db_url = "postgresql://analytics:pw-8c1d@db.supabase.co/postgres"
    commands.add("python", "pg_dump", "pg_restore", "pip", "make")
    bot = await catalog_bot(env={"SUPABASE_DB_URL": db_url})

    await bot.send("/playbook monthly-maintenance")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    dump = f"{workdirs['BACKUP_DIR']}/analytics-run1.dump"
    assert commands.argvs() == [
        ["python", "scripts/generate_compliance_report.py"],
        ["pg_dump", "--schema=analytics", "--format=custom", f"--file={dump}", db_url],
        ["pg_restore", "--list", dump],
        ["pip", "install", "--upgrade", "-r", "requirements.txt"],
        ["make", "quality"],
    ]
    assert any(
        "📣 Monthly credential review: rotate CASCADE_SESSION_COOKIE" in t for t in bot.thread(1)
    )
    assert all(db_url not in line for line in bot.lines)


# --- quarterly-maintenance ----------------------------------------------------------------


@dry_run_test("quarterly-maintenance")
async def test_quarterly_maintenance_dry_run_lists_the_audit_and_the_benchmark(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "quarterly-maintenance")

    assert "1. `install_dev` Install the development tools: run `make install-dev`" in text
    assert (
        "3. `benchmark` Performance benchmark: run `python scripts/performance_stress_test.py`"
        in (text)
    )
    assert "Estimate: ~1h · $0" in text
    assert commands.calls() == []


@execution_test("quarterly-maintenance")
async def test_quarterly_maintenance_audits_benchmarks_and_stops_at_a_failing_check(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    commands.add("make", "python")
    bot = await catalog_bot()
    await bot.send("/playbook quarterly-maintenance")
    await bot.press("Run", 1)
    assert (await bot.finished(1)).status is RunStatus.SUCCEEDED
    assert commands.argvs() == [
        ["make", "install-dev"],
        ["make", "quality"],
        ["python", "scripts/performance_stress_test.py"],
    ]
    assert any("📣 Quarterly reviews: scan for hardcoded secrets" in t for t in bot.thread(1))

    commands.fail("make", ["quality"], exit_code=2, output="mypy: 3 errors")
    await bot.send("/playbook quarterly-maintenance")
    await bot.press("Run", 2)
    run = await bot.finished(2)

    assert run.status is RunStatus.FAILED
    assert run.error == "step `quality` failed: `make quality` exited with 2: mypy: 3 errors"
    assert commands.argvs()[3:] == [["make", "install-dev"], ["make", "quality"]]

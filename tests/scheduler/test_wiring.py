"""`chatops run` and `chatops shell` start the scheduler from the config: APScheduler's
timers on the schedules' own triggers, `/schedule` answered, and a schedule naming a
playbook the catalog lacks stops start-up with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from app.assembly import assemble
from app.cli import app
from bot.chat import Actor, Invocation, Place
from bot.commands import ScheduleCommand
from bot.dependencies import open_dependencies
from bot.settings import Settings
from scheduler.surface import SchedulerSurface
from scheduler.triggers import next_fire

CONFIG = """
channels:
  fintech-reports: {shell: fintech-reports}
schedules:
  new-year-summary:
    cron: "0 8 1 1 *"
    timezone: Europe/London
    digest: {channel: fintech-reports}
  risk-checks:
    every: 1h
    alerts: [par-90]
metrics:
  par_90: {source: {http: {url: "http://kpis", field: v}}, critical: "> 5"}
alerts:
  par-90: {metric: par_90, channel: fintech-reports}
"""


def config_file(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "chatops.yaml"
    path.write_text(text)
    return path


async def test_chatops_run_starts_apscheduler_on_the_schedules_triggers(tmp_path: Path) -> None:
    settings = Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chatops.db",
        CHATOPS_CONFIG=str(config_file(tmp_path)),
    )
    deps = await open_dependencies(settings, environ={})
    assembly = await assemble(settings, deps)
    try:
        [scheduler] = [s for s in assembly.surfaces if isinstance(s, SchedulerSurface)]
        assert scheduler.chat is None and scheduler.routes() == []
        planned = scheduler.next_run_times()
        now = datetime.now(UTC)
        assert set(planned) == {"new-year-summary", "risk-checks"}
        for schedule_id, at in planned.items():
            schedule = scheduler.schedules[schedule_id]
            assert at == next_fire(schedule.trigger, now), schedule_id
        answers: list[str] = []

        class Capture:
            surface = "shell"

            async def reply_private(self, _to: object, text: str) -> None:
                answers.append(text)

        assembly.service.chats["shell"] = Capture()  # type: ignore[assignment]
        invocation = Invocation(Actor("shell", "alice"), Place("shell", "ops"), "/schedule list")
        await assembly.service.handle(invocation, ScheduleCommand("list"))
        assert answers[0].startswith("*Schedules* (2):")
    finally:
        await assembly.close()
        await deps.close()
    assert scheduler.next_run_times() == {}


def test_chatops_shell_answers_schedule_list(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["shell", "--user", "alice"],
        env={
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chatops.db",
            "CHATOPS_CONFIG": str(config_file(tmp_path)),
        },
        input="/schedule list\n",
    )
    assert result.exit_code == 0, result.output
    assert "🔒 (to alice) *Schedules* (2):" in result.output
    assert "`new-year-summary` — digest to #fintech-reports (last 24h);" in result.output


def test_a_schedule_naming_an_unknown_playbook_stops_start_up(tmp_path: Path) -> None:
    config = config_file(
        tmp_path,
        "channels:\n  ops: {shell: ops}\n"
        "schedules:\n  weekly:\n    cron: '0 2 * * mon'\n"
        "    playbook: {name: weekly-maintenanse, channel: ops}\n",
    )
    result = CliRunner().invoke(
        app,
        ["shell"],
        env={
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chatops.db",
            "CHATOPS_CONFIG": str(config),
            "CHATOPS_PLAYBOOK_DIRS": "",
        },
        input="",
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {config}:6: schedules.weekly.playbook.name: no playbook `weekly-maintenanse`"
        " in the catalog\n"
    )

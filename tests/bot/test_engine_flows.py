"""The engine seen from chat: timeouts, retries, cancel, redaction, restarts, channels."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.lifecycle import RunStatus, StepStatus
from tests.bot.approval_playbooks import CONFIG as APPROVAL_CONFIG
from tests.bot.approval_playbooks import PLAYBOOKS as APPROVAL_PLAYBOOKS
from tests.support.console import BotFactory
from tests.support.stub_server import StubServer

SLOW = """
name: slow-call
steps:
  - id: call
    action: http
    with: {url: "{{ env.API_URL }}/slow"}
    timeout: 200ms
"""

SECRET_ECHO = """
name: secret-echo
steps:
  - id: call
    action: http
    with:
      url: "{{ env.API_URL }}/echo"
      headers: {Authorization: "Bearer {{ secrets.API_TOKEN }}"}
  - id: tell_thread
    action: notify
    with: {message: "token {{ secrets.API_TOKEN }}"}
  - id: tell_channel
    action: notify
    with: {message: "token {{ secrets.API_TOKEN }}", channel: fintech-reports}
  - id: fail_loudly
    action: http
    with: {url: "{{ env.API_URL }}/missing?token={{ secrets.API_TOKEN }}"}
"""

SLEEPER = """
name: sleeper
params:
  pidfile: {type: string, required: true}
steps:
  - id: first
    action: http
    with: {url: "{{ env.API_URL }}/first"}
  - id: sleep
    action: shell
    with:
      argv:
        - "{{ env.PYTHON }}"
        - "-c"
        - "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
        - "{{ params.pidfile }}"
  - id: after
    action: http
    with: {url: "{{ env.API_URL }}/after"}
"""

NOTIFY = """
name: announce
params:
  where: {type: string, default: fintech-reports}
steps:
  - id: post
    action: notify
    with: {message: "Daily cache clear done", channel: "{{ params.where }}"}
"""

CHANNELS = """
channels:
  fintech-reports: {shell: reports-room}
"""


async def test_step_timeout_fails_with_the_limit_in_words(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/slow", json={}, delay=2.0)
    bot = await make_bot(playbooks={"slow": SLOW})
    await bot.send("/playbook slow-call")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.FAILED
    assert run.error == "step `call` failed: timed out after 200ms"


async def test_secrets_never_reach_chat_or_store(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    token = "tok-5f1e9c2a77"
    stub_server.route("GET", "/echo", body=f"you sent Bearer {token}")
    bot = await make_bot(
        config=CHANNELS, playbooks={"secret": SECRET_ECHO}, env={"API_TOKEN": token}
    )
    await bot.send("/playbook secret-echo")
    card = bot.card(1)
    assert all(token not in line for line in card.plan)
    await bot.press("Run", 1)
    await bot.finished(1)
    await bot.send("/playbook status 1")

    assert stub_server.calls("GET", "/echo")[0].headers["authorization"] == f"Bearer {token}"
    assert all(token not in line for line in bot.lines)
    assert "📣 token ***" in bot.thread(1)  # notify steps say it, redacted
    assert bot.channel_posts("reports-room") == ["token ***"]
    assert any("you sent Bearer ***" in text for text in bot.thread(1))  # the step's output
    steps = await bot.deps.store.steps(1)
    assert "Bearer ***" in steps[0].output
    assert all(token not in (s.output + s.summary + (s.error or "")) for s in steps)
    run = await bot.deps.store.get_run(1)
    assert run is not None
    assert token not in (run.error or "")
    assert all(token not in str(e.detail) for e in await bot.deps.store.audit_events())


async def test_cancel_stops_a_running_shell_step_and_kills_its_process(
    make_bot: BotFactory, stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.route("GET", "/first", json={})
    pidfile = tmp_path / "sleeper.pid"
    bot = await make_bot(playbooks={"sleeper": SLEEPER}, env={"PYTHON": sys.executable})
    await bot.send(f"/playbook sleeper pidfile={pidfile}")
    await bot.press("Run", 1)
    pid = await _wait_for_pid(pidfile)

    await bot.send("/playbook cancel 1")
    run = await bot.finished(1)

    assert run.status is RunStatus.CANCELLED
    assert not _alive(pid)
    steps = {s.step_id: s for s in await bot.deps.store.steps(1)}
    assert {k: s.status for k, s in steps.items()} == {
        "first": StepStatus.SUCCEEDED,
        "sleep": StepStatus.CANCELLED,
    }
    assert steps["sleep"].duration_ms is not None
    assert steps["sleep"].summary == "the run was cancelled"
    assert stub_server.calls("GET", "/after") == []
    assert "⛔ Cancelled by alice." in bot.thread(1)
    assert any(t.startswith("⛔ `sleep` cancelled (") for t in bot.thread(1))


async def test_restart_finds_interrupted_run_and_resume_skips_done_steps(
    make_bot: BotFactory, stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.route("GET", "/first", json={})
    stub_server.route("GET", "/after", json={})
    pidfile = tmp_path / "sleeper.pid"
    env = {"PYTHON": sys.executable}
    first = await make_bot(playbooks={"sleeper": SLEEPER}, env=env)
    await first.send(f"/playbook sleeper pidfile={pidfile}")
    await first.press("Run", 1)
    await _wait_for_pid(pidfile)
    await first.close()  # a graceful stop marks the run interrupted

    second = await make_bot(playbooks={"sleeper": SLEEPER}, env=env)
    run = await second.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.INTERRUPTED
    assert "shut down" in (run.error or "")

    pidfile.unlink()
    await second.press("Resume", 1)
    await _wait_for_pid(pidfile)
    await second.send("/playbook cancel 1")
    ended = await second.finished(1)

    assert ended.status is RunStatus.CANCELLED
    assert len(stub_server.calls("GET", "/first")) == 1  # not repeated by Resume


async def test_abort_ends_an_interrupted_run(
    make_bot: BotFactory, stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.route("GET", "/first", json={})
    pidfile = tmp_path / "sleeper.pid"
    env = {"PYTHON": sys.executable}
    first = await make_bot(playbooks={"sleeper": SLEEPER}, env=env)
    await first.send(f"/playbook sleeper pidfile={pidfile}")
    await first.press("Run", 1)
    await _wait_for_pid(pidfile)
    await first.close()

    second = await make_bot(playbooks={"sleeper": SLEEPER}, env=env)
    await second.press("Abort", 1)
    run = await second.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.CANCELLED
    await second.press("Resume", 1)
    assert second.private("alice")[-1] == "Can't resume run #1: it was cancelled."


async def test_notify_posts_to_a_configured_channel(make_bot: BotFactory) -> None:
    bot = await make_bot(config=CHANNELS, playbooks={"announce": NOTIFY})
    await bot.send("/playbook announce")
    await bot.press("Run", 1)
    assert (await bot.finished(1)).status is RunStatus.SUCCEEDED
    assert bot.channel_posts("reports-room") == ["Daily cache clear done"]

    await bot.send("/playbook announce where=nowhere")
    await bot.press("Run", 2)
    run = await bot.finished(2)
    assert run.status is RunStatus.FAILED
    assert run.error == "step `post` failed: no channel `nowhere` configured for shell"


async def test_database_down_answers_privately_and_changes_nothing(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    bot = await make_bot(database_url=f"sqlite+aiosqlite:///{folder}/chatops.db")
    folder.rename(tmp_path / "db-gone")  # the database disappears from under the bot
    await bot.deps.store.engine.dispose()  # drop the open connection, as a restart would

    await bot.send("/playbook clear-cache")

    assert bot.private("alice") == [
        "I can't reach my database right now, so nothing was changed. Please try again in a minute."
    ]
    assert [m for m in bot.chat.messages if m.kind == "card"] == []


async def test_killed_process_leaves_its_run_interrupted_not_running(
    make_bot: BotFactory, stub_server: StubServer, target_env: dict[str, str], tmp_path: Path
) -> None:
    stub_server.route("GET", "/first", json={})
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "sleeper.yaml").write_text(SLEEPER)
    pidfile = tmp_path / "sleeper.pid"
    database = f"sqlite+aiosqlite:///{tmp_path}/chatops.db"
    env = {
        **os.environ,
        **target_env,
        "PYTHON": sys.executable,
        "DATABASE_URL": database,
        "CHATOPS_PLAYBOOK_DIRS": str(folder),
    }
    console = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "shell",
        "--user",
        "alice",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert console.stdin is not None
    console.stdin.write(f"/playbook sleeper pidfile={pidfile}\n:press Run 1\n".encode())
    await console.stdin.drain()
    sleeper = await _wait_for_pid(pidfile)
    console.kill()  # SIGKILL: no chance to clean up
    await console.wait()
    os.kill(sleeper, 9)

    bot = await make_bot(database_url=database, env={"PYTHON": sys.executable})
    run = await bot.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.INTERRUPTED
    assert "stopped" in (run.error or "")
    await bot.send("/playbook status 1")
    status = bot.private("alice")[-1]
    assert "interrupted" in status
    [sleep] = [s for s in await bot.deps.store.steps(1) if s.step_id == "sleep"]
    assert sleep.status is StepStatus.CANCELLED  # not left running forever
    assert sleep.duration_ms is not None
    assert "⛔ `sleep` cancelled (" in status
    assert "— the run was interrupted" in status


async def _wait_for_pid(path: Path) -> int:
    async with asyncio.timeout(20):
        while not path.exists() or not path.read_text():
            await asyncio.sleep(0.02)
    return int(path.read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_cancel_on_another_replica_stops_the_run_here(
    make_bot: BotFactory, stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.route("GET", "/first", json={})
    pidfile = tmp_path / "sleeper.pid"
    config = "engine: {cancel_check_every: 50ms}\n"
    env = {"PYTHON": sys.executable}
    runner = await make_bot(config=config, playbooks={"sleeper": SLEEPER}, env=env)
    other = await make_bot(config=config, playbooks={"sleeper": SLEEPER}, env=env)
    await runner.send(f"/playbook sleeper pidfile={pidfile}")
    await runner.press("Run", 1)
    pid = await _wait_for_pid(pidfile)

    await other.send("/playbook cancel 1")  # the same requester, on another replica
    run = await runner.finished(1)

    assert run.status is RunStatus.CANCELLED
    assert not _alive(pid)
    assert stub_server.calls("GET", "/after") == []
    assert runner.card(1).status == "Cancelled"  # this replica's last edit shows it too
    [sleep] = [s for s in await runner.deps.store.steps(1) if s.step_id == "sleep"]
    assert sleep.status is StepStatus.CANCELLED
    assert sleep.duration_ms is not None
    closed = [
        e for e in await runner.deps.store.audit_events(run_id=1) if e.kind == "step.cancelled"
    ]
    assert len(closed) == 1  # closed once, by whichever replica got there first


SLOW_ROLLBACK = """
name: slow-rollback
params:
  pidfile: {type: string, required: true}
steps:
  - id: break
    action: http
    with: {url: "{{ env.API_URL }}/broken"}
rollback:
  - id: undo
    action: shell
    with:
      argv:
        - "{{ env.PYTHON }}"
        - "-c"
        - "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
        - "{{ params.pidfile }}"
"""


async def test_cancel_during_rollback_closes_the_rollback_step(
    make_bot: BotFactory, stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.route("GET", "/broken", status=500, json={})
    pidfile = tmp_path / "undo.pid"
    bot = await make_bot(playbooks={"rb": SLOW_ROLLBACK}, env={"PYTHON": sys.executable})
    await bot.send(f"/playbook slow-rollback pidfile={pidfile}")
    await bot.press("Run", 1)
    pid = await _wait_for_pid(pidfile)

    await bot.send("/playbook cancel 1")
    run = await bot.finished(1)

    assert run.status is RunStatus.CANCELLED
    assert not _alive(pid)
    steps = {(s.phase, s.step_id): s for s in await bot.deps.store.steps(1)}
    undo = steps[("rollback", "undo")]
    assert undo.status is StepStatus.CANCELLED
    assert undo.duration_ms is not None
    assert "↩️ Rolling back…" in bot.thread(1)


POLL_SQL = """
name: watch-db
params:
  connection: {type: string, default: nope}
steps:
  - id: watch
    action: poll
    with:
      check:
        {action: sql, connection: "{{ params.connection }}", query: "SELECT 1", returns: scalar}
      until: "{{ value == 0 }}"
      every: 30s
      timeout: 5m
"""

POLL_PROMETHEUS = """
name: watch-p95
steps:
  - id: watch
    action: poll
    with:
      check: {action: prometheus, query: "up"}
      until: "{{ value == 1 }}"
      every: 30s
      timeout: 5m
"""


async def test_a_poll_that_cannot_work_fails_at_once_with_the_reason(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    bot = await make_bot(
        config="connections:\n  app: {url_env: APP_DATABASE_URL}\n",
        playbooks={"db": POLL_SQL, "p95": POLL_PROMETHEUS},
        env={"PROMETHEUS_URL": ""},
    )
    await bot.send("/playbook watch-db")
    await bot.press("Run", 1)
    await bot.send("/playbook watch-p95")
    await bot.press("Run", 2)
    await bot.send("/playbook watch-db connection=app")  # works, but SELECT 1 is never 0
    await bot.press("Run", 3)
    await bot.finished(3)

    unknown, unset, not_yet = [
        {s.step_id: s for s in await bot.deps.store.steps(run_id)}["watch"] for run_id in (1, 2, 3)
    ]
    assert (unknown.error or "").startswith("no connection named `nope`")
    assert "known: app" in (unknown.error or "")
    assert unset.error == "no Prometheus URL: set PROMETHEUS_URL or give `url`"
    assert not_yet.error == "`value == 0` not met within 5m after 11 checks (last value 1)"
    assert stub_server.requests == []


async def test_cancel_at_an_approval_gate_closes_the_waiting_step(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/reduce", json={})
    bot = await make_bot(config=APPROVAL_CONFIG, playbooks=APPROVAL_PLAYBOOKS)
    await bot.send("/playbook canary-rollback", user="alice")
    await bot.press("Run", 1, user="alice")
    await bot.wait_until(lambda: any("step `rollback` of run #1" in t for t in bot.thread(1)))

    await bot.send("/playbook cancel 1", user="alice")
    run = await bot.finished(1)

    assert run.status is RunStatus.CANCELLED
    gate = {s.step_id: s for s in await bot.deps.store.steps(1)}["rollback"]
    assert gate.status is StepStatus.CANCELLED  # no longer waiting for anyone
    assert gate.duration_ms is not None
    assert stub_server.calls("POST", "/rollback") == []


async def test_a_target_url_left_empty_fails_the_step_at_once_without_retries(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    bot = await make_bot(env={"ES_URL": ""})  # set, but to nothing
    await bot.send("/playbook clear-cache index_name=kb")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    [step] = await bot.deps.store.steps(1)
    assert run.status is RunStatus.FAILED
    assert step.attempts == 1  # the step allows retries: none was spent on a dead URL
    assert step.error == (
        "POST /kb/_cache/clear: not a full URL (it needs http:// or https:// and a host)"
    )
    assert stub_server.requests == []

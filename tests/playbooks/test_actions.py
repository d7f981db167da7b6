"""Built-in actions, exercised the way a playbook step would use them."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from playbooks.actions.base import Action, ActionResult, MisconfiguredError
from playbooks.actions.http import HttpAction
from playbooks.actions.notify import NotifyAction
from playbooks.actions.playbook import PlaybookAction
from playbooks.actions.poll import PollAction
from playbooks.actions.prometheus import PrometheusAction
from playbooks.actions.registry import builtin_actions
from playbooks.actions.shell import ShellAction
from playbooks.actions.sql import SqlAction
from playbooks.actions.wait import WaitAction
from playbooks.errors import ActionError
from tests.playbooks.fake_context import FakeContext
from tests.support.stub_server import StubResponse, StubServer

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture
async def ctx() -> AsyncIterator[FakeContext]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield FakeContext(http=client)


async def run(action: Action[Any], ctx: FakeContext, **raw: Any) -> ActionResult:
    """Parse then execute, as the engine does after rendering ``with:``."""
    return await action.execute(action.parse(raw), ctx)


def prom_vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    """A real Prometheus instant-query answer of resultType vector."""
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": labels, "value": [1717000000.123, value]} for labels, value in samples
            ],
        },
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie nobody reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


async def wait_until_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        await asyncio.sleep(0.05)
    return process_gone(pid)


async def wait_for_file(path: Path, lines: int, seconds: float = 10.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            found = path.read_text().split()
            if len(found) >= lines:
                return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never got {lines} lines")


# -- http ---------------------------------------------------------------------------------


async def test_http_post_sends_json_once_and_returns_response_json(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/kb/_cache/clear", json={"acknowledged": True, "shards": 3})

    result = await run(
        HttpAction(),
        ctx,
        method="post",
        url=f"{stub_server.url}/kb/_cache/clear",
        json={"index": "kb", "fielddata": True},
        headers={"X-Trace": "abc"},
        query={"wait": True, "n": 2},
    )

    calls = stub_server.calls("POST", "/kb/_cache/clear")
    assert len(calls) == 1
    assert calls[0].json() == {"index": "kb", "fielddata": True}
    assert calls[0].headers["x-trace"] == "abc"
    assert calls[0].query == {"wait": ["true"], "n": ["2"]}
    assert result.value == {"acknowledged": True, "shards": 3}
    assert result.summary == f"POST {stub_server.url}/kb/_cache/clear → 200"
    assert result.data["status_code"] == 200
    assert result.data["json"] == {"acknowledged": True, "shards": 3}
    assert result.data["headers"]["content-type"] == "application/json"


async def test_http_sends_the_query_string_written_in_the_url_with_the_query_args(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/search")

    await run(HttpAction(), ctx, url=f"{stub_server.url}/search?token=t0k&n=1")
    await run(HttpAction(), ctx, url=f"{stub_server.url}/search?token=t0k&n=1", query={"n": 2})

    first, second = stub_server.calls("GET", "/search")
    assert first.query == {"token": ["t0k"], "n": ["1"]}
    assert second.query == {"token": ["t0k"], "n": ["2"]}


async def test_http_text_response_is_the_value_and_the_output(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/health", body="all good\n")

    result = await run(HttpAction(), ctx, url=f"{stub_server.url}/health")

    assert result.value == "all good\n"
    assert result.output == "all good\n"
    assert result.data["json"] is None


async def test_http_plain_body_is_sent_verbatim(ctx: FakeContext, stub_server: StubServer) -> None:
    stub_server.route("PUT", "/doc", status=201, body="created")

    await run(HttpAction(), ctx, method="PUT", url=f"{stub_server.url}/doc", body="a=1\nb=2")

    assert stub_server.calls("PUT", "/doc")[0].body == b"a=1\nb=2"


async def test_http_unexpected_status_names_status_and_body(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/x", status=503, body="upstream unavailable, try later")

    with pytest.raises(ActionError) as caught:
        await run(HttpAction(), ctx, method="POST", url=f"{stub_server.url}/x", json={})

    assert caught.value.reason == (
        f"POST {stub_server.url}/x returned 503, expected 2xx: upstream unavailable, try later"
    )


async def test_http_expect_status_accepts_listed_codes_only(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route("DELETE", "/idx", status=404, json={"error": "index_not_found"})

    result = await run(
        HttpAction(), ctx, method="DELETE", url=f"{stub_server.url}/idx", expect_status=[200, 404]
    )
    assert result.data["status_code"] == 404

    with pytest.raises(ActionError, match="returned 404, expected 200:"):
        await run(
            HttpAction(), ctx, method="DELETE", url=f"{stub_server.url}/idx", expect_status=200
        )


async def test_http_unreachable_port_says_it_cannot_reach(ctx: FakeContext) -> None:
    url = f"http://127.0.0.1:{closed_port()}/x"

    with pytest.raises(ActionError) as caught:
        await run(HttpAction(), ctx, url=url)

    assert caught.value.reason == f"cannot reach {url}: connection refused"


async def test_http_slow_server_times_out(stub_server: StubServer) -> None:
    stub_server.route("GET", "/slow", body="late", delay=2.0)
    async with httpx.AsyncClient(timeout=0.2) as client:
        with pytest.raises(ActionError, match=r"^GET .*/slow timed out"):
            await run(HttpAction(), FakeContext(http=client), url=f"{stub_server.url}/slow")


def test_http_json_and_body_are_mutually_exclusive() -> None:
    with pytest.raises(ValidationError, match="either `json` or `body`"):
        HttpAction().parse({"url": "http://h/x", "json": {"a": 1}, "body": "a"})


def test_http_plan_shows_method_url_and_body() -> None:
    action = HttpAction()
    args = action.parse(
        {"method": "post", "url": "http://es:9200/kb/_cache/clear", "json": {"index": "kb"}}
    )
    assert action.plan(args) == 'POST http://es:9200/kb/_cache/clear (JSON body {"index": "kb"})'


def test_http_plan_hides_url_password_and_header_values() -> None:
    action = HttpAction()
    args = action.parse(
        {"url": "http://bot:hunter22@h/x", "headers": {"Authorization": "Bearer sekrit"}}
    )
    plan = action.plan(args)
    assert "hunter22" not in plan
    assert "sekrit" not in plan
    assert "Authorization" in plan


# -- shell --------------------------------------------------------------------------------


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_shell_keeps_only_the_tail_of_the_output(ctx: FakeContext) -> None:
    result = await run(
        ShellAction(), ctx, argv=py("for i in range(1, 101): print(i)"), tail_lines=5
    )

    assert result.output == "96\n97\n98\n99\n100"
    assert result.value == result.output
    assert result.data == {"exit_code": 0}
    assert result.summary.endswith("` exited 0")


async def test_shell_chatty_process_keeps_bounded_tail(ctx: FakeContext) -> None:
    code = (
        "import sys\nfor i in range(200000): sys.stdout.write(f'line {i}\\n')\nprint('x' * 100000)"
    )
    result = await run(ShellAction(), ctx, argv=py(code), tail_lines=3)

    lines = result.output.split("\n")
    assert lines[:2] == ["line 199998", "line 199999"]
    assert len(lines) == 3
    assert len(lines[2]) < 10000  # one endless line is cut, not kept whole


async def test_shell_stderr_is_part_of_the_output(ctx: FakeContext) -> None:
    result = await run(
        ShellAction(),
        ctx,
        argv=py("import sys; print('out', flush=True); sys.stderr.write('err\\n')"),
    )
    assert result.output == "out\nerr"


async def test_shell_nonzero_exit_reports_code_and_last_line(ctx: FakeContext) -> None:
    argv = py("print('starting'); print('boom: table locked'); raise SystemExit(2)")

    with pytest.raises(ActionError) as caught:
        await run(ShellAction(), ctx, argv=argv)

    reason = caught.value.reason
    assert reason.startswith(f"`{sys.executable} -c ")
    assert reason.endswith("exited with 2: boom: table locked")


async def test_shell_expect_exit_accepts_other_codes(ctx: FakeContext) -> None:
    result = await run(ShellAction(), ctx, argv=py("raise SystemExit(3)"), expect_exit=[0, 3])
    assert result.data == {"exit_code": 3}


async def test_shell_child_sees_only_explicit_environment(
    ctx: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATOPS_LEAK_CHECK", "visible")
    monkeypatch.setenv("LANG", "C.UTF-8")
    code = (
        "import os; print(os.environ.get('CHATOPS_LEAK_CHECK', 'absent')); "
        "print(os.environ['GIVEN']); print(os.environ.get('LANG'))"
    )

    result = await run(ShellAction(), ctx, argv=py(code), env={"GIVEN": "yes"})

    assert result.output.split("\n") == ["absent", "yes", "C.UTF-8"]


async def test_shell_missing_executable(ctx: FakeContext) -> None:
    with pytest.raises(ActionError) as caught:
        await run(ShellAction(), ctx, argv=["no-such-command-chatops", "--flag"])
    assert caught.value.reason == "command not found: no-such-command-chatops"


async def test_shell_runs_in_cwd_and_reports_missing_cwd(ctx: FakeContext, tmp_path: Path) -> None:
    result = await run(
        ShellAction(), ctx, argv=py("import os; print(os.getcwd())"), cwd=str(tmp_path)
    )
    assert Path(result.output).resolve() == tmp_path.resolve()

    with pytest.raises(ActionError, match="working directory not found"):
        await run(ShellAction(), ctx, argv=py("pass"), cwd=str(tmp_path / "nope"))


def test_shell_needs_a_command() -> None:
    with pytest.raises(ValidationError):
        ShellAction().parse({"argv": []})


LONG_RUNNER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(sys.argv[1], "w") as f:
    f.write(f"{__import__('os').getpid()}\\n{child.pid}\\n")
time.sleep(60)
"""


async def test_shell_cancellation_kills_the_whole_process_group(
    ctx: FakeContext, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    task = asyncio.create_task(
        run(ShellAction(), ctx, argv=[sys.executable, "-c", LONG_RUNNER, str(pid_file)])
    )
    pids = [int(pid) for pid in await wait_for_file(pid_file, 2)]

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    for pid in pids:
        assert await wait_until_gone(pid), f"process {pid} survived cancellation"


async def test_shell_step_timeout_stops_the_command(ctx: FakeContext, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    started = time.monotonic()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.5):
            await run(ShellAction(), ctx, argv=[sys.executable, "-c", LONG_RUNNER, str(pid_file)])

    assert time.monotonic() - started < 10
    for pid in [int(pid) for pid in pid_file.read_text().split()]:
        assert await wait_until_gone(pid)


def test_shell_plan_quotes_the_command() -> None:
    action = ShellAction()
    assert action.plan(action.parse({"argv": ["dbt", "run", "--models", "a", "b"]})) == (
        "run `dbt run --models a b`"
    )
    assert action.plan(action.parse({"argv": ["echo", "two words"]})) == "run `echo 'two words'`"


# -- sql ----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_ctx(ctx: FakeContext, tmp_path: Path) -> FakeContext:
    path = tmp_path / "ops.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT, state TEXT)")
        db.executemany(
            "INSERT INTO jobs (id, name, state) VALUES (?, ?, ?)",
            [(1, "nightly", "failed"), (2, "hourly", "ok"), (3, "weekly", "failed")],
        )
    db.close()
    ctx.sql_urls["default"] = f"sqlite+aiosqlite:///{path}"
    ctx.sql_urls["other"] = f"sqlite+aiosqlite:///{path}"
    return ctx


async def test_sql_scalar_with_bound_params(sqlite_ctx: FakeContext) -> None:
    result = await run(
        SqlAction(),
        sqlite_ctx,
        query="SELECT count(*) FROM jobs WHERE state = :state",
        params={"state": "failed"},
        returns="scalar",
    )
    assert result.value == 2
    assert result.summary == "query on `default` = 2"


async def test_sql_scalar_of_no_rows_is_none(sqlite_ctx: FakeContext) -> None:
    result = await run(
        SqlAction(), sqlite_ctx, query="SELECT id FROM jobs WHERE id > 99", returns="scalar"
    )
    assert result.value is None


async def test_sql_rows_are_dicts_capped_at_max_rows(sqlite_ctx: FakeContext) -> None:
    result = await run(
        SqlAction(),
        sqlite_ctx,
        connection="other",
        query="SELECT id, name FROM jobs ORDER BY id",
        max_rows=2,
    )

    assert result.value == [{"id": 1, "name": "nightly"}, {"id": 2, "name": "hourly"}]
    assert "first 2 shown" in result.summary
    assert result.output.split("\n") == ["id  name", "--  -------", "1   nightly", "2   hourly"]


async def test_sql_updates_are_committed(sqlite_ctx: FakeContext) -> None:
    await run(
        SqlAction(),
        sqlite_ctx,
        query="UPDATE jobs SET state = 'ok' WHERE state = :s",
        params={"s": "failed"},
    )
    result = await run(
        SqlAction(),
        sqlite_ctx,
        query="SELECT count(*) FROM jobs WHERE state = 'ok'",
        returns="scalar",
    )
    assert result.value == 3


async def test_sql_bad_query_gives_driver_message_not_url(sqlite_ctx: FakeContext) -> None:
    with pytest.raises(ActionError) as caught:
        await run(SqlAction(), sqlite_ctx, query="SELECT * FROM nope")

    assert caught.value.reason == "query on `default` failed: no such table: nope"
    assert "sqlite" not in caught.value.reason


async def test_sql_unknown_connection(ctx: FakeContext) -> None:
    with pytest.raises(ActionError, match="no SQL connection named `warehouse`"):
        await run(SqlAction(), ctx, connection="warehouse", query="SELECT 1")


def test_sql_plan_collapses_and_cuts_the_query() -> None:
    action = SqlAction()
    query = "SELECT  id,\n       name\nFROM jobs\nWHERE " + " OR ".join(
        f"id = {i}" for i in range(40)
    )
    plan = action.plan(action.parse({"query": query}))
    assert plan.startswith("query on `default`: SELECT id, name FROM jobs WHERE id = 0 OR")
    assert len(plan) == len("query on `default`: ") + 120
    assert plan.endswith("…")


# -- prometheus ---------------------------------------------------------------------------


async def test_prometheus_vector_value_is_first_sample(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route(
        "GET",
        "/api/v1/query",
        json=prom_vector(({"job": "api", "instance": "a:9100"}, "0.42"), ({"job": "api"}, "0.9")),
    )
    ctx.environ["PROMETHEUS_URL"] = stub_server.url + "/"
    query = 'sum(rate(http_errors_total{job="api"}[5m]))'

    result = await run(PrometheusAction(), ctx, query=query)

    assert result.value == 0.42
    assert result.summary == f"`{query}` = 0.42 (first of 2 series)"
    assert result.data["samples"] == [
        {"labels": {"job": "api", "instance": "a:9100"}, "value": 0.42},
        {"labels": {"job": "api"}, "value": 0.9},
    ]
    (call,) = stub_server.calls("GET", "/api/v1/query")
    assert call.query == {"query": [query]}


async def test_prometheus_url_argument_wins(ctx: FakeContext, stub_server: StubServer) -> None:
    stub_server.route(
        "GET",
        "/api/v1/query",
        json={"status": "success", "data": {"resultType": "scalar", "result": [1.5, "7"]}},
    )
    ctx.environ["PROMETHEUS_URL"] = f"http://127.0.0.1:{closed_port()}"

    result = await run(PrometheusAction(), ctx, query="scalar(7)", url=stub_server.url)

    assert result.value == 7.0
    assert result.summary == "`scalar(7)` = 7"


async def test_prometheus_empty_vector_is_an_error(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/api/v1/query", json=prom_vector())

    with pytest.raises(ActionError) as caught:
        await run(PrometheusAction(), ctx, query="up == 0", url=stub_server.url)
    assert caught.value.reason == "query `up == 0` returned no data"


async def test_prometheus_error_status_reports_its_error(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route(
        "GET",
        "/api/v1/query",
        status=400,
        json={
            "status": "error",
            "errorType": "bad_data",
            "error": 'invalid parameter "query": 1:5: parse error: unexpected end of input',
        },
    )

    with pytest.raises(ActionError, match="unexpected end of input"):
        await run(PrometheusAction(), ctx, query="sum(", url=stub_server.url)


async def test_prometheus_without_url(ctx: FakeContext) -> None:
    with pytest.raises(MisconfiguredError) as caught:
        await run(PrometheusAction(), ctx, query="up")
    assert caught.value.reason == "no Prometheus URL: set PROMETHEUS_URL or give `url`"


# -- wait ---------------------------------------------------------------------------------


async def test_wait_sleeps_on_the_engine_clock(ctx: FakeContext) -> None:
    action = WaitAction()
    args = action.parse({"duration": "5m"})

    result = await action.execute(args, ctx)

    assert ctx.sleeps == [300.0]
    assert action.estimate_seconds(args) == 300.0
    assert action.plan(args) == "wait 5m"
    assert result.summary == "waited 5m"


# -- poll ---------------------------------------------------------------------------------


def prom_check(url: str) -> dict[str, Any]:
    return {"action": "prometheus", "query": "error_ratio", "url": url}


def values(*numbers: str) -> list[StubResponse]:
    return [StubResponse(json=prom_vector(({}, number))) for number in numbers]


@pytest.mark.parametrize("until", ["value < 0.5", "{{ value < 0.5 }}"])
async def test_poll_met_after_n_checks(
    ctx: FakeContext, stub_server: StubServer, until: str
) -> None:
    stub_server.route_sequence("GET", "/api/v1/query", values("0.9", "0.7", "0.31", "0.1"))

    result = await run(
        PollAction(),
        ctx,
        check=prom_check(stub_server.url),
        until=until,
        every="30s",
        timeout="5m",
    )

    assert result.summary == "condition `value < 0.5` met after 3 checks (value 0.31)"
    assert result.value == 0.31
    assert len(stub_server.calls("GET", "/api/v1/query")) == 3
    assert ctx.sleeps == [30.0, 30.0]


async def test_poll_not_met_within_timeout(ctx: FakeContext, stub_server: StubServer) -> None:
    stub_server.route("GET", "/api/v1/query", json=prom_vector(({}, "0.8")))

    with pytest.raises(ActionError) as caught:
        await run(PollAction(), ctx, check=prom_check(stub_server.url), until="value < 0.5")

    assert caught.value.reason == "`value < 0.5` not met within 5m after 11 checks (last value 0.8)"
    assert len(stub_server.calls("GET", "/api/v1/query")) == 11
    assert ctx.sleeps == [30.0] * 10  # no pointless sleep after the last check


async def test_poll_keeps_polling_through_check_errors(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route_sequence(
        "GET",
        "/api/v1/query",
        [
            StubResponse(status=503, body="restarting"),
            StubResponse(json=prom_vector()),
            *values("0.2"),
        ],
    )

    result = await run(
        PollAction(),
        ctx,
        check=prom_check(stub_server.url),
        until="value < 0.5",
        every="10s",
        timeout="1m",
    )

    assert result.summary == "condition `value < 0.5` met after 3 checks (value 0.2)"


async def test_poll_reports_last_error_when_every_check_fails(ctx: FakeContext) -> None:
    check = prom_check(f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(ActionError) as caught:
        await run(PollAction(), ctx, check=check, until="value < 0.5", every="1m", timeout="2m")

    assert caught.value.reason.startswith(
        "`value < 0.5` not met within 2m after 3 checks (last error: cannot reach Prometheus"
    )
    assert ctx.sleeps == [60.0, 60.0]


async def test_poll_condition_can_read_result_data(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route_sequence(
        "GET",
        "/api/v1/query",
        [
            StubResponse(json=prom_vector(({"pod": "a"}, "1"))),
            StubResponse(json=prom_vector(({"pod": "a"}, "1"), ({"pod": "b"}, "1"))),
        ],
    )

    result = await run(
        PollAction(), ctx, check=prom_check(stub_server.url), until="result.samples | length == 2"
    )

    assert "met after 2 checks" in result.summary


async def test_poll_broken_condition_fails_at_once(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/api/v1/query", json=prom_vector(({}, "0.8")))

    with pytest.raises(ActionError, match=r"cannot evaluate `valeu < 0\.5`"):
        await run(PollAction(), ctx, check=prom_check(stub_server.url), until="valeu < 0.5")

    assert len(stub_server.calls("GET", "/api/v1/query")) == 1


async def test_poll_whose_check_cannot_work_fails_at_once(ctx: FakeContext) -> None:
    with pytest.raises(ActionError) as caught:
        await run(PollAction(), ctx, check={"action": "prometheus", "query": "up"}, until="value")

    assert caught.value.reason == "no Prometheus URL: set PROMETHEUS_URL or give `url`"
    assert len(ctx.action_calls) == 1
    assert ctx.sleeps == []  # not five minutes of "not yet"


async def test_poll_of_a_malformed_query_fails_at_once(
    ctx: FakeContext, stub_server: StubServer
) -> None:
    stub_server.route(
        "GET",
        "/api/v1/query",
        status=400,
        json={"status": "error", "errorType": "bad_data", "error": "parse error"},
    )

    with pytest.raises(ActionError, match="bad_data: parse error"):
        await run(PollAction(), ctx, check=prom_check(stub_server.url), until="value < 0.5")

    assert len(stub_server.calls("GET", "/api/v1/query")) == 1


def test_poll_args_and_plan() -> None:
    action = PollAction()
    assert action.lazy_args == frozenset({"check", "until"})
    args = action.parse(
        {"check": {"action": "prometheus", "query": "error_ratio"}, "until": "{{ value < 0.5 }}"}
    )
    assert action.estimate_seconds(args) == 300.0
    assert action.plan(args) == (
        "every 30s for up to 5m: prometheus (query `error_ratio`) until `value < 0.5`"
    )
    with pytest.raises(ValidationError, match="must name an action"):
        action.parse({"check": {"query": "x"}, "until": "value"})
    with pytest.raises(ValidationError):
        action.parse({"check": {"action": "wait", "duration": 1}, "until": "true", "every": 0})


# -- notify and playbook ------------------------------------------------------------------


async def test_notify_posts_through_the_context(ctx: FakeContext) -> None:
    to_channel = await run(NotifyAction(), ctx, message="Reindex done", channel="ops")
    to_thread = await run(NotifyAction(), ctx, message="Step 2 of 3")

    assert ctx.notifications == [("Reindex done", "ops"), ("Step 2 of 3", None)]
    assert to_channel.summary == "posted to #ops"
    assert to_thread.summary == "posted to the run's thread"


def test_notify_plan() -> None:
    action = NotifyAction()
    assert action.plan(action.parse({"message": "Cache cleared", "channel": "ops"})) == (
        "post to #ops: “Cache cleared”"
    )
    assert action.plan(action.parse({"message": "hi"})) == "post in the run's thread: “hi”"


async def test_playbook_runs_the_child_through_the_context(ctx: FakeContext) -> None:
    result = await run(PlaybookAction(), ctx, name="refresh-synonyms", params={"reindex": False})

    assert ctx.playbook_calls == [("refresh-synonyms", {"reindex": False})]
    assert result is ctx.playbook_result


def test_playbook_plan() -> None:
    action = PlaybookAction()
    args = action.parse({"name": "refresh-synonyms", "params": {"reindex": False}})
    assert action.plan(args) == "run playbook `refresh-synonyms` (reindex=false)"
    assert action.plan(action.parse({"name": "x"})) == "run playbook `x`"


# -- every action -------------------------------------------------------------------------


def test_builtin_actions_have_names_and_summaries() -> None:
    actions = builtin_actions()
    assert [a.name for a in actions] == [
        "http",
        "shell",
        "sql",
        "prometheus",
        "wait",
        "poll",
        "notify",
        "playbook",
    ]
    assert all(a.summary and "\n" not in a.summary for a in actions)


def test_plans_perform_no_request(stub_server: StubServer, tmp_path: Path) -> None:
    stub_server.route("GET", "/api/v1/query", json=prom_vector(({}, "1")))
    raw: dict[str, dict[str, Any]] = {
        "http": {"method": "POST", "url": f"{stub_server.url}/x", "json": {"a": 1}},
        "shell": {"argv": ["touch", str(tmp_path / "created")]},
        "sql": {"query": "DELETE FROM jobs"},
        "prometheus": {"query": "up", "url": stub_server.url},
        "wait": {"duration": "10s"},
        "poll": {"check": prom_check(stub_server.url), "until": "value > 0"},
        "notify": {"message": "hello", "channel": "ops"},
        "playbook": {"name": "child"},
    }

    for action in builtin_actions():
        plan = action.plan(action.parse(raw[action.name]))
        assert plan
        assert "\n" not in plan

    assert stub_server.requests == []
    assert not (tmp_path / "created").exists()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("/kb/_cache/clear", "not a full URL (it needs http:// or https:// and a host)"),
        ("ftp://files.internal/x", "not a full URL (it needs http:// or https:// and a host)"),
        ("http://[::1/x", "bad URL (Invalid port"),
        ("http:///x", "not a full URL"),
    ],
)
async def test_http_url_that_can_never_work_is_misconfigured(
    ctx: FakeContext, url: str, problem: str
) -> None:
    with pytest.raises(MisconfiguredError) as caught:
        await run(HttpAction(), ctx, url=url)

    assert caught.value.reason.startswith(f"GET {url}: {problem}")

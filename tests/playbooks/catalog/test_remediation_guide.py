"""The playbooks guide's six remediation playbooks: dry runs that read like the guide's, and
runs against stub dbt, Elasticsearch and deploy APIs."""

from __future__ import annotations

import json

from bot.lifecycle import RunStatus, StepStatus
from tests.playbooks.catalog.commands import StubCommands
from tests.playbooks.catalog.conftest import CatalogBot, dry_run, requested
from tests.playbooks.catalog.coverage import dry_run_test, execution_test
from tests.support.stub_server import StubResponse, StubServer

TRAFFIC = "/api/v1/planner/traffic"


def split(canary: int, *, version: str = "v1.2.3-canary") -> StubResponse:
    """The deploy API's traffic split with the canary at ``canary`` percent."""
    return StubResponse(
        json={
            "stable": {"version": "v1.2.2", "percent": 100 - canary},
            "canary": {"version": version, "percent": canary},
        }
    )


# --- rerun-dbt ----------------------------------------------------------------------------


@dry_run_test("rerun-dbt")
async def test_rerun_dbt_dry_run_shows_the_dbt_command_the_rate_and_the_changes(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "rerun-dbt models=inbox_emails,triage_results")
    refresh = await dry_run(bot, "rerun-dbt models=inbox_emails full_refresh=true upstream=true")

    assert "run `dbt run --models inbox_emails triage_results --threads 4`" in text
    assert "Estimate: ~10m (5m per model) · $0.10 ($0.05 per model)" in text
    assert "Approval: not required" in text
    assert (
        "Changes:\n• Will re-run 2 dbt models\n• Models: inbox_emails, triage_results\n"
        "• No full refresh (incremental only)"
    ) in text
    assert "run `dbt run --models +inbox_emails --threads 4 --full-refresh`" in refresh
    assert "Approval: required" in refresh
    assert "• Full refresh: the models are truncated and rebuilt" in refresh
    assert stub_server.requests == []
    assert commands.calls() == []


@execution_test("rerun-dbt")
async def test_rerun_dbt_runs_dbt_in_the_project_with_each_model_as_an_argument(
    catalog_bot: CatalogBot, commands: StubCommands, workdirs: dict[str, str]
) -> None:
    commands.add("dbt")
    bot = await catalog_bot()

    await bot.send("/playbook rerun-dbt models=inbox_emails,triage_results threads=8 upstream=yes")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert commands.argvs() == [
        ["dbt", "run", "--models", "+inbox_emails", "+triage_results", "--threads", "8"]
    ]
    assert commands.calls()[0].cwd == workdirs["DBT_PROJECT_DIR"]
    assert any("📣 dbt re-ran inbox_emails, triage_results" in t for t in bot.thread(1))


@execution_test("rerun-dbt")
async def test_rerun_dbt_full_refresh_waits_for_approval_and_a_dbt_error_fails_the_run(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    commands.add("dbt")
    commands.fail("dbt", ["run"], exit_code=2, output="Compilation Error in model inbox_emails")
    bot = await catalog_bot()

    await bot.send("/playbook rerun-dbt models=inbox_emails full_refresh=true", user="alice")
    assert bot.card(1).status == "Waiting for approval"
    assert commands.calls() == []
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert commands.argvs() == [
        ["dbt", "run", "--models", "inbox_emails", "--threads", "4", "--full-refresh"]
    ]
    assert run.status is RunStatus.FAILED
    assert run.error == (
        "step `run_models` failed: `dbt run --models inbox_emails --threads 4 --full-refresh`"
        " exited with 2: Compilation Error in model inbox_emails"
    )


# --- refresh-dbt-dependencies -------------------------------------------------------------


@dry_run_test("refresh-dbt-dependencies")
async def test_refresh_dbt_dependencies_dry_run_lists_deps_then_compile(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "refresh-dbt-dependencies task_id=task-456")

    assert "1. `deps` Install packages: run `dbt deps`" in text
    assert "2. `compile` Compile the project: run `dbt compile`" in text
    assert "Estimate: ~2m · $0.01" in text
    assert "Approval: not required" in text
    assert commands.calls() == []
    assert stub_server.requests == []


@execution_test("refresh-dbt-dependencies")
async def test_refresh_dbt_dependencies_runs_deps_then_compile_and_stops_when_deps_fails(
    catalog_bot: CatalogBot, commands: StubCommands, workdirs: dict[str, str]
) -> None:
    commands.add("dbt")
    bot = await catalog_bot()
    await bot.send("/playbook refresh-dbt-dependencies task_id=task-456")
    await bot.press("Run", 1)
    assert (await bot.finished(1)).status is RunStatus.SUCCEEDED
    assert commands.argvs() == [["dbt", "deps"], ["dbt", "compile"]]
    assert {call.cwd for call in commands.calls()} == {workdirs["DBT_PROJECT_DIR"]}

    commands.fail("dbt", ["deps"], output="Could not find package dbt-labs/dbt_utils")
    await bot.send("/playbook refresh-dbt-dependencies")
    await bot.press("Run", 2)
    run = await bot.finished(2)

    assert run.status is RunStatus.FAILED
    # One retry (a registry hiccup), then the run stops before compiling.
    assert commands.argvs()[2:] == [["dbt", "deps"], ["dbt", "deps"]]


# --- clear-cache --------------------------------------------------------------------------


@dry_run_test("clear-cache")
async def test_clear_cache_dry_run_says_what_clearing_changes(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "clear-cache index_name=knowledge_base cache_types=query,request")

    assert "POST " + stub_server.url + "/knowledge_base/_cache/clear?query=true" in text
    assert "Estimate: ~5s · $0" in text
    assert (
        "Changes:\n• Caches will be cleared (query, request) for index knowledge_base\n"
        "• May cause a temporary latency spike (1-2 seconds)\n"
        "• Caches rebuild automatically on the next queries; no data is lost"
    ) in text
    assert stub_server.requests == []


@execution_test("clear-cache")
async def test_clear_cache_clears_the_chosen_caches_and_retries_a_busy_cluster(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route_sequence(
        "POST",
        "/kb/_cache/clear",
        [StubResponse(status=503, json={"error": "cluster busy"}), StubResponse(json={})],
    )
    bot = await catalog_bot()

    await bot.send("/playbook clear-cache index_name=kb cache_types=fielddata")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == ["POST /kb/_cache/clear", "POST /kb/_cache/clear"]
    assert stub_server.requests[1].query == {
        "query": ["false"],
        "request": ["false"],
        "fielddata": ["true"],
    }


# --- refresh-synonyms ---------------------------------------------------------------------


@dry_run_test("refresh-synonyms")
async def test_refresh_synonyms_dry_run_shows_the_reindex_path_skipped_and_says_why(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "refresh-synonyms index_name=knowledge_base")
    reindex = await dry_run(bot, "refresh-synonyms reindex=true")

    assert "3. `close_index` Close index: POST" in text
    assert "/knowledge_base/_close (skipped with these params)" in text
    assert "only if" not in text
    assert "Estimate: ~30s · $0" in text
    assert "• New queries will use the updated synonyms\n• Existing documents NOT reindexed" in text
    assert "Estimate: ~6h · $10.00" in reindex
    assert "Approval: required" in reindex
    assert "• Index will be closed and reopened (searches fail meanwhile)" in reindex
    assert "_reload_search_analyzers (skipped with these params)" in reindex
    assert stub_server.requests == []


@execution_test("refresh-synonyms")
async def test_refresh_synonyms_that_fails_reopens_the_index(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/knowledge_base/_reload_search_analyzers", status=404, json={})
    stub_server.route("POST", "/knowledge_base/_open", json={"acknowledged": True})
    bot = await catalog_bot()

    await bot.send("/playbook refresh-synonyms")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.ROLLED_BACK
    assert requested(stub_server) == [
        "POST /knowledge_base/_reload_search_analyzers",
        "POST /knowledge_base/_reload_search_analyzers",
        "POST /knowledge_base/_open",
    ]


# --- rollback-planner ---------------------------------------------------------------------


@dry_run_test("rollback-planner")
async def test_rollback_planner_dry_run_reads_like_the_guide(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "rollback-planner from_version=v1.2.3-canary to_version=v1.2.2")
    now = await dry_run(
        bot, "rollback-planner from_version=v1.2.3-canary to_version=v1.2.2 immediate=true"
    )

    assert "Risk: high · Estimate: ~15m · $0" in text
    assert "Approval: not required" in text
    assert (
        "Changes:\n• Roll back the planner from v1.2.3-canary to v1.2.2 (gradual: 15 minutes)\n"
        "• Traffic will gradually shift from canary to stable\n"
        "• Canary v1.2.3-canary will be decommissioned\n"
        "• Stable version v1.2.2 will handle 100% of traffic"
    ) in text
    assert f"POST {stub_server.url}/api/v1/planner/versions/v1.2.3-canary/decommission" in text
    assert "Estimate: ~30s · $0" in now
    assert "Approval: required" in now
    assert "• Traffic will move from canary to stable at once" in now
    assert stub_server.requests == []


@execution_test("rollback-planner")
async def test_rollback_planner_moves_traffic_to_stable_then_decommissions_the_canary(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route_sequence("GET", TRAFFIC, [split(10), split(4), split(0)])
    stub_server.route("GET", "/api/v1/planner/versions/v1.2.2", json={"version": "v1.2.2"})
    stub_server.route("PUT", TRAFFIC, status=202, json={"accepted": True})
    stub_server.route("POST", "/api/v1/planner/versions/v1.2.3-canary/decommission", json={})
    bot = await catalog_bot()

    await bot.send(
        "/playbook rollback-planner from_version=v1.2.3-canary to_version=v1.2.2 immediate=true"
    )
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == [
        f"GET {TRAFFIC}",
        "GET /api/v1/planner/versions/v1.2.2",
        f"PUT {TRAFFIC}",
        f"GET {TRAFFIC}",
        f"GET {TRAFFIC}",
        "POST /api/v1/planner/versions/v1.2.3-canary/decommission",
    ]
    shift = stub_server.calls("PUT", TRAFFIC)[0]
    assert shift.json() == {
        "stable": "v1.2.2",
        "canary": "v1.2.3-canary",
        "canary_percent": 0,
        "ramp": "30s",
    }
    assert {r.headers["x-api-key"] for r in stub_server.requests} == {"deploy-key-6c1d"}
    assert any("grafana.example.com/d/canary-overview" in t for t in bot.thread(1))


@execution_test("rollback-planner")
async def test_rollback_planner_that_cannot_finish_the_shift_restores_the_split(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route("GET", TRAFFIC, json=split(10).json)  # the canary never drains
    stub_server.route("GET", "/api/v1/planner/versions/v1.2.2", json={})
    stub_server.route("PUT", TRAFFIC, status=202, json={})
    bot = await catalog_bot()

    await bot.send("/playbook rollback-planner from_version=v1.2.3-canary to_version=v1.2.2")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.ROLLED_BACK
    puts = [r.json() for r in stub_server.calls("PUT", TRAFFIC)]
    assert puts == [
        {"stable": "v1.2.2", "canary": "v1.2.3-canary", "canary_percent": 0, "ramp": "15m"},
        {"canary": "v1.2.3-canary", "canary_percent": 10, "ramp": "1m"},
    ]
    assert stub_server.calls("POST", "/api/v1/planner/versions/v1.2.3-canary/decommission") == []


# --- adjust-canary-split ------------------------------------------------------------------


@dry_run_test("adjust-canary-split")
async def test_adjust_canary_split_dry_run_shows_the_target_and_the_approval_on_increase(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "adjust-canary-split version=v1.2.3-canary target_percent=25")

    assert "Estimate: ~10m · $0" in text
    assert "2. `shift` Shift traffic: PUT" in text
    assert '"canary_percent": 25, "ramp": "10m"' in text
    assert "🔐 asks for approval first" in text
    assert (
        "• Canary v1.2.3-canary traffic will shift to 25% (gradually, over 10 minutes)\n"
        "• Stable version traffic will be 75%"
    ) in text
    assert "If a step fails, roll back:\n↩ `restore_split`" in text
    assert stub_server.requests == []


@execution_test("adjust-canary-split")
async def test_adjust_canary_split_increase_waits_for_approval_before_traffic_moves(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route_sequence("GET", TRAFFIC, [split(10), split(25)])
    stub_server.route("PUT", TRAFFIC, status=202, json={})
    bot = await catalog_bot()

    await bot.send("/playbook adjust-canary-split version=v1.2.3-canary target_percent=25")
    await bot.press("Run", 1)
    await bot.wait_until(lambda: any("step `shift` of run #1" in t for t in bot.thread(1)))
    assert stub_server.calls("PUT", TRAFFIC) == []
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == [f"GET {TRAFFIC}", f"PUT {TRAFFIC}", f"GET {TRAFFIC}"]
    assert stub_server.calls("PUT", TRAFFIC)[0].json() == {
        "canary": "v1.2.3-canary",
        "canary_percent": 25,
        "ramp": "10m",
    }


@execution_test("adjust-canary-split")
async def test_adjust_canary_split_decrease_goes_straight_through_and_a_stuck_shift_is_undone(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route_sequence("GET", TRAFFIC, [split(10), split(5)])
    stub_server.route("PUT", TRAFFIC, status=202, json={})
    bot = await catalog_bot()
    await bot.send("/playbook adjust-canary-split version=v1.2.3-canary target_percent=5")
    await bot.press("Run", 1)
    assert (await bot.finished(1)).status is RunStatus.SUCCEEDED
    assert [r.json()["canary_percent"] for r in stub_server.calls("PUT", TRAFFIC)] == [5]

    stub_server.route("GET", TRAFFIC, json=split(10).json)  # this time it never moves
    await bot.send(
        "/playbook adjust-canary-split version=v1.2.3-canary target_percent=5 gradual=false"
    )
    await bot.press("Run", 2)
    run = await bot.finished(2)

    assert run.status is RunStatus.ROLLED_BACK
    puts = [r.json() for r in stub_server.calls("PUT", TRAFFIC)][1:]
    assert puts == [
        {"canary": "v1.2.3-canary", "canary_percent": 5, "ramp": "1m"},
        {"canary": "v1.2.3-canary", "canary_percent": 10, "ramp": "1m"},
    ]
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(2)}
    assert steps["wait_shift"] is StepStatus.FAILED
    assert steps["restore_split"] is StepStatus.SUCCEEDED
    assert json.loads(stub_server.calls("PUT", TRAFFIC)[-1].body)["canary_percent"] == 10

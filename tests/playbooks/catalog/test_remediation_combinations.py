"""The playbooks guide's three combinations: playbooks that call playbooks, wait, check and
branch (latency spike, data quality drop, planner canary regression)."""

from __future__ import annotations

from typing import Any

from bot.lifecycle import RunStatus, StepStatus
from tests.playbooks.catalog.commands import StubCommands
from tests.playbooks.catalog.conftest import CatalogBot, dry_run, requested
from tests.playbooks.catalog.coverage import dry_run_test, execution_test
from tests.playbooks.catalog.test_remediation_guide import TRAFFIC, split
from tests.support.clock import FastClock
from tests.support.stub_server import StubServer

QUERY = "/api/v1/query"


def prometheus(value: float) -> dict[str, Any]:
    """A Prometheus instant-query answer with one sample."""
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, str(value)]}]},
    }


# --- latency-spike ------------------------------------------------------------------------


@dry_run_test("latency-spike")
async def test_latency_spike_dry_run_starts_at_the_dashboard_and_names_its_sub_playbooks(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "latency-spike service=api index_name=kb")

    assert "1. `dashboard` Look at the dashboard: post in the run's thread" in text
    assert "run playbook `clear-cache` (index_name=kb)" in text
    assert (
        "run playbook `refresh-synonyms` (index_name=kb, reindex=false) (only if `monitor` failed)"
    ) in text
    assert "Estimate: ~6m 35s · $0" in text
    assert "• Caches of kb will be cleared (brief latency while they rebuild)" in text
    assert stub_server.requests == []


@execution_test("latency-spike")
async def test_latency_spike_clears_the_cache_and_refreshes_synonyms_when_p95_stays_high(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/api/traces", json={"data": []})
    stub_server.route("GET", "/health/circuit-breakers", json={"search": "closed"})
    stub_server.route("GET", QUERY, json=prometheus(1.85))
    for path in ("_cache/clear", "_reload_search_analyzers"):
        stub_server.route("POST", f"/kb/{path}", json={})
    bot = await catalog_bot()

    await bot.send("/playbook latency-spike index_name=kb")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    calls = [c for c in requested(stub_server) if c != f"GET {QUERY}"]
    assert calls == [
        "GET /api/traces",
        "GET /health/circuit-breakers",
        "POST /kb/_cache/clear",
        "POST /kb/_reload_search_analyzers",
        "POST /kb/_cache/clear",
    ]
    assert any("grafana.example.com): which endpoint is slow?" in t for t in bot.thread(1))
    assert any("📣 p95 did not recover within 5 minutes" in t for t in bot.thread(1))


# --- data-quality-drop --------------------------------------------------------------------


@dry_run_test("data-quality-drop")
async def test_data_quality_drop_dry_run_lists_the_sequence_and_its_whole_estimate(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "data-quality-drop models=inbox_emails,triage_results")

    assert "1. `refresh_dependencies` run playbook `refresh-dbt-dependencies`" in text
    assert (
        '2. `rerun` run playbook `rerun-dbt` (models=["inbox_emails", "triage_results"],'
        " threads=4, full_refresh=false)"
    ) in text
    assert "3. `wait_for_eval` Let the eval run: wait 15m" in text
    # 15m of waiting, 2m of dependencies and 5m for each of the two models; $0.01 + $0.10.
    assert "Estimate: ~27m · $0.11" in text
    assert "(only if `quality` did not succeed or `steps.quality.value < min_score`)" in text
    assert stub_server.requests == []
    assert commands.calls() == []


@execution_test("data-quality-drop")
async def test_data_quality_drop_reruns_with_fresh_dependencies_then_escalates_a_low_score(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands, clock: FastClock
) -> None:
    commands.add("dbt")
    stub_server.route("GET", QUERY, json=prometheus(78))
    bot = await catalog_bot()

    await bot.send("/playbook data-quality-drop models=inbox_emails escalate_to=data-team")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert commands.argvs() == [
        ["dbt", "deps"],
        ["dbt", "compile"],
        ["dbt", "run", "--models", "inbox_emails", "--threads", "4"],
    ]
    assert 900.0 in clock.slept  # the 15 minutes for the eval
    assert stub_server.calls("GET", QUERY)[0].query == {"query": ["min(data_quality_score)"]}
    [escalation] = bot.channel_posts("data-team")
    assert "the score is 78.0, under 95. Escalate to the data team" in escalation
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["recovered"] is StepStatus.SKIPPED


@execution_test("data-quality-drop")
async def test_data_quality_drop_that_recovers_reports_it_and_escalates_nothing(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands
) -> None:
    commands.add("dbt")
    stub_server.route("GET", QUERY, json=prometheus(96))
    bot = await catalog_bot()

    await bot.send("/playbook data-quality-drop models=inbox_emails")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert any("📣 Data quality recovered to 96.0" in t for t in bot.thread(1))
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["escalate"] is StepStatus.SKIPPED


# --- planner-canary-regression ------------------------------------------------------------


@dry_run_test("planner-canary-regression")
async def test_planner_canary_regression_dry_run_contains_first_and_gates_the_rollback(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(
        bot, "planner-canary-regression canary_version=v1.2.3-canary stable_version=v1.2.2"
    )

    assert (
        "1. `contain` Contain the blast radius: run playbook `adjust-canary-split`"
        " (version=v1.2.3-canary, target_percent=5, gradual=false)"
    ) in text
    assert "2. `monitor` Watch canary accuracy: every 1m for up to 10m" in text
    assert "🔐 asks for approval first (only if `monitor` failed)" in text
    assert "Risk: high · Estimate: ~13m · $0" in text
    assert "• Evals are NOT re-run (that would not help)" in text
    assert stub_server.requests == []


@execution_test("planner-canary-regression")
async def test_planner_canary_regression_still_regressing_rolls_back_once_approved(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route_sequence("GET", TRAFFIC, [split(10), split(5), split(0)])
    stub_server.route("PUT", TRAFFIC, status=202, json={})
    stub_server.route("GET", QUERY, json=prometheus(13))
    stub_server.route("POST", "/api/v1/planner/versions/v1.2.3-canary/decommission", json={})
    bot = await catalog_bot()

    await bot.send(
        "/playbook planner-canary-regression canary_version=v1.2.3-canary stable_version=v1.2.2"
    )
    await bot.press("Run", 1)
    await bot.wait_until(lambda: any("step `rollback_now` of run #1" in t for t in bot.thread(1)))
    assert len(stub_server.calls("PUT", TRAFFIC)) == 1  # contained, not yet rolled back
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    calls = [c for c in requested(stub_server) if c != f"GET {QUERY}"]
    assert calls == [
        f"GET {TRAFFIC}",
        f"PUT {TRAFFIC}",
        f"GET {TRAFFIC}",
        f"PUT {TRAFFIC}",
        f"GET {TRAFFIC}",
        "POST /api/v1/planner/versions/v1.2.3-canary/decommission",
    ]
    assert len(stub_server.calls("GET", QUERY)) == 11  # every minute for 10 minutes
    assert [r.json() for r in stub_server.calls("PUT", TRAFFIC)] == [
        {"canary": "v1.2.3-canary", "canary_percent": 5, "ramp": "1m"},
        {"stable": "v1.2.2", "canary": "v1.2.3-canary", "canary_percent": 0, "ramp": "30s"},
    ]
    assert any("Investigate the root cause before re-deploying" in t for t in bot.thread(1))


@execution_test("planner-canary-regression")
async def test_planner_canary_regression_that_recovers_keeps_the_canary_at_five_percent(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route_sequence("GET", TRAFFIC, [split(10), split(5)])
    stub_server.route("PUT", TRAFFIC, status=202, json={})
    stub_server.route("GET", QUERY, json=prometheus(4))
    bot = await catalog_bot()

    await bot.send(
        "/playbook planner-canary-regression canary_version=v1.2.3-canary stable_version=v1.2.2"
    )
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("PUT", TRAFFIC)) == 1
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["rollback_now"] is StepStatus.SKIPPED
    assert steps["decommission"] is StepStatus.SKIPPED
    assert any("stays at 5% until you adjust it" in t for t in bot.thread(1))

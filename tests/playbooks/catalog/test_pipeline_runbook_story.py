"""The runbook story G.3 (price pipeline): database rate limiting, backfill, LLM budget
exhaustion and pipeline failures, against stub Prometheus, admin API and pipeline commands."""

from __future__ import annotations

from bot.lifecycle import RunStatus, StepStatus
from tests.playbooks.catalog.commands import StubCommands
from tests.playbooks.catalog.conftest import CatalogBot, dry_run, execute_sql, requested
from tests.playbooks.catalog.coverage import dry_run_test, execution_test
from tests.playbooks.catalog.test_remediation_combinations import QUERY, prometheus
from tests.support.stub_server import StubResponse, StubServer


def answers(*values: float) -> list[StubResponse]:
    return [StubResponse(json=prometheus(value)) for value in values]


# --- database-rate-limit ------------------------------------------------------------------


@dry_run_test("database-rate-limit")
async def test_database_rate_limit_dry_run_reads_only_unless_asked_to_end_idle_sessions(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "database-rate-limit")
    terminate = await dry_run(bot, "database-rate-limit terminate_idle=true idle_minutes=5")

    assert "query Prometheus: `sum(increase(database_rate_limit_errors_total[15m]))`" in text
    assert "every 1m for up to 15m: prometheus" in text
    assert "• Nothing changes: the database and the metrics are only read" in text
    assert "(only if `backoff` failed)" in text
    assert "Approval: required" in terminate
    assert (
        "• Sessions idle in a transaction for over 5 minutes are TERMINATED (their"
        " transactions roll back)"
    ) in terminate
    assert stub_server.requests == []


@execution_test("database-rate-limit")
async def test_database_rate_limit_reads_the_pool_and_waits_out_the_backoff(
    catalog_bot: CatalogBot, stub_server: StubServer, own_database: str
) -> None:
    stub_server.route_sequence("GET", QUERY, answers(12, 0.4, 0))
    bot = await catalog_bot(env={"APP_DATABASE_URL": own_database})

    await bot.send("/playbook database-rate-limit")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    queries = [r.query["query"][0] for r in stub_server.calls("GET", QUERY)]
    assert queries == [
        "sum(increase(database_rate_limit_errors_total[15m]))",
        "sum(rate(database_rate_limit_errors_total[5m]))",
        "sum(rate(database_rate_limit_errors_total[5m]))",
    ]
    steps = {s.step_id: s for s in await bot.deps.store.steps(1)}
    for step in ("connections", "max_connections", "long_queries", "idle_in_transaction"):
        assert steps[step].status is StepStatus.SUCCEEDED, step
    assert steps["escalate"].status is StepStatus.SKIPPED
    assert bot.channel_posts("devops-alerts") == []
    limit = steps["max_connections"].output
    assert any(f"with the limit ({limit})" in t for t in bot.thread(1))


@execution_test("database-rate-limit")
async def test_database_rate_limit_ends_idle_sessions_once_approved_and_escalates_if_it_lasts(
    catalog_bot: CatalogBot, stub_server: StubServer, own_database: str
) -> None:
    stub_server.route("GET", QUERY, json=prometheus(3))
    bot = await catalog_bot(env={"APP_DATABASE_URL": own_database})

    await bot.send("/playbook database-rate-limit terminate_idle=true")
    assert bot.card(1).status == "Waiting for approval"
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["terminate"] is StepStatus.SUCCEEDED
    assert steps["backoff"] is StepStatus.FAILED
    [escalation] = bot.channel_posts("devops-alerts")
    assert escalation.startswith("Database still rate limited after 15 minutes of backoff (run #1)")


# --- backfill -----------------------------------------------------------------------------

PRICES = "CREATE TABLE prices (id serial, created_at timestamptz NOT NULL)"


@dry_run_test("backfill")
async def test_backfill_dry_run_shows_the_command_and_that_full_replaces_the_range(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "backfill start_date=2026-01-01 end_date=2026-01-31")
    full = await dry_run(bot, "backfill start_date=2026-01-01 end_date=2026-01-31 mode=full")

    assert "run `python scripts/backfill.py --start-date 2026-01-01 --end-date 2026-01-31`" in text
    assert "• Missing days of prices from 2026-01-01 to 2026-01-31 are filled in" in text
    assert "Estimate: ~1h · $0" in text and "Approval: not required" in text
    assert "--end-date 2026-01-31 --full`" in full
    assert "Approval: required" in full and "Estimate: ~4h · $0" in full
    assert "• Rows of prices from 2026-01-01 to 2026-01-31 are REPROCESSED AND REPLACED" in full
    assert commands.calls() == []


@execution_test("backfill")
async def test_backfill_runs_the_pipeline_backfill_and_checks_every_day_has_data(
    catalog_bot: CatalogBot, commands: StubCommands, postgres_url: str, workdirs: dict[str, str]
) -> None:
    execute_sql(
        postgres_url,
        PRICES,
        "INSERT INTO prices (created_at) SELECT day + interval '3 hours'"
        " FROM generate_series(date '2026-01-01', date '2026-01-03', interval '1 day') AS day",
    )
    commands.add("python")
    bot = await catalog_bot(env={"APP_DATABASE_URL": postgres_url})

    await bot.send("/playbook backfill start_date=2026-01-01 end_date=2026-01-03 mode=full")
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED, run.error
    [backfill] = commands.calls()
    assert backfill.argv == [
        "python", "scripts/backfill.py", "--start-date", "2026-01-01",
        "--end-date", "2026-01-03", "--full",
    ]  # fmt: skip
    assert backfill.cwd == workdirs["PIPELINE_DIR"]
    assert backfill.env["PIPELINE_ENV"] == "production"
    assert backfill.env["SUPABASE_SERVICE_ROLE_KEY"] == "service-role-key-9c3b"
    rows = next(s for s in await bot.deps.store.steps(1) if s.step_id == "rows_per_day")
    assert rows.summary == "query on `app` returned 3 rows"


@execution_test("backfill")
async def test_backfill_that_leaves_a_day_empty_fails(
    catalog_bot: CatalogBot, commands: StubCommands, postgres_url: str
) -> None:
    execute_sql(postgres_url, PRICES, "INSERT INTO prices (created_at) VALUES ('2026-01-01')")
    commands.add("python")
    bot = await catalog_bot(env={"APP_DATABASE_URL": postgres_url})

    await bot.send("/playbook backfill start_date=2026-01-01 end_date=2026-01-03")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.FAILED
    assert run.error == (
        "step `complete` failed: `value == 0` not met within 5m after 6 checks (last value 2)"
    )
    missing = next(s for s in await bot.deps.store.steps(1) if s.step_id == "missing_days")
    assert missing.summary == "query on `app` = 2"


# --- llm-budget-exhaustion ----------------------------------------------------------------


@dry_run_test("llm-budget-exhaustion")
async def test_llm_budget_exhaustion_dry_run_prices_a_budget_raise_and_asks_approval(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "llm-budget-exhaustion")
    raise_ = await dry_run(bot, "llm-budget-exhaustion daily_budget_usd=50")

    assert "Estimate: ~6m · $0" in text and "Approval: not required" in text
    assert "• LLM work switches to the fallback processing (lower quality, no LLM cost)" in text
    assert "Estimate: ~6m · $50.00" in raise_ and "Approval: required" in raise_
    assert '/admin/llm/budget (JSON body {"daily_usd": 50.0}; headers X-API-Key)' in raise_
    assert stub_server.requests == []


@execution_test("llm-budget-exhaustion")
async def test_llm_budget_exhaustion_switches_to_fallback_raises_the_budget_and_waits(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    stub_server.route_sequence("GET", QUERY, answers(100, 62))
    stub_server.route("GET", "/admin/llm/budget", json={"daily_usd": 100})
    stub_server.route("POST", "/admin/llm/fallback", json={"enabled": True})
    stub_server.route("PUT", "/admin/llm/budget", json={"daily_usd": 150})
    stub_server.route_sequence(
        "GET",
        "/admin/llm/health",
        [StubResponse(json={"status": "budget_exhausted"}), StubResponse(json={"status": "ok"})],
    )
    bot = await catalog_bot()

    await bot.send("/playbook llm-budget-exhaustion daily_budget_usd=150")
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == [
        f"GET {QUERY}",
        f"GET {QUERY}",
        "GET /admin/llm/budget",
        "POST /admin/llm/fallback",
        "PUT /admin/llm/budget",
        "GET /admin/llm/health",
        "GET /admin/llm/health",
    ]
    assert stub_server.requests[4].json() == {"daily_usd": 150.0}
    assert all(
        r.headers["x-api-key"] == "admin-key-0b8e"
        for r in stub_server.requests
        if "/admin" in r.path
    )


# --- pipeline-failure ---------------------------------------------------------------------


@dry_run_test("pipeline-failure")
async def test_pipeline_failure_dry_run_reads_metrics_and_restarts_only_when_asked(
    catalog_bot: CatalogBot, commands: StubCommands, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "pipeline-failure")
    restart = await dry_run(bot, "pipeline-failure restart=true")

    assert (
        "query Prometheus: `time() - max(pipeline_last_success_timestamp_seconds"
        '{pipeline="price_jobs"})`'
    ) in text
    assert "• Nothing changes: metrics and the database are only read" in text
    assert (
        "`run_pipeline` Run the pipeline again: run `python scripts/run_data_pipeline.py`" in text
    )
    assert "(skipped with these params)" in text
    assert "Estimate: ~30m · $0" in restart
    assert "• #devops-alerts is told if it does not succeed" in restart
    assert commands.calls() == [] and stub_server.requests == []


@execution_test("pipeline-failure")
async def test_pipeline_failure_restart_waits_for_a_success(
    catalog_bot: CatalogBot, commands: StubCommands, stub_server: StubServer
) -> None:
    stub_server.route_sequence("GET", QUERY, answers(7200, 3, 7260, 45))
    commands.add("python")
    bot = await catalog_bot()

    await bot.send("/playbook pipeline-failure restart=true")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert commands.argvs() == [["python", "scripts/run_data_pipeline.py"]]
    assert commands.calls()[0].env["CASCADE_SESSION_COOKIE"] == "cascade-cookie-2f7e"
    assert len(stub_server.calls("GET", QUERY)) == 4
    assert bot.channel_posts("devops-alerts") == []


@execution_test("pipeline-failure")
async def test_pipeline_failure_that_fails_again_escalates_to_devops_alerts(
    catalog_bot: CatalogBot, commands: StubCommands, stub_server: StubServer
) -> None:
    stub_server.route("GET", QUERY, json=prometheus(7200))
    commands.add("python")
    commands.fail("python", [], exit_code=1, output="Cascade API: 401 Unauthorized")
    bot = await catalog_bot()

    await bot.send("/playbook pipeline-failure restart=true")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED  # the run did its job: it escalated
    [escalation] = bot.channel_posts("devops-alerts")
    assert escalation == (
        "Pipeline price_jobs still fails after a restart (run #1): `python"
        " scripts/run_data_pipeline.py` exited with 1: Cascade API: 401 Unauthorized."
        " @sre-oncall, please take it."
    )

"""The SignX-Intel runbook's operational, ML/data and incident playbooks: disk space, security
breach, model degradation, data quality, service down. Their SQL runs on PostgreSQL (a
scratch schema of the test's own), their commands are stubs, their APIs a stub server."""

from __future__ import annotations

from bot.lifecycle import RunStatus, StepStatus
from tests.playbooks.catalog.commands import StubCommands
from tests.playbooks.catalog.conftest import CatalogBot, dry_run, execute_sql, requested
from tests.playbooks.catalog.coverage import dry_run_test, execution_test
from tests.support.stub_server import StubResponse, StubServer

PSQL_URL = "postgresql://app:pw-53c1e@db.internal/app"

COST_RECORDS = """
CREATE TABLE cost_records (
    id serial PRIMARY KEY,
    project_id text,
    created_at timestamptz NOT NULL,
    total_cost numeric,
    labor_cost numeric,
    material_cost numeric,
    overhead_cost numeric,
    predicted_cost numeric,
    actual_cost numeric,
    drivers jsonb,
    validation_status text DEFAULT 'passed',
    quarantined boolean DEFAULT false
)
"""


# --- database-disk-space ------------------------------------------------------------------


@dry_run_test("database-disk-space")
async def test_database_disk_space_dry_run_only_reads_unless_asked_and_then_asks_approval(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    bot = await catalog_bot(env={"APP_PSQL_URL": PSQL_URL})

    text = await dry_run(bot, "database-disk-space")
    archive = await dry_run(bot, "database-disk-space archive=true vacuum_full=true")

    assert "Approval: not required" in text
    assert "Changes:\n• Nothing changes: the largest tables and the growth of cost_records" in text
    assert "4. `export` Export the old rows: run `psql" in text
    assert "(skipped with these params)" in text
    assert "Risk: high · Estimate: ~2h · $0" in archive
    assert "Approval: required" in archive
    assert (
        "• Rows of cost_records older than 730 days are exported to ARCHIVE_DIR, then DELETED"
        " from the database\n"
        "• cost_records is rewritten by VACUUM FULL (locked: no reads or writes meanwhile),"
        " then reindexed"
    ) in archive
    assert "query on `app` (outside a transaction): VACUUM FULL cost_records" in archive
    assert PSQL_URL not in archive
    assert commands.calls() == []


@execution_test("database-disk-space")
async def test_database_disk_space_exports_then_deletes_exactly_the_old_rows_and_vacuums(
    catalog_bot: CatalogBot, commands: StubCommands, postgres_url: str, workdirs: dict[str, str]
) -> None:
    execute_sql(
        postgres_url,
        COST_RECORDS,
        "INSERT INTO cost_records (created_at) SELECT now() - interval '800 days'"
        " FROM generate_series(1, 3)",
        "INSERT INTO cost_records (created_at) SELECT now() - interval '10 days'"
        " FROM generate_series(1, 2)",
    )
    commands.add("psql")
    bot = await catalog_bot(env={"APP_DATABASE_URL": postgres_url, "APP_PSQL_URL": PSQL_URL})

    await bot.send("/playbook database-disk-space archive=true vacuum_full=true")
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED, run.error
    [export] = commands.calls()
    assert export.args[:5] == [
        "--no-psqlrc",
        "--set=ON_ERROR_STOP=1",
        "--dbname",
        PSQL_URL,
        "--command",
    ]
    copy = export.args[5]
    assert copy.startswith("\\copy (SELECT * FROM cost_records WHERE created_at < '")
    assert copy.endswith(
        f"TO '{workdirs['ARCHIVE_DIR']}/cost_records-before-730d-run1.csv'"
        " WITH (FORMAT csv, HEADER)"
    )
    assert execute_sql(postgres_url, "SELECT count(*) FROM cost_records") == [(2,)]
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["vacuum"] is StepStatus.SUCCEEDED
    assert steps["reindex"] is StepStatus.SUCCEEDED
    assert steps["analyze"] is StepStatus.SKIPPED
    assert all(PSQL_URL not in line for line in bot.lines)


@execution_test("database-disk-space")
async def test_database_disk_space_deletes_nothing_when_the_export_fails(
    catalog_bot: CatalogBot, commands: StubCommands, postgres_url: str
) -> None:
    execute_sql(
        postgres_url,
        COST_RECORDS,
        "INSERT INTO cost_records (created_at) VALUES (now() - interval '800 days')",
    )
    commands.add("psql")
    commands.fail("psql", [], exit_code=2, output="could not open file: Permission denied")
    bot = await catalog_bot(env={"APP_DATABASE_URL": postgres_url, "APP_PSQL_URL": PSQL_URL})

    await bot.send("/playbook database-disk-space archive=true")
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.FAILED
    assert run.error is not None and "Permission denied" in run.error
    assert execute_sql(postgres_url, "SELECT count(*) FROM cost_records") == [(1,)]


# --- security-breach ----------------------------------------------------------------------

SECURITY_TABLES = [
    "CREATE TABLE auth_logs (user_id text, ip_address text, success boolean,"
    " timestamp timestamptz)",
    "CREATE TABLE api_logs (user_id text, ip_address text, endpoint text, method text,"
    " status_code int, response_size_bytes bigint, timestamp timestamptz)",
    "CREATE TABLE audit_logs (user_id text, resource_type text, resource_id text, action text,"
    " timestamp timestamptz)",
    "INSERT INTO auth_logs SELECT 'u-77', '203.0.113.9', false, now() FROM generate_series(1, 50)",
    "INSERT INTO api_logs VALUES ('u-77', '203.0.113.9', '/api/v1/export', 'GET', 200,"
    " 52000000, now())",
    "INSERT INTO audit_logs VALUES ('u-77', 'project', 'p-1', 'read', now())",
]


@dry_run_test("security-breach")
async def test_security_breach_dry_run_names_what_containment_will_revoke_and_block(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands
) -> None:
    bot = await catalog_bot(env={"ACCESS_LOG": "/var/log/signx-intel/access.log"})

    text = await dry_run(bot, "security-breach ip=203.0.113.9 user_id=u-77 api_key_id=key-12")

    assert "run `grep --fixed-strings -- 203.0.113.9 /var/log/signx-intel/access.log`" in text
    assert "post to #security: “🚨 Security event: suspicious access from 203.0.113.9" in text
    assert "🔐 asks for approval first" in text
    assert f"POST {stub_server.url}/admin/api-keys/key-12/revoke (headers X-API-Key)" in text
    assert (
        "• API key key-12 is REVOKED (after approval)\n"
        "• User u-77 must reset their password (after approval)\n"
        "• IP 203.0.113.9 is BLOCKED for 24 hours (after approval)"
    ) in text
    assert stub_server.requests == []
    assert commands.calls() == []


@execution_test("security-breach")
async def test_security_breach_alerts_then_contains_once_approved_then_investigates(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands, postgres_url: str
) -> None:
    execute_sql(postgres_url, *SECURITY_TABLES)
    commands.add("grep")
    commands.answer("grep", [], output='203.0.113.9 - - "POST /login" 401')
    for path in (
        "/admin/api-keys/key-12/revoke",
        "/admin/users/u-77/require-password-reset",
        "/admin/ip-blocklist",
    ):
        stub_server.route("POST", path, json={"ok": True})
    bot = await catalog_bot(
        env={"APP_DATABASE_URL": postgres_url, "ACCESS_LOG": "/var/log/signx-intel/access.log"}
    )

    await bot.send("/playbook security-breach ip=203.0.113.9 user_id=u-77 api_key_id=key-12")
    await bot.press("Run", 1)
    await bot.wait_until(
        lambda: any("step `approve_containment` of run #1" in t for t in bot.thread(1))
    )
    assert stub_server.requests == []  # nothing contained before approval
    assert bot.channel_posts("security") == [
        "🚨 Security event: suspicious access from 203.0.113.9 on account u-77. Run #1 is"
        " containing it."
    ]
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert commands.argvs() == [
        ["grep", "--fixed-strings", "--", "203.0.113.9", "/var/log/signx-intel/access.log"]
    ]
    assert requested(stub_server) == [
        "POST /admin/api-keys/key-12/revoke",
        "POST /admin/users/u-77/require-password-reset",
        "POST /admin/ip-blocklist",
    ]
    assert stub_server.requests[2].json() == {"ip": "203.0.113.9", "duration_hours": 24}
    assert {r.headers["x-api-key"] for r in stub_server.requests} == {"admin-key-0b8e"}
    steps = {s.step_id: s for s in await bot.deps.store.steps(1)}
    assert steps["failed_logins"].summary == "query on `app` returned 1 row"
    assert "52000000" in steps["large_exports"].output
    assert steps["touched_by_user"].status is StepStatus.SUCCEEDED


@execution_test("security-breach")
async def test_security_breach_without_containment_only_investigates(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands, postgres_url: str
) -> None:
    execute_sql(postgres_url, *SECURITY_TABLES)
    commands.add("grep")
    bot = await catalog_bot(env={"APP_DATABASE_URL": postgres_url, "ACCESS_LOG": "/logs/a.log"})

    await bot.send("/playbook security-breach ip=203.0.113.9 contain=false")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert stub_server.requests == []
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["approve_containment"] is StepStatus.SKIPPED
    assert steps["block_ip"] is StepStatus.SKIPPED
    assert steps["requests_from_ip"] is StepStatus.SUCCEEDED


# --- model-degradation --------------------------------------------------------------------

METRICS = "/api/v1/models/cost_predictor/metrics"


@dry_run_test("model-degradation")
async def test_model_degradation_dry_run_reads_metrics_and_asks_approval_to_roll_back(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "model-degradation")
    rollback = await dry_run(bot, "model-degradation rollback_to=v20241101")

    assert f"GET {stub_server.url}{METRICS}?stage=production (headers X-API-Key)" in text
    assert "• Nothing changes: metrics and the worst predictions are read" in text
    assert "Approval: not required" in text
    assert "Approval: required" in rollback
    assert '/rollback (JSON body {"version": "v20241101"}; headers X-API-Key)' in rollback
    assert "• Production cost_predictor is rolled back to v20241101" in rollback
    assert stub_server.requests == []


@execution_test("model-degradation")
async def test_model_degradation_compares_with_baseline_and_rolls_back_once_approved(
    catalog_bot: CatalogBot, stub_server: StubServer, postgres_url: str
) -> None:
    execute_sql(
        postgres_url,
        COST_RECORDS,
        "INSERT INTO cost_records (project_id, created_at, predicted_cost, actual_cost, drivers)"
        " VALUES ('p-1', now(), 150, 100, '{\"material\": \"aluminum\"}'),"
        " ('p-2', now(), 101, 100, '{\"material\": \"steel\"}')",
    )
    stub_server.route_sequence(
        "GET", METRICS, [StubResponse(json={"mape": 18.0}), StubResponse(json={"mape": 12.0})]
    )
    stub_server.route("POST", "/api/v1/models/cost_predictor/rollback", json={"ok": True})
    bot = await catalog_bot(env={"APP_DATABASE_URL": postgres_url})

    await bot.send("/playbook model-degradation rollback_to=v20241101")
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == [
        f"GET {METRICS}",
        f"GET {METRICS}",
        "POST /api/v1/models/cost_predictor/rollback",
    ]
    assert [r.query for r in stub_server.requests[:2]] == [
        {"stage": ["production"]},
        {"stage": ["baseline"]},
    ]
    assert stub_server.requests[2].json() == {"version": "v20241101"}
    assert any(
        "cost_predictor: MAPE 18.0 in production against 12.0 at baseline, 50.0% worse." in t
        for t in bot.thread(1)
    )
    worst = next(s for s in await bot.deps.store.steps(1) if s.step_id == "worst_predictions")
    assert worst.output.splitlines()[2].startswith("p-1")  # the worst first


# --- data-quality -------------------------------------------------------------------------


@dry_run_test("data-quality")
async def test_data_quality_dry_run_reads_only_unless_asked_to_quarantine(
    catalog_bot: CatalogBot,
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "data-quality")
    quarantine = await dry_run(bot, "data-quality quarantine=true")

    assert "• Nothing changes: cost_records is only read" in text
    assert "`quarantine` Quarantine them: query on `app`: UPDATE cost_records" in text
    assert "(skipped with these params)" in text
    assert "Approval: required" in quarantine
    assert "• Rows of cost_records that failed validation are marked quarantined" in quarantine


@execution_test("data-quality")
async def test_data_quality_finds_stale_incomplete_and_wrong_rows_and_quarantines_them(
    catalog_bot: CatalogBot, postgres_url: str
) -> None:
    execute_sql(
        postgres_url,
        COST_RECORDS,
        "INSERT INTO cost_records (created_at, total_cost, labor_cost, material_cost,"
        " overhead_cost, drivers, validation_status) VALUES"
        " (now() - interval '5 hours', 1000, 400, 400, 200, '{\"sign_area_sqft\": 20}', 'passed'),"
        " (now() - interval '6 hours', 1000, 400, NULL, 200, '{\"sign_area_sqft\": 20}', 'failed'),"
        " (now() - interval '7 hours', 9000, 400, 400, 200, '{\"sign_area_sqft\": 2}', 'failed')",
    )
    bot = await catalog_bot(env={"APP_DATABASE_URL": postgres_url})

    await bot.send("/playbook data-quality quarantine=true")
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED, run.error
    steps = {s.step_id: s for s in await bot.deps.store.steps(1)}
    assert any(
        "Data pipeline stale: the newest record of cost_records is 5.0 hours old (SLA 2.0 h)." in t
        for t in bot.thread(1)
    )
    assert "33.3" in steps["completeness"].output  # material_cost missing in 1 of 3
    assert steps["breakdown_mismatch"].summary == "query on `app` = 2"
    assert steps["unrealistic_cost"].summary == "query on `app` = 1"
    assert steps["failed_validation"].summary == "query on `app` = 2"
    assert steps["quarantine"].summary == "query on `app`: 2 rows affected"
    assert execute_sql(postgres_url, "SELECT count(*) FROM cost_records WHERE quarantined") == [
        (2,)
    ]


# --- service-down -------------------------------------------------------------------------


@dry_run_test("service-down")
async def test_service_down_dry_run_shows_the_platforms_commands_and_skips_the_other(
    catalog_bot: CatalogBot, commands: StubCommands, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    kube = await dry_run(bot, "service-down restart=true namespace=prod")
    compose = await dry_run(bot, "service-down platform=compose")

    assert "run `kubectl get pods --selector=app=signx-intel --namespace prod`" in kube
    assert "run `kubectl rollout restart deployment/signx-intel-api --namespace prod`" in kube
    assert "`containers` Containers: run `docker-compose ps`" in kube
    assert "• Deployment signx-intel-api is restarted (rolling)" in kube
    assert "Estimate: ~5m · $0" in kube
    assert "run `docker-compose exec -T postgres pg_isready`" in compose
    assert "• Nothing changes: status, logs and dependencies are read" in compose
    assert "run `docker stats --no-stream`" in compose
    assert commands.calls() == []
    assert stub_server.requests == []


@execution_test("service-down")
async def test_service_down_on_kubernetes_checks_restarts_and_waits_until_healthy(
    catalog_bot: CatalogBot, commands: StubCommands, stub_server: StubServer
) -> None:
    commands.add("kubectl")
    stub_server.route_sequence(
        "GET",
        "/health",
        [StubResponse(status=503, body="down"), StubResponse(status=503), StubResponse(json={})],
    )
    bot = await catalog_bot()

    await bot.send("/playbook service-down restart=true namespace=prod")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert commands.argvs() == [
        ["kubectl", "get", "pods", "--selector=app=signx-intel", "--namespace", "prod"],
        ["kubectl", "logs", "deployment/signx-intel-api", "--tail=200", "--namespace", "prod"],
        ["kubectl", "rollout", "restart", "deployment/signx-intel-api", "--namespace", "prod"],
        ["kubectl", "top", "pods", "--selector=app=signx-intel", "--namespace", "prod"],
    ]
    assert len(stub_server.calls("GET", "/health")) == 3  # the check, then until healthy
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["health"] is StepStatus.FAILED
    assert steps["database"] is StepStatus.SUCCEEDED  # the `app` connection answers
    assert steps["containers"] is StepStatus.SKIPPED


@execution_test("service-down")
async def test_service_down_on_compose_runs_in_the_project_folder(
    catalog_bot: CatalogBot,
    commands: StubCommands,
    stub_server: StubServer,
    workdirs: dict[str, str],
) -> None:
    commands.add("docker-compose", "docker")
    stub_server.route("GET", "/health", json={"status": "ok"})
    bot = await catalog_bot()

    await bot.send("/playbook service-down platform=compose restart=true")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert commands.argvs() == [
        ["docker-compose", "ps"],
        ["docker-compose", "logs", "--tail=200", "api"],
        ["docker-compose", "exec", "-T", "postgres", "pg_isready"],
        ["docker-compose", "exec", "-T", "redis", "redis-cli", "ping"],
        ["docker-compose", "restart", "api"],
        ["docker", "stats", "--no-stream"],
    ]
    compose = [c for c in commands.calls() if c.name == "docker-compose"]
    assert {c.cwd for c in compose} == {workdirs["COMPOSE_PROJECT_DIR"]}

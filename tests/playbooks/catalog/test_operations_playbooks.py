"""The Trading Intelligence operations playbooks: schema validation, auto-rollback, canary,
exemptions, rate limiting and chaos tests, against a stub CCT API and stub commands."""

from __future__ import annotations

from pathlib import Path

from bot.lifecycle import RunStatus, StepStatus
from tests.playbooks.catalog.commands import StubCommands
from tests.playbooks.catalog.conftest import CatalogBot, dry_run, requested
from tests.playbooks.catalog.coverage import dry_run_test, execution_test
from tests.support.stub_server import StubResponse, StubServer

CCT_KEY = "cct-key-93fa"
GH = {"GH_TOKEN": "gh-token-51e0", "GH_REPO": "example/cct"}


def route_gets(stub_server: StubServer, *paths: str) -> None:
    for path in paths:
        stub_server.route("GET", path, json={"path": path})


# --- schema-validation-failure ------------------------------------------------------------


@dry_run_test("schema-validation-failure")
async def test_schema_validation_failure_dry_run_lists_gh_jq_and_the_validation_script(
    catalog_bot: CatalogBot, commands: StubCommands, workdirs: dict[str, str]
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "schema-validation-failure run_id=4242")

    assert "run `gh run list --workflow=deploy.yml --limit=10` with GH_REPO, GH_TOKEN set" in text
    assert (
        "run `gh pr list --state open --search '\"schema validation\" in:comments'"
        " --json number,title`"
    ) in text
    assert "run `gh run download 4242 --name schema-validation-report --dir" in text
    assert (
        "run `./ci-schema-validation.sh test-summary-schema.json test-summary.json strict`"
        f" in {workdirs['CCT_REPO_DIR']}"
    ) in text
    assert "`pr_comments` The PR's comments (skipped with these params)" in text
    assert "Risk: low" in text and "Approval: not required" in text
    assert commands.calls() == []


@execution_test("schema-validation-failure")
async def test_schema_validation_failure_reads_the_report_and_validates_in_the_checkout(
    catalog_bot: CatalogBot, commands: StubCommands, workdirs: dict[str, str]
) -> None:
    repo = Path(workdirs["CCT_REPO_DIR"])
    commands.add("gh", "jq")
    commands.add_script(repo / "ci-schema-validation.sh")
    commands.fail("ci-schema-validation.sh", [], output="missing required field: test_metadata")
    bot = await catalog_bot()

    await bot.send("/playbook schema-validation-failure run_id=4242 pr=17")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    report = f"{repo}/schema-validation-report-4242-1"
    assert commands.argvs() == [
        ["gh", "run", "list", "--workflow=deploy.yml", "--limit=10"],
        [
            "gh",
            "pr",
            "list",
            "--state",
            "open",
            "--search",
            '"schema validation" in:comments',
            "--json",
            "number,title",
        ],
        ["gh", "pr", "view", "17", "--comments"],
        ["gh", "run", "download", "4242", "--name", "schema-validation-report", "--dir", report],
        ["jq", ".validation_results", f"{report}/schema-validation-report.json"],
        ["jq", "empty", "test-summary-schema.json"],
        ["jq", "empty", "test-summary.json"],
        ["jq", ".required", "test-summary-schema.json"],
        ["jq", 'has("test_metadata") and has("test_results")', "test-summary.json"],
        ["ci-schema-validation.sh", "test-summary-schema.json", "test-summary.json", "strict"],
    ]
    gh = [c for c in commands.calls() if c.name == "gh"]
    assert {(c.env["GH_TOKEN"], c.env["GH_REPO"]) for c in gh} == {tuple(GH.values())}
    assert commands.calls()[-1].cwd == str(repo)
    assert any("Validation fails (strict). Options: A (recommended)" in t for t in bot.thread(1))


# --- auto-rollback ------------------------------------------------------------------------

INVESTIGATION = [
    "/api/v1/canary/status",
    "/api/v1/canary/history",
    "/api/v1/slo/status",
    "/api/v1/slo/breaches",
    "/api/v1/canary/rollbacks",
    "/api/v1/data/health",
]


@dry_run_test("auto-rollback")
async def test_auto_rollback_dry_run_investigates_and_asks_approval_to_change_anything(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "auto-rollback")
    disable = await dry_run(bot, "auto-rollback action=disable-auto-rollback")

    assert f"GET {stub_server.url}/api/v1/slo/breaches?hours=1 (headers X-API-Key)" in text
    assert "• Nothing changes: the canary, SLOs and rollbacks are only read" in text
    assert "Approval: not required" in text
    assert "Approval: required" in disable
    assert "• Auto-rollback is switched OFF until someone switches it back on" in disable
    assert "↩ `re_enable` Switch auto-rollback back on" in disable
    assert stub_server.requests == []


@execution_test("auto-rollback")
async def test_auto_rollback_thresholds_that_do_not_take_are_put_back(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands
) -> None:
    route_gets(stub_server, *INVESTIGATION)
    old = {"slo_thresholds": {"p95_latency_ms": 2000, "error_rate_percent": 1.0}}
    stub_server.route("GET", "/api/v1/canary/config", json=old)  # never changes
    stub_server.route("POST", "/api/v1/canary/config", json={"ok": True})
    commands.add("gh")
    bot = await catalog_bot()

    await bot.send(
        "/playbook auto-rollback action=adjust-thresholds p95_latency_ms=5000 deployment_run_id=991"
    )
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.ROLLED_BACK
    assert [r for r in requested(stub_server) if r != "GET /api/v1/canary/config"][:6] == [
        f"GET {path}" for path in INVESTIGATION
    ]
    assert stub_server.requests[1].query == {"limit": ["5"]}
    posted = [r.json() for r in stub_server.calls("POST", "/api/v1/canary/config")]
    assert posted == [
        {
            "slo_thresholds": {
                "p95_latency_ms": 5000,
                "error_rate_percent": 5.0,
                "availability_percent": 95.0,
            }
        },
        old,
    ]
    assert {r.headers["x-api-key"] for r in stub_server.requests} == {CCT_KEY}
    assert commands.argvs() == [["gh", "run", "view", "991", "--log"]]


@execution_test("auto-rollback")
async def test_auto_rollback_switched_off_reminds_how_to_switch_it_on(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    route_gets(stub_server, *INVESTIGATION)
    stub_server.route("POST", "/api/v1/canary/disable-auto-rollback", json={})
    stub_server.route("POST", "/api/v1/canary/enable-auto-rollback", json={})
    bot = await catalog_bot()

    await bot.send("/playbook auto-rollback action=disable-auto-rollback")
    await bot.press("Approve", 1, user="bob")
    assert (await bot.finished(1)).status is RunStatus.SUCCEEDED
    await bot.send("/playbook auto-rollback action=enable-auto-rollback")
    assert bot.card(2).status == "Dry run ready: waiting for Run"  # no approval to switch on
    await bot.press("Run", 2)
    assert (await bot.finished(2)).status is RunStatus.SUCCEEDED

    assert [r for r in requested(stub_server) if r.startswith("POST")] == [
        "POST /api/v1/canary/disable-auto-rollback",
        "POST /api/v1/canary/enable-auto-rollback",
    ]
    assert any(
        "Auto-rollback is OFF. Switch it back on when ready: `/playbook auto-rollback"
        " action=enable-auto-rollback`." in t
        for t in bot.thread(1)
    )


# --- canary-deployment --------------------------------------------------------------------


@dry_run_test("canary-deployment")
async def test_canary_deployment_dry_run_diagnoses_and_names_the_fix(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "canary-deployment")
    promote = await dry_run(bot, "canary-deployment fix=promote")

    assert f"GET {stub_server.url}/api/v1/data/symbols (headers X-API-Key, X-Canary-Test)" in text
    assert "• Nothing changes: the canary is only read" in text
    assert f"POST {stub_server.url}/api/v1/canary/promote (headers X-API-Key)" in promote
    assert "• The canary is PROMOTED: it becomes stable for all traffic" in promote
    assert "Approval: required" in promote
    assert stub_server.requests == []


@execution_test("canary-deployment")
async def test_canary_deployment_disables_the_canary_once_approved(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    route_gets(
        stub_server,
        "/api/v1/canary/status",
        "/api/v1/canary/metrics",
        "/api/v1/canary/config",
        "/api/v1/data/symbols",
    )
    stub_server.route("POST", "/api/v1/canary/disable", json={"enabled": False})
    bot = await catalog_bot()

    await bot.send("/playbook canary-deployment fix=disable")
    assert stub_server.requests == []
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == [
        "GET /api/v1/canary/status",
        "GET /api/v1/canary/metrics",
        "GET /api/v1/canary/config",
        "GET /api/v1/data/symbols",
        "POST /api/v1/canary/disable",
        "GET /api/v1/canary/status",
    ]
    assert stub_server.requests[3].headers["x-canary-test"] == "true"


# --- exemption-system ---------------------------------------------------------------------

EXEMPTION_READS = [
    "/api/v1/exemptions/health",
    "/api/v1/exemptions/report",
    "/api/v1/exemptions/expired",
]


@dry_run_test("exemption-system")
async def test_exemption_system_dry_run_validates_the_given_files_and_gates_a_reset(
    catalog_bot: CatalogBot, stub_server: StubServer, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "exemption-system")
    reset = await dry_run(bot, "exemption-system reset=true")

    assert '/api/v1/exemptions/validate (JSON body {"files": ["src/**/*.ts"]}' in text
    assert "• Nothing changes: exemptions are only read and validated" in text
    assert "Approval: required" in reset
    assert "• The exemption system is RESET" in reset
    assert "run `./test-exemption-report-manual.sh`" in reset
    assert stub_server.requests == []
    assert commands.calls() == []


@execution_test("exemption-system")
async def test_exemption_system_resolve_cleans_up_revalidates_and_tests_the_report(
    catalog_bot: CatalogBot,
    stub_server: StubServer,
    commands: StubCommands,
    workdirs: dict[str, str],
) -> None:
    route_gets(stub_server, *EXEMPTION_READS)
    for action in ("validate", "cleanup", "revalidate"):
        stub_server.route("POST", f"/api/v1/exemptions/{action}", json={"ok": True})
    commands.add_script(Path(workdirs["CCT_REPO_DIR"]) / "test-exemption-report-manual.sh")
    bot = await catalog_bot()

    await bot.send("/playbook exemption-system resolve=true files=src/**/*.ts,lib/**/*.ts")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == [
        "GET /api/v1/exemptions/health",
        "POST /api/v1/exemptions/validate",
        "GET /api/v1/exemptions/report",
        "GET /api/v1/exemptions/expired",
        "POST /api/v1/exemptions/cleanup",
        "POST /api/v1/exemptions/revalidate",
    ]
    assert stub_server.requests[1].json() == {"files": ["src/**/*.ts", "lib/**/*.ts"]}
    assert commands.argvs() == [["test-exemption-report-manual.sh"]]
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["reset_system"] is StepStatus.SKIPPED


# --- rate-limiting ------------------------------------------------------------------------


@dry_run_test("rate-limiting")
async def test_rate_limiting_dry_run_shows_the_new_limit_and_that_it_is_temporary(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "rate-limiting raise_limit=true max_requests=300")

    assert (
        '/api/v1/rate-limit/config (JSON body {"endpoint": "canaryManagement", "maxRequests":'
        ' 300, "windowMs": 60000}'
    ) in text
    assert (
        "• canaryManagement allows 300 requests per 60000 ms (temporary: lower it again afterwards)"
    ) in text
    assert "Approval: required" in text
    assert stub_server.requests == []


@execution_test("rate-limiting")
async def test_rate_limiting_resets_one_user_without_approval_and_reads_the_status_again(
    catalog_bot: CatalogBot, stub_server: StubServer
) -> None:
    route_gets(stub_server, "/api/v1/rate-limit/status", "/api/v1/rate-limit/events")
    stub_server.route("POST", "/api/v1/rate-limit/reset", json={"ok": True})
    bot = await catalog_bot()

    await bot.send("/playbook rate-limiting reset_user=alice.ops")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == [
        "GET /api/v1/rate-limit/status",
        "GET /api/v1/rate-limit/events",
        "POST /api/v1/rate-limit/reset",
        "GET /api/v1/rate-limit/status",
    ]
    assert stub_server.requests[1].query == {"hours": ["1"]}
    assert stub_server.requests[2].query == {"user": ["alice.ops"]}


# --- chaos-test-failure -------------------------------------------------------------------


@dry_run_test("chaos-test-failure")
async def test_chaos_test_failure_dry_run_stops_tests_first_and_retests_only_when_asked(
    catalog_bot: CatalogBot, commands: StubCommands
) -> None:
    bot = await catalog_bot()

    text = await dry_run(bot, "chaos-test-failure")
    retest = await dry_run(bot, "chaos-test-failure retest=true severity=moderate minutes=5")

    assert "1. `stop_chaos` Stop the chaos tests: run `pkill -f test-chaos-engineering`" in text
    assert "`retest_chaos` Retest: run `./test-chaos-engineering-staging.sh latency mild 3`" in text
    assert "(skipped with these params)" in text
    assert "run `./test-chaos-engineering-staging.sh latency moderate 5`" in retest
    assert "Approval: required" in retest
    assert commands.calls() == []


@execution_test("chaos-test-failure")
async def test_chaos_test_failure_stops_the_tests_checks_and_retests_once_approved(
    catalog_bot: CatalogBot,
    stub_server: StubServer,
    commands: StubCommands,
    workdirs: dict[str, str],
) -> None:
    repo = Path(workdirs["CCT_REPO_DIR"])
    route_gets(stub_server, "/api/v1/data/health", "/api/v1/data/symbols")
    commands.add("pkill", "gh", "find")
    commands.answer("pkill", [], output="", exit_code=1)  # none left running
    for script in ("test-slo-breach-simulation.sh", "test-chaos-engineering-staging.sh"):
        commands.add_script(repo / script)
    stub_server.route_sequence("GET", "/api/v1/data/health", [StubResponse(status=503)])
    bot = await catalog_bot()

    await bot.send("/playbook chaos-test-failure retest=true fault=latency severity=mild")
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    find = ["find", ".", "-maxdepth", "1", "-name", "chaos-test-*.log", "-exec"]
    assert commands.argvs() == [
        ["pkill", "-f", "test-chaos-engineering"],
        ["gh", "run", "list", "--limit=5", "--workflow=deploy.yml"],
        [*find, "tail", "-n", "100", "{}", "+"],
        [*find, "grep", "-h", "Chaos parameters", "{}", "+"],
        ["test-slo-breach-simulation.sh", "latency", "mild", "5"],
        ["test-chaos-engineering-staging.sh", "latency", "mild", "3"],
    ]
    assert {c.cwd for c in commands.calls() if c.name != "pkill" and c.name != "gh"} == {str(repo)}
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["health"] is StepStatus.FAILED  # still degraded: the run goes on
    assert any("📣 The system recovers." in t for t in bot.thread(1))

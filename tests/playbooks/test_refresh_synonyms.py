"""The built-in refresh-synonyms follows Elasticsearch's procedure for each kind of synonyms.

Updateable (search-time) synonyms: reload the search analyzers on the open index, then clear
the request cache. Index-time synonyms (reindex=true, approved first): close and reopen the
index, then rebuild every document.
"""

from __future__ import annotations

from bot.lifecycle import RunStatus, StepStatus
from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import Catalog
from playbooks.plan import build_plan
from tests.support.console import BotFactory
from tests.support.stub_server import StubServer

INDEX = "/knowledge_base"
TEAM = """
roles:
  sre-lead: {shell: [bob]}
"""


def requested(stub_server: StubServer) -> list[str]:
    return [
        f"{r.method} {r.path}" + ("?" + "&".join(sorted(r.query)) if r.query else "")
        for r in stub_server.requests
    ]


async def test_search_time_synonyms_reload_on_the_open_index_then_clear_the_request_cache(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    for path in ("_reload_search_analyzers", "_cache/clear"):
        stub_server.route("POST", f"{INDEX}/{path}", json={"_shards": {"failed": 0}})
    bot = await make_bot()

    said = await bot.send("/playbook refresh-synonyms", user="alice")
    card = said[0].card
    assert card is not None
    assert card.status == "Dry run ready: waiting for Run"  # no approval without reindex
    await bot.press("Run", 1, user="alice")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == [
        f"POST {INDEX}/_reload_search_analyzers",
        f"POST {INDEX}/_cache/clear?request",
    ]
    assert stub_server.requests[1].query == {"request": ["true"]}
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps == {
        "reload": StepStatus.SUCCEEDED,
        "clear_request_cache": StepStatus.SUCCEEDED,
        "close_index": StepStatus.SKIPPED,
        "open_index": StepStatus.SKIPPED,
        "reindex": StepStatus.SKIPPED,
    }


async def test_index_time_synonyms_need_approval_then_close_reopen_and_reindex(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    for path in ("_close", "_open", "_update_by_query"):
        stub_server.route("POST", f"{INDEX}/{path}", json={"acknowledged": True})
    bot = await make_bot(config=TEAM)

    said = await bot.send("/playbook refresh-synonyms reindex=true", user="alice")
    card = said[0].card
    assert card is not None
    assert card.status == "Waiting for approval"
    assert stub_server.requests == []
    await bot.press("Approve", 1, user="bob")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert requested(stub_server) == [
        f"POST {INDEX}/_close",
        f"POST {INDEX}/_open",
        f"POST {INDEX}/_update_by_query?conflicts&wait_for_completion",
    ]
    steps = {s.step_id: s.status for s in await bot.deps.store.steps(1)}
    assert steps["reload"] is StepStatus.SKIPPED
    assert steps["clear_request_cache"] is StepStatus.SKIPPED
    assert steps["reindex"] is StepStatus.SUCCEEDED


def test_the_plan_shows_the_path_the_params_take_and_the_other_as_skipped() -> None:
    registry = ActionRegistry.default()
    catalog = {p.name: p for p in Catalog.load([], registry)}
    es = "http://es.internal:9200/knowledge_base"
    environ = {"ES_URL": "http://es.internal:9200"}

    plan = build_plan(catalog["refresh-synonyms"], {}, registry, catalog, environ)
    with_reindex = build_plan(
        catalog["refresh-synonyms"], {"reindex": "true"}, registry, catalog, environ
    )

    assert [(s.id, s.text, s.condition, s.skipped) for s in plan.steps] == [
        ("reload", f"Reload search analyzers: POST {es}/_reload_search_analyzers", None, False),
        (
            "clear_request_cache",
            f"Clear request cache: POST {es}/_cache/clear?request=true",
            None,
            False,
        ),
        ("close_index", f"Close index: POST {es}/_close", None, True),
        ("open_index", f"Reopen index: POST {es}/_open", None, True),
        (
            "reindex",
            f"Reindex documents: POST {es}/_update_by_query"
            "?conflicts=proceed&wait_for_completion=false",
            None,
            True,
        ),
    ]
    assert [s.id for s in with_reindex.steps if s.skipped] == ["reload", "clear_request_cache"]
    assert [s.text for s in plan.rollback] == [f"Reopen index: POST {es}/_open"]
    assert plan.needs_approval is False
    assert list(plan.params) == ["index_name", "reindex"]

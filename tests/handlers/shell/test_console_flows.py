"""Whole flows through the console surface: real store, engine and catalog; stub targets."""

from __future__ import annotations

import itertools

import pytest

from bot.lifecycle import RunStatus, StepStatus
from handlers.shell.testing import ConsoleBot
from tests.bot.slow_chat import SlowChat
from tests.support.console import BotFactory
from tests.support.stub_server import StubResponse, StubServer

CACHE_CLEAR = "/kb/_cache/clear"


async def test_list_and_help_answer_privately(bot: ConsoleBot) -> None:
    said = await bot.send("/playbook list", user="alice")
    assert [m.kind for m in said] == ["private"]
    assert "`clear-cache`" in said[0].text
    assert "`latency-spike`" in said[0].text

    said = await bot.send("/playbook help clear-cache", user="alice")
    text = said[0].text
    assert "Risk: low" in text
    assert "`index_name` (string; default knowledge_base)" in text
    assert "~5s" in text


async def test_card_shows_plan_and_run_executes_once(
    bot: ConsoleBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={"_shards": {"total": 2, "failed": 0}})

    said = await bot.send("/playbook clear-cache index_name=kb", user="alice")
    card = said[0].card
    assert card is not None
    assert card.status == "Dry run ready: waiting for Run"
    assert [b.label for b in card.buttons] == ["Run", "Cancel"]
    assert any(f"{stub_server.url}{CACHE_CLEAR}" in line for line in card.plan)
    assert stub_server.requests == []  # the plan sent nothing

    await bot.press("Run", 1, user="alice")
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    calls = stub_server.calls("POST", CACHE_CLEAR)
    assert len(calls) == 1
    assert calls[0].query == {"query": ["true"], "request": ["true"], "fielddata": ["false"]}
    assert bot.card(1).status.startswith("Succeeded")
    assert bot.card(1).buttons == []
    thread = bot.thread(1)
    assert thread[0] == "▶️ Started by alice."
    assert "`clear` succeeded" in thread[1]
    assert "succeeded" in thread[-1]
    # As printed: the step's output block stays indented under its thread line.
    at = next(i for i, line in enumerate(bot.lines) if "`clear` succeeded" in line)
    assert bot.lines[at].startswith("  ↳ [#1] ✅ `clear` succeeded")
    assert bot.lines[at + 1 : at + 4] == [
        "      ```",
        '      {"_shards": {"total": 2, "failed": 0}}',
        "      ```",
    ]


async def test_second_run_press_is_refused_and_runs_nothing_again(
    bot: ConsoleBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={})
    await bot.send("/playbook clear-cache index_name=kb")
    await bot.press("Run", 1)
    await bot.press("Run", 1)
    await bot.finished(1)
    await bot.press("Run", 1)

    assert len(stub_server.calls("POST", CACHE_CLEAR)) == 1
    assert any("Can't run run #1: it is" in text for text in bot.private("alice"))


async def test_only_the_requester_presses_run(bot: ConsoleBot, stub_server: StubServer) -> None:
    await bot.send("/playbook clear-cache", user="alice")
    await bot.press("Run", 1, user="mallory")

    assert bot.private("mallory") == ["Only alice, who requested run #1, can press Run."]
    run = await bot.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.PENDING
    assert stub_server.requests == []


async def test_bad_input_gets_precise_private_answers(bot: ConsoleBot) -> None:
    await bot.send("/playbook clear-cach")
    await bot.send("/playbook clear-cache cache_types=query,bogus")
    await bot.send("/playbook clear-cache colour=blue")
    await bot.send("/playbook clear-cache index_name")
    await bot.send("/playbook status 99")
    await bot.send('/playbook clear-cache index_name="kb')

    answers = bot.private("alice")
    assert answers[0].startswith("Unknown playbook `clear-cach`. Did you mean `clear-cache`?")
    assert "`cache_types`: `bogus` is not one of: query, request, fielddata" in answers[1]
    assert "`colour` is not a parameter of clear-cache" in answers[2]
    assert "Expected `key=value` but got `index_name`" in answers[3]
    assert answers[4] == "There is no run #99. See `/playbook history`."
    assert "check your quotes" in answers[5]
    assert await bot.deps.store.list_runs() == []  # none of these created a run


async def test_unreachable_target_fails_the_run_with_the_reason(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    bot = await make_bot(env={"ES_URL": "http://127.0.0.1:9"})
    await bot.send("/playbook clear-cache index_name=kb")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.FAILED
    assert "cannot reach http://127.0.0.1:9/kb/_cache/clear" in (run.error or "")
    steps = await bot.deps.store.steps(1)
    assert steps[0].status is StepStatus.FAILED
    assert steps[0].attempts == 3  # retries: 2
    assert any("attempt 2 of 3" in text for text in bot.thread(1))
    assert "cannot reach" in bot.thread(1)[-1]
    # The card went from running straight to failed: no second "Running step 1 of 1".
    edits = [line for line in bot.lines if line.startswith("↻")]
    assert [line.split(": ", 1)[1] for line in edits] == [
        "🔵 Running step 1 of 1: `clear`",
        "❌ Failed in 3s",
    ]


async def test_failed_step_runs_rollback_and_shows_it(
    bot: ConsoleBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/knowledge_base/_close", json={"acknowledged": True})
    stub_server.route(
        "POST",
        "/knowledge_base/_reload_search_analyzers",
        status=500,
        json={"error": "analyzer broke"},
    )
    stub_server.route("POST", "/knowledge_base/_open", json={"acknowledged": True})

    await bot.send("/playbook refresh-synonyms")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.ROLLED_BACK
    assert "step `reload` failed" in (run.error or "")
    steps = {(s.phase, s.step_id): s for s in await bot.deps.store.steps(1)}
    assert steps[("main", "reload")].attempts == 2
    assert ("main", "open_index") not in steps  # never reached
    assert steps[("rollback", "reopen_after_failure")].status is StepStatus.SUCCEEDED
    assert len(stub_server.calls("POST", "/knowledge_base/_open")) == 1
    assert any("rollback `reopen_after_failure` succeeded" in t for t in bot.thread(1))
    assert bot.card(1).status.startswith("Failed and rolled back")


async def test_approval_required_run_cannot_be_started_with_run(
    bot: ConsoleBot, stub_server: StubServer
) -> None:
    said = await bot.send("/playbook refresh-synonyms reindex=true")
    card = said[0].card
    assert card is not None
    assert card.status == "Waiting for approval"
    assert "~6h" in next(f.value for f in card.fields if f.label == "Estimate")
    await bot.press("Run", 1)
    assert bot.private("alice")[-1] == (
        "Run #1 needs approval; it starts by itself once it is approved."
    )
    assert stub_server.requests == []


async def test_dry_run_flag_shows_plan_without_a_run(
    bot: ConsoleBot, stub_server: StubServer
) -> None:
    said = await bot.send("/playbook clear-cache index_name=kb --dry-run")
    assert said[0].kind == "private"
    assert said[0].text.startswith("*Dry run: Clear Elasticsearch cache*")
    assert "Start it: `/playbook clear-cache index_name=kb cache_types=query,request`" in (
        said[0].text
    )
    [recorded] = await bot.deps.store.list_runs()
    assert recorded.dry_run  # kept in the history as a dry run, nothing started
    assert stub_server.requests == []
    events = await bot.deps.store.audit_events()
    assert [e.kind for e in events] == ["run.dry_run"]


async def test_cancel_pending_run_and_history_and_status(bot: ConsoleBot) -> None:
    await bot.send("/playbook clear-cache")
    await bot.send("/playbook cancel #1", user="bob")
    assert bot.private("bob") == ["Only alice, who requested run #1, can cancel it."]

    await bot.send("/playbook cancel #1", user="alice")
    assert bot.card(1).status == "Cancelled"
    assert bot.card(1).buttons == []
    assert "⛔ Cancelled by alice." in bot.thread(1)

    await bot.send("/playbook history")
    assert "#1 `clear-cache` cancelled" in bot.private("alice")[-1]
    await bot.send("/playbook history clear-cache")
    assert "#1 `clear-cache` cancelled" in bot.private("alice")[-1]
    await bot.send("/playbook status 1")
    status = bot.private("alice")[-1]
    assert "run.created by shell:alice" in status
    assert "run.cancelled by shell:alice" in status


@pytest.mark.parametrize("recovers", [True, False])
async def test_latency_spike_end_to_end(
    bot: ConsoleBot, stub_server: StubServer, recovers: bool
) -> None:
    chat = SlowChat.attach(bot, delay=0)
    stub_server.route("GET", "/api/traces", json={"data": [{"traceID": "abc"}]})
    stub_server.route("GET", "/health/circuit-breakers", json={"payments": "closed"})
    stub_server.route("POST", "/knowledge_base/_cache/clear", json={})
    for path in ("_close", "_reload_search_analyzers", "_open"):
        stub_server.route("POST", f"/knowledge_base/{path}", json={"acknowledged": True})
    high = StubResponse(json=_prometheus(1.85))
    low = StubResponse(json=_prometheus(0.31))
    stub_server.route_sequence("GET", "/api/v1/query", [high, high, low] if recovers else [high])

    said = await bot.send("/playbook latency-spike service=api")
    card = said[0].card
    assert card is not None
    assert "~6m 35s" in next(f.value for f in card.fields if f.label == "Estimate")
    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert stub_server.calls("GET", "/api/traces")[0].query["service"] == ["api"]
    assert len(stub_server.calls("GET", "/health/circuit-breakers")) == 1
    clears = stub_server.calls("POST", "/knowledge_base/_cache/clear")
    # clear-cache's query and request caches; refresh-synonyms clears the request cache too.
    assert [c.query.get("query") for c in clears] == [["true"]] + ([] if recovers else [None])
    steps = {s.step_id: s for s in await bot.deps.store.steps(1)}
    assert steps["long_queries"].status is StepStatus.FAILED  # not PostgreSQL here: continues
    if recovers:
        assert len(stub_server.calls("GET", "/api/v1/query")) == 3
        assert steps["refresh_synonyms"].status is StepStatus.SKIPPED
        skipped = "⏭️ `refresh_synonyms` skipped: `{{ steps.monitor.failed }}` is false"
        assert skipped in bot.thread(1)
        assert stub_server.calls("POST", "/knowledge_base/_close") == []
        assert any("📣 p95 recovered below 0.5s" in t for t in bot.thread(1))
    else:
        assert len(stub_server.calls("GET", "/api/v1/query")) == 11  # every 30s for 5m
        assert steps["monitor"].status is StepStatus.FAILED
        assert steps["refresh_synonyms"].status is StepStatus.SUCCEEDED
        assert len(stub_server.calls("POST", "/knowledge_base/_reload_search_analyzers")) == 1
        assert any("📣 p95 did not recover within 5 minutes" in t for t in bot.thread(1))
    # What the diagnosis found is shown under its step.
    breakers = next(t for t in bot.thread(1) if "`circuit_breakers` succeeded" in t)
    assert breakers.endswith('\n```\n{"payments": "closed"}\n```')
    # Every card edit changed something.
    cards = [card for _, card in chat.edits]
    assert all(before != after for before, after in itertools.pairwise(cards))
    children = await bot.deps.store.child_runs(1)
    expected = ["clear-cache"] if recovers else ["clear-cache", "refresh-synonyms"]
    assert [c.playbook for c in children] == expected
    assert all(c.status is RunStatus.SUCCEEDED for c in children)


def _prometheus(value: float) -> dict[str, object]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"service": "api"}, "value": [1732270000.0, str(value)]}],
        },
    }


LONG_REPORT = """
name: long-report
steps:
  - id: report
    action: http
    with: {url: "{{ env.API_URL }}/report"}
  - id: break
    action: http
    with: {url: "{{ env.API_URL }}/broken"}
rollback:
  - id: undo_first
    action: http
    with: {url: "{{ env.API_URL }}/undo"}
  - id: undo_second
    action: http
    with: {url: "{{ env.API_URL }}/undo"}
"""


async def test_step_output_tail_in_thread_and_status_and_rollback_in_the_order_it_ran(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/report", body="\n".join(f"row {i}" for i in range(1, 101)))
    stub_server.route("GET", "/broken", status=500, body="")
    stub_server.route("GET", "/undo", body="undone")
    bot = await make_bot(playbooks={"report": LONG_REPORT})
    await bot.send("/playbook long-report")
    await bot.press("Run", 1)
    assert (await bot.finished(1)).status is RunStatus.ROLLED_BACK

    post = next(t for t in bot.thread(1) if "`report` succeeded" in t).split("\n")
    shown = [line for line in post if line.startswith("row ")]
    assert shown == [f"row {i}" for i in range(86, 101)]  # the last 15 lines
    assert post[-1] == "_(output cut; `/playbook status 1` shows more)_"

    await bot.send("/playbook status 1")
    status = bot.private("alice")[-1].split("\n")
    assert [line for line in status if line.startswith("row ")] == [
        f"row {i}" for i in range(71, 101)
    ]
    assert "_(earlier output cut)_" in status
    undo = [line for line in status if "`undo_" in line]
    assert "`undo_second`" in undo[0] and "`undo_first`" in undo[1]  # as they ran: bottom-up


async def test_a_card_whose_plan_was_no_longer_kept_still_shows_it_when_run(
    bot: ConsoleBot, stub_server: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.plans.PLANS_KEPT", 2)
    stub_server.route("POST", CACHE_CLEAR, json={"_shards": {"total": 2, "failed": 0}})
    for index in ("kb", "docs", "faq"):  # the third card pushes the first one's plan out
        await bot.send(f"/playbook clear-cache index_name={index}", user="alice")
    planned = f"`clear` Clear caches: POST {stub_server.url}/kb/_cache/clear?query=true"
    assert bot.card(1).plan[0].startswith(f"▫️ 1. {planned}")

    await bot.press("Run", 1, user="alice")
    await bot.finished(1)

    assert bot.card(1).status.startswith("Succeeded")
    assert bot.card(1).plan[0].startswith(f"✅ 1. {planned}")

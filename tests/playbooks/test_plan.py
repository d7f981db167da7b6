"""Dry runs: what each step would do, what a run would cost, and whether it needs approval."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import Catalog
from playbooks.errors import ParamError
from playbooks.lint import parse_playbook
from playbooks.model import Playbook
from playbooks.plan import Estimate, Plan, build_plan

ENVIRON = {
    "ES_URL": "http://es.internal:9200",
    "JAEGER_URL": "http://jaeger.internal:16686",
    "API_URL": "http://api.internal",
    "PROMETHEUS_URL": "http://prometheus.internal:9090",
    "GRAFANA_URL": "https://grafana.example.com",
    "API_TOKEN": "tok-very-secret-value",
}


@pytest.fixture(scope="module")
def registry() -> ActionRegistry:
    return ActionRegistry.default()


@pytest.fixture(scope="module")
def playbooks(registry: ActionRegistry) -> dict[str, Playbook]:
    return {playbook.name: playbook for playbook in Catalog.load([], registry)}


def plan_of(
    name: str,
    given: dict[str, str],
    registry: ActionRegistry,
    playbooks: dict[str, Playbook],
    environ: dict[str, str] = ENVIRON,
) -> Plan:
    return build_plan(playbooks[name], given, registry, playbooks, environ)


def own_playbook(registry: ActionRegistry, text: str) -> Playbook:
    playbook, problems = parse_playbook(
        Path("own.yaml"), registry, text=textwrap.dedent(text).lstrip("\n")
    )
    assert problems == []
    assert playbook is not None
    return playbook


def lines(plan: Plan) -> list[str]:
    return [step.text for step in plan.steps]


# --- the built-in catalog ------------------------------------------------------------------


def test_clear_cache_shows_the_url_and_the_cache_flags(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    plan = plan_of("clear-cache", {"index_name": "kb"}, registry, playbooks)

    assert lines(plan) == [
        "Clear caches: POST http://es.internal:9200/kb/_cache/clear"
        "?query=true&request=true&fielddata=false"
    ]
    assert plan.params == {"index_name": "kb", "cache_types": ["query", "request"]}
    assert plan.problems == []
    assert plan.estimate == Estimate(seconds=5.0, cost_usd=0.0)
    assert plan.needs_approval is False


def test_clear_cache_flags_follow_the_cache_types_given(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    plan = plan_of("clear-cache", {"cache_types": "fielddata"}, registry, playbooks)

    assert lines(plan) == [
        "Clear caches: POST http://es.internal:9200/knowledge_base/_cache/clear"
        "?query=false&request=false&fielddata=true"
    ]


def test_a_missing_variable_is_a_plan_problem_naming_it(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    plan = plan_of("clear-cache", {"index_name": "kb"}, registry, playbooks, environ={})

    assert plan.problems == ["clear: environment variable ES_URL is not set"]
    assert plan.steps[0].text == "Clear caches"  # the step's name stands in for its arguments
    assert plan.steps[0].problem == "environment variable ES_URL is not set"
    assert plan.estimate == Estimate(seconds=5.0, cost_usd=0.0)


def test_refresh_synonyms_with_reindex_needs_approval_and_costs_more(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    plan = plan_of("refresh-synonyms", {"reindex": "true"}, registry, playbooks)

    assert plan.needs_approval is True
    assert plan.estimate == Estimate(seconds=6 * 3600.0, cost_usd=10.0)
    reindex = next(step for step in plan.steps if step.id == "reindex")
    assert reindex.condition is None  # decided by the params: it runs
    assert reindex.skipped is False
    assert [step.id for step in plan.steps if step.skipped] == ["reload", "clear_request_cache"]
    assert reindex.text == (
        "Reindex documents: POST http://es.internal:9200/knowledge_base/_update_by_query"
        "?conflicts=proceed&wait_for_completion=false"
    )
    assert [step.text for step in plan.rollback] == [
        "Reopen index: POST http://es.internal:9200/knowledge_base/_open"
    ]


def test_refresh_synonyms_without_reindex_is_quick_free_and_unapproved(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    plan = plan_of("refresh-synonyms", {"reindex": "false"}, registry, playbooks)

    assert plan.needs_approval is False
    assert plan.estimate == Estimate(seconds=30.0, cost_usd=0.0)
    assert plan.problems == []


def test_latency_spike_adds_its_sub_playbooks_to_its_estimate(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    plan = plan_of("latency-spike", {}, registry, playbooks)

    # Its own 6m, plus clear-cache (5s), plus refresh-synonyms without reindex (30s).
    assert plan.estimate == Estimate(seconds=360.0 + 5.0 + 30.0, cost_usd=0.0)
    assert plan.estimate.seconds == 395.0
    assert plan.problems == []


def test_a_step_that_depends_on_an_earlier_one_shows_its_condition(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    plan = plan_of("latency-spike", {"index_name": "kb"}, registry, playbooks)

    conditions = {step.id: step.condition for step in plan.steps}
    assert conditions["refresh_synonyms"] == "{{ steps.monitor.failed }}"
    assert conditions["clear_cache"] is None
    texts = {step.id: step.text for step in plan.steps}
    assert texts["refresh_synonyms"] == (
        "run playbook `refresh-synonyms` (index_name=kb, reindex=false)"
    )
    assert texts["clear_cache"] == "run playbook `clear-cache` (index_name=kb)"


def test_a_bad_param_is_refused_before_planning(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    with pytest.raises(ParamError) as caught:
        plan_of("clear-cache", {"index_name": "KB!", "cache_types": "disk"}, registry, playbooks)

    assert caught.value.reason == (
        "`index_name`: 'KB!' does not match the pattern [a-z0-9][a-z0-9_.,*-]*; "
        "`cache_types`: `disk` is not one of: query, request, fielddata"
    )


def test_an_unknown_param_is_refused_before_planning(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    with pytest.raises(ParamError) as caught:
        plan_of("refresh-synonyms", {"full_refresh": "true"}, registry, playbooks)

    assert caught.value.reason == (
        "`full_refresh` is not a parameter of refresh-synonyms "
        "(parameters: `index_name`, `reindex`)"
    )


# --- values only known at run time ---------------------------------------------------------


def test_arguments_from_earlier_steps_are_shown_deferred(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    playbook = own_playbook(
        registry,
        """
        name: lookup-and-act
        params:
          n: {type: integer, default: 3}
        steps:
          - id: lookup
            action: http
            with: {url: "http://svc.internal/lookup"}
          - id: pause
            action: wait
            with: {duration: "{{ steps.lookup.value }}"}
          - id: act
            when: "{{ steps.lookup.ok and params.n > 2 }}"
            action: http
            with:
              method: POST
              url: "http://svc.internal/items/{{ steps.lookup.output }}"
              json: {n: "{{ params.n }}", previous: "{{ steps.lookup.output }}"}
          - id: tell
            when: steps.act.failed
            action: notify
            with:
              message: "rows: {% for row in steps.lookup.value %}{{ row }}; {% endfor %}"
        """,
    )

    plan = build_plan(playbook, {}, registry, playbooks, ENVIRON)

    assert plan.problems == []
    assert [(step.id, step.text, step.condition) for step in plan.steps] == [
        ("lookup", "GET http://svc.internal/lookup", None),
        ("pause", "wait duration=<steps.lookup.value>", None),
        (
            "act",
            "POST http://svc.internal/items/<steps.lookup.output>"
            ' (JSON body {"n": 3, "previous": "<steps.lookup.output>"})',
            "{{ steps.lookup.ok and params.n > 2 }}",
        ),
        (
            "tell",
            "post in the run's thread: “rows: <steps.lookup.value[0]>;”",
            "steps.act.failed",
        ),
    ]


def test_sub_playbook_params_from_earlier_steps_do_not_spoil_the_estimate(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    playbook = own_playbook(
        registry,
        """
        name: pick-and-clear
        estimate: {duration: 1m}
        steps:
          - id: pick
            action: http
            with: {url: "http://svc.internal/slowest-index"}
          - id: clear
            action: playbook
            with: {name: clear-cache, params: {index_name: "{{ steps.pick.output }}"}}
          - id: resync
            action: playbook
            with: {name: refresh-synonyms, params: "{{ steps.pick.value }}"}
        """,
    )

    plan = build_plan(playbook, {}, registry, {**playbooks, playbook.name: playbook}, ENVIRON)

    assert plan.problems == []
    # 1m of its own plus clear-cache; refresh-synonyms' params are only known at run time.
    assert plan.estimate == Estimate(seconds=65.0, cost_usd=0.0)
    assert lines(plan)[1:] == [
        'run playbook `clear-cache` (index_name="<steps.pick.output>")',
        "playbook name=refresh-synonyms, params=<steps.pick.value>",
    ]


def test_a_bad_literal_param_of_a_sub_playbook_is_an_estimate_problem(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    playbook = own_playbook(
        registry,
        """
        name: resync
        steps:
          - id: resync
            action: playbook
            with: {name: refresh-synonyms, params: {reindex: maybe}}
        """,
    )

    plan = build_plan(playbook, {}, registry, {**playbooks, playbook.name: playbook}, ENVIRON)

    assert plan.problems == ["estimate: `reindex`: expected true or false, got 'maybe'"]


def test_a_dry_run_never_shows_a_secret(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    playbook = own_playbook(
        registry,
        """
        name: with-secret
        steps:
          - id: call
            action: http
            with:
              method: POST
              url: "{{ env.API_URL }}/login"
              headers: {Authorization: "Bearer {{ secrets.API_TOKEN }}"}
              body: "token={{ secrets.API_TOKEN }}"
        """,
    )

    plan = build_plan(playbook, {}, registry, playbooks, ENVIRON)

    assert lines(plan) == [
        "POST http://api.internal/login (body 'token=***'; headers Authorization)"
    ]
    assert ENVIRON["API_TOKEN"] not in repr(plan)


def test_a_message_branching_on_an_earlier_result_names_each_branch_instead_of_guessing(
    registry: ActionRegistry, playbooks: dict[str, Playbook]
) -> None:
    plan = plan_of("latency-spike", {}, registry, playbooks, environ={"ES_URL": "http://es"})
    report = plan.steps[-1]
    assert report.text == (
        "post in the run's thread: if `monitor` succeeded,"
        " “p95 recovered below 0.5s after clearing the cache.”;"
        " otherwise “p95 did not recover within 5 minutes; synonyms were refreshed."
        " If it is still h…”"
    )
    assert report.problem is None

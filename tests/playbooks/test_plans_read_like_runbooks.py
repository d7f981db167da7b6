"""Plans that read like a runbook's dry run: declared changes, per-item estimates, steps the
params skip, commands with each list item as an argument."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from playbooks.actions.registry import ActionRegistry
from playbooks.actions.shell import ShellAction
from playbooks.actions.sql import SqlAction
from playbooks.errors import ActionError
from playbooks.lint import lint_playbook, parse_playbook
from playbooks.model import Playbook
from playbooks.plan import Estimate, Rate, build_plan, format_estimate
from tests.playbooks.fake_context import FakeContext

ENVIRON = {"API_URL": "http://api.internal", "DBT_PROJECT_DIR": "/srv/dbt"}

RERUN = """
name: rerun
estimate: {duration: 5m, cost_usd: 0.05, per: models}
params:
  models: {type: list, required: true}
  threads: {type: integer, default: 4}
  full_refresh: {type: boolean, default: false}
approval: {required: "{{ params.full_refresh }}"}
changes:
  - "Will re-run {{ params.models | length }} models"
  - "{{ 'Full refresh' if params.full_refresh else '' }}"
  - "Models: {{ params.models | join(', ') }}"
steps:
  - id: run
    action: shell
    with:
      argv:
        - dbt
        - run
        - --models
        - "{{ params.models }}"
        - --threads
        - "{{ params.threads }}"
        - "{{ ['--full-refresh'] if params.full_refresh else [] }}"
      cwd: "{{ env.DBT_PROJECT_DIR }}"
  - id: rebuild_wait
    when: "{{ params.full_refresh }}"
    action: wait
    with: {duration: 1h}
  - id: report
    when: "{{ steps.run.ok and params.threads > 2 }}"
    action: http
    with: {method: POST, url: "{{ env.REPORT_URL }}/done"}
"""


@pytest.fixture(scope="module")
def registry() -> ActionRegistry:
    return ActionRegistry.default()


def parsed(registry: ActionRegistry, text: str) -> Playbook:
    playbook, problems = parse_playbook(Path("own.yaml"), registry, text=textwrap.dedent(text))
    assert problems == []
    assert playbook is not None
    return playbook


def problems_of(registry: ActionRegistry, text: str) -> list[str]:
    found = lint_playbook(Path("own.yaml"), registry, text=textwrap.dedent(text).lstrip("\n"))
    return [problem.reason for problem in found.errors]


# --- the plan ----------------------------------------------------------------------------


def test_a_per_item_estimate_counts_the_items_and_shows_the_rate(registry: ActionRegistry) -> None:
    playbook = parsed(registry, RERUN)

    plan = build_plan(playbook, {"models": "inbox_emails,triage_results"}, registry, {}, ENVIRON)

    assert plan.estimate == Estimate(600.0, 0.10, Rate("model", 2, 300.0, 0.05))
    assert format_estimate(plan.estimate) == "~10m (5m per model) · $0.10 ($0.05 per model)"


def test_the_command_line_has_one_argument_per_list_item_and_the_number_as_text(
    registry: ActionRegistry,
) -> None:
    playbook = parsed(registry, RERUN)

    plain = build_plan(playbook, {"models": "a,b"}, registry, {}, ENVIRON)
    refresh = build_plan(playbook, {"models": "a", "full_refresh": "true"}, registry, {}, ENVIRON)

    assert plain.steps[0].text == "run `dbt run --models a b --threads 4` in /srv/dbt"
    assert (
        refresh.steps[0].text == "run `dbt run --models a --threads 4 --full-refresh` in /srv/dbt"
    )


def test_declared_changes_are_rendered_with_the_params_and_empty_ones_left_out(
    registry: ActionRegistry,
) -> None:
    playbook = parsed(registry, RERUN)

    plain = build_plan(playbook, {"models": "a,b"}, registry, {}, ENVIRON)
    refresh = build_plan(playbook, {"models": "a", "full_refresh": "true"}, registry, {}, ENVIRON)

    assert plain.changes == ["Will re-run 2 models", "Models: a, b"]
    assert refresh.changes == ["Will re-run 1 models", "Full refresh", "Models: a"]


def test_a_condition_on_params_alone_is_decided_in_the_plan_and_others_are_shown(
    registry: ActionRegistry,
) -> None:
    playbook = parsed(registry, RERUN)

    plain = build_plan(playbook, {"models": "a"}, registry, {}, ENVIRON)
    refresh = build_plan(playbook, {"models": "a", "full_refresh": "true"}, registry, {}, ENVIRON)

    assert [(s.id, s.skipped, s.condition) for s in plain.steps] == [
        ("run", False, None),
        ("rebuild_wait", True, None),
        ("report", False, "{{ steps.run.ok and params.threads > 2 }}"),
    ]
    assert [(s.id, s.skipped, s.condition) for s in refresh.steps][1] == (
        "rebuild_wait",
        False,
        None,
    )
    # The skipped hour is not in the estimate; taken, it is not counted either (declared).
    assert plain.estimate.seconds == 300.0
    # A step that needs an unset variable is a problem even when a run may skip it.
    assert plain.problems == ["report: environment variable REPORT_URL is not set"]


def test_a_step_the_params_skip_reports_no_problem_for_settings_it_would_need(
    registry: ActionRegistry,
) -> None:
    playbook = parsed(
        registry,
        """
        name: two-ways
        params:
          platform: {type: string, choices: [kubernetes, compose], default: kubernetes}
        steps:
          - id: kube
            when: "{{ params.platform == 'kubernetes' }}"
            action: shell
            with: {argv: [kubectl, get, pods]}
          - id: compose
            when: "params.platform == 'compose'"
            action: shell
            with: {argv: [docker-compose, ps], cwd: "{{ env.COMPOSE_PROJECT_DIR }}"}
          - id: pause
            when: "{{ params.platform == 'compose' }}"
            action: wait
            with: {duration: 10m}
        """,
    )

    plan = build_plan(playbook, {}, registry, {}, {})

    assert plan.problems == []
    assert [(s.id, s.text, s.skipped) for s in plan.steps] == [
        ("kube", "run `kubectl get pods`", False),
        ("compose", "shell", True),
        ("pause", "wait 10m", True),
    ]
    # The skipped wait is not part of the estimate, and nothing else says how long it takes.
    assert plan.estimate == Estimate(known=False)


def test_a_poll_check_is_shown_with_its_arguments_rendered(registry: ActionRegistry) -> None:
    playbook = parsed(
        registry,
        """
        name: wait-for-it
        params:
          target: {type: integer, default: 0}
        steps:
          - id: drained
            action: poll
            with:
              check: {action: http, url: "{{ env.API_URL }}/traffic"}
              until: "{{ value.canary == params.target }}"
              every: 10s
              timeout: 1m
        """,
    )

    plan = build_plan(playbook, {}, registry, {}, ENVIRON)

    assert plan.steps[0].text == (
        "every 10s for up to 1m: http (url `http://api.internal/traffic`)"
        " until `value.canary == params.target`"
    )


def test_a_message_branching_on_an_earlier_result_does_not_break_the_estimate(
    registry: ActionRegistry,
) -> None:
    playbook = parsed(
        registry,
        """
        name: check-then-tell
        steps:
          - id: check
            action: http
            with: {url: "{{ env.API_URL }}/health"}
          - id: tell
            action: notify
            with: {message: "{% if steps.check.ok %}healthy{% else %}down{% endif %}"}
          - id: settle
            action: wait
            with: {duration: 2m}
        """,
    )

    plan = build_plan(playbook, {}, registry, {}, ENVIRON)

    assert plan.estimate == Estimate(seconds=120.0)
    assert plan.problems == []


def test_an_argument_computed_from_an_earlier_result_is_said_to_be_made_when_the_step_runs(
    registry: ActionRegistry,
) -> None:
    playbook = parsed(
        registry,
        """
        name: compare
        steps:
          - id: now
            action: http
            with: {url: "{{ env.API_URL }}/metrics"}
          - id: tell
            action: notify
            with: {message: "{{ (steps.now.value.mape * 100) | round(1) }}% off"}
        """,
    )

    plan = build_plan(playbook, {}, registry, {}, ENVIRON)

    assert plan.problems == []
    assert plan.steps[1].text == (
        "post in the run's thread: “<made when the step runs, from the result of `now`>”"
    )


def test_a_broken_change_line_is_a_plan_problem_not_a_crash(registry: ActionRegistry) -> None:
    playbook = parsed(
        registry,
        """
        name: broken-change
        params:
          n: {type: integer, default: 1}
        changes: ["{{ params.n + 'x' }}"]
        steps:
          - id: go
            action: wait
            with: {duration: 1s}
        """,
    )

    plan = build_plan(playbook, {}, registry, {}, {})

    assert plan.changes == []
    assert len(plan.problems) == 1
    assert plan.problems[0].startswith("changes: in `params.n + 'x'`: TypeError")


# --- the model and the check -------------------------------------------------------------


def test_estimate_per_must_name_a_list_param_and_the_check_says_where(
    registry: ActionRegistry,
) -> None:
    text = """
    name: bad-rate
    estimate: {duration: 5m, per: threads}
    params:
      threads: {type: integer, default: 4}
    steps:
      - id: go
        action: wait
        with: {duration: 1s}
    """
    unknown = text.replace("per: threads", "per: models")

    assert problems_of(registry, text) == [
        "own.yaml:2: estimate.per: `threads` is an integer: an estimate is per item of a list"
        " parameter"
    ]
    assert problems_of(registry, unknown) == [
        "own.yaml:2: estimate.per: `models` is not a parameter of this playbook"
        " (parameters: `threads`)"
    ]


def test_a_unit_without_per_is_refused(registry: ActionRegistry) -> None:
    problems = problems_of(
        registry,
        """
        name: unit-alone
        estimate: {duration: 5m, unit: model}
        steps:
          - id: go
            action: wait
            with: {duration: 1s}
        """,
    )

    assert problems == ["own.yaml:2: estimate: `unit` names the items of `per`: give `per` too"]


def test_change_lines_are_checked_like_templates_over_params_only(
    registry: ActionRegistry,
) -> None:
    problems = problems_of(
        registry,
        """
        name: bad-changes
        params:
          n: {type: integer, default: 1}
        changes:
          - "{{ params.count }} rows"
          - "{{ steps.go.output }}"
          - "{{ params.n | nosuchfilter }}"
        steps:
          - id: go
            action: wait
            with: {duration: 1s}
        """,
    )

    assert problems == [
        "own.yaml:5: changes[0]: `params.count` is not a parameter of this playbook"
        " (parameters: `n`)",
        "own.yaml:6: changes[1]: unknown name `steps` (known here: params)",
        "own.yaml:7: changes[2]: template error: No filter named 'nosuchfilter'.",
    ]


# --- the actions -------------------------------------------------------------------------


async def test_a_shell_step_passes_each_list_item_as_one_argument(tmp_path: Path) -> None:
    async with httpx.AsyncClient() as client:
        ctx = FakeContext(http=client)
        action = ShellAction()
        printing = "import sys; print(sys.argv[1:])"
        args: dict[str, Any] = {"argv": [sys.executable, "-c", printing, ["a b", "c"], 4, []]}

        result = await action.execute(action.parse(args), ctx)

    assert result.output == "['a b', 'c', '4']"


def test_a_shell_argument_that_is_neither_text_nor_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="argv"):
        ShellAction().parse({"argv": ["echo", True]})


async def test_sql_outside_a_transaction_runs_what_a_transaction_refuses(
    postgres_url: str,
) -> None:
    async with httpx.AsyncClient() as client:
        ctx = FakeContext(http=client, sql_urls={"app": postgres_url})
        action = SqlAction()
        setup = {"connection": "app", "query": "CREATE TABLE cost_records (id int)"}
        await action.execute(action.parse(setup), ctx)
        vacuum = {"connection": "app", "query": "VACUUM FULL cost_records"}

        with pytest.raises(ActionError, match="VACUUM cannot run inside a transaction block"):
            await action.execute(action.parse(vacuum), ctx)
        result = await action.execute(action.parse({**vacuum, "autocommit": True}), ctx)

    assert result.summary == "query on `app`: -1 rows affected"
    assert SqlAction().plan(action.parse({**vacuum, "autocommit": True})) == (
        "query on `app` (outside a transaction): VACUUM FULL cost_records"
    )

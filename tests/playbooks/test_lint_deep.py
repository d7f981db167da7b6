"""The linter past the schema: compiled templates, the names they read, poll checks,
sub-playbook params, the config's roles, channels and connections, and every problem at once."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import BUILTIN_DIR, Catalog
from playbooks.lint import ConfigNames, lint_playbook

KNOWN_ACTIONS = "http, notify, playbook, poll, prometheus, shell, sql, wait"
# What a config needs for every built-in playbook to work (README's Configuration says so).
CATALOG_CONNECTIONS = ["app"]
CATALOG_CHANNELS = ["devops-alerts", "executive-briefing", "security"]
STEP_NAMES = "params, steps, env, secrets, run"


@pytest.fixture(scope="module")
def registry() -> ActionRegistry:
    return ActionRegistry.default()


def line_of(path: Path, text: str) -> int:
    """The number of the first line of ``path`` that contains ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def errors_of(path: Path, registry: ActionRegistry, names: ConfigNames | None = None) -> list[str]:
    return [p.reason for p in lint_playbook(path, registry, names=names).errors]


def warnings_of(path: Path, registry: ActionRegistry, names: ConfigNames) -> list[str]:
    return [p.reason for p in lint_playbook(path, registry, names=names).warnings]


# --- params ---------------------------------------------------------------------------------


def test_min_above_max_is_refused(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "bounds.yaml",
        """
        name: bounds
        params:
          replicas: {type: integer, min: 5, max: 1}
        steps:
          - {id: pause, action: wait, with: {duration: 1s}}
        """,
    )

    assert errors_of(path, registry) == [
        f"{path}:3: params.replicas.min: `min` (5) is greater than `max` (1): no value can pass"
    ]


# --- templates: compiled with the engine's sandbox --------------------------------------------


def test_an_unknown_filter_or_test_is_found_by_compiling(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "filters.yaml",
        """
        name: filters
        steps:
          - id: get
            action: http
            with:
              url: "{{ env.ES_URL | nosuchfilter }}/_cluster/health"
          - id: pause
            action: wait
            when: "{{ steps.get.value is nosuchtest }}"
            with: {duration: 1s}
        """,
    )

    assert errors_of(path, registry) == [
        f"{path}:6: steps[0].with.url: template error: No filter named 'nosuchfilter'.",
        f"{path}:9: steps[1].when: template error: No test named 'nosuchtest'.",
    ]


def test_an_undeclared_param_is_named_with_the_declared_ones(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "params.yaml",
        """
        name: params
        params:
          index_name: {type: string, default: kb}
          verbose: {type: boolean, default: false}
        steps:
          - id: get
            action: http
            with:
              url: "http://es/{{ params.nope }}/{{ params.index_name }}"
              query: {v: "{{ params['verbos'] }}", pretty: "{{ params.get('verbose') }}"}
        """,
    )

    assert errors_of(path, registry) == [
        f"{path}:9: steps[0].with.url: `params.nope` is not a parameter of this playbook"
        " (parameters: `index_name`, `verbose`)",
        f"{path}:10: steps[0].with.query.v: `params.verbos` is not a parameter of this playbook"
        " (parameters: `index_name`, `verbose`)",
    ]


def test_a_step_reads_only_earlier_steps(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "order.yaml",
        """
        name: order
        steps:
          - id: first
            action: wait
            with: {duration: 1s}
          - id: second
            action: wait
            when: "{{ steps.zzz.failed }}"
            with: {duration: 1s}
          - id: third
            action: notify
            when: "{{ steps.first.ok and steps.third.ok }}"
            with: {message: "{{ steps.fourth.summary }} {{ steps.second.summary }}"}
          - id: fourth
            action: wait
            with: {duration: 1s}
        rollback:
          - id: undo
            action: notify
            with: {message: "{{ steps.fourth.status }} {{ steps.redo.status }}"}
          - id: redo
            action: notify
            with: {message: "{{ steps.undo.status }}"}
        """,
    )

    assert errors_of(path, registry) == [
        f"{path}:8: steps[1].when: `steps.zzz`: no step has the id `zzz`"
        " (steps before this one: first)",
        f"{path}:12: steps[2].when: `steps.third` is this step: a step reads only the steps"
        " before it",
        f"{path}:13: steps[2].with.message: `steps.fourth` has not run yet here: a step reads"
        " only the steps before it",
        f"{path}:20: rollback[0].with.message: `steps.redo` has not run yet here: a step reads"
        " only the steps before it",
    ]


def test_an_unknown_top_level_name_is_named(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "names.yaml",
        """
        name: names
        estimate: {duration: "{{ steps.get.value }}s"}
        steps:
          - id: get
            action: http
            with: {url: "http://svc/{{ parms.x }}/{% for i in range(2) %}{{ i }}{% endfor %}"}
        """,
    )

    assert errors_of(path, registry) == [
        f"{path}:2: estimate.duration: unknown name `steps` (known here: params, env)",
        f"{path}:6: steps[0].with.url: unknown name `parms` (known here: {STEP_NAMES})",
    ]


def test_approval_required_sees_only_declared_params(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "approval.yaml",
        """
        name: approval
        params:
          reindex: {type: boolean, default: false}
        approval:
          required: "{{ params.full_refresh or env.FORCE }}"
        steps:
          - id: pause
            action: wait
            with: {duration: 1s}
            approval: {required: "params.reindx"}
        """,
    )

    assert errors_of(path, registry) == [
        f"{path}:5: approval.required: unknown name `env` (known here: params)",
        f"{path}:5: approval.required: `params.full_refresh` is not a parameter of this"
        " playbook (parameters: `reindex`)",
        f"{path}:10: steps[0].approval.required: `params.reindx` is not a parameter of this"
        " playbook (parameters: `reindex`)",
    ]


# --- poll -----------------------------------------------------------------------------------


def test_a_poll_check_is_linted_like_a_step(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "poll.yaml",
        """
        name: poll
        steps:
          - id: unknown
            action: poll
            with:
              check: {action: nosuch, qury: x}
              until: "value <"
          - id: misspelt
            action: poll
            with:
              check: {action: prometheus, qury: up}
              until: "{{ vlaue < 1 }}"
          - id: fine
            action: poll
            with:
              check: {action: http, url: "{{ env.API_URL }}/health"}
              until: "{{ value.status == 'green' and result.status_code == 200 }}"
        """,
    )

    assert errors_of(path, registry) == [
        f"{path}:6: steps[0].with.check.action: unknown action `nosuch` (known: {KNOWN_ACTIONS})",
        f"{path}:7: steps[0].with.until: template error: unexpected 'end of print statement'",
        f"{path}:11: steps[1].with.check.query: Field required",
        f"{path}:11: steps[1].with.check.qury: Extra inputs are not permitted",
        f"{path}:12: steps[1].with.until: unknown name `vlaue`"
        f" (known here: {STEP_NAMES}, value, result)",
    ]


# --- sub-playbooks --------------------------------------------------------------------------


def test_sub_playbook_params_are_checked_against_its_declaration(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    write(
        tmp_path,
        "needs-region.yaml",
        """
        name: needs-region
        params:
          region: {type: string, required: true}
        steps:
          - {id: pause, action: wait, with: {duration: 1s}}
        """,
    )
    caller = write(
        tmp_path,
        "caller.yaml",
        """
        name: caller
        params:
          index: {type: string, default: kb}
        steps:
          - id: clear
            action: playbook
            with:
              name: clear-cache
              params:
                index_nme: x
                cache_types: [bogus]
                index_name: "{{ params.index }}"
          - id: region
            action: playbook
            with: {name: needs-region}
        """,
    )

    found = Catalog.scan([tmp_path], registry)

    assert [p.reason for p in found.problems] == [
        f"{caller}:10: steps[0].with.params.index_nme: `index_nme` is not a parameter of"
        " clear-cache (parameters: `index_name`, `cache_types`)",
        f"{caller}:11: steps[0].with.params.cache_types: `bogus` is not one of:"
        " query, request, fielddata",
        f"{caller}:15: steps[1].with.params: `region` is required by needs-region and not given",
    ]


def test_an_override_must_still_take_the_params_callers_pass(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    write(
        tmp_path,
        "clear-cache.yaml",
        """
        name: clear-cache
        steps:
          - {id: clear, action: http, with: {method: POST, url: "http://es/_cache/clear"}}
        """,
    )

    found = Catalog.scan([tmp_path], registry)

    latency = BUILTIN_DIR / "latency-spike.yaml"
    index = [s.id for s in Catalog.load([], registry).get("latency-spike").steps].index(
        "clear_cache"
    )
    assert [p.reason for p in found.problems] == [
        f"{latency}:{line_of(latency, 'name: clear-cache')}: steps[{index}].with.params"
        ".index_name: `index_name` is not a parameter of clear-cache (parameters: none)"
    ]


# --- every problem at once ------------------------------------------------------------------


def test_a_file_with_four_problems_reports_four_sorted_by_line(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "four.yaml",
        """
        name: four
        params:
          count: {type: integer, default: many}
        colour: red
        steps:
          - id: Bad-Id
            action: wait
            with: {duration: "{{ params.count | nosuchfilter }}"}
          - id: beam
            action: teleport
        """,
    )

    found = lint_playbook(path, registry)

    assert found.playbook is None
    assert [p.reason for p in found.errors] == [
        f"{path}:3: params.count.default: expected a whole number, got 'many'",
        f"{path}:4: colour: Extra inputs are not permitted",
        f"{path}:6: steps[0].id: a step id is lower-case letters, digits and underscores,"
        " starting with a letter",
        f"{path}:8: steps[0].with.duration: template error: No filter named 'nosuchfilter'.",
        f"{path}:10: steps[1].action: unknown action `teleport` (known: {KNOWN_ACTIONS})",
    ]


def test_every_bad_param_name_is_named(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "names.yaml",
        """
        name: names
        params:
          items: {type: list}
          Region: {type: string}
        steps:
          - {id: pause, action: wait, with: {duration: 1s}}
        """,
    )

    assert errors_of(path, registry) == [
        f"{path}:3: params.items: `items` cannot name a parameter: templates read it as a method",
        f"{path}:4: params.Region: `Region`: a parameter name is lower-case letters, digits"
        " and underscores",
    ]


# --- the config's names -----------------------------------------------------------------------

ACCESS = """
name: guarded
allowed: [sre, sre-leads]
channels: [incidents, incident]
approval:
  approvers: [sre-lead, dba]
steps:
  - id: pause
    action: wait
    with: {duration: 1s}
    approval: {approvers: [oncall]}
"""


def test_roles_and_channels_must_be_the_configs(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(tmp_path, "guarded.yaml", ACCESS)
    names = ConfigNames(
        source="/etc/chatops.yaml",
        roles=frozenset({"sre", "sre-lead"}),
        channels=frozenset({"incidents"}),
    )

    assert errors_of(path, registry, names) == [
        f"{path}:2: allowed[1]: no role `sre-leads` in the config (/etc/chatops.yaml;"
        " roles: sre, sre-lead)",
        f"{path}:3: channels[1]: no channel `incident` in the config (/etc/chatops.yaml;"
        " channels: incidents)",
        f"{path}:5: approval.approvers[1]: no role `dba` in the config (/etc/chatops.yaml;"
        " roles: sre, sre-lead)",
        f"{path}:10: steps[0].approval.approvers[0]: no role `oncall` in the config"
        " (/etc/chatops.yaml; roles: sre, sre-lead)",
    ]


def test_a_config_without_roles_or_channels_checks_none(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(tmp_path, "guarded.yaml", ACCESS)

    assert errors_of(path, registry, ConfigNames(source="built-in defaults")) == []


def test_connections_and_notify_channels_the_config_lacks_are_warnings(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "queries.yaml",
        """
        name: queries
        steps:
          - id: app
            action: sql
            with: {connection: app, query: select 1}
          - id: default
            action: sql
            with: {query: select 1}
          - id: watch
            action: poll
            with:
              check: {action: sql, connection: warehouse, query: select 1, returns: scalar}
              until: "{{ value > 0 }}"
          - id: tell
            action: notify
            with: {message: done, channel: ops}
          - id: chosen
            action: sql
            with: {connection: "{{ env.DB }}", query: select 1}
        """,
    )
    names = ConfigNames(source="/etc/chatops.yaml", connections=frozenset({"app"}))

    found = lint_playbook(path, registry, names=names)

    assert found.errors == []
    assert [w.reason for w in found.warnings] == [
        f"{path}:8: steps[1].with.connection: no connection `default` in the config"
        " (/etc/chatops.yaml; it defines app): this step will fail until one is added",
        f"{path}:12: steps[2].with.check.connection: no connection `warehouse` in the config"
        " (/etc/chatops.yaml; it defines app): this step will fail until one is added",
        f"{path}:16: steps[3].with.channel: no channel `ops` in the config (/etc/chatops.yaml;"
        " it defines no channels): this step will fail until one is added",
    ]
    assert lint_playbook(path, registry).warnings == []  # no config given: nothing to compare


def test_the_built_in_catalog_warns_only_about_the_connections_and_channels_it_needs(
    registry: ActionRegistry,
) -> None:
    found = Catalog.scan([], registry, names=ConfigNames(source="built-in defaults"))

    assert found.problems == []
    missing = set()
    for warning in found.warnings:
        named = re.search(r"no (connection|channel) `([^`]+)` in the config", warning.reason)
        assert named is not None, warning.reason
        assert warning.reason.endswith("this step will fail until one is added")
        missing.add(named.groups())
    assert missing == {("connection", name) for name in CATALOG_CONNECTIONS} | {
        ("channel", name) for name in CATALOG_CHANNELS
    }
    configured = ConfigNames(
        source="chatops.yaml",
        connections=frozenset(CATALOG_CONNECTIONS),
        channels=frozenset(CATALOG_CHANNELS),
    )
    assert Catalog.scan([], registry, names=configured).warnings == []


def test_a_replaced_playbook_no_longer_warns(tmp_path: Path, registry: ActionRegistry) -> None:
    write(
        tmp_path,
        "latency-spike.yaml",
        """
        name: latency-spike
        steps:
          - {id: pause, action: wait, with: {duration: 1s}}
        """,
    )

    names = ConfigNames(source="built-in defaults")
    before = Catalog.scan([], registry, names=names)
    found = Catalog.scan([tmp_path], registry, names=names)

    latency = str(BUILTIN_DIR / "latency-spike.yaml")
    assert any(w.path == latency for w in before.warnings)
    assert found.problems == []
    assert [w for w in found.warnings if w.path == latency] == []
    assert len(found.warnings) == len([w for w in before.warnings if w.path != latency])

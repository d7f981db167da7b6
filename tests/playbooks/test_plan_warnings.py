"""A plan warns about everything a run would find missing: variables, secrets, defaults an
action reads, connections and channels, in poll checks and sub-playbooks too."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import Catalog
from playbooks.lint import ConfigNames, parse_playbook
from playbooks.model import Playbook
from playbooks.plan import build_plan

FULL = {
    "ES_URL": "http://es.internal:9200",
    "JAEGER_URL": "http://jaeger.internal:16686",
    "API_URL": "http://api.internal",
    "GRAFANA_URL": "https://grafana.example.com",
    "PROMETHEUS_URL": "http://prometheus.internal:9090",
    "APP_DATABASE_URL": "postgresql://app@db.internal/app",
}
CONFIGURED = ConfigNames(
    source="chatops.yaml",
    connections=frozenset({"app"}),
    connection_env={"app": "APP_DATABASE_URL"},
)


@pytest.fixture(scope="module")
def registry() -> ActionRegistry:
    return ActionRegistry.default()


@pytest.fixture(scope="module")
def catalog(registry: ActionRegistry) -> dict[str, Playbook]:
    return {playbook.name: playbook for playbook in Catalog.load([], registry)}


def own(registry: ActionRegistry, text: str) -> Playbook:
    playbook, problems = parse_playbook(Path("own.yaml"), registry, text=textwrap.dedent(text))
    assert problems == []
    assert playbook is not None
    return playbook


def without(*names: str) -> dict[str, str]:
    return {key: value for key, value in FULL.items() if key not in names}


def test_latency_spike_warns_about_its_poll_its_sub_playbooks_and_its_connection(
    registry: ActionRegistry, catalog: dict[str, Playbook]
) -> None:
    plan = build_plan(
        catalog["latency-spike"],
        {},
        registry,
        catalog,
        {"GRAFANA_URL": "https://grafana.example.com"},
        names=ConfigNames(source="built-in defaults"),
    )

    assert plan.problems == [
        "slow_traces: environment variable JAEGER_URL is not set",
        "long_queries: no connection `app` in the config"
        " (built-in defaults; it defines no connections)",
        "circuit_breakers: environment variable API_URL is not set",
        "clear_cache (clear-cache), refresh_synonyms (refresh-synonyms):"
        " environment variable ES_URL is not set",
        "monitor: environment variable PROMETHEUS_URL is not set",
    ]


def test_with_everything_set_and_configured_latency_spike_warns_about_nothing(
    registry: ActionRegistry, catalog: dict[str, Playbook]
) -> None:
    plan = build_plan(catalog["latency-spike"], {}, registry, catalog, FULL, names=CONFIGURED)

    assert plan.problems == []


def test_every_unset_variable_and_secret_a_step_reads_is_named_not_only_the_first(
    registry: ActionRegistry,
) -> None:
    playbook = own(
        registry,
        """
        name: many
        steps:
          - id: call
            name: Call the API
            action: http
            with:
              url: "{{ env.API_URL }}/v{{ env.API_VERSION }}/items"
              headers: {Authorization: "Bearer {{ secrets.API_TOKEN }}"}
        """,
    )

    plan = build_plan(playbook, {}, registry, {}, {})

    assert plan.problems == [
        "call: environment variable API_URL is not set",
        "call: environment variable API_VERSION is not set",
        "call: secret API_TOKEN is not set in the environment",
    ]
    assert plan.steps[0].text == "Call the API"  # not a URL made of stand-ins


def test_a_poll_check_reading_an_unset_variable_is_warned_about_and_shows_no_template(
    registry: ActionRegistry,
) -> None:
    playbook = own(
        registry,
        """
        name: counter
        steps:
          - id: kick
            action: http
            with: {method: POST, url: "{{ env.STUB_URL }}/kick"}
          - id: wait_counter
            action: poll
            with:
              check: {action: http, url: "{{ env.STUB_URL }}/counter"}
              until: "{{ value.count >= 3 }}"
              every: 1s
              timeout: 10s
        """,
    )

    unset = build_plan(playbook, {}, registry, {}, {})
    given = build_plan(playbook, {}, registry, {}, {"STUB_URL": "http://127.0.0.1:8080"})

    assert unset.problems == ["kick, wait_counter: environment variable STUB_URL is not set"]
    assert all("{{" not in step.text for step in unset.steps)
    assert given.problems == []
    assert given.steps[1].text == (
        "every 1s for up to 10s: http (url `http://127.0.0.1:8080/counter`)"
        " until `value.count >= 3`"
    )


def test_a_prometheus_query_without_a_url_needs_prometheus_url_and_one_with_a_url_does_not(
    registry: ActionRegistry,
) -> None:
    playbook = own(
        registry,
        """
        name: queries
        steps:
          - id: default_server
            action: prometheus
            with: {query: up}
          - id: own_server
            action: prometheus
            with: {query: up, url: "http://prometheus.other:9090"}
        """,
    )

    plan = build_plan(playbook, {}, registry, {}, {})

    assert plan.problems == ["default_server: environment variable PROMETHEUS_URL is not set"]


def test_a_sub_playbook_the_params_skip_is_not_held_against_the_plan(
    registry: ActionRegistry, catalog: dict[str, Playbook]
) -> None:
    playbook = own(
        registry,
        """
        name: maybe-resync
        params:
          resync: {type: boolean, default: false}
        steps:
          - id: resync
            when: "{{ params.resync }}"
            action: playbook
            with: {name: refresh-synonyms}
        """,
    )
    playbooks = {**catalog, playbook.name: playbook}

    skipped = build_plan(playbook, {}, registry, playbooks, {})
    taken = build_plan(playbook, {"resync": "true"}, registry, playbooks, {})

    assert skipped.problems == []
    assert taken.problems == ["resync (refresh-synonyms): environment variable ES_URL is not set"]


def test_sub_playbooks_within_sub_playbooks_are_named_by_the_way_to_them(
    registry: ActionRegistry, catalog: dict[str, Playbook]
) -> None:
    outer = own(
        registry,
        """
        name: outer
        steps:
          - id: inner
            action: playbook
            with: {name: inner}
        """,
    )
    inner = own(
        registry,
        """
        name: inner
        steps:
          - id: clear
            action: playbook
            with: {name: clear-cache, params: {index_name: kb}}
        """,
    )
    playbooks = {**catalog, "outer": outer, "inner": inner}

    plan = build_plan(outer, {}, registry, playbooks, {})

    assert plan.problems == ["inner (inner → clear-cache): environment variable ES_URL is not set"]
    assert plan.steps[0].problem == (
        "environment variable ES_URL is not set (in `inner → clear-cache`)"
    )


def test_sub_playbooks_that_call_each_other_are_named_rather_than_followed(
    registry: ActionRegistry,
) -> None:
    ping = own(
        registry,
        """
        name: ping
        steps:
          - id: to_pong
            action: playbook
            with: {name: pong}
        """,
    )
    pong = own(
        registry,
        """
        name: pong
        steps:
          - id: to_ping
            action: playbook
            with: {name: ping}
        """,
    )

    plan = build_plan(ping, {}, registry, {"ping": ping, "pong": pong}, {})

    assert "to_pong (pong): sub-playbooks call each other: ping → pong → ping" in plan.problems


def test_connections_and_channels_the_config_lacks_are_warned_about(
    registry: ActionRegistry,
) -> None:
    playbook = own(
        registry,
        """
        name: report
        params:
          team: {type: string, default: data}
        steps:
          - id: count
            action: sql
            with: {connection: warehouse, query: "SELECT 1", returns: scalar}
          - id: tell
            action: notify
            with: {message: done, channel: "{{ params.team }}-alerts"}
          - id: watch
            action: poll
            with:
              check: {action: sql, connection: app, query: "SELECT 1", returns: scalar}
              until: "{{ value == 1 }}"
        """,
    )
    names = ConfigNames(
        source="/etc/chatops.yaml",
        channels=frozenset({"incidents"}),
        connections=frozenset({"app"}),
        connection_env={"app": "APP_DATABASE_URL"},
    )

    plan = build_plan(playbook, {}, registry, {}, {}, names=names)

    assert plan.problems == [
        "count: no connection `warehouse` in the config (/etc/chatops.yaml; it defines app)",
        "tell: no channel `data-alerts` in the config (/etc/chatops.yaml; it defines incidents)",
        "watch: connection `app` reads its URL from APP_DATABASE_URL, which is not set",
    ]
    # Without the config (a plan made by a tool that has none) they are not judged.
    assert build_plan(playbook, {}, registry, {}, {}).problems == []

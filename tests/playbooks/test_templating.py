"""Templates in step arguments and conditions: native values, a sandbox, and secrets kept secret."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from playbooks.errors import TemplateError
from playbooks.secrets import Redactor
from playbooks.templating import (
    DeferredValue,
    EnvView,
    SecretsView,
    evaluate_condition,
    has_template,
    render_value,
)

VARIABLES: dict[str, Any] = {
    "params": {"n": 3, "models": ["a", "b"], "index_name": "kb", "full": False},
}


def render_error(template: str, variables: Mapping[str, Any] = VARIABLES) -> str:
    with pytest.raises(TemplateError) as caught:
        render_value(template, variables)
    return caught.value.reason


class UnreadableEnviron(Mapping[str, str]):
    """An environment whose values must never be read (only which names exist)."""

    def __init__(self, *names: str) -> None:
        self._names = names

    def __getitem__(self, name: str) -> str:
        raise AssertionError(f"the value of {name} was read")

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


# --- values --------------------------------------------------------------------------------


def test_a_whole_expression_keeps_its_native_type() -> None:
    assert render_value("{{ params.n > 2 }}", VARIABLES) is True
    assert render_value("{{ params.n }}", VARIABLES) == 3
    assert render_value("  {{ params.n * 2 }}  ", VARIABLES) == 6
    assert render_value("{{ params.models }}", VARIABLES) == ["a", "b"]
    assert render_value("{{ params.full }}", VARIABLES) is False


def test_anything_else_renders_to_text() -> None:
    assert render_value("n={{ params.n }}", VARIABLES) == "n=3"
    assert render_value("{{ params.n }}{{ params.n }}", VARIABLES) == "33"
    assert render_value("{{ params.models | join(',') }}!", VARIABLES) == "a,b!"
    assert render_value("{% if params.full %}all{% else %}some{% endif %}", VARIABLES) == "some"
    assert render_value("no template here", VARIABLES) == "no template here"


def test_a_boolean_in_text_is_spelled_as_urls_and_yaml_spell_it() -> None:
    assert render_value("/x?full={{ params.full }}", VARIABLES) == "/x?full=false"
    assert render_value("big={{ params.n > 2 }}", VARIABLES) == "big=true"


def test_templates_inside_lists_and_mappings_are_rendered() -> None:
    value = {
        "url": "http://es/{{ params.index_name }}",
        "query": {"n": "{{ params.n }}", "flags": ["{{ params.full }}", 7]},
    }

    assert render_value(value, VARIABLES) == {
        "url": "http://es/kb",
        "query": {"n": 3, "flags": [False, 7]},
    }


def test_has_template_spots_both_kinds_of_tag() -> None:
    assert has_template("{{ x }}")
    assert has_template("{% if x %}y{% endif %}")
    assert not has_template("plain {text}")
    assert not has_template(3)


# --- errors --------------------------------------------------------------------------------


def test_an_undefined_name_is_an_error_naming_the_template() -> None:
    assert render_error("{{ nothing.here }}") == "in `nothing.here`: 'nothing' is undefined"


def test_a_misspelt_param_is_an_error_not_an_empty_value() -> None:
    assert render_error("{{ params.idx_name }}") == (
        "in `params.idx_name`: 'dict object' has no attribute 'idx_name'"
    )
    assert render_error("http://es/{{ params.idx_name }}") == (
        "in `http://es/{{ params.idx_name }}`: 'dict object' has no attribute 'idx_name'"
    )


def test_a_failing_expression_says_what_failed() -> None:
    assert render_error("{{ params.n / 0 }}") == (
        "in `params.n / 0`: ZeroDivisionError: division by zero"
    )


def test_a_syntax_error_names_the_template() -> None:
    assert render_error("{{ params.n + }}") == "in `params.n +`: unexpected 'end of template'"


# --- the sandbox ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "unsafe"),
    [
        ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
        (
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "access to attribute '__class__' of 'str' object is unsafe",
        ),
        (
            "{{ cycler.__init__.__globals__ }}",
            "access to attribute '__init__' of 'type' object is unsafe",
        ),
        (
            "os: {{ cycler.__init__.__globals__.os }}",
            "access to attribute '__init__' of 'type' object is unsafe",
        ),
        (
            "{{ lipsum.__globals__['os'] }}",
            "access to attribute '__globals__' of 'function' object is unsafe",
        ),
        ("{{ params.__class__ }}", "access to attribute '__class__' of 'dict' object is unsafe"),
    ],
)
def test_the_sandbox_blocks_escapes(template: str, unsafe: str) -> None:
    reason = render_error(template)

    assert unsafe in reason
    assert "<class" not in reason
    assert "module" not in reason


def test_private_attributes_of_the_views_are_out_of_reach() -> None:
    environ = {"DB_PASSWORD": "hunter2-long", "ES_URL": "http://es"}
    variables = {"env": EnvView(environ), "secrets": SecretsView(environ)}

    assert render_error("{{ env._environ }}", variables) == (
        "in `env._environ`: access to attribute '_environ' of 'EnvView' object is unsafe."
    )
    assert render_error("{{ secrets._environ }}", variables) == (
        "in `secrets._environ`: access to attribute '_environ' of 'SecretsView' object is unsafe."
    )


# --- environment and secrets ---------------------------------------------------------------


def test_env_reads_plain_variables() -> None:
    variables = {"env": EnvView({"ES_URL": "http://es:9200"})}

    assert render_value("{{ env.ES_URL }}/kb", variables) == "http://es:9200/kb"


def test_an_unset_variable_is_named() -> None:
    variables = {"env": EnvView({})}

    assert (
        render_error("{{ env.ES_URL }}/kb", variables) == "environment variable ES_URL is not set"
    )


@pytest.mark.parametrize(
    "template",
    [
        "{{ env.SLACK_BOT_TOKEN }}",
        "{{ env['SLACK_BOT_TOKEN'] }}",
        "x{{ env.get('SLACK_BOT_TOKEN') }}",
    ],
)
def test_env_refuses_a_secret_and_points_to_secrets(template: str) -> None:
    variables = {"env": EnvView({"SLACK_BOT_TOKEN": "xoxb-real-token"})}

    reason = render_error(template, variables)

    assert reason == "`env.SLACK_BOT_TOKEN` holds a secret; use `secrets.SLACK_BOT_TOKEN` instead"


def test_listing_env_leaves_secrets_out() -> None:
    environ = {"SLACK_BOT_TOKEN": "xoxb-real-token", "ES_URL": "http://es", "DB_PASSWORD": "pw12"}
    variables = {"env": EnvView(environ), "secrets": SecretsView(environ)}

    assert render_value("{{ env | list }}", variables) == ["ES_URL"]
    assert render_value("{{ env.values() | list }}", variables) == ["http://es"]
    assert render_value("{{ secrets | list }}", variables) == []


def test_a_dry_run_shows_stars_and_never_reads_the_secret() -> None:
    variables = {"secrets": SecretsView(UnreadableEnviron("SLACK_BOT_TOKEN"), reveal=False)}

    assert render_value("Bearer {{ secrets.SLACK_BOT_TOKEN }}", variables) == "Bearer ***"
    assert render_value("{{ secrets.SLACK_BOT_TOKEN }}", variables) == "***"


def test_a_dry_run_still_says_when_a_secret_is_not_set() -> None:
    variables = {"secrets": SecretsView(UnreadableEnviron(), reveal=False)}

    assert render_error("{{ secrets.API_TOKEN }}", variables) == (
        "secret API_TOKEN is not set in the environment"
    )


def test_secrets_read_while_running_are_redacted_afterwards() -> None:
    environ = {"SLACK_BOT_TOKEN": "xoxb-real-token", "ES_URL": "http://es"}
    redactor = Redactor()
    variables = {"env": EnvView(environ), "secrets": SecretsView(environ, redactor.add)}

    assert redactor("token xoxb-real-token") == "token xoxb-real-token"
    header = render_value("Bearer {{ secrets.SLACK_BOT_TOKEN }}", variables)

    assert header == "Bearer xoxb-real-token"
    assert redactor(f"sent {header} to {environ['ES_URL']}") == "sent Bearer *** to http://es"


# --- conditions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("{{ params.n > 2 }}", True),
        ("params.n > 2", True),
        ("  {{ params.full }}  ", False),
        ("params.full", False),
        ("params.models", True),
        ("{{ params.n > 2 and not params.full }}", True),
        (True, True),
        (False, False),
    ],
)
def test_a_condition_may_be_templated_or_bare(condition: str | bool, expected: bool) -> None:
    assert evaluate_condition(condition, VARIABLES) is expected


def test_a_condition_on_something_undefined_is_an_error() -> None:
    with pytest.raises(TemplateError) as caught:
        evaluate_condition("steps.monitor.failed", VARIABLES)

    assert caught.value.reason == "in `steps.monitor.failed`: 'steps' is undefined"


# --- values only known at run time ---------------------------------------------------------


def test_a_deferred_value_renders_as_its_path() -> None:
    variables = {"steps": DeferredValue("steps")}

    assert render_value("got {{ steps.lookup.output }}", variables) == "got <steps.lookup.output>"
    assert str(render_value("{{ steps.lookup.data['rows'] }}", variables)) == (
        "<steps.lookup.data['rows']>"
    )

"""Secrets in templates: placed whole where a step needs them, never transformed into text
that redaction could not recognise."""

from __future__ import annotations

from typing import Any

import pytest

from playbooks.errors import TemplateError
from playbooks.templating import SecretsView, evaluate_condition, render_value
from tests.playbooks.test_templating import UnreadableEnviron

TOKEN = "tok-3f9a7c1e5b2d"
ENVIRON = {"API_TOKEN": TOKEN, "DB_PASSWORD": "hunter2-horse"}
VARIABLES: dict[str, Any] = {
    "params": {"n": 3, "full": False, "note": "hello"},
    "secrets": SecretsView(ENVIRON),
}
RULE = (
    "a secret is only placed whole, as `{{ secrets.API_TOKEN }}`, so that redaction recognises it"
)


def refusal(value: Any, variables: dict[str, Any] = VARIABLES) -> str:
    with pytest.raises(TemplateError) as caught:
        render_value(value, variables)
    assert TOKEN not in caught.value.reason
    return caught.value.reason


# --- placed whole --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{ secrets.API_TOKEN }}", TOKEN),
        ("{{ secrets['API_TOKEN'] }}", TOKEN),
        ("Bearer {{ secrets.API_TOKEN }}", f"Bearer {TOKEN}"),
        (
            "https://deploy:{{ secrets.API_TOKEN }}@git.internal/r.git",
            f"https://deploy:{TOKEN}@git.internal/r.git",
        ),
        ("{{ secrets.API_TOKEN if params.full else 'none' }}", "none"),
        ("x={{ secrets.API_TOKEN if not params.full else 'none' }}", f"x={TOKEN}"),
        ("{% set token = secrets.API_TOKEN %}token={{ token }}", f"token={TOKEN}"),
        ("{% for i in range(2) %}{{ secrets.API_TOKEN }};{% endfor %}", f"{TOKEN};{TOKEN};"),
        ("{% set t %}{{ secrets.API_TOKEN }}{% endset %}[{{ t }}]", f"[{TOKEN}]"),
        (
            "{% macro auth() %}Bearer {{ secrets.API_TOKEN }}{% endmacro %}{{ auth() }}!",
            f"Bearer {TOKEN}!",
        ),
    ],
)
def test_a_secret_is_placed_whole_where_a_template_outputs_it(template: str, rendered: str) -> None:
    assert render_value(template, VARIABLES) == rendered


def test_a_secret_is_placed_in_headers_argv_env_and_urls() -> None:
    args = {
        "url": "https://ci:{{ secrets.DB_PASSWORD }}@ci.internal/hook",
        "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}"},
        "argv": ["deploy", "--token", "{{ secrets.API_TOKEN }}"],
        "env": {"PGPASSWORD": "{{ secrets.DB_PASSWORD }}"},
    }

    assert render_value(args, VARIABLES) == {
        "url": "https://ci:hunter2-horse@ci.internal/hook",
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "argv": ["deploy", "--token", TOKEN],
        "env": {"PGPASSWORD": "hunter2-horse"},
    }


# --- never transformed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "how"),
    [
        ("{{ secrets.API_TOKEN | upper }}", "cannot go through the `upper` filter"),
        ("Bearer {{ secrets.API_TOKEN | urlencode }}", "cannot go through the `urlencode` filter"),
        ("{{ secrets.API_TOKEN | list }}", "cannot go through the `list` filter"),
        ("{{ secrets.API_TOKEN | string }}", "cannot go through the `string` filter"),
        ("{{ secrets.API_TOKEN | default('x') }}", "cannot go through the `default` filter"),
        ("{{ '%s!' | format(secrets.API_TOKEN) }}", "cannot go through the `format` filter"),
        ("{{ secrets.API_TOKEN is string }}", "cannot be tested with `is string`"),
        ("{{ secrets.API_TOKEN.upper() }}", "cannot be read as `.upper`"),
        ("{{ secrets.API_TOKEN[::-1] }}", "cannot be indexed or sliced"),
        ("{{ secrets.API_TOKEN[0] }}", "cannot be indexed or sliced"),
        (
            "token: {{ 'token ' ~ secrets.API_TOKEN }}",
            "cannot be turned into text (with `~`, `%`, `join`, `string`…)",
        ),
        ("{{ secrets.API_TOKEN + 'x' }}", "cannot be an operand of `+`"),
        ("{{ '%s' % secrets.API_TOKEN }}", "cannot be an operand of `%`"),
        ("{{ secrets.API_TOKEN * 2 }}", "cannot be an operand of `*`"),
        ("{{ '{}'.format(secrets.API_TOKEN) }}", "cannot be passed to a function or macro"),
        ("{{ secrets.API_TOKEN == 'tok' }}", "cannot be compared"),
        (
            "{% if secrets.API_TOKEN %}set{% endif %}",
            "cannot be tested for truth (with `if`, `and`, `or`, `not`)",
        ),
        ("{% for c in secrets.API_TOKEN %}{{ c }}{% endfor %}", "cannot be iterated"),
        ("{{ [secrets.API_TOKEN] }}", "cannot be put in a list or mapping"),
        ("{{ {'auth': secrets.API_TOKEN} }}", "cannot be put in a list or mapping"),
        ("{{ [secrets.API_TOKEN] | tojson }}", "cannot be turned into JSON"),
        ("{{ [secrets.API_TOKEN] | map('lower') | join }}", "cannot go through the `lower` filter"),
    ],
)
def test_a_transformed_secret_is_refused_naming_the_secret_and_the_field(
    template: str, how: str
) -> None:
    reason = refusal({"headers": {"Authorization": template}})

    assert reason == f"in `headers.Authorization`: `secrets.API_TOKEN` {how}: {RULE}"


@pytest.mark.parametrize(
    ("template", "how"),
    [
        (
            "{% set t %}{{ secrets.API_TOKEN }}{% endset %}{{ t | upper }}",
            "cannot go through the `upper` filter",
        ),
        (
            "{% filter upper %}Bearer {{ secrets.API_TOKEN }}{% endfilter %}",
            "cannot go through the `upper` filter",
        ),
        (
            "{% macro auth() %}{{ secrets.API_TOKEN }}{% endmacro %}{{ auth() | b64encode }}",
            None,  # no such filter: refused before any secret is read
        ),
        (
            "{% macro a() %}{{ secrets.API_TOKEN }}{% endmacro %}{{ a() | replace('t', 'T') }}",
            "cannot go through the `replace` filter",
        ),
        (
            "{% set t %}{{ secrets.API_TOKEN }}{% endset %}{{ t.encode() }}",
            "cannot be read as `.encode`",
        ),
        (
            "{% set t %}{{ secrets.API_TOKEN }}{% endset %}{{ t[::-1] }}",
            "was taken apart by the template",
        ),
        (
            "{% set t %}{{ secrets.API_TOKEN }}{% endset %}{% for c in t %}{{ c }}-{% endfor %}",
            "was taken apart by the template",
        ),
    ],
)
def test_output_captured_as_text_cannot_transform_a_secret_either(
    template: str, how: str | None
) -> None:
    reason = refusal({"argv": ["deploy", template]})

    if how is None:
        assert "No filter named 'b64encode'" in reason
    else:
        assert reason == f"in `argv[1]`: `secrets.API_TOKEN` {how}: {RULE}"


def test_text_a_user_typed_cannot_pass_for_a_placed_secret() -> None:
    forged = "\ufdd0" + "0" * 16 + "0\ufdd1"
    variables = {**VARIABLES, "params": {"note": forged}}

    with pytest.raises(TemplateError):
        render_value("{{ secrets.API_TOKEN }} {{ params.note }}", variables)
    assert render_value("note: {{ params.note }}", variables) == f"note: {forged}"


def test_a_condition_cannot_test_a_secret() -> None:
    for condition in ("secrets.API_TOKEN", "{{ params.n > 2 and secrets.API_TOKEN }}"):
        with pytest.raises(TemplateError) as caught:
            evaluate_condition(condition, VARIABLES)

        assert caught.value.reason == (
            "`secrets.API_TOKEN` cannot be tested for truth (with `if`, `and`, `or`, `not`): "
            + RULE
        )


def test_a_dry_run_refuses_the_same_uses_without_reading_the_secret() -> None:
    variables = {"secrets": SecretsView(UnreadableEnviron("API_TOKEN"), reveal=False)}

    assert render_value("Bearer {{ secrets.API_TOKEN }}", variables) == "Bearer ***"
    assert refusal({"url": "http://x/{{ secrets.API_TOKEN | upper }}"}, variables) == (
        f"in `url`: `secrets.API_TOKEN` cannot go through the `upper` filter: {RULE}"
    )

"""`chatops check` refuses a playbook that transforms a secret, naming file, line and field of
each use, all at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import Catalog
from playbooks.lint import lint_playbook

RULE = "a secret is only placed whole, as `{{{{ secrets.{0} }}}}`, so that redaction recognises it"


@pytest.fixture(scope="module")
def registry() -> ActionRegistry:
    return ActionRegistry.default()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def errors_of(path: Path, registry: ActionRegistry) -> list[str]:
    return [p.reason for p in lint_playbook(path, registry).errors]


def test_every_transformed_secret_is_reported_with_its_file_line_and_field(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "leaky.yaml",
        """
        name: leaky
        steps:
          - id: call
            action: http
            with:
              url: "https://ci:{{ secrets.CI_PASSWORD }}@ci.internal/hook"
              headers:
                Authorization: "Basic {{ secrets.API_TOKEN | b64encode }}"
                X-Token: "{{ secrets.API_TOKEN | upper }}"
          - id: show
            action: shell
            with:
              argv: [echo, "{{ secrets.API_TOKEN[::-1] }}", "{{ secrets.API_TOKEN }}"]
              env: {TOKEN: "{{ secrets.API_TOKEN }}"}
          - id: tell
            action: notify
            with: {message: "{{ 'token ' ~ secrets.API_TOKEN }}"}
          - id: wait
            action: wait
            when: "{{ secrets.API_TOKEN == 'x' }}"
            with: {duration: 1s}
        """,
    )

    assert errors_of(path, registry) == [
        f"{path}:8: steps[0].with.headers.Authorization: template error: No filter named"
        " 'b64encode'.",
        f"{path}:9: steps[0].with.headers.X-Token: `secrets.API_TOKEN` cannot go through the"
        f" `upper` filter: {RULE.format('API_TOKEN')}",
        f"{path}:13: steps[1].with.argv[1]: `secrets.API_TOKEN` cannot be indexed or sliced:"
        f" {RULE.format('API_TOKEN')}",
        f"{path}:17: steps[2].with.message: `secrets.API_TOKEN` cannot be turned into text"
        f" (with `~`, `%`, `join`, `string`…): {RULE.format('API_TOKEN')}",
        f"{path}:20: steps[3].when: `secrets.API_TOKEN` cannot be compared:"
        f" {RULE.format('API_TOKEN')}",
    ]


@pytest.mark.parametrize(
    ("template", "how"),
    [
        ("{{ secrets.API_TOKEN | b64encode }}", None),
        ("{{ secrets.API_TOKEN | urlencode }}", "cannot go through the `urlencode` filter"),
        ("{{ secrets.API_TOKEN | list }}", "cannot go through the `list` filter"),
        ("{{ '%s' | format(secrets.API_TOKEN) }}", "cannot be an argument of the `format` filter"),
        ("{{ secrets.API_TOKEN.upper() }}", "cannot be read as `.upper`"),
        ("{{ '{}'.format(secrets.API_TOKEN) }}", "cannot be passed to a function"),
        ("{{ secrets.API_TOKEN + 'x' }}", "cannot be an operand of `+`"),
        ("{{ secrets.API_TOKEN in 'abc' }}", "cannot be compared"),
        ("{% if secrets.API_TOKEN %}y{% endif %}", "cannot be tested for truth"),
        ("{% for c in secrets.API_TOKEN %}{{ c }}{% endfor %}", "cannot be iterated"),
        ("{{ [secrets.API_TOKEN] }}", "cannot be put in a list or mapping"),
        ("{% set t = secrets.API_TOKEN %}{{ t | upper }}", "cannot go through the `upper` filter"),
        (
            "{% set t %}{{ secrets.API_TOKEN }}{% endset %}{{ t | lower }}",
            "cannot go through the `lower` filter",
        ),
        (
            "{% filter upper %}{{ secrets.API_TOKEN }}{% endfilter %}",
            "cannot go through the `upper`",
        ),
        (
            "{% macro m() %}{{ secrets.API_TOKEN }}{% endmacro %}{{ m() | trim }}",
            "cannot go through the `trim` filter",
        ),
        ("{{ secrets.get('API_TOKEN') }}", "`secrets` is read only as `secrets.NAME`"),
        (
            "{% set s = secrets %}{{ s.API_TOKEN | upper }}",
            "`secrets` is read only as `secrets.NAME`",
        ),
    ],
)
def test_each_way_of_transforming_a_secret_is_refused(
    tmp_path: Path, registry: ActionRegistry, template: str, how: str | None
) -> None:
    path = write(
        tmp_path,
        "one.yaml",
        f"""
        name: one
        steps:
          - id: show
            action: shell
            with: {{argv: [echo, "{template}"]}}
        """,
    )

    [error] = errors_of(path, registry)

    assert error.startswith(f"{path}:5: steps[0].with.argv[1]: ")
    assert ("No filter named 'b64encode'" if how is None else how) in error


@pytest.mark.parametrize(
    "template",
    [
        "{{ secrets.API_TOKEN }}",
        "Bearer {{ secrets.API_TOKEN }}",
        "{{ secrets['API_TOKEN'] if params.use else '' }}",
        "{% set token = secrets.API_TOKEN %}--token={{ token }}",
        "{% macro auth() %}Bearer {{ secrets.API_TOKEN }}{% endmacro %}{{ auth() }}",
    ],
)
def test_a_secret_placed_whole_passes(
    tmp_path: Path, registry: ActionRegistry, template: str
) -> None:
    path = write(
        tmp_path,
        "placed.yaml",
        f"""
        name: placed
        params:
          use: {{type: boolean, default: true}}
        steps:
          - id: show
            action: shell
            with: {{argv: [echo, "{template}"]}}
        """,
    )

    assert errors_of(path, registry) == []


def test_a_playbook_that_transforms_a_secret_is_not_loaded(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    write(
        tmp_path,
        "leaky.yaml",
        """
        name: leaky
        steps:
          - id: show
            action: shell
            with: {argv: [echo, "{{ secrets.API_TOKEN | lower }}"]}
        """,
    )

    found = Catalog.scan([tmp_path], registry, include_builtin=False)

    assert "leaky" not in found.playbooks
    assert [p.field for p in found.problems] == ["steps[0].with.argv[1]"]

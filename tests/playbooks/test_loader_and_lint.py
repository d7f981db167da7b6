"""Loading and linting playbook files: every problem names the file, the line and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import BUILTIN_DIR, Catalog
from playbooks.errors import PlaybookFileError, PlaybookProblems, UnknownPlaybookError
from playbooks.lint import parse_playbook
from playbooks.model import Playbook

KNOWN_ACTIONS = "http, notify, playbook, poll, prometheus, shell, sql, wait"
# Every built-in playbook is named as its file is.
BUILT_IN = sorted(path.stem for path in BUILTIN_DIR.glob("*.yaml"))


@pytest.fixture(scope="module")
def registry() -> ActionRegistry:
    return ActionRegistry.default()


def write(folder: Path, name: str, *parts: str) -> Path:
    """A playbook file made of ``parts``, each dedented on its own."""
    path = folder / name
    text = "".join(textwrap.dedent(part).lstrip("\n") for part in parts)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, registry: ActionRegistry) -> list[str]:
    _, problems = parse_playbook(path, registry)
    return [problem.reason for problem in problems]


WAIT_STEP = """
steps:
  - id: pause
    action: wait
    with: {duration: 1s}
"""


# --- one file ------------------------------------------------------------------------------


def test_a_valid_playbook_parses_with_no_problems(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(tmp_path, "ok.yaml", "name: ok\n", WAIT_STEP)

    playbook, problems = parse_playbook(path, registry)

    assert problems == []
    assert playbook is not None
    assert playbook.name == "ok"
    assert playbook.source == str(path)


def test_malformed_yaml_names_the_line(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "broken.yaml",
        """
        name: broken
        steps: [
          - id: a
        """,
    )

    with pytest.raises(PlaybookFileError) as caught:
        parse_playbook(path, registry)

    assert caught.value.reason == (
        f"{path}:3: invalid YAML: expected the node content, but found '-'"
    )
    assert caught.value.line == 3


def test_a_key_written_twice_is_refused_at_its_second_line(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "twice.yaml",
        """
        name: twice
        title: Twice
        name: again
        """,
        WAIT_STEP,
    )

    with pytest.raises(PlaybookFileError) as caught:
        parse_playbook(path, registry)

    assert caught.value.reason == f"{path}:3: name: this key appears twice"


def test_a_nested_duplicate_key_names_its_full_field(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "twice.yaml",
        """
        name: twice
        steps:
          - id: get
            action: http
            with:
              url: http://a
              url: http://b
        """,
    )

    with pytest.raises(PlaybookFileError) as caught:
        parse_playbook(path, registry)

    assert caught.value.reason == f"{path}:7: steps[0].with.url: this key appears twice"


def test_an_unknown_top_level_field_names_its_line(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "extra.yaml",
        """
        name: extra
        title: Extra
        colour: red
        """,
        WAIT_STEP,
    )

    playbook, problems = parse_playbook(path, registry)

    assert playbook is None
    assert [p.reason for p in problems] == [f"{path}:3: colour: Extra inputs are not permitted"]


def test_a_bad_step_id_is_explained(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "ids.yaml",
        """
        name: ids
        steps:
          - id: pause
            action: wait
            with: {duration: 1s}
          - id: Clear-Cache
            action: wait
            with: {duration: 1s}
        """,
    )

    assert problems_of(path, registry) == [
        f"{path}:6: steps[1].id: a step id is lower-case letters, digits and underscores,"
        " starting with a letter"
    ]


def test_an_unknown_action_lists_the_known_ones_at_the_action_line(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "teleport.yaml",
        """
        name: teleport
        steps:
          - id: beam
            name: Beam me up
            action: teleport
            with: {to: enterprise}
        """,
    )

    assert problems_of(path, registry) == [
        f"{path}:5: steps[0].action: unknown action `teleport` (known: {KNOWN_ACTIONS})"
    ]


def test_an_unknown_action_in_rollback_is_found_too(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "undo.yaml",
        "name: undo\n",
        WAIT_STEP,
        "rollback:\n  - id: undo\n    action: rewind\n",
    )

    assert problems_of(path, registry) == [
        f"{path}:8: rollback[0].action: unknown action `rewind` (known: {KNOWN_ACTIONS})"
    ]


def test_a_literal_http_argument_of_the_wrong_type_names_line_and_field(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "http.yaml",
        """
        name: http-check
        steps:
          - id: get
            action: http
            with:
              url: http://example.test/health
              method: [GET]
              verb: GET
        """,
    )

    assert problems_of(path, registry) == [
        f"{path}:7: steps[0].with.method: Input should be a valid string",
        f"{path}:8: steps[0].with.verb: Extra inputs are not permitted",
    ]


def test_a_union_argument_names_the_field_not_the_type(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    # expect_status is `int | list[int]`: the user must not read `list[int]` as a field.
    path = write(
        tmp_path,
        "status.yaml",
        """
        name: status-check
        steps:
          - id: get
            action: http
            with:
              url: http://example.test/health
              expect_status: [200, lots]
        """,
    )

    problems = problems_of(path, registry)

    assert f"{path}:7: steps[0].with.expect_status: Input should be a valid integer" in problems
    assert (
        f"{path}:7: steps[0].with.expect_status[1]: Input should be a valid integer,"
        " unable to parse string as an integer"
    ) in problems
    assert not any("list[int]" in problem for problem in problems)


def test_a_bad_literal_duration_argument_reads_plainly(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "wait.yaml",
        """
        name: slow
        steps:
          - id: pause
            action: wait
            with:
              duration: soon
        """,
    )

    assert problems_of(path, registry) == [
        f"{path}:6: steps[0].with.duration: expected a duration such as 30s, 5m or 1h30m,"
        " got 'soon'"
    ]


def test_templated_arguments_are_not_checked_until_run_time(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "templated.yaml",
        """
        name: templated
        params:
          codes: {type: list, default: "200,204"}
        steps:
          - id: get
            action: http
            with:
              url: "{{ env.SERVICE_URL }}/health"
              method: "{{ 'POST' if params.codes else 'GET' }}"
              expect_status: "{{ params.codes }}"
          - id: pause
            action: wait
            with: {duration: "{{ params.codes | length }}s"}
        """,
    )

    assert problems_of(path, registry) == []


def test_a_template_syntax_error_in_when_names_its_line(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "when.yaml",
        """
        name: when
        steps:
          - id: first
            action: wait
            with: {duration: 1s}
          - id: second
            action: wait
            when: "{{ steps.first.ok and }}"
            with: {duration: 1s}
        """,
    )

    assert problems_of(path, registry) == [
        f"{path}:8: steps[1].when: template error: unexpected 'end of print statement'"
    ]


def test_a_bare_when_is_checked_as_an_expression(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "when.yaml",
        """
        name: when
        steps:
          - id: first
            action: wait
            when: params.x >
            with: {duration: 1s}
        """,
    )

    assert problems_of(path, registry) == [
        f"{path}:5: steps[0].when: template error: unexpected 'end of print statement'"
    ]


def test_a_template_syntax_error_in_a_with_string_names_its_line(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "url.yaml",
        """
        name: url
        steps:
          - id: get
            action: http
            with:
              method: POST
              url: "{{ env.ES_URL }/_cache/clear"
        """,
    )

    assert problems_of(path, registry) == [
        f"{path}:7: steps[0].with.url: template error: unexpected '}}'"
    ]


def test_a_param_default_outside_its_choices_is_refused(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "mode.yaml",
        """
        name: mode
        params:
          mode:
            type: string
            choices: [fast, slow]
            default: medium
        """,
        WAIT_STEP,
    )

    assert problems_of(path, registry) == [
        f"{path}:6: params.mode.default: 'medium' is not one of: fast, slow"
    ]


def test_a_param_default_of_the_wrong_type_is_refused(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "count.yaml",
        """
        name: count
        params:
          count: {type: integer, default: many}
        """,
        WAIT_STEP,
    )

    assert problems_of(path, registry) == [
        f"{path}:3: params.count.default: expected a whole number, got 'many'"
    ]


def test_a_required_param_cannot_have_a_default(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "region.yaml",
        """
        name: region
        params:
          region:
            type: string
            required: true
            default: eu-west-1
        """,
        WAIT_STEP,
    )

    assert problems_of(path, registry) == [
        f"{path}:5: params.region: a required parameter cannot have a default"
    ]


def test_a_bad_param_pattern_is_refused(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "pattern.yaml",
        """
        name: pattern
        params:
          index: {pattern: "[a-"}
        """,
        WAIT_STEP,
    )

    assert problems_of(path, registry) == [
        f"{path}:3: params.index.pattern: not a valid regular expression:"
        " unterminated character set at position 0"
    ]


def test_duplicate_step_ids_name_the_second_one(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "dupes.yaml",
        """
        name: dupes
        steps:
          - id: pause
            action: wait
            with: {duration: 1s}
          - id: pause
            action: wait
            with: {duration: 2s}
        """,
    )

    playbook, problems = parse_playbook(path, registry)

    assert playbook is None
    assert [p.reason for p in problems] == [
        f"{path}:6: steps[1].id: step id `pause` is used twice (first on line 3)"
    ]


def test_a_rollback_step_cannot_reuse_a_step_id(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(
        tmp_path,
        "dupes.yaml",
        "name: dupes\n",
        WAIT_STEP,
        "rollback:\n  - id: pause\n    action: wait\n    with: {duration: 1s}\n",
    )

    assert problems_of(path, registry) == [
        f"{path}:7: rollback[0].id: step id `pause` is used twice (first on line 3)"
    ]


@pytest.mark.parametrize("word", ["list", "help", "status", "history", "cancel"])
def test_a_command_word_cannot_name_a_playbook(
    tmp_path: Path, registry: ActionRegistry, word: str
) -> None:
    path = write(tmp_path, "reserved.yaml", f"title: Reserved\nname: {word}\n", WAIT_STEP)

    assert problems_of(path, registry) == [
        f"{path}:2: name: `{word}` is a command word and cannot name a playbook"
    ]


def test_a_name_must_be_a_slug(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(tmp_path, "slug.yaml", "name: Clear Cache\n", WAIT_STEP)

    assert problems_of(path, registry) == [
        f"{path}:1: name: a name is a slug: lower-case letters, digits and dashes"
    ]


def test_a_playbook_without_steps_is_refused(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(tmp_path, "empty.yaml", "name: empty\ntitle: Nothing to do\n")

    assert problems_of(path, registry) == [f"{path}:1: steps: Field required"]


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, registry: ActionRegistry) -> None:
    path = write(tmp_path, "list.yaml", "- name: a\n- name: b\n")

    assert problems_of(path, registry) == [f"{path}:1: a playbook file is a mapping"]


# --- the catalog ---------------------------------------------------------------------------


def test_every_built_in_playbook_lints_clean(registry: ActionRegistry) -> None:
    found = Catalog.scan([], registry)

    assert [p.reason for p in found.problems] == []
    assert sorted(found.playbooks) == BUILT_IN
    assert {"clear-cache", "latency-spike", "refresh-synonyms"} <= set(BUILT_IN)


def test_a_sub_playbook_that_does_not_exist_is_named(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "caller.yaml",
        """
        name: caller
        steps:
          - id: first
            action: wait
            with: {duration: 1s}
          - id: clear
            action: playbook
            with:
              name: clear-cach
        """,
    )

    found = Catalog.scan([tmp_path], registry)

    assert [p.reason for p in found.problems] == [
        f"{path}:9: steps[1].with.name: no playbook named `clear-cach`"
    ]


def test_playbooks_that_call_each_other_are_a_cycle(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    a = write(
        tmp_path,
        "a.yaml",
        """
        name: a
        steps:
          - id: call_b
            action: playbook
            with: {name: b}
        """,
    )
    b = write(
        tmp_path,
        "b.yaml",
        """
        name: b
        steps:
          - id: pause
            action: wait
            with: {duration: 1s}
          - id: call_a
            action: playbook
            with:
              name: a
        """,
    )

    found = Catalog.scan([tmp_path], registry, include_builtin=False)

    assert [p.reason for p in found.problems] == [
        f"{a}:5: steps[0].with.name: playbooks call each other: a → b → a",
        f"{b}:9: steps[1].with.name: playbooks call each other: b → a → b",
    ]
    # Start-up names every problem at once, as `chatops check` does.
    with pytest.raises(PlaybookProblems) as caught:
        Catalog.load([tmp_path], registry, include_builtin=False)
    assert caught.value.reason.splitlines() == [p.reason for p in found.problems]


def test_a_templated_sub_playbook_name_is_not_checked(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    write(
        tmp_path,
        "dispatch.yaml",
        """
        name: dispatch
        params:
          target: {type: string, default: clear-cache}
        steps:
          - id: run
            action: playbook
            with: {name: "{{ params.target }}"}
        """,
    )

    assert Catalog.scan([tmp_path], registry).problems == []


def test_a_broken_file_does_not_hide_the_good_ones(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    broken = write(tmp_path, "broken.yaml", "name: broken\nsteps: [\n")
    write(tmp_path, "fine.yaml", "name: fine\n", WAIT_STEP)

    found = Catalog.scan([tmp_path], registry)

    assert sorted(found.playbooks) == sorted([*BUILT_IN, "fine"])
    assert [p.reason for p in found.problems] == [
        f"{broken}:3: invalid YAML: expected the node content, but found '<stream end>'"
    ]


def test_a_missing_folder_is_a_problem(tmp_path: Path, registry: ActionRegistry) -> None:
    missing = tmp_path / "nowhere"

    found = Catalog.scan([missing], registry)

    assert [p.reason for p in found.problems] == [f"{missing}: playbook folder does not exist"]


def test_an_extra_folder_overrides_a_built_in_by_name(
    tmp_path: Path, registry: ActionRegistry
) -> None:
    path = write(
        tmp_path,
        "my-clear-cache.yml",
        """
        name: clear-cache
        title: Our own cache clear
        params:
          index_name: {type: string, default: kb}  # latency-spike passes it
        steps:
          - id: clear
            action: http
            with: {method: POST, url: "http://search.internal/{{ params.index_name }}/_cache/clear"}
        """,
    )

    catalog = Catalog.load([tmp_path], registry)

    assert len(catalog) == len(BUILT_IN)
    assert catalog.get("clear-cache").display_title == "Our own cache clear"
    assert catalog.get("clear-cache").source == str(path)
    assert [p.name for p in catalog] == BUILT_IN


def test_a_near_miss_name_suggests_the_real_one(registry: ActionRegistry) -> None:
    catalog = Catalog.load([], registry)

    with pytest.raises(UnknownPlaybookError) as caught:
        catalog.get("clear-cach")

    assert caught.value.reason == (
        "Unknown playbook `clear-cach`. Did you mean `clear-cache`? Try `/playbook list`."
    )


def test_a_prefix_suggests_the_names_it_starts(registry: ActionRegistry) -> None:
    catalog = Catalog.load([], registry)

    with pytest.raises(UnknownPlaybookError) as caught:
        catalog.get("refresh")

    assert "`refresh-synonyms`" in caught.value.reason


def test_an_unrelated_name_suggests_nothing(registry: ActionRegistry) -> None:
    catalog = Catalog.load([], registry)

    with pytest.raises(UnknownPlaybookError) as caught:
        catalog.get("xyzzy")

    assert caught.value.reason == "Unknown playbook `xyzzy`. Try `/playbook list`."
    assert "xyzzy" not in catalog
    assert isinstance(catalog.get("latency-spike"), Playbook)


def test_a_param_named_like_a_mapping_method_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\nparams:\n  items: {type: list}\n"
        "steps:\n  - {id: a, action: wait, with: {duration: 1s}}\n"
    )
    playbook, problems = parse_playbook(path, ActionRegistry.default())
    assert playbook is None
    assert [p.reason for p in problems] == [
        f"{path}:3: params.items: `items` cannot name a parameter: templates read it as a method"
    ]

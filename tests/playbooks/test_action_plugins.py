"""Third-party action types from the ``chatops.actions`` entry-point group, loaded for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbooks.actions.registry import ActionRegistry
from playbooks.errors import PlaybookError
from playbooks.lint import parse_playbook
from playbooks.plan import build_plan
from tests.playbooks.plugins import ECHO_PLUGIN, install_plugin

GROUP = "chatops.actions"


def test_an_installed_plugin_adds_its_action_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        module="chatops_echo_a",
        source=ECHO_PLUGIN,
        entry_points={"echo": "chatops_echo_a:EchoAction"},
    )
    path = tmp_path / "greet.yaml"
    path.write_text(
        "name: greet\nsteps:\n  - id: hello\n    action: echo\n    with: {text: hi}\n",
        encoding="utf-8",
    )

    registry = ActionRegistry.default()
    playbook, problems = parse_playbook(path, registry)

    assert "echo" in registry
    assert problems == []
    assert playbook is not None
    plan = build_plan(playbook, {}, registry, {"greet": playbook}, {})
    assert [step.text for step in plan.steps] == ["say 'hi'"]


def test_a_plugin_action_arguments_are_linted_like_a_built_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        module="chatops_echo_b",
        source=ECHO_PLUGIN,
        entry_points={"echo": "chatops_echo_b:EchoAction"},
    )
    path = tmp_path / "greet.yaml"
    path.write_text(
        "name: greet\nsteps:\n  - id: hello\n    action: echo\n    with: {txt: hi}\n",
        encoding="utf-8",
    )

    _, problems = parse_playbook(path, ActionRegistry.default())

    assert [p.reason for p in problems] == [
        f"{path}:5: steps[0].with.text: Field required",
        f"{path}:5: steps[0].with.txt: Extra inputs are not permitted",
    ]


def test_a_plugin_that_cannot_be_imported_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        module="chatops_broken_c",
        source="import chatops_nosuchdependency\n",
        entry_points={"pager": "chatops_broken_c:PagerAction"},
    )

    registry, problems = ActionRegistry.scan()

    assert problems == [
        f"action plug-in `pager = chatops_broken_c:PagerAction` ({GROUP}) failed to load:"
        " ModuleNotFoundError: No module named 'chatops_nosuchdependency'"
    ]
    assert "http" in registry  # the built-ins are all still there
    with pytest.raises(PlaybookError) as caught:
        ActionRegistry.default()
    assert caught.value.reason == problems[0]


def test_a_broken_plugin_does_not_hide_a_good_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path / "good",
        monkeypatch,
        module="chatops_echo_d",
        source=ECHO_PLUGIN,
        entry_points={"echo": "chatops_echo_d:EchoAction"},
    )
    install_plugin(
        tmp_path / "bad",
        monkeypatch,
        module="chatops_broken_d",
        source="class NotAnAction:\n    pass\n",
        entry_points={
            "plain": "chatops_broken_d:NotAnAction",
            "missing": "chatops_broken_d:Nowhere",
        },
    )

    registry, problems = ActionRegistry.scan()

    assert "echo" in registry
    assert sorted(problems) == [
        f"action plug-in `missing = chatops_broken_d:Nowhere` ({GROUP}) failed to load:"
        " AttributeError: module 'chatops_broken_d' has no attribute 'Nowhere'",
        f"action plug-in `plain = chatops_broken_d:NotAnAction` ({GROUP}) is not a chatops Action",
    ]


def test_a_plugin_may_not_take_a_built_in_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        module="chatops_echo_e",
        source=ECHO_PLUGIN + '\n\nclass HttpAgain(EchoAction):\n    name = "http"\n',
        entry_points={"http": "chatops_echo_e:HttpAgain"},
    )

    _, problems = ActionRegistry.scan()

    assert problems == [
        f"action plug-in `http = chatops_echo_e:HttpAgain` ({GROUP}):"
        " another action type is already named `http`"
    ]

"""The fast YAML parser reads every document as the pure-Python one does, lines included."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from playbooks import yamlsource
from playbooks.catalog import BUILTIN_DIR
from playbooks.errors import PlaybookFileError

DOCUMENTS = [
    *sorted(BUILTIN_DIR.glob("*.yaml")),
    Path(__file__).resolve().parents[2] / "slack" / "manifest.yml",
]


def test_libyaml_is_there_to_be_used() -> None:
    # Without it every start-up parses playbooks about ten times slower.
    assert yamlsource._FAST_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_the_fast_parser_reads_what_the_pure_python_one_reads(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = yamlsource.load_yaml(path)
    monkeypatch.setattr(yamlsource, "_FAST_LOADER", yaml.SafeLoader)
    slow = yamlsource.load_yaml(path)
    assert fast.data == slow.data
    assert fast.lines == slow.lines
    assert fast.data is not None


def test_a_document_libyaml_refuses_is_explained_in_pure_python_words(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nsteps:\n  - id: a\n   bad: [\n")
    with pytest.raises(PlaybookFileError) as raised:
        yamlsource.load_yaml(path)
    with pytest.raises(yaml.MarkedYAMLError) as pure:
        yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    assert pure.value.problem_mark is not None
    assert raised.value.reason == (
        f"{path}:{pure.value.problem_mark.line + 1}: invalid YAML: {pure.value.problem}"
    )


def test_values_keep_their_yaml_types_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "types.yaml"
    path.write_text("a: 1\nb: [true, 2.5, null, '3']\nc:\n  d: 2030-01-02\n")
    located = yamlsource.load_yaml(path)
    assert located.data == {
        "a": 1,
        "b": [True, 2.5, None, "3"],
        "c": {"d": date(2030, 1, 2)},
    }
    assert located.line_of(("c", "d")) == 4
    assert located.line_of(("b", 3)) == 2

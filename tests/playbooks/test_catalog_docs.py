"""docs/catalog.md is the built-in catalog as `chatops playbooks docs` writes it, never stale."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from app.commands import app
from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import Catalog
from playbooks.catalog_docs import GENERATED_BY, needs_of, render_catalog_docs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


def test_docs_catalog_md_is_the_built_in_catalog_as_generated() -> None:
    registry = ActionRegistry.default()
    expected = render_catalog_docs(Catalog.load([], registry), registry)

    assert DOCS.read_text(encoding="utf-8") == expected, (
        f"docs/catalog.md is stale: run `{GENERATED_BY}`"
    )


def test_the_docs_command_writes_the_built_in_catalog(tmp_path: Path) -> None:
    written = tmp_path / "catalog.md"

    result = CliRunner().invoke(app, ["playbooks", "docs", "--builtin", "--output", str(written)])

    assert result.exit_code == 0, result.output
    assert written.read_text(encoding="utf-8") == DOCS.read_text(encoding="utf-8")
    printed = CliRunner().invoke(app, ["playbooks", "docs"], env={"CHATOPS_PLAYBOOK_DIRS": ""})
    assert printed.stdout == written.read_text(encoding="utf-8")


def test_every_playbook_is_documented_with_what_the_catalog_asks() -> None:
    text = DOCS.read_text(encoding="utf-8")
    sections = text.split("\n## ")[1:]
    playbooks = {p.name: p for p in Catalog.load([], ActionRegistry.default())}

    assert sorted(section.split("\n", 1)[0] for section in sections) == sorted(playbooks)
    for section in sections:
        for heading in ("When to use:", "Approval:", "Estimate:", "Rollback", "Needs:", "From:"):
            assert heading in section, (section.split("\n", 1)[0], heading)


def test_the_docs_name_what_each_playbook_needs() -> None:
    rerun = Catalog.load([], ActionRegistry.default()).get("rerun-dbt")

    needs = needs_of(rerun)

    assert needs.env == {"DBT_PROJECT_DIR"}
    assert needs.commands == {"dbt"}
    assert needs.secrets == set()

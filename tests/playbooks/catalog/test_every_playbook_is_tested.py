"""Every built-in playbook has a dry-run test and an execution test in this folder."""

from __future__ import annotations

import importlib
import pkgutil

import tests.playbooks.catalog as package
from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import Catalog
from tests.playbooks.catalog.coverage import DRY_RUN, EXECUTION


def _import_every_test_module() -> None:
    # The marks are recorded at import: import them all, whichever tests were selected.
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"{package.__name__}.{module.name}")


def test_every_catalog_playbook_has_a_dry_run_test_and_an_execution_test() -> None:
    _import_every_test_module()
    catalog = sorted(p.name for p in Catalog.load([], ActionRegistry.default()))

    assert [name for name in catalog if name not in DRY_RUN] == [], "without a dry-run test"
    assert [name for name in catalog if name not in EXECUTION] == [], "without an execution test"
    assert sorted((set(DRY_RUN) | set(EXECUTION)) - set(catalog)) == [], "not in the catalog"

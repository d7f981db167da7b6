"""Which catalog playbooks have a dry-run test and an execution test.

Each test names the playbooks it covers with :func:`dry_run_test` or :func:`execution_test`;
the names are recorded when its module is imported, so the meta-test (test_every_playbook_
is_tested.py) can compare them with the catalog whichever tests were selected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DRY_RUN", "EXECUTION", "dry_run_test", "execution_test"]

F = TypeVar("F", bound=Callable[..., Any])

DRY_RUN: defaultdict[str, list[str]] = defaultdict(list)
EXECUTION: defaultdict[str, list[str]] = defaultdict(list)


def dry_run_test(*names: str) -> Callable[[F], F]:
    """Mark a test that plans ``names`` and checks what the plan says, sending nothing."""
    return _registering(DRY_RUN, names)


def execution_test(*names: str) -> Callable[[F], F]:
    """Mark a test that runs ``names`` against local stubs and checks what they received."""
    return _registering(EXECUTION, names)


def _registering(registry: defaultdict[str, list[str]], names: tuple[str, ...]) -> Callable[[F], F]:
    def register(test: F) -> F:
        for name in names:
            registry[name].append(f"{test.__module__}.{test.__qualname__}")
        return test

    return register

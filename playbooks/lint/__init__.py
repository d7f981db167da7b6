"""Check playbook files deeply; every problem names file, line and field.

A file is checked as far as it can be even when its schema is wrong, so that one run of
``chatops check`` reports every problem: the schema (pydantic), params, templates (compiled
with the sandbox the engine renders them in, and their ``params.X`` / ``steps.X`` names
resolved), each step's action arguments (a poll's ``check`` too) and, when a config is given,
the roles, channels and connections it names. :func:`lint_catalog` adds what needs every
playbook at once: sub-playbooks, their params, and cycles.

The modules, one check each:

- :mod:`~playbooks.lint.playbook` parses one file and gathers every check's problems;
- :mod:`~playbooks.lint.checked_file` holds that file's raw data and what was found so far;
- :mod:`~playbooks.lint.schema` checks the schema, step ids and params;
- :mod:`~playbooks.lint.templates` compiles templates and resolves the names they read;
- :mod:`~playbooks.lint.secret_use` finds secrets a template uses other than placing them whole;
- :mod:`~playbooks.lint.actions` checks each step's action and its arguments;
- :mod:`~playbooks.lint.config_names` checks roles, channels and connections against the config;
- :mod:`~playbooks.lint.estimates` warns about a declared estimate below what the waits take;
- :mod:`~playbooks.lint.sub_playbooks` checks sub-playbook calls across the catalog.
"""

from __future__ import annotations

from playbooks.lint.config_names import ConfigNames
from playbooks.lint.playbook import PlaybookLint, lint_playbook, parse_playbook
from playbooks.lint.sub_playbooks import lint_catalog

__all__ = ["ConfigNames", "PlaybookLint", "lint_catalog", "lint_playbook", "parse_playbook"]

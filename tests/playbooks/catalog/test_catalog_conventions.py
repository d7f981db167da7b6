"""What every built-in playbook declares, and how chat shows it: the changes a run makes,
the steps its params skip, when to use it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from handlers.shell.testing import ConsoleBot
from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import BUILTIN_DIR, Catalog


def test_every_built_in_playbook_says_what_it_changes_and_where_it_comes_from() -> None:
    for playbook in Catalog.load([], ActionRegistry.default()):
        assert playbook.changes, playbook.name
        assert playbook.use_when, playbook.name
        assert playbook.origin.runbook, playbook.name


async def test_the_card_marks_the_steps_the_params_skip_and_lists_the_changes(
    bot: ConsoleBot,
) -> None:
    said = await bot.send("/playbook refresh-synonyms")
    card = said[0].card
    assert card is not None

    assert card.plan[2].startswith("⏭️ 3. `close_index` Close index: POST ")
    assert card.plan[2].endswith("/knowledge_base/_close (skipped with these params)")
    assert card.plan[5:10] == [
        "Changes:",
        "• Index stays open: search analyzers are reloaded in place",
        "• Synonym filter will be reloaded",
        "• New queries will use the updated synonyms",
        "• Existing documents NOT reindexed",
    ]


async def test_help_says_when_to_use_it_and_what_the_defaults_change(bot: ConsoleBot) -> None:
    said = await bot.send("/playbook help clear-cache")

    assert (
        "Use when: latency spike (P95 over budget); stale query results; memory pressure on"
        " the Elasticsearch cluster"
    ) in said[0].text
    assert "Changes with defaults: Caches will be cleared (query, request)" in said[0].text


async def test_help_gives_a_per_item_estimate_even_before_the_items_are_known(
    bot: ConsoleBot,
) -> None:
    said = await bot.send("/playbook help rerun-dbt")

    assert "Estimate: 5m per model · $0.05 per model" in said[0].text
    assert "Use when: an invariant failed because of stale data;" in said[0].text


def test_every_secret_in_the_catalog_is_a_whole_value() -> None:
    # A secret spliced into a longer string (a URL, "Bearer …") could be shown or logged in
    # a form redaction does not know: the catalog passes each one whole (a header, an argv
    # item, an environment value).
    whole = re.compile(r"\{\{\s*secrets\.[A-Z][A-Z0-9_]*\s*\}\}")
    spliced = []
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        for text in _strings(yaml.safe_load(path.read_text(encoding="utf-8"))):
            if "secrets." in text and not whole.fullmatch(text):
                spliced.append(f"{path.name}: {text}")
    assert spliced == []


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)

"""What /playbook list, help and a dry run say: no raw templates, no Python spellings."""

from __future__ import annotations

from tests.bot.approval_playbooks import CONFIG
from tests.support.console import BotFactory

CONDITIONAL = """
name: condappr
title: Conditional approval
params:
  big: {type: boolean, default: false}
  replicas: {type: integer, default: 2, min: 1, max: 5}
approval: {required: "{{ params.big }}", approvers: [sre-lead], min_approvals: 2}
steps:
  - id: go
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/go?big={{ params.big }}"}
"""

NO_PARAMS = """
name: plain
steps:
  - id: go
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/go"}
"""


async def test_help_says_when_approval_is_needed_and_ranges_as_their_type(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(config=CONFIG, playbooks={"condappr": CONDITIONAL})
    [said] = await bot.send("/playbook help condappr")
    assert "Approval: when `big` is true — 2 of sre-lead" in said.text
    assert "`replicas` (integer, 1 to 5; default 2)" in said.text
    assert "{{" not in said.text


async def test_the_list_says_approval_depends_on_params(make_bot: BotFactory) -> None:
    bot = await make_bot(config=CONFIG, playbooks={"condappr": CONDITIONAL})
    [said] = await bot.send("/playbook list")
    assert "`condappr` — Conditional approval (risk low, approval depends on params)" in said.text


GATED_STEP = """
name: gatedstep
title: Gated step
steps:
  - id: look
    action: http
    with: {method: GET, url: "{{ env.API_URL }}/look"}
  - id: block
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/block"}
    approval: {required: true, approvers: [sre-lead]}
"""


async def test_the_list_says_when_a_step_needs_approval_though_starting_does_not(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(config=CONFIG, playbooks={"gatedstep": GATED_STEP, "plain": NO_PARAMS})
    [said] = await bot.send("/playbook list")
    assert "`gatedstep` — Gated step (risk low, a step needs approval)" in said.text
    assert "`plain` — plain (risk low)" in said.text


async def test_a_dry_run_without_params_ends_with_a_command_to_copy_as_is(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(playbooks={"plain": NO_PARAMS})
    [said] = await bot.send("/playbook plain --dry-run")
    assert said.text.endswith("Start it: `/playbook plain`")


async def test_a_boolean_param_in_a_url_is_spelled_true_or_false(make_bot: BotFactory) -> None:
    bot = await make_bot(config=CONFIG, playbooks={"condappr": CONDITIONAL})
    [said] = await bot.send("/playbook condappr big=true --dry-run")
    assert "/go?big=true" in said.text
    assert "True" not in said.text


async def test_the_card_says_conditions_and_branching_messages_in_words(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    await bot.send("/playbook latency-spike")
    card = bot.card(1)
    assert (
        "▫️ 7. `refresh_synonyms` run playbook `refresh-synonyms`"
        " (index_name=knowledge_base, reindex=false) (only if `monitor` failed)"
    ) in card.plan
    assert (
        "▫️ 8. `report` post in the run's thread: if `monitor` succeeded,"
        " “p95 recovered below 0.5s after clearing the cache.”; otherwise"
        " “p95 did not recover within 5 minutes; synonyms were refreshed. If it is still h…”"
    ) in card.plan
    assert not any("{{" in line or "{%" in line for line in card.plan)


async def test_the_card_warns_about_the_connection_the_config_lacks(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(env={"PROMETHEUS_URL": ""})
    await bot.send("/playbook latency-spike")
    assert bot.card(1).notes == [
        "⚠️ long_queries: no connection `app` in the config"
        " (built-in defaults; it defines no connections)",
        "⚠️ monitor: environment variable PROMETHEUS_URL is not set",
    ]


async def test_a_playbook_of_only_http_steps_has_an_unknown_estimate_not_0s(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(playbooks={"plain": NO_PARAMS})
    await bot.send("/playbook plain")
    assert {f.label: f.value for f in bot.card(1).fields}["Estimate"] == "unknown"
    [dry] = await bot.send("/playbook plain --dry-run")
    assert "Risk: low · Estimate: unknown" in dry.text
    [helped] = await bot.send("/playbook help plain")
    assert "Estimate with defaults: unknown" in helped.text

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

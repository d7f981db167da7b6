"""Long plans, help, status trails and catalogs, end to end: Slack accepts every message,
and what does not fit is cut with a note saying so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.lifecycle import RunStatus
from handlers.slack.text import text_total
from playbooks.catalog import BUILTIN_DIR
from tests.handlers.slack.conftest import running_slack_bot
from tests.support.clock import FastClock
from tests.support.fake_slack import MAX_TOTAL_TEXT, FakeSlack, blocks_problem
from tests.support.stub_server import StubServer

BUILT_IN = len(list(BUILTIN_DIR.glob("*.yaml")))
REPORTS = 6  # steps whose 60 kB answers end up, cut, in `/playbook status`


def long_playbook(*, steps: int = 40, params: int = 120) -> str:
    lines = [
        "name: long-haul",
        "title: The long haul",
        "description: Every check there is, in order.",
        "params:",
    ]
    for i in range(params):
        lines.append(
            f"  option_{i:03d}: {{type: string, default: value-{i}, description: "
            f'"Option {i} tunes check {i} of the long haul & says <how> at some length"}}'
        )
    lines.append("steps:")
    for i in range(REPORTS):
        lines += [
            f"  - id: fetch_report_{i}",
            "    action: http",
            f'    with: {{method: GET, url: "{{{{ env.API_URL }}}}/report/{i}"}}',
        ]
    for i in range(steps - REPORTS):
        lines += [
            f"  - id: check_thing_{i:03d}_of_the_long_haul",
            f"    name: Check thing {i} of the long haul carefully, compare it with what it was"
            " an hour ago, a day ago and a week ago, write down in the log of the long haul"
            " what changed since then and why, ask whoever owns it when something looks odd,"
            " and only then go on to the next one",
            "    action: wait",
            "    with: {duration: 1s}",
        ]
    return "\n".join(lines) + "\n"


def sections(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


def assert_slack_took_everything(fake: FakeSlack) -> None:
    """Every message and private answer was accepted, and each one's blocks fit."""
    refused = [(c.method, c.args.get("error")) for c in fake.calls + fake.responses if c.failed]
    assert refused == []
    posted = [c for c in fake.calls if c.method.startswith("chat.")] + fake.responses
    assert posted
    for call in posted:
        blocks = call.args.get("blocks") or []
        assert blocks_problem(blocks) is None
        assert text_total(blocks) <= MAX_TOTAL_TEXT


async def test_a_long_plan_help_and_status_are_cut_and_slack_takes_every_message(
    fake_slack: FakeSlack,
    stub_server: StubServer,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
) -> None:
    for i in range(REPORTS):
        stub_server.route("GET", f"/report/{i}", body=f"report {i} " + "x" * 60_000)
    playbooks = {"long-haul.yaml": long_playbook()}
    async with running_slack_bot(
        fake_slack, tmp_path, target_env, clock, playbooks=playbooks
    ) as slack:
        await slack.command("help long-haul")
        help_text = sections(slack.fake.responses[-1].args["blocks"])
        assert help_text[0].startswith("*The long haul* (`long-haul`)")
        assert "&amp; says &lt;how&gt;" in help_text[0]  # escaped, shown as written
        assert re.fullmatch(r"… \(truncated: \d+ more lines\)", help_text[-1]), help_text[-1]

        await slack.command("long-haul")
        card = slack.card(1)
        plan = "\n".join(
            b["text"]["text"] for b in card["blocks"] if b["block_id"].startswith("card-plan")
        )
        assert "`fetch_report_0`" in plan
        assert re.search(r"… \d+ more lines \(see `/playbook status 1`\)$", plan), plan[-200:]
        assert [b["block_id"] for b in card["blocks"]][-1] == "card-actions"

        await slack.click("Run", 1, user="U0ALICE")
        run = await slack.deps.store.get_run(1)
        assert run is not None
        assert run.status is RunStatus.SUCCEEDED
        assert len(slack.thread(1)) > 40  # every step reported in the thread
        assert "Succeeded" in str(slack.card(1)["blocks"])

        await slack.command("status 1")
        status = sections(slack.fake.responses[-1].args["blocks"])
        assert sum("x" * 1000 in text for text in status) >= 2  # 60 kB answers, cut
        assert re.fullmatch(r"… \(truncated: \d+ more lines\)", status[-1]), status[-1]

        assert_slack_took_everything(slack.fake)


async def test_list_and_help_with_a_hundred_playbooks_fit(
    fake_slack: FakeSlack, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    playbooks = {
        f"generated-{i:03d}.yaml": (
            f"name: generated-{i:03d}\n"
            f"title: Generated playbook number {i} that restarts the {i}th service of the fleet"
            " and then checks that everything it depends on is still answering\n"
            "steps:\n"
            f"  - {{id: pause, action: wait, with: {{duration: {i + 1}s}}}}\n"
        )
        for i in range(100)
    }
    async with running_slack_bot(
        fake_slack, tmp_path, target_env, clock, playbooks=playbooks
    ) as slack:
        await slack.command("list")
        listed = sections(slack.fake.responses[-1].args["blocks"])
        rows = "\n".join(listed[:-1]).split("\n")
        assert rows[0] == f"*Playbooks* ({100 + BUILT_IN}):"
        assert any(row.startswith("• `generated-000`") for row in rows)
        match = re.fullmatch(r"… \(truncated: (\d+) more lines\)", listed[-1])
        assert match, listed[-1]
        assert len(rows) + int(match.group(1)) == 100 + BUILT_IN + 2  # heading and footer

        await slack.command("help generated-099")
        assert "*Generated playbook number 99" in slack.fake.responses[-1].args["text"]
        await slack.command("help")
        assert "/playbook list" in slack.fake.responses[-1].args["text"]

        assert_slack_took_everything(slack.fake)

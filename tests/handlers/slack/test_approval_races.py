"""Two approvers clicking Approve 200 times at once on a one-approval run: one execution."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.lifecycle import RunStatus
from tests.handlers.slack.conftest import running_slack_bot
from tests.support.clock import FastClock
from tests.support.fake_slack import FakeSlack
from tests.support.stub_server import StubServer

ONE_KEY = """
name: one-key
title: One-key change
approval: {required: true, approvers: [sre-lead], min_approvals: 1, expires_after: 10m}
steps:
  - id: go
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/go"}
"""


async def test_two_hundred_simultaneous_approve_clicks_by_two_approvers_execute_once(
    fake_slack: FakeSlack,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
    stub_server: StubServer,
    database_url: str,
) -> None:
    stub_server.route("POST", "/go", json={})
    async with running_slack_bot(
        fake_slack,
        tmp_path,
        target_env,
        clock,
        playbooks={"one-key.yaml": ONE_KEY},
        database_url=database_url,
    ) as slack:
        await slack.command("one-key")
        button = slack.find_button("Approve", 1)
        requests = [
            slack.click_request("Approve", 1, user=user, button=button)
            for _ in range(100)
            for user in ("U0BOB", "U0CAROL")
        ]
        responses = await asyncio.gather(*(slack.post(*request) for request in requests))
        await slack.settle()

        assert [r.status_code for r in responses] == [200] * 200
        run = await slack.deps.store.get_run(1)
        assert run is not None and run.status is RunStatus.SUCCEEDED
        assert len(stub_server.calls("POST", "/go")) == 1
        events = [e.kind for e in await slack.deps.store.audit_events(run_id=1)]
        assert events.count("run.running") == 1
        decisions = await slack.deps.store.decisions(1)
        assert len(decisions) == 1  # the second approver came too late to count

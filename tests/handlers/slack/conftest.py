"""A bot with the Slack surface on, a fake Slack Web API, and signed requests to it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest_asyncio

from bot.dependencies import Dependencies, open_dependencies
from bot.http_app import build_http_app
from bot.service import ChatOpsService
from bot.settings import Settings
from handlers.slack.app import SlackSurface
from tests.support.clock import FastClock
from tests.support.fake_slack import FakeSlack

FIXTURES = Path(__file__).parents[2] / "fixtures"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

CONFIG = """
roles:
  sre-lead: {slack: [S0LEADS]}
  sre: {slack: [U0ALICE, S0LEADS]}
engine: {approval_poll_every: 50ms}
"""


RESTART = """
name: restart-service
title: Restart a service
params:
  service: {type: string, required: true, choices: [api, worker], description: which one}
  replicas: {type: integer, default: 2, min: 1, max: 10}
steps:
  - id: restart
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/restart/{{ params.service }}"}
"""


def sign(body: bytes, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Headers of Slack's v0 request signature for ``body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class SlackBot:
    """Sends what Slack would send to ``POST /slack/events`` and waits for the work to end."""

    def __init__(
        self,
        deps: Dependencies,
        service: ChatOpsService,
        surface: SlackSurface,
        client: httpx.AsyncClient,
        fake: FakeSlack,
    ) -> None:
        self.deps, self.service, self.surface, self.client, self.fake = (
            deps,
            service,
            surface,
            client,
            fake,
        )
        self._responses = 0

    async def post(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        return await self.client.post(
            "/slack/events",
            content=body,
            headers={"Content-Type": content_type, **sign(body), **headers},
        )

    async def command(
        self, text: str, *, user: str = "U0ALICE", name: str = "alice", command: str = "/playbook"
    ) -> httpx.Response:
        """Type ``/playbook text`` (as Slack sends it: ``&``, ``<``, ``>`` escaped) and wait
        for the work it started."""
        response = await self.post(
            *self.command_request(text, user=user, name=name, command=command)
        )
        await self.settle()
        return response

    def command_request(
        self, text: str, *, user: str = "U0ALICE", name: str = "alice", command: str = "/playbook"
    ) -> tuple[bytes, str]:
        """The body and content type of a slash command, for :meth:`post`."""
        form = dict(parse_qsl((FIXTURES / "slack-slash-command.form").read_text().strip()))
        self._responses += 1
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        form |= {
            "text": escaped,
            "user_id": user,
            "user_name": name,
            "command": command,
            "response_url": self.fake.response_url(self._responses),
            "trigger_id": f"1337.{self._responses}.abcdef",  # Slack's own, per interaction
        }
        return urlencode(form).encode(), "application/x-www-form-urlencoded"

    async def click(
        self,
        label: str,
        run_id: int,
        *,
        user: str,
        step: str | None = None,
        button: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> httpx.Response:
        """Press the newest button ``label`` of run ``run_id`` the bot rendered, as ``user``
        (or ``button``, one found earlier: a stale copy still on someone's screen)."""
        response = await self.post(
            *self.click_request(label, run_id, user=user, step=step, button=button)
        )
        await self.settle()
        return response

    def click_request(
        self,
        label: str,
        run_id: int,
        *,
        user: str,
        step: str | None = None,
        button: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> tuple[bytes, str]:
        """The body and content type of a button click, for :meth:`post`."""
        message, element = button or self.find_button(label, run_id, step)
        payload = json.loads((FIXTURES / "slack-block-actions.json").read_text())
        self._responses += 1
        name = user.removeprefix("U0").lower()
        payload["user"] = {"id": user, "username": name, "name": name}
        payload["container"]["message_ts"] = message["ts"]
        if message.get("thread_ts"):
            payload["container"]["thread_ts"] = message["thread_ts"]
        payload["message"] = {"ts": message["ts"], "thread_ts": message.get("thread_ts")}
        payload["response_url"] = self.fake.response_url(self._responses)
        payload["trigger_id"] = f"1337.{self._responses}.fedcba"
        payload["actions"] = [
            {
                "action_id": element["action_id"],
                "block_id": "card-actions",
                "text": element["text"],
                "value": element["value"],
                "type": "button",
                "action_ts": "1732270005.123456",
            }
        ]
        return urlencode(
            {"payload": json.dumps(payload)}
        ).encode(), "application/x-www-form-urlencoded"

    def find_button(
        self, label: str, run_id: int, step: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        for message in reversed(self.fake.messages("C0INCIDENTS")):
            for block in message.get("blocks") or []:
                for element in block.get("elements") or []:
                    if element.get("type") != "button" or element["text"]["text"] != label:
                        continue
                    run, _, button_step = element["value"].partition(":")
                    if int(run) == run_id and (step is None or button_step == step):
                        return message, element
        raise AssertionError(f"no {label} button for run #{run_id} in #incidents")

    async def settle(self) -> None:
        """Wait for acknowledged work, then for runs it started."""
        await self.surface.idle()
        await self.service.wait_idle()
        await self.surface.idle()

    async def submit(
        self, view: dict[str, Any], values: dict[str, Any], user: str, *, view_id: str | None = None
    ) -> httpx.Response:
        """Submit the modal ``view`` (as views.open received it) with ``values``; its id is
        the one Slack gave it when it was opened, unless ``view_id`` says otherwise."""
        payload = {
            "type": "view_submission",
            "team": {"id": "T0001", "domain": "example"},
            "user": {"id": user, "username": user.removeprefix("U0").lower(), "team_id": "T0001"},
            "api_app_id": "A0APP",
            "trigger_id": f"1337.{len(self.fake.calls)}.view",
            "view": {
                "id": view_id or self.opened_view_id(view),
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view["private_metadata"],
                "state": {"values": values},
            },
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        response = await self.post(body, "application/x-www-form-urlencoded")
        await self.settle()
        return response

    def opened_view_id(self, view: dict[str, Any]) -> str:
        """The id Slack gave ``view`` when views.open opened it (the newest such)."""
        for call in reversed(self.fake.of("views.open")):
            if call.args.get("view") == view and call.answer and call.answer.get("ok"):
                return str(call.answer["view"]["id"])
        raise AssertionError("that view was never opened")

    def ephemeral(self) -> list[str]:
        """Texts of private answers (response_url posts), oldest first."""
        return [str(call.args.get("text", "")) for call in self.fake.responses]

    def card(self, run_id: int) -> dict[str, Any]:
        """The run card as it stands in the channel now."""
        for message in self.fake.messages("C0INCIDENTS"):
            if message.get("thread_ts") is None and f"run #{run_id}" in str(message["blocks"]):
                return message
        raise AssertionError(f"no card for run #{run_id}")

    def thread(self, run_id: int) -> list[str]:
        card = self.card(run_id)
        return [
            str(m["text"])
            for m in self.fake.messages("C0INCIDENTS")
            if m.get("thread_ts") == card["ts"]
        ]


def write_playbooks(folder: Path, playbooks: Mapping[str, str]) -> Path:
    """``playbooks`` (file name → YAML) in ``folder``, created if need be."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in playbooks.items():
        (folder / name).write_text(text)
    return folder


@asynccontextmanager
async def running_slack_bot(
    fake: FakeSlack,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
    *,
    playbooks: Mapping[str, str] | None = None,
    api_url: str | None = None,
    database_url: str | None = None,
) -> AsyncIterator[SlackBot]:
    """A bot with Slack on over HTTP, started as ``chatops run`` starts it, against ``fake``;
    ``playbooks`` (file name → YAML) replace the test playbooks beside the built-in ones."""
    fake.set_usergroup("S0LEADS", ["U0BOB", "U0CAROL"])
    config = tmp_path / "chatops.yaml"
    config.write_text(CONFIG)
    folder = write_playbooks(
        tmp_path / "playbooks",
        {"restart-service.yaml": RESTART} if playbooks is None else playbooks,
    )
    settings = Settings(
        DATABASE_URL=database_url or f"sqlite+aiosqlite:///{tmp_path}/chatops.db",
        CHATOPS_CONFIG=str(config),
        CHATOPS_PLAYBOOK_DIRS=str(folder),
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url if api_url is None else api_url,
    )
    deps = await open_dependencies(settings, environ=target_env, clock=clock)
    service = ChatOpsService(deps)
    surface = SlackSurface(service, settings)
    service.attach(surface.chat)
    try:
        await surface.open()
        await service.start()
        app = build_http_app(service, surface.routes())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            yield SlackBot(deps, service, surface, client, fake)
    finally:
        await surface.close()
        await service.shutdown()
        await deps.close()


@pytest_asyncio.fixture
async def slack(
    fake_slack: FakeSlack, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> AsyncIterator[SlackBot]:
    async with running_slack_bot(fake_slack, tmp_path, target_env, clock) as bot:
        yield bot

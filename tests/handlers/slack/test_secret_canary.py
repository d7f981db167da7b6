"""A secret canary in failing steps never reaches Slack, the logs or the database, in any of the
encodings a step is likely to print it in."""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import sys
from pathlib import Path
from urllib.parse import unquote, unquote_plus, urlsplit

import pytest

from bot.logs import configure_logging
from playbooks.secrets import Redactor
from tests.handlers.slack.conftest import running_slack_bot
from tests.support.clock import FastClock
from tests.support.fake_slack import FakeSlack
from tests.support.stub_server import StubServer

# "+" and "!" are written differently URL-encoded, and still fit in a URL's user-info.
CANARY = "canary-5d0b8e27c4a91f36e2b7d8a0+!"
BASIC = base64.b64encode(f"deploy:{CANARY}".encode()).decode()

# Prints the token the step was given in one of the forms a program might, then fails (or,
# given `all`, prints every form and succeeds).
PRINTER = """
import base64, os, sys, urllib.parse
token = os.environ["TOKEN"]
data = token.encode()
forms = dict(
    raw=token,
    base64=base64.b64encode(data).decode(),
    base64url=base64.urlsafe_b64encode(data).decode().rstrip("="),
    hex=data.hex(),
    HEX=data.hex().upper(),
    url=urllib.parse.quote(token, safe=""),
)
if sys.argv[1] == "all":
    for name, form in forms.items():
        print(name, form)
else:
    print("leaking", forms[sys.argv[1]])
    sys.exit(3)
"""
FORMS = ("raw", "base64", "base64url", "hex", "HEX", "url")


def _printing(form: str) -> str:
    return f"""
  - id: print_{form.lower()}{"_upper" if form == "HEX" else ""}
    action: shell
    continue_on_failure: true
    with:
      argv:
        - "{{{{ env.PYTHON }}}}"
        - "-c"
        - {json.dumps(PRINTER)}
        - {form}
      env: {{TOKEN: "{{{{ secrets.TARGET_API_TOKEN }}}}"}}
"""


PLAYBOOK = (
    """
name: canary-leak
title: Steps that fail with a secret in hand
steps:
  - id: echoed_by_a_500
    action: http
    continue_on_failure: true
    with:
      method: POST
      url: "{{ env.API_URL }}/deploy"
      headers: {Authorization: "Bearer {{ secrets.TARGET_API_TOKEN }}"}
      json: {token: "{{ secrets.TARGET_API_TOKEN }}"}
  - id: in_the_query
    action: http
    continue_on_failure: true
    with: {url: "{{ env.API_URL }}/missing?token={{ secrets.TARGET_API_TOKEN }}"}
  - id: in_the_user_info
    action: http
    continue_on_failure: true
    with: {url: "http://deploy:{{ secrets.TARGET_API_TOKEN }}@{{ env.API_HOST }}/private"}
"""
    + _printing("all")
    + "".join(_printing(form) for form in FORMS)
    + """
  - id: tell
    action: notify
    with: {message: "the token is {{ secrets.TARGET_API_TOKEN }}"}
"""
)
STEPS = 3 + 1 + len(FORMS) + 1


def readable_in(text: str, secret: str) -> list[str]:
    """The ways ``secret`` can still be read in ``text``: as itself, URL-decoded, or by
    decoding a run of hex digits or of base64 (either alphabet, at any alignment)."""
    found: list[str] = []
    wanted = secret.encode()
    if secret in text:
        found.append("as itself")
    if secret in unquote(text) or secret in unquote_plus(text):
        found.append("URL-encoded")
    for run in re.findall(r"[0-9A-Fa-f]{16,}", text):
        for start in (0, 1):
            digits = run[start:][: (len(run) - start) // 2 * 2]
            if wanted in bytes.fromhex(digits):
                found.append("hex")
    for run in re.findall(r"[A-Za-z0-9+/_-]{11,}", text):
        standard = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            chars = standard[start:]
            if len(chars) % 4 == 1:
                chars = chars[:-1]  # a lone 6 bits make no byte
            try:
                decoded = base64.b64decode(chars + "=" * (-len(chars) % 4), validate=True)
            except binascii.Error:
                continue
            if wanted in decoded:
                found.append("base64")
    return found


def _database_text(path: Path) -> str:
    """Every row of every table of the SQLite file at ``path``, as text."""
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"runs", "step_results"} <= set(tables)
        rows = [repr(row) for table in tables for row in db.execute(f'SELECT * FROM "{table}"')]
    return "\n".join(rows)


async def test_a_secret_canary_in_failing_steps_leaves_no_trace_in_slack_logs_or_database(
    fake_slack: FakeSlack,
    stub_server: StubServer,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stub_server.route(
        "POST",
        "/deploy",
        status=500,
        body=f"denied: token {CANARY} ({base64.b64encode(CANARY.encode()).decode()}) is revoked",
    )
    stub_server.route("GET", "/private", status=500, body=f"unauthorized: Basic {BASIC}")
    env = {
        **target_env,
        "TARGET_API_TOKEN": CANARY,
        "API_HOST": urlsplit(stub_server.url).netloc,
        "PYTHON": sys.executable,
    }
    # As `chatops run` sets logging up: the redactor knows the secret-named variables.
    configure_logging(level="INFO", json=True, redact=Redactor.from_environ(env))
    try:
        async with running_slack_bot(
            fake_slack, tmp_path, env, clock, playbooks={"canary.yaml": PLAYBOOK}
        ) as slack:
            await slack.command("canary-leak")
            await slack.click("Run", 1, user="U0ALICE")
            steps = await slack.deps.store.steps(1)
            thread = slack.thread(1)
        logs = capsys.readouterr().err
    finally:
        configure_logging(level="INFO", json=False, redact=Redactor())  # as tests/conftest.py

    # Every step ran, with the secret in hand, and sent it where it was placed.
    assert len(steps) == STEPS
    assert [s.step_id for s in steps if s.status.value == "failed"] == [
        "echoed_by_a_500",
        "in_the_query",
        "in_the_user_info",
        *(f"print_{form.lower()}{'_upper' if form == 'HEX' else ''}" for form in FORMS),
    ]
    sent = json.dumps([[r.path, r.query, r.headers, r.body.decode()] for r in stub_server.requests])
    assert set(readable_in(sent, CANARY)) == {"as itself", "URL-encoded", "base64"}
    assert stub_server.calls("GET", "/missing")[0].query["token"][0].startswith("canary-")
    assert any("leaking ***" in line for line in thread)

    slack_calls = json.dumps(
        [[c.method, c.args, c.headers] for c in [*fake_slack.calls, *fake_slack.responses]]
    )
    assert readable_in(slack_calls, CANARY) == []
    assert "/missing?token=*** " in logs  # httpx logs each request's URL
    assert readable_in(logs, CANARY) == []
    assert readable_in(_database_text(tmp_path / "chatops.db"), CANARY) == []

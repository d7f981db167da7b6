"""Start-up stays lean: the console and the server answer without importing what they never
use (rich, pygments, click, alembic, mako), with garbage collection running again once they
are up, and log lines read the same without rich."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
NEVER_AT_START = ("alembic", "click", "mako", "pygments", "rich")

# Runs the command line as the `chatops` script does, and reports at exit which of the
# modules above were imported and whether the garbage collector runs.
_DRIVER = textwrap.dedent(
    """
    import atexit, gc, sys
    watched = sys.argv[1].split(",")
    report = lambda: ",".join(name for name in watched if name in sys.modules)
    atexit.register(lambda: print("imported:", report(), file=sys.stderr))
    atexit.register(lambda: print("collecting:", gc.isenabled(), file=sys.stderr))
    sys.argv = ["chatops", *sys.argv[2:]]
    from app.cli import main
    main()
    """
)


def _environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CHATOPS_", "SLACK_", "TELEGRAM_")) and name != "DATABASE_URL"
    }
    return {**env, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chatops.db", **extra}


def _imported(stderr: str) -> list[str]:
    [line] = [line for line in stderr.splitlines() if line.startswith("imported:")]
    return [name for name in line.removeprefix("imported:").strip().split(",") if name]


def _collecting(stderr: str) -> bool:
    return "collecting: True" in stderr.splitlines()


@pytest.mark.parametrize("database", ["empty", "at head"])
def test_the_console_answers_without_optional_modules(tmp_path: Path, database: str) -> None:
    env = _environ(tmp_path)
    if database == "at head":
        subprocess.run(
            [sys.executable, "-m", "app.cli", "db", "upgrade"], env=env, cwd=ROOT, check=True
        )
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, ",".join(NEVER_AT_START), "shell", "--user", "alice"],
        input="/playbook list\n:quit\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "clear-cache" in done.stdout
    assert _imported(done.stderr) == []
    assert _collecting(done.stderr)


def test_the_server_is_ready_without_optional_modules(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _environ(tmp_path, CHATOPS_PORT=str(port), CHATOPS_HOST="127.0.0.1")
    watched = [name for name in NEVER_AT_START if name != "click"]  # uvicorn's own import
    server = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, ",".join(watched), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    ready = False
    try:
        deadline = time.monotonic() + 30
        while not ready and time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
            except httpx.TransportError:
                time.sleep(0.05)
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert ready, stderr
    assert server.returncode == 0, stderr
    assert _imported(stderr) == []
    assert _collecting(stderr)


_LOG_LINES = textwrap.dedent(
    """
    import sys
    if sys.argv[1] == "lean":
        from bot.startup import import_lean
        import_lean()
    import logging
    import structlog
    from bot.logs import configure_logging
    from playbooks.secrets import Redactor

    for json in (False, True):
        configure_logging(level="INFO", json=json, redact=Redactor(["hunter2"]))
        log = structlog.get_logger("test")
        log.warning("hello", token="hunter2", count=3)
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("boom")
        logging.getLogger("library").warning("from %s", "stdlib")
    print("rich" in sys.modules, file=sys.stderr)
    """
)


def test_log_lines_read_the_same_without_rich() -> None:
    def lines(mode: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _LOG_LINES, mode],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=True,
        )
        # Timestamps differ from run to run; everything after them must not.
        return [line.split("Z", 1)[-1] for line in done.stderr.splitlines()]

    lean, full = lines("lean"), lines("full")
    assert lean[-1] == "False"
    assert full[-1] == "True"
    assert lean[:-1] == full[:-1]
    assert lean[0] == " [warning  ] hello                          count=3 token=***"
    assert lean[2:4] == [
        "Traceback (most recent call last):",
        '  File "<string>", line 16, in <module>',
    ]


_PHASES = textwrap.dedent(
    """
    import gc, weakref
    from bot import startup

    class Node:
        def __init__(self):
            self.me = self  # a cycle: only the collector frees it

    def garbage():
        return weakref.ref(Node())

    startup.begin()
    assert not gc.isenabled()
    while_importing = garbage()
    startup.imports_done()
    while_starting = garbage()
    startup.settle()
    assert gc.isenabled()
    assert while_starting() is None  # freed when start-up settles
    assert while_importing() is not None  # frozen with the modules, by design
    """
)


def test_collection_pauses_while_starting_and_resumes_when_settled() -> None:
    subprocess.run([sys.executable, "-c", _PHASES], cwd=ROOT, timeout=60, check=True)

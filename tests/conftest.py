"""Every test logs as the bot does: structlog's plain lines, not the rich tracebacks of its
development defaults (each of which takes a fraction of a second to render)."""

from bot.logs import configure_logging
from playbooks.secrets import Redactor

pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.databases",
    "tests.support.console",
    "tests.support.fake_slack",
    "tests.support.fake_telegram",
]

configure_logging(level="INFO", json=False, redact=Redactor())

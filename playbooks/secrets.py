"""Secrets come from the environment only; every value that could leak is redacted."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["REDACTED", "Redactor", "is_secret_name"]

REDACTED = "***"

# Variables whose names say they hold a secret; their values are redacted everywhere and
# templates must read them through ``secrets.NAME`` rather than ``env.NAME``.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|API_?KEY|_KEY$", re.I)
# Passwords embedded in URLs (``postgresql://user:pw@host``) are secrets even in plain variables.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@/\s]+)(?=@)", re.I)
# Values shorter than this are not redacted: a two-letter "secret" would blank half a message.
_MIN_SECRET_LENGTH = 4


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret."""
    return bool(_SECRET_NAME.search(name))


class Redactor:
    """Replaces known secret values (and URL passwords) with ``***`` in any text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        """A redactor for every secret-named variable of ``environ`` (default: os.environ)."""
        env = os.environ if environ is None else environ
        return cls(value for name, value in env.items() if is_secret_name(name))

    def add(self, *values: str) -> None:
        fresh = {v for v in values if len(v) >= _MIN_SECRET_LENGTH} - self._values
        if fresh:
            self._values |= fresh
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        return _URL_PASSWORD.sub(lambda m: m.group("scheme") + REDACTED, text)

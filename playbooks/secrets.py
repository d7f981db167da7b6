"""Secrets come from the environment only; every value that could leak is redacted.

A :class:`Redactor` replaces with ``***`` every known secret value — as itself, URL-encoded,
hex-encoded and base64-encoded (either alphabet, padded or not, on its own or inside a longer
base64 text) — and every password in a URL's user-info (``postgresql://app:pw@db``).

Redaction is linear in the text it scans: no match attempt ever rescans characters an earlier
attempt scanned, so a megabyte of hostile text (``xxxx…``, ``a://a://…``) costs what a
megabyte of prose does (``bench/redaction.py`` measures it).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["REDACTED", "Redactor", "is_secret_name"]

REDACTED = "***"

# Variables whose names say they hold a secret; their values are redacted everywhere and
# templates must read them through ``secrets.NAME`` rather than ``env.NAME``.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|API_?KEY|_KEY$", re.I)
# Passwords embedded in URLs (``postgresql://user:pw@host``, ``redis://:pw@host``) are secrets
# even in plain variables. A match is tried from a ``://`` that follows a scheme character,
# not from the scheme: a scheme tried at every letter of a long word rescanned the rest of the
# word each time (quadratic). From ``://`` the user stops at the first ``:``, ``/`` or ``@`` and
# the password at the first ``/`` or ``@``; the next attempt's ``://`` holds both ``:`` and
# ``/``, so no two attempts scan the same characters.
_URL_PASSWORD = re.compile(r"(?<=[A-Za-z0-9+.-])(?P<head>://[^:/@\s]*:)[^@/\s]+(?=@)")
_URL_REPLACEMENT = r"\g<head>" + REDACTED
# The user-info of a URL cut short: its password may go on past the cut.
_CUT_USERINFO = re.compile(r"[^:/@\s]*:[^@/\s]+")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
# Values shorter than this are not redacted: a two-letter "secret" would blank half a message.
_MIN_SECRET_LENGTH = 4
# Encodings of shorter values are short enough to turn up in ordinary output by chance.
_MIN_ENCODED_LENGTH = 8
_BASE64_EITHER = {"+": "[+-]", "/": "[/_]"}  # the standard and the URL-safe alphabet


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret."""
    return bool(_SECRET_NAME.search(name))


@dataclass(frozen=True)
class _Form:
    """A regular expression for one written form of a secret, and how long its matches are."""

    regex: str
    shortest: int
    longest: int


class Redactor:
    """Replaces known secret values (in their common encodings too) and URL passwords with
    ``***`` in any text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._reach = 0  # the longest text one match of the pattern can cover
        self.add(*secrets)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        """A redactor for every secret-named variable of ``environ`` (default: os.environ)."""
        env = os.environ if environ is None else environ
        return cls(value for name, value in env.items() if is_secret_name(name))

    def add(self, *values: str) -> None:
        """Redact ``values`` too (those shorter than four characters are ignored)."""
        fresh = {v for v in values if len(v) >= _MIN_SECRET_LENGTH} - self._values
        if not fresh:
            return
        self._values |= fresh
        forms = {form.regex: form for value in self._values for form in _forms(value)}
        # Longest first, so a secret that contains another is replaced whole. The alternation
        # stays linear: each alternative is a fixed sequence of characters (or of small
        # character sets), so one attempt costs at most the length of the longest form.
        ordered = sorted(forms.values(), key=lambda form: form.shortest, reverse=True)
        self._pattern = re.compile("|".join(form.regex for form in ordered))
        self._reach = max(form.longest for form in ordered)

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        return _URL_PASSWORD.sub(_URL_REPLACEMENT, text)

    def head(self, text: str, limit: int) -> tuple[str, int]:
        """The first ``limit`` characters of ``text``, redacted, and how many characters
        after them were left out.

        Only the head is scanned (plus the length of the longest secret form), so a huge text
        costs no more than a short one. A secret that begins before the cut is left out whole,
        and a URL password cut short is hidden too: the cut never shows part of a secret.
        """
        if len(text) <= limit:
            return self(text), 0
        kept: list[str] = []
        end = limit
        if self._pattern is not None:
            window = text[: limit + self._reach]
            position = 0
            for match in self._pattern.finditer(window):
                if match.start() >= limit:
                    break
                kept += [window[position : match.start()], REDACTED]
                position = match.end()
            kept.append(window[position:limit])
            end = max(position, limit)
        else:
            kept.append(text[:limit])
        shown = _URL_PASSWORD.sub(_URL_REPLACEMENT, "".join(kept))
        return _hide_cut_password(shown), len(text) - end


def _hide_cut_password(head: str) -> str:
    """``head`` with the password of a URL it ends in the middle of replaced: the rest of
    that URL, and whether an ``@`` follows, was cut off."""
    start = head.rfind("://")
    if start < 1 or head[start - 1] not in _SCHEME_CHARS:
        return head
    userinfo = head[start + 3 :]
    if not _CUT_USERINFO.fullmatch(userinfo):
        return head
    user = userinfo.partition(":")[0]
    return f"{head[: start + 3]}{user}:{REDACTED}"


def _forms(value: str) -> list[_Form]:
    """Every form of ``value`` to redact: as typed or URL-encoded, and (long enough) as hex
    and base64."""
    forms = [_typed_or_url_encoded(value)]
    if len(value) >= _MIN_ENCODED_LENGTH:
        data = value.encode("utf-8", "surrogateescape")
        hexed = data.hex()
        forms += [_literal(hexed), _literal(hexed.upper()), *_base64_forms(data)]
    return forms


def _literal(text: str) -> _Form:
    return _Form(re.escape(text), len(text), len(text))


def _typed_or_url_encoded(value: str) -> _Form:
    """``value`` with each character as itself or percent-encoded (either case of hex
    digits; a space as ``+`` too), so that any mix of the two matches."""
    parts: list[str] = []
    longest = 0
    for char in value:
        encoded = quote(char, safe="", errors="surrogateescape")
        longest += len(encoded)
        if encoded == char:
            parts.append(re.escape(char))
            continue
        options = [re.escape(char), _any_case_hex(encoded)]
        if char == " ":
            options.append(r"\+")
        parts.append("(?:" + "|".join(options) + ")")
    return _Form("".join(parts), len(value), longest)


def _any_case_hex(encoded: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in encoded)


def _base64_forms(data: bytes) -> list[_Form]:
    """``data`` in base64 at each of the three offsets it may sit at inside a longer text.

    Base64 writes 6 bits a character, so what ``data`` becomes depends on how many bytes come
    before it (modulo 3). For each offset, the form is the run of characters made only of
    ``data``'s bits; on its own (offset 0) the encoding also ends with a character padded
    with zero bits and, optionally, ``=`` signs.
    """
    forms: list[_Form] = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        start = -(-4 * offset // 3)  # the first character with no bit of the bytes before
        end = 8 * (offset + len(data)) // 6  # past the last character made of data's bits only
        regex = "".join(_BASE64_EITHER.get(c, c) for c in encoded[start:end])
        unpadded = encoded.rstrip("=")
        if offset == 0 and end < len(unpadded):
            regex += f"(?:{re.escape(unpadded[end])}={{0,2}})?"
        forms.append(_Form(regex, end - start, len(encoded) - start))
    return forms

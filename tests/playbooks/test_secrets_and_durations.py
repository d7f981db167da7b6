"""Redacting secrets from anything shown, and reading human durations."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest
from pydantic import BaseModel, ValidationError

from playbooks.durations import Duration, format_duration, parse_duration
from playbooks.secrets import Redactor, is_secret_name

# --- redaction -----------------------------------------------------------------------------


def test_every_known_secret_is_replaced() -> None:
    redact = Redactor(["xoxb-slack-token", "hunter22"])

    assert redact("token xoxb-slack-token, password hunter22, again xoxb-slack-token") == (
        "token ***, password ***, again ***"
    )


def test_a_secret_that_contains_another_is_replaced_whole() -> None:
    redact = Redactor(["secret-one", "secret-one-two"])

    assert redact("a secret-one-two b secret-one c") == "a *** b *** c"
    assert "-two" not in redact("secret-one-two")


def test_secrets_added_later_are_redacted_too() -> None:
    redact = Redactor()
    assert redact("tok-abcdef") == "tok-abcdef"

    redact.add("tok-abcdef")

    assert redact("Bearer tok-abcdef") == "Bearer ***"


def test_very_short_values_are_not_treated_as_secrets() -> None:
    redact = Redactor(["ab", "yes"])

    assert redact("ab yes abc") == "ab yes abc"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:pw@h", "postgresql://u:***@h"),
        (
            "connecting to postgresql+psycopg://app:s3cr3t@db.internal:5432/app",
            "connecting to postgresql+psycopg://app:***@db.internal:5432/app",
        ),
        ("https://deploy:p%40ss@git.internal/repo.git", "https://deploy:***@git.internal/repo.git"),
        ("http://es.internal:9200/_cache/clear", "http://es.internal:9200/_cache/clear"),
    ],
)
def test_passwords_in_urls_are_redacted(text: str, shown: str) -> None:
    assert Redactor()(text) == shown


def test_an_at_sign_after_the_path_is_not_a_password() -> None:
    text = "GET http://es.internal:9200/_search?q=owner@example.com returned 200"

    assert Redactor()(text) == text


def test_a_password_after_an_empty_user_name_is_redacted() -> None:
    assert Redactor()("redis://:s3cr3t@cache:6379/0") == "redis://:***@cache:6379/0"


# Inputs that made the URL-password pattern rescan the rest of the text from every position:
# 8,000 characters took 0.27 s, so a megabyte would take most of an hour. Linear now, each
# takes milliseconds (bench/redaction.py times them).
MEGABYTE = 1_000_000


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("x" * MEGABYTE, "x" * MEGABYTE),
        ("a:" * (MEGABYTE // 2), "a:" * (MEGABYTE // 2)),
        ("a://b:" * (MEGABYTE // 6), "a://b:" * (MEGABYTE // 6)),
        ("a://" + "b" * MEGABYTE, "a://" + "b" * MEGABYTE),
        ("a://b:" + "c:" * MEGABYTE, "a://b:" + "c:" * MEGABYTE),
        ("@" * MEGABYTE, "@" * MEGABYTE),
        ("a://b:c@" * (MEGABYTE // 8), "a://b:***@" * (MEGABYTE // 8)),
        ("a://b:" + "@" * MEGABYTE, "a://b:" + "@" * MEGABYTE),
        ("db postgresql://app:" + "p" * MEGABYTE + "@db", "db postgresql://app:***@db"),
        ("x" * MEGABYTE + " https://u:pw@h", "x" * MEGABYTE + " https://u:***@h"),
    ],
    ids=[
        "a long word",
        "a: repeated",
        "a://b: repeated",
        "a long user name",
        "a long password with no @",
        "only @",
        "a URL with a password, repeated",
        "@ after a user",
        "a long password",
        "a URL after a long word",
    ],
)
def test_a_megabyte_of_hostile_text_is_redacted_correctly(text: str, shown: str) -> None:
    assert Redactor(["xoxb-1234567890-abcdef"])(text) == shown


def test_a_megabyte_that_almost_repeats_a_secret_is_scanned_once() -> None:
    redact = Redactor(["aaaaaaaaaaaaaaab"])

    assert redact("a" * MEGABYTE) == "a" * MEGABYTE
    assert redact("a" * MEGABYTE + "b") == "a" * (MEGABYTE - 15) + "***"


# --- a secret in its common encodings ------------------------------------------------------

CANARY = "canary-p@ss w/rd+Zq9~é"
CANARY_BYTES = CANARY.encode()
ENCODINGS: dict[str, Callable[[str], str]] = {
    "as itself": lambda s: s,
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64 without padding": lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
    "URL-safe base64": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "URL-safe base64 without padding": (
        lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
    ),
    "hex": lambda s: s.encode().hex(),
    "upper-case hex": lambda s: s.encode().hex().upper(),
    "URL-encoded": lambda s: quote(s, safe=""),
    "URL-encoded, / kept": quote,
    "form-encoded": lambda s: quote_plus(s, safe=""),
    "URL-encoded, lower-case hex": (
        lambda s: "".join(
            p if len(p) != 3 else p.lower() for p in _percent_split(quote(s, safe=""))
        )
    ),
}


def _percent_split(encoded: str) -> list[str]:
    """``%2F`` escapes and single characters, in order."""
    parts: list[str] = []
    index = 0
    while index < len(encoded):
        step = 3 if encoded[index] == "%" else 1
        parts.append(encoded[index : index + step])
        index += step
    return parts


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_secret_is_redacted_in_its_common_encodings(encoding: str) -> None:
    written = ENCODINGS[encoding](CANARY)

    assert Redactor([CANARY])(f"got {written} back") == "got *** back"


@pytest.mark.parametrize("before", [b"", b"u", b"us", b"user:", b"Authorization: Bearer "])
def test_a_secret_inside_a_longer_base64_text_is_redacted(before: bytes) -> None:
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(before + CANARY_BYTES + b" and more").decode()

        shown = Redactor([CANARY])(encoded)

        # Base64 writes 6 bits a character: only the characters made of bits of what comes
        # before or after the secret (and the one that mixes both) are still shown.
        head, stars, tail = shown.partition("***")
        assert stars
        assert encoded.startswith(head)
        assert len(head) <= -(-len(before) * 8 // 6)
        assert encoded.endswith(tail)
        assert len(tail) <= len(encoded) - (len(before) + len(CANARY_BYTES)) * 8 // 6


def test_the_encodings_of_a_short_secret_are_left_alone() -> None:
    # An 8-hex-digit or 6-letter base64 run turns up in ordinary output by chance.
    redact = Redactor(["abc123"])

    assert redact("abc123 616263313233 YWJjMTIz") == "*** 616263313233 YWJjMTIz"


# --- the head of a long text ---------------------------------------------------------------


def test_the_head_of_a_long_text_is_redacted_and_says_what_was_left_out() -> None:
    redact = Redactor(["hunter2-secret"])
    text = "pw hunter2-secret " + "x" * MEGABYTE

    assert redact.head(text, 20) == ("pw *** xx", len(text) - 20)
    assert redact.head("short hunter2-secret", 100) == ("short ***", 0)


def test_a_secret_cut_by_the_head_is_left_out_whole() -> None:
    redact = Redactor(["hunter2-secret"])
    text = "x" * 10 + "hunter2-secret" + "y" * 100

    head, left_out = redact.head(text, 15)

    assert head == "x" * 10 + "***"
    assert left_out == 100


@pytest.mark.parametrize("encoding", ["base64", "hex", "URL-encoded"])
def test_an_encoded_secret_cut_by_the_head_is_left_out_whole(encoding: str) -> None:
    written = ENCODINGS[encoding](CANARY)
    text = "x" * 10 + written + "y" * 100

    head, left_out = Redactor([CANARY]).head(text, 12)

    assert head == "x" * 10 + "***"
    assert left_out == 100


def test_a_url_password_cut_by_the_head_is_hidden() -> None:
    text = "connecting to postgresql://app:correct-horse-battery@db/app"

    head, left_out = Redactor().head(text, 40)

    assert head == "connecting to postgresql://app:***"
    assert left_out == len(text) - 40


def test_from_environ_picks_secret_looking_names_only() -> None:
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-1234",
        "DB_PASSWORD": "hunter22",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
        "OPENAI_API_KEY": "sk-abcdef",
        "ES_URL": "http://es.internal",
        "HOME": "/home/chatops",
        "KEYBOARD": "qwerty",
    }

    redact = Redactor.from_environ(environ)

    assert (
        redact(" ".join(environ.values()))
        == "*** *** *** *** http://es.internal /home/chatops qwerty"
    )


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("SLACK_BOT_TOKEN", True),
        ("SLACK_SIGNING_SECRET", True),
        ("DB_PASSWORD", True),
        ("DB_PASSWD", True),
        ("GPG_PRIVATE", True),
        ("GOOGLE_CREDENTIALS", True),
        ("APIKEY", True),
        ("X_API_KEY", True),
        ("SSH_KEY", True),
        ("ES_URL", False),
        ("MONKEY", False),
        ("KEY_ID", False),
        ("DATABASE_URL", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("2d", 172800.0),
        ("45", 45.0),
        (12, 12.0),
        (0.5, 0.5),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.25, "250ms"),
        (45, "45s"),
        (60, "1m"),
        (90, "1m 30s"),
        (5400, "1h 30m"),
        (3661, "1h 1m 1s"),
        (86400, "24h"),
    ],
)
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5x", "expected a duration such as 30s, 5m or 1h30m, got '5x'"),
        ("1m30", "expected a duration such as 30s, 5m or 1h30m, got '1m30'"),
        ("-5s", "expected a duration such as 30s, 5m or 1h30m, got '-5s'"),
        ("", "expected a duration such as 30s, 5m or 1h30m, got ''"),
        (-1, "a duration cannot be negative"),
        (True, "a duration cannot be true/false"),
        (None, "expected a duration such as 30s or 5m, got None"),
    ],
)
def test_bad_durations_say_why(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="duration") as caught:
        parse_duration(value)

    assert str(caught.value) == message


def test_duration_fields_accept_human_text() -> None:
    class Timeout(BaseModel):
        after: Duration

    assert Timeout.model_validate({"after": "2m"}).after == 120.0
    with pytest.raises(ValidationError) as caught:
        Timeout.model_validate({"after": "soon"})
    assert "expected a duration such as 30s, 5m or 1h30m, got 'soon'" in str(caught.value)

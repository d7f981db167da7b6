"""Redacting secrets from anything shown, and reading human durations."""

from __future__ import annotations

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

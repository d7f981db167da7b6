"""The YAML config file: defaults, a full file, and errors that name the file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config import ChannelIds, Config, ConfigError, Connection, RoleMembers, load_config


def write(folder: Path, text: str, name: str = "chatops.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.reason


def test_no_file_means_the_defaults() -> None:
    config = load_config(None)

    assert config == Config()
    assert config.roles == {}
    assert config.channels == {}
    assert config.playbook_dirs == []
    assert config.connections == {}
    assert config.engine.max_output_chars == 4000
    assert config.engine.stale_after == 60.0
    assert config.source == "built-in defaults"


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "")

    assert load_config(path).roles == {}


def test_a_full_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        roles:
          sre:
            slack: [U012AB3CD, S0614TZR7]
            telegram: [123456789]
            shell: [alice]
          sre-lead: {slack: [U0LEAD]}
        channels:
          fintech-reports: {slack: C0123REPORTS, telegram: -1001234567890}
          incidents: {shell: incidents}
        connections:
          app: {url_env: APP_DATABASE_URL}
        playbook_dirs: [playbooks, /srv/chatops/playbooks]
        engine:
          heartbeat_every: 5s
          default_step_timeout: 10m
        """,
    )

    config = load_config(path)

    assert config.roles == {
        "sre": RoleMembers(slack=["U012AB3CD", "S0614TZR7"], telegram=[123456789], shell=["alice"]),
        "sre-lead": RoleMembers(slack=["U0LEAD"]),
    }
    assert config.channels == {
        "fintech-reports": ChannelIds(slack="C0123REPORTS", telegram=-1001234567890),
        "incidents": ChannelIds(shell="incidents"),
    }
    assert config.connections == {"app": Connection(url_env="APP_DATABASE_URL")}
    assert config.playbook_dirs == [tmp_path / "playbooks", Path("/srv/chatops/playbooks")]
    assert config.engine.heartbeat_every == 5.0
    assert config.engine.default_step_timeout == 600.0
    assert config.source == str(path)


def test_relative_playbook_dirs_resolve_against_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc" / "chatops"
    folder.mkdir(parents=True)
    path = write(folder, "playbook_dirs: [playbooks, ../shared, /opt/playbooks]\n")

    assert load_config(path).playbook_dirs == [
        folder / "playbooks",
        folder / "../shared",
        Path("/opt/playbooks"),
    ]


# --- errors --------------------------------------------------------------------------------


def test_an_unknown_field_names_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        roles: {}
        channels: {}
        colour: blue
        """,
    )

    assert config_error(path) == f"{path}:3: colour: Extra inputs are not permitted"


def test_an_unknown_nested_field_names_its_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        roles:
          sre:
            slack: [U012AB3CD]
            email: [sre@example.com]
        """,
    )

    assert config_error(path) == f"{path}:4: roles.sre.email: Extra inputs are not permitted"


def test_a_wrong_type_names_the_item(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        roles:
          sre:
            telegram: [123, alice]
        """,
    )

    assert config_error(path) == (
        f"{path}:3: roles.sre.telegram[1]: Input should be a valid integer,"
        " unable to parse string as an integer"
    )


def test_a_bad_duration_reads_plainly(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        engine:
          stale_after: later
        """,
    )

    assert config_error(path) == (
        f"{path}:2: engine.stale_after: expected a duration such as 30s, 5m or 1h30m, got 'later'"
    )


def test_a_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        roles: {}
        slack_bot_token: xoxb-1234-5678-abcdef
        """,
    )

    reason = config_error(path)

    assert reason == (
        f"{path}:2: slack_bot_token: secrets are read from the environment,"
        " never from the config file"
    )
    assert "xoxb" not in reason


def test_a_nested_secret_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        connections:
          app:
            url_env: APP_DATABASE_URL
            password: hunter22
        """,
    )

    assert config_error(path) == (
        f"{path}:4: connections.app.password: secrets are read from the environment,"
        " never from the config file"
    )


def test_a_secret_inside_a_list_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        webhooks:
          - url: http://hooks.internal
            api_key: abc123
        """,
    )

    assert config_error(path).splitlines() == [
        f"{path}:1: webhooks: Extra inputs are not permitted",
        f"{path}:3: webhooks[0].api_key: secrets are read from the environment,"
        " never from the config file",
    ]


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "roles:\n  sre: [\n")

    assert config_error(path) == (
        f"{path}:3: invalid YAML: expected the node content, but found '<stream end>'"
    )


def test_a_key_written_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "roles: {}\nchannels: {}\nroles: {}\n")

    assert config_error(path) == f"{path}:3: roles: this key appears twice"


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- roles\n")

    assert config_error(path) == f"{path}:1: the config file is a mapping"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"

    assert config_error(path) == f"{path}: cannot read: No such file or directory"


# --- connections ---------------------------------------------------------------------------


def test_a_connection_url_comes_from_its_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "connections:\n  app: {url_env: APP_DATABASE_URL}\n")
    config = load_config(path)

    url = config.connection_url("app", {"APP_DATABASE_URL": "postgresql://app@db/app"})

    assert url == "postgresql://app@db/app"


def test_an_unknown_connection_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        connections:
          app: {url_env: APP_DATABASE_URL}
          warehouse: {url_env: WAREHOUSE_URL}
        """,
    )
    config = load_config(path)

    with pytest.raises(ConfigError) as caught:
        config.connection_url("billing", {})

    assert caught.value.reason == (
        f"no connection named `billing` in {path} (known: app, warehouse)"
    )


def test_without_a_config_there_are_no_connections() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None).connection_url("app", {})

    assert caught.value.reason == (
        "no connection named `app` in built-in defaults (known: none configured)"
    )


@pytest.mark.parametrize("environ", [{}, {"APP_DATABASE_URL": ""}])
def test_an_unset_connection_variable_is_named(tmp_path: Path, environ: dict[str, str]) -> None:
    path = write(tmp_path, "connections:\n  app: {url_env: APP_DATABASE_URL}\n")
    config = load_config(path)

    with pytest.raises(ConfigError) as caught:
        config.connection_url("app", environ)

    assert caught.value.reason == (
        "connection `app` reads its URL from APP_DATABASE_URL, which is not set"
    )


def test_every_problem_is_reported_at_once_sorted_by_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        roles:
          sre: {slack: [U012AB3CD], email: [sre@example.com]}
        colour: blue
        engine:
          stale_after: later
        connections:
          app: {url_env: APP_DATABASE_URL, password: hunter22}
        """,
    )

    reason = config_error(path)

    assert reason.splitlines() == [
        f"{path}:2: roles.sre.email: Extra inputs are not permitted",
        f"{path}:3: colour: Extra inputs are not permitted",
        f"{path}:5: engine.stale_after: expected a duration such as 30s, 5m or 1h30m, got 'later'",
        f"{path}:7: connections.app.password: secrets are read from the environment,"
        " never from the config file",
    ]
    assert "hunter22" not in reason


def test_the_telegram_chats_served_are_listed_by_id(tmp_path: Path) -> None:
    assert load_config(None).telegram.allowed_chats == []
    path = write(tmp_path, "telegram: {allowed_chats: [-1001234567890, 111111111]}\n")
    assert load_config(path).telegram.allowed_chats == [-1001234567890, 111111111]
    wrong = write(tmp_path, "telegram:\n  allowed_chats: [incidents]\n", "wrong.yaml")
    assert config_error(wrong) == (
        f"{wrong}:2: telegram.allowed_chats[0]: Input should be a valid integer,"
        " unable to parse string as an integer"
    )

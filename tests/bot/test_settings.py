"""Settings: read once; a missing or malformed value names the variable and where to get it."""

from __future__ import annotations

import pytest

from bot.errors import SettingsError
from bot.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout


def test_defaults_point_at_the_real_services() -> None:
    settings = load_settings()
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.x_api_url == "https://api.twitter.com"
    assert settings.x_intake == "poll" and settings.poll_seconds == 10
    assert not settings.socket_mode


def test_missing_slack_token_names_the_variable_and_where_to_get_it() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings().require("worker")
    message = str(raised.value)
    assert "SLACK_BOT_TOKEN is not set" in message
    assert "OAuth & Permissions" in message


def test_web_needs_the_signing_secret_unless_in_socket_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is not set"):
        load_settings().require("web")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    assert load_settings().require("web").socket_mode


def test_stream_intake_needs_the_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_INTAKE", "stream")
    with pytest.raises(SettingsError, match="X_BEARER_TOKEN is not set"):
        load_settings().require("listener")


@pytest.mark.parametrize(
    ("name", "value"),
    [("X_INTAKE", "firehose"), ("X_POLL_SECONDS", "soon"), ("X_POLL_SECONDS", "0"), ("PORT", "x")],
)
def test_malformed_values_are_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"{name} is not valid")
    assert repr(value) in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        (
            "DATABASE_URL",
            "postgres//roost:hunter2@db.internal/roost",
            "'postgres//…@db.internal/roost'",
        ),
        ("REDIS_URL", "cache:hunter2@localhost:6379", "'…@localhost:6379'"),
        ("REDIS_URL", "http://:hunter2@cache:6379/0", "'http://…@cache:6379/0'"),
        ("ROOST_METRICS_TOKEN", "   ", "a value (not shown)"),
    ],
)
def test_a_malformed_value_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, shown: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"{name} is not valid")
    assert shown in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_env_file_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\nX_POLL_SECONDS=30\n")
    settings = load_settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-file"
    assert settings.x_poll_seconds == 30


def test_secrets_stay_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("ROOST_SECRET_KEY", "key-very-secret")
    shown = repr(load_settings()) + str(load_settings())
    assert "very-secret" not in shown


def test_slack_base_url_gets_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("X_API_URL", "http://127.0.0.1:8/")
    settings = load_settings()
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.x_api_url == "http://127.0.0.1:8"


def test_the_poll_interval_follows_the_x_plan_unless_set() -> None:
    assert load_settings(_env_file=None).poll_seconds == 10
    # Basic allows 10 mentions reads an account each 15 minutes: one every 90 s.
    assert load_settings(_env_file=None, x_plan="basic").poll_seconds == 90
    assert load_settings(_env_file=None, x_plan="basic", x_poll_seconds=120).poll_seconds == 120
    assert load_settings(_env_file=None, x_poll_seconds=3).poll_seconds == 3


def test_a_poll_interval_faster_than_the_plan_is_used_as_given_with_a_warning() -> None:
    basic = load_settings(_env_file=None, x_plan="basic", x_poll_seconds=10)
    assert basic.poll_seconds == 10
    said = basic.poll_warning()
    assert said is not None and "90 times in 15 minutes" in said
    assert "X_PLAN=basic allows 10" in said and "429" in said
    assert load_settings(_env_file=None, x_plan="basic").poll_warning() is None
    assert load_settings(_env_file=None, x_plan=" Basic ").x_plan == "basic"
    with pytest.raises(SettingsError, match="X_PLAN"):
        load_settings(_env_file=None, x_plan="platinum")


def test_enterprise_is_exempt_from_the_self_serve_rules() -> None:
    assert load_settings(_env_file=None).self_serve
    assert not load_settings(_env_file=None, x_plan="enterprise").self_serve

"""The `roost` command, in-process and, for `roost run`, as a person would start it."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.cli import main
from bot.settings import Settings
from sandbox.bluesky_api import FakeBluesky
from sandbox.mastodon_api import FakeMastodon
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.db import make_engine
from tests.conftest import BRAND_CHANNEL, REPO_ROOT, wait_for
from tests.processes import free_port
from tests.test_processes import cards


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_x: FakeX) -> dict[str, str]:
    """A clean environment for Roost: SQLite and a key under tmp_path, the fake X."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no developer .env
    values = {
        "X_API_URL": fake_x.url,
        "ROOST_VAR_DIR": str(tmp_path / "var"),
        "ROOST_SECRET_KEY": Fernet.generate_key().decode(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture(autouse=True)
def keep_test_logging() -> Iterator[None]:
    """main() configures logging for a process; give pytest its handlers back."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], root.level = saved


def test_accounts_add_with_oauth2_looks_the_account_up_and_seals_its_tokens(
    env: dict[str, str], fake_x: FakeX, capsys: pytest.CaptureFixture[str]
) -> None:
    user = fake_x.add_user("brand", name="The Brand")
    token = fake_x.issue_token(user["id"])
    assert main(["db", "upgrade"]) == 0
    args = ["accounts", "add", "--handle", "@brand", "--channel", BRAND_CHANNEL]
    assert main([*args, f"--oauth2-access-token={token}"]) == 0
    assert f"@brand (X id {user['id']}) added; its mentions go to {BRAND_CHANNEL}." in (
        capsys.readouterr().out
    )
    database = (Path(env["ROOST_VAR_DIR"]) / "roost.db").read_bytes()
    assert token.encode() not in database
    # Adding it again updates it, with no second row.
    assert main([*args, f"--oauth2-access-token={fake_x.issue_token(user['id'])}"]) == 0
    assert "updated" in capsys.readouterr().out
    assert main(["accounts", "list"]) == 0
    assert capsys.readouterr().out.strip() == f"@brand\t{BRAND_CHANNEL}\tx (oauth2)\tactive"
    engine = make_engine(f"sqlite:///{Path(env['ROOST_VAR_DIR']) / 'roost.db'}")
    with engine.connect() as connection:
        kinds = connection.execute(text("SELECT kind FROM events ORDER BY id")).scalars().all()
    engine.dispose()
    assert kinds == ["account.added", "account.updated"]


def test_adding_an_account_again_forgets_the_old_tokens_expiry(
    env: dict[str, str], fake_x: FakeX
) -> None:
    """The new tokens' lifetime is unknown: keeping the old expiry had Roost refresh (or
    not) on the old tokens' schedule."""
    user = fake_x.add_user("brand")
    assert main(["db", "upgrade"]) == 0
    args = ["accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
    assert main([*args, f"--oauth2-access-token={fake_x.issue_token(user['id'])}"]) == 0
    engine = make_engine(f"sqlite:///{Path(env['ROOST_VAR_DIR']) / 'roost.db'}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE accounts SET token_expires_at = '2026-12-01 00:00:00'"))
    assert main([*args, f"--oauth2-access-token={fake_x.issue_token(user['id'])}"]) == 0
    with engine.connect() as connection:
        assert connection.execute(text("SELECT token_expires_at FROM accounts")).scalar() is None
    engine.dispose()


def test_tokens_can_come_from_standard_input(
    env: dict[str, str], fake_x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = fake_x.add_user("brand")
    main(["db", "upgrade"])
    monkeypatch.setattr("sys.stdin", io.StringIO(fake_x.issue_token(user["id"]) + "\n"))
    args = ["accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
    assert main([*args, "--oauth2-access-token", "-"]) == 0


def test_accounts_add_with_oauth1_keys(env: dict[str, str], fake_x: FakeX) -> None:
    user = fake_x.add_user("brand")
    consumer_key, consumer_secret, access_token, access_secret = fake_x.issue_oauth1(user["id"])
    main(["db", "upgrade"])
    code = main(
        ["accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
        # "=" keeps argparse from reading a key that starts with "-" as an option.
        + [f"--consumer-key={consumer_key}", f"--consumer-secret={consumer_secret}"]
        + [f"--access-token={access_token}", f"--access-token-secret={access_secret}"]
    )
    assert code == 0


def test_tokens_of_another_account_are_refused(
    env: dict[str, str], fake_x: FakeX, capsys: pytest.CaptureFixture[str]
) -> None:
    other = fake_x.add_user("other")
    main(["db", "upgrade"])
    args = ["accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
    assert main([*args, f"--oauth2-access-token={fake_x.issue_token(other['id'])}"]) == 1
    assert "These tokens belong to @other, not @brand" in capsys.readouterr().err


def test_a_revoked_token_is_refused_with_what_to_do(
    env: dict[str, str], fake_x: FakeX, capsys: pytest.CaptureFixture[str]
) -> None:
    user = fake_x.add_user("brand")
    token = fake_x.issue_token(user["id"])
    fake_x.revoke(token)
    main(["db", "upgrade"])
    args = ["accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
    assert main([*args, f"--oauth2-access-token={token}"]) == 1
    assert "revoked or has expired" in capsys.readouterr().err


def test_missing_channel_and_credentials_are_named(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["accounts", "add", "--handle", "brand", "--consumer-key", "k"]) == 2
    err = capsys.readouterr().err
    assert "--consumer-secret, --access-token, --access-token-secret" in err
    assert main(["accounts", "add", "--handle", "brand", "--oauth2-access-token", "t"]) == 2
    assert "ROOST_DEFAULT_CHANNEL" in capsys.readouterr().err


def test_a_process_without_its_settings_refuses_to_start(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("roost: cannot start.\nSLACK_BOT_TOKEN is not set")
    assert "sandbox" not in err  # a worker alone is a deployment's, not a first try's
    assert main(["run"]) == 2
    assert "with none of the SLACK_ settings starts the sandbox" in capsys.readouterr().err
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "a-secret")
    assert main(["run"]) == 2
    assert "sandbox" not in capsys.readouterr().err  # Slack half set up: finish it


def test_a_malformed_setting_refuses_to_start(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("X_INTAKE", "carrier-pigeon")
    assert main(["listen"]) == 2
    assert "X_INTAKE is not valid" in capsys.readouterr().err


def test_roost_run_posts_cards_for_mentions(
    env: dict[str, str], fake_x: FakeX, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """The README's run command on SQLite and the embedded Redis, against the fakes."""
    user = fake_x.add_user("brand")
    fake_x.add_user("jane", name="Jane Doe")
    port = free_port()
    run_env = {
        **os.environ,
        "SLACK_BOT_TOKEN": fake_slack.bot_token,
        "SLACK_SIGNING_SECRET": fake_slack.signing_secret,
        "SLACK_API_URL": fake_slack.url,
        "X_POLL_SECONDS": "1",
        "PORT": str(port),
    }
    roost = [sys.executable, "-m", "bot.cli"]
    subprocess.run([*roost, "db", "upgrade"], env=run_env, cwd=REPO_ROOT, check=True)
    subprocess.run(
        [*roost, "accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
        + [f"--oauth2-access-token={fake_x.issue_token(user['id'])}"],
        env=run_env,
        cwd=REPO_ROOT,
        check=True,
    )
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [*roost, "run"], env=run_env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        health = wait_for(lambda: _healthz(port), timeout=30, interval=0.2)
        assert health == {"database": "ok", "redis": "ok"}
        fake_x.post_mention("brand", author="jane", text="@brand does this work?")
        card = wait_for(lambda: cards(fake_slack), timeout=30, interval=0.1)[0]
        assert "@brand does this work?" in str(card["blocks"])
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "run.log").read_text()


def _healthz(port: int) -> dict[str, str] | None:
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except requests.ConnectionError:
        return None
    return answer.json() if answer.status_code == 200 else None


@pytest.mark.parametrize(
    ("name", "value"), [("DATABASE_URL", "postgres//nowhere"), ("REDIS_URL", "localhost:6379")]
)
def test_a_malformed_url_is_named(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["db", "upgrade"]) == 2
    assert f"{name} is not valid" in capsys.readouterr().err


def test_an_unmigrated_database_says_to_upgrade(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["accounts", "list"]) == 1
    assert "run `roost db upgrade` first" in capsys.readouterr().err


def test_an_unreachable_database_is_named(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://roost@127.0.0.1:1/roost?connect_timeout=2")
    assert main(["db", "upgrade"]) == 1
    assert "Is DATABASE_URL right, and the server up?" in capsys.readouterr().err


def test_grants_add_gives_a_role_asking_slack_for_the_workspace(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SLACK_API_URL", fake_slack.url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake_slack.bot_token)
    user = fake_x.add_user("brand")
    assert main(["db", "upgrade"]) == 0
    token = fake_x.issue_token(user["id"])
    add = ["accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
    assert main([*add, f"--oauth2-access-token={token}"]) == 0
    capsys.readouterr()

    grant = ["grants", "add", "--account", "@Brand", "--user", "U0AGENT"]
    assert main([*grant, "--role", "agent"]) == 0
    assert capsys.readouterr().out.strip() == "U0AGENT is now agent on @brand."
    assert main([*grant, "--role", "owner"]) == 0  # replaces the role, no second grant
    engine = make_engine(f"sqlite:///{Path(env['ROOST_VAR_DIR']) / 'roost.db'}")
    with engine.connect() as connection:
        grants = connection.execute(
            text(
                "SELECT m.team_id, m.user_id, g.role"
                " FROM grants g JOIN members m ON m.id = g.member_id"
            )
        ).all()
    engine.dispose()
    assert [tuple(g) for g in grants] == [(fake_slack.team_id, "U0AGENT", "owner")]

    assert (
        main(["grants", "add", "--account", "nobody", "--user", "U0AGENT", "--role", "agent"]) == 1
    )
    assert "No account @nobody" in capsys.readouterr().err
    assert main(["grants", "add", "--account", "brand", "--user", "bob", "--role", "agent"]) == 1
    assert "is not a Slack user id" in capsys.readouterr().err


def test_accounts_add_connects_bluesky_and_mastodon_accounts_with_their_secrets(
    env: dict[str, str],
    fake_bluesky: FakeBluesky,
    fake_mastodon: FakeMastodon,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_bluesky.add_account("acme.bsky.social", "app-pass-1234")
    _, token = fake_mastodon.add_account("acme")
    assert main(["db", "upgrade"]) == 0
    bluesky = ["accounts", "add", "--network", "bluesky", "--channel", BRAND_CHANNEL]
    bluesky += ["--handle", "@acme.bsky.social", "--service-url", fake_bluesky.url]
    assert main([*bluesky, "--app-password", "wrong"]) == 1
    assert "Bluesky refused the session" in capsys.readouterr().err
    assert main([*bluesky, "--app-password", "app-pass-1234"]) == 0
    assert "@acme.bsky.social on bluesky added" in capsys.readouterr().out

    mastodon = ["accounts", "add", "--network", "mastodon", "--channel", BRAND_CHANNEL]
    assert main([*mastodon, f"--access-token={token}"]) == 2
    assert "--service-url is missing" in capsys.readouterr().err
    assert main([*mastodon, f"--access-token={token}", "--service-url", "ftp://x"]) == 1
    assert "not an https address" in capsys.readouterr().err
    assert main([*mastodon, f"--access-token={token}", "--service-url", fake_mastodon.url]) == 0
    assert f"@acme@{fake_mastodon.domain} on mastodon added" in capsys.readouterr().out

    assert main(["accounts", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"bluesky ({fake_bluesky.url})" in listed and f"mastodon ({fake_mastodon.url})" in listed
    stored = make_engine(f"sqlite:///{env['ROOST_VAR_DIR']}/roost.db")
    with stored.connect() as connection:
        sealed = connection.execute(text("SELECT credentials FROM accounts")).scalars().all()
    stored.dispose()
    assert all("app-pass-1234" not in s and token not in s for s in sealed)


def test_roost_run_cards_bluesky_and_mastodon_mentions_period_after_period_once_each(
    env: dict[str, str],
    fake_x: FakeX,
    fake_slack: FakeSlack,
    fake_bluesky: FakeBluesky,
    fake_mastodon: FakeMastodon,
    tmp_path: Path,
) -> None:
    """The real processes read both networks every X_POLL_SECONDS, in their own thread
    beside X's stream (with X_INTAKE=poll the listener reads them as it reads X's, which
    the in-process tests and test_roost_run_posts_cards_for_mentions cover): two periods'
    mentions, each carded once."""
    fake_bluesky.add_account("acme.bsky.social", "app-pass-1234")
    fake_bluesky.add_account("mia.bsky.social", "pw")
    _, token = fake_mastodon.add_account("acme")
    port = free_port()
    run_env = {
        **os.environ,
        "SLACK_BOT_TOKEN": fake_slack.bot_token,
        "SLACK_SIGNING_SECRET": fake_slack.signing_secret,
        "SLACK_API_URL": fake_slack.url,
        "X_POLL_SECONDS": "1",
        "X_INTAKE": "stream",
        "X_BEARER_TOKEN": fake_x.app_bearer,
        "PORT": str(port),
    }
    roost = [sys.executable, "-m", "bot.cli"]
    subprocess.run([*roost, "db", "upgrade"], env=run_env, cwd=REPO_ROOT, check=True)
    add = [*roost, "accounts", "add", "--channel", BRAND_CHANNEL, "--network"]
    subprocess.run(
        [*add, "bluesky", "--handle", "acme.bsky.social", "--app-password", "app-pass-1234"]
        + ["--service-url", fake_bluesky.url],
        env=run_env,
        cwd=REPO_ROOT,
        check=True,
    )
    subprocess.run(
        [*add, "mastodon", f"--access-token={token}", "--service-url", fake_mastodon.url],
        env=run_env,
        cwd=REPO_ROOT,
        check=True,
    )
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [*roost, "run"], env=run_env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
    )

    def texts() -> list[str]:
        return [str(card["blocks"]) for card in cards(fake_slack)]

    try:
        wait_for(lambda: _healthz(port), timeout=30, interval=0.2)
        for period in ("first", "second"):
            fake_bluesky.post_mention("mia.bsky.social", f"@acme.bsky.social {period} on bsky")
            fake_mastodon.post_mention("mia@example.social", f"{period} on mastodon")
            wait_for(
                lambda p=period: all(  # type: ignore[misc]
                    any(f"{p} on {where}" in t for t in texts()) for where in ("bsky", "mastodon")
                ),
                timeout=30,
                interval=0.1,
            )
        wait_for(lambda: len(fake_bluesky.calls_to("/xrpc/app.bsky.notification")) >= 4, 10)
        assert len(texts()) == 4  # a later period read nothing twice
        assert sum("on Bluesky" in t for t in texts()) == 2
        assert sum("on Mastodon" in t for t in texts()) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "run.log").read_text()

"""Key rotation, and processes that refuse to start without the key their tokens need."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import Engine, select

from bot import clock
from bot.cli import main
from bot.crypto import TokenBox
from bot.errors import RoostError, SettingsError
from bot.settings import Settings
from bot.team.keys import check_key, rotate_all
from sandbox.x_api import FakeX
from storage.accounts import upsert_account
from storage.db import make_engine, session_factory
from storage.models import Account, Event
from tests.conftest import BRAND_CHANNEL

OLD = Fernet.generate_key()
NEW = Fernet.generate_key()


def settings_for(db_url: str, tmp_path: Path, *keys: bytes) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        roost_secret_key=SecretStr(",".join(key.decode() for key in keys)),
        roost_var_dir=tmp_path,
    )


def add_accounts(engine: Engine, sealed_by: dict[str, bytes]) -> dict[str, dict[str, str]]:
    """An account per handle, its tokens sealed with the given key; the tokens."""
    tokens = {}
    with session_factory(engine).begin() as session:
        for number, (handle, key) in enumerate(sealed_by.items(), start=1):
            tokens[handle] = {"access_token": f"token-of-{handle}"}
            upsert_account(
                session,
                x_user_id=number,
                handle=handle,
                name=handle,
                channel_id=BRAND_CHANNEL,
                auth_kind="oauth2",
                sealed_credentials=TokenBox([key]).seal(tokens[handle]),
                now=clock.now(),
            )
    return tokens


def sealed(engine: Engine) -> dict[str, str]:
    with session_factory(engine)() as session:
        found = session.execute(select(Account.handle, Account.credentials))
        return {handle: credentials for handle, credentials in found}


def events(engine: Engine, kind: str) -> list[Event]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind)))


def test_rotation_seals_every_token_with_the_newest_key(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    tokens = add_accounts(engine, {"brand": OLD, "other": OLD, "fresh": NEW})

    assert rotate_all(settings_for(db_url, tmp_path, NEW, OLD)) == 3

    for handle, stored in sealed(engine).items():
        assert TokenBox([NEW]).open(stored) == tokens[handle]
        with pytest.raises(RoostError):
            TokenBox([OLD]).open(stored)
    (rotated,) = events(engine, "keys.rotated")
    assert (rotated.actor, rotated.account_id, rotated.detail) == (None, None, {"count": 3})
    # Once rotated, the old key can go.
    check_key(settings_for(db_url, tmp_path, NEW))


def test_rotation_without_the_old_key_changes_nothing(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    add_accounts(engine, {"brand": OLD, "fresh": NEW})
    before = sealed(engine)
    with pytest.raises(
        SettingsError, match="ROOST_SECRET_KEY cannot open the tokens stored for @brand:"
    ):
        rotate_all(settings_for(db_url, tmp_path, NEW))
    assert sealed(engine) == before
    assert events(engine, "keys.rotated") == []


def test_a_key_that_cannot_open_the_tokens_is_refused_saying_what_to_do(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    add_accounts(engine, {"brand": OLD, "other": OLD, "fresh": NEW})
    check_key(settings_for(db_url, tmp_path, NEW, OLD))
    with pytest.raises(SettingsError) as refused:
        check_key(settings_for(db_url, tmp_path, NEW))
    assert str(refused.value) == (
        "ROOST_SECRET_KEY cannot open the tokens stored for @brand, @other: the key that sealed "
        "them is missing from it. Put that key back after the new one, comma-separated "
        "(ROOST_SECRET_KEY=NEW_KEY,OLD_KEY), then run `roost keys rotate` to re-encrypt every "
        "token with the newest key."
    )


# --- through the `roost` command -----------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_x: FakeX) -> Path:
    """A clean environment: SQLite under tmp_path, the fake X, the old key; the var dir."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setenv("X_API_URL", fake_x.url)
    monkeypatch.setenv("ROOST_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ROOST_SECRET_KEY", OLD.decode())
    return tmp_path / "var"


@pytest.fixture(autouse=True)
def keep_test_logging() -> Iterator[None]:
    """main() configures logging for a process; give pytest its handlers back."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], root.level = saved


@pytest.fixture
def brand_added(env: Path, fake_x: FakeX) -> str:
    """@brand added with `roost accounts add` under the old key; its token."""
    token = fake_x.issue_token(fake_x.add_user("brand")["id"])
    assert main(["db", "upgrade"]) == 0
    add = ["accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
    assert main([*add, f"--oauth2-access-token={token}"]) == 0
    return token


def test_roost_keys_rotate(
    env: Path,
    brand_added: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    monkeypatch.setenv("ROOST_SECRET_KEY", f"{NEW.decode()}, {OLD.decode()}")
    assert main(["keys", "rotate"]) == 0
    assert capsys.readouterr().out == "re-encrypted 1 account's tokens with the newest key\n"

    engine = make_engine(f"sqlite:///{env / 'roost.db'}")
    (stored,) = sealed(engine).values()
    (rotated,) = events(engine, "keys.rotated")
    engine.dispose()
    assert TokenBox([NEW]).open(stored) == {"access_token": brand_added}
    for key in (OLD, NEW):
        assert key.decode() not in str(rotated.detail)

    # Back to the old key alone: nothing starts, and the message says why.
    monkeypatch.setenv("ROOST_SECRET_KEY", OLD.decode())
    assert main(["listen"]) == 2
    assert capsys.readouterr().err.startswith(
        "roost: cannot start.\nROOST_SECRET_KEY cannot open the tokens stored for @brand"
    )


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that got past its checks fails the test instead of running for good."""

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("started despite the wrong key")

    monkeypatch.setattr("bot.wiring.runtime_from", started)
    monkeypatch.setattr(subprocess, "Popen", started)
    # Set, so that `roost run` starts no embedded Redis; nothing connects to it.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-used")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "not-used")


@pytest.mark.parametrize("process", ["web", "worker", "listen", "run"])
def test_a_wrong_key_refuses_to_start_naming_the_variable(
    brand_added: str,
    nothing_starts: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    process: str,
) -> None:
    capsys.readouterr()
    monkeypatch.setenv("ROOST_SECRET_KEY", Fernet.generate_key().decode())
    assert main([process]) == 2
    err = capsys.readouterr().err
    # `roost run` migrates first, and logs that; the refusal comes after.
    assert (
        "roost: cannot start.\nROOST_SECRET_KEY cannot open the tokens stored for @brand: "
        "the key that sealed them is missing from it."
    ) in err
    assert OLD.decode() not in err


@pytest.mark.parametrize("process", ["web", "worker", "listen", "run", ("keys", "rotate")])
def test_a_missing_key_with_a_shared_database_refuses_to_start(
    env: Path,
    nothing_starts: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    process: str | tuple[str, ...],
) -> None:
    monkeypatch.delenv("ROOST_SECRET_KEY")
    # Never reached: the missing key is found first.
    monkeypatch.setenv("DATABASE_URL", "postgresql://roost@127.0.0.1:1/roost")
    assert main([process] if isinstance(process, str) else list(process)) == 2
    assert capsys.readouterr().err.startswith(
        "roost: cannot start.\nROOST_SECRET_KEY is not set: with DATABASE_URL set it is required"
    )


def test_a_lost_local_key_is_named_too(
    env: Path,
    fake_x: FakeX,
    nothing_starts: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without ROOST_SECRET_KEY a key is kept in var/secret.key; losing it is explained."""
    monkeypatch.delenv("ROOST_SECRET_KEY")
    token = fake_x.issue_token(fake_x.add_user("brand")["id"])
    assert main(["db", "upgrade"]) == 0
    add = ["accounts", "add", "--handle", "brand", "--channel", BRAND_CHANNEL]
    assert main([*add, f"--oauth2-access-token={token}"]) == 0
    (env / "secret.key").unlink()
    capsys.readouterr()
    assert main(["worker"]) == 2
    assert "ROOST_SECRET_KEY is not set, and the local key in" in capsys.readouterr().err

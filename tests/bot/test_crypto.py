"""Tokens at rest: sealed with Fernet, rotatable, never shown."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.fernet import Fernet

from bot.crypto import TokenBox, token_box
from bot.errors import RoostError, SettingsError
from bot.settings import Settings


def settings(tmp_path, **values: object) -> Settings:
    return Settings(_env_file=None, roost_var_dir=tmp_path, **values)  # type: ignore[call-arg]


def test_seal_and_open() -> None:
    box = TokenBox([Fernet.generate_key()])
    sealed = box.seal({"access_token": "tok-secret"})
    assert "tok-secret" not in sealed
    assert box.open(sealed) == {"access_token": "tok-secret"}
    assert "keys hidden" in repr(box)


def test_newest_key_first_seals_and_old_keys_still_open() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    rotated = TokenBox([new, old])
    assert rotated.open(TokenBox([old]).seal({"a": "b"})) == {"a": "b"}
    assert TokenBox([new]).open(rotated.seal({"c": "d"})) == {"c": "d"}


def test_wrong_key_says_what_to_do() -> None:
    sealed = TokenBox([Fernet.generate_key()]).seal({"a": "b"})
    with pytest.raises(RoostError, match="Put the old key after the new one"):
        TokenBox([Fernet.generate_key()]).open(sealed)


def test_malformed_key_refuses_to_start(tmp_path) -> None:
    with pytest.raises(SettingsError, match="ROOST_SECRET_KEY is not valid"):
        token_box(settings(tmp_path, roost_secret_key="not-a-key"))


def test_local_key_is_generated_once_with_a_warning(tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        first = token_box(settings(tmp_path))
    assert "ROOST_SECRET_KEY is not set" in caplog.text
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0
    sealed = first.seal({"a": "b"})
    assert token_box(settings(tmp_path)).open(sealed) == {"a": "b"}


def test_shared_database_without_a_key_refuses_to_start(tmp_path) -> None:
    with pytest.raises(SettingsError, match="ROOST_SECRET_KEY is not set"):
        token_box(settings(tmp_path, database_url="postgresql://db/roost"))


def test_processes_starting_together_agree_on_one_local_key(tmp_path) -> None:
    start = threading.Barrier(8)

    def box() -> str:
        start.wait()
        return token_box(settings(tmp_path)).seal({"a": "b"})

    with ThreadPoolExecutor(8) as pool:
        sealed = list(pool.map(lambda _: box(), range(8)))
    key = TokenBox([(tmp_path / "secret.key").read_bytes()])
    assert all(key.open(s) == {"a": "b"} for s in sealed)
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_rotate_seals_again_with_the_newest_key() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    sealed = TokenBox([old]).seal({"access_token": "tok-secret"})
    rotated = TokenBox([new, old]).rotate(sealed)
    assert "tok-secret" not in rotated
    assert TokenBox([new]).open(rotated) == {"access_token": "tok-secret"}
    with pytest.raises(RoostError):
        TokenBox([old]).open(rotated)
    # Already the newest: sealed again all the same, still readable.
    assert TokenBox([new]).open(TokenBox([new, old]).rotate(rotated)) == {
        "access_token": "tok-secret"
    }


def test_rotate_without_the_old_key_says_what_to_do() -> None:
    sealed = TokenBox([Fernet.generate_key()]).seal({"a": "b"})
    with pytest.raises(RoostError, match="Put the old key after the new one"):
        TokenBox([Fernet.generate_key()]).rotate(sealed)

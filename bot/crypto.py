"""Tokens at rest: Fernet encryption under ROOST_SECRET_KEY.

ROOST_SECRET_KEY may hold several comma-separated keys, newest first
(MultiFernet): the newest encrypts, any of them decrypts, so keys can be
rotated without a flag day.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.errors import RoostError, SettingsError
from bot.settings import Settings

logger = logging.getLogger(__name__)

LOCAL_KEY_FILE = "secret.key"
"""Where a development key lives under the var dir when ROOST_SECRET_KEY is unset."""

WRONG_KEY = (
    "Stored tokens cannot be decrypted with ROOST_SECRET_KEY: the key changed. "
    "Put the old key after the new one (comma-separated) to read them."
)


class TokenBox:
    """Encrypts and decrypts account credentials; never shows them."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SettingsError("ROOST_SECRET_KEY holds no key.")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError:
            raise SettingsError(
                "ROOST_SECRET_KEY is not valid: each comma-separated key must be a "
                "Fernet key (32 url-safe base64-encoded bytes)."
            ) from None

    def __repr__(self) -> str:
        return "TokenBox(<keys hidden>)"

    def seal(self, credentials: dict[str, str]) -> str:
        """Encrypt a credentials mapping to a string for the database."""
        return self._fernet.encrypt(json.dumps(credentials).encode()).decode()

    def open(self, sealed: str) -> dict[str, str]:
        """Decrypt what `seal` made; a wrong key raises a RoostError saying so."""
        try:
            plain = self._fernet.decrypt(sealed.encode())
        except InvalidToken:
            raise RoostError(WRONG_KEY) from None
        data: dict[str, str] = json.loads(plain)
        return data

    def rotate(self, sealed: str) -> str:
        """What `seal` made with any of the keys, sealed again with the newest."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise RoostError(WRONG_KEY) from None


def token_box(settings: Settings) -> TokenBox:
    """The box for these settings.

    Without ROOST_SECRET_KEY a key is generated under the var dir, for local
    use only: with DATABASE_URL set, several machines share the database and a
    per-machine key would make their tokens unreadable to each other, so
    Roost refuses to start instead.
    """
    if settings.roost_secret_key is not None:
        raw = settings.roost_secret_key.get_secret_value()
        return TokenBox([part.strip().encode() for part in raw.split(",") if part.strip()])
    if settings.database_url:
        raise SettingsError(
            "ROOST_SECRET_KEY is not set: with DATABASE_URL set it is required, so that "
            "every machine can read the stored tokens. Create one with: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    return TokenBox([_local_key(settings.roost_var_dir)])


def _local_key(var_dir: Path) -> bytes:
    path = var_dir / LOCAL_KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Written whole under another name, then linked into place: a process
    # starting at the same moment either wins or reads the winner's key,
    # never half a file or a key of its own.
    descriptor, name = tempfile.mkstemp(dir=var_dir, prefix=f".{LOCAL_KEY_FILE}.")  # 0600
    draft = Path(name)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    try:
        os.link(draft, path)
    except FileExistsError:
        return path.read_bytes().strip()
    finally:
        draft.unlink()
    logger.warning(
        "ROOST_SECRET_KEY is not set: generated a local key in %s. Fine on one machine; "
        "set ROOST_SECRET_KEY in production.",
        path,
    )
    return key

"""Rotating ROOST_SECRET_KEY, and refusing to start without the key the tokens need.

ROOST_SECRET_KEY holds comma-separated keys, newest first. To rotate: put a
new key in front (ROOST_SECRET_KEY=NEW,OLD) on every process, restart them,
run `roost keys rotate`; then the old key can go. A process missing the key
that sealed an account's tokens would fail at its first call as that
account, far from the cause, so every process checks at start instead.
"""

from __future__ import annotations

from sqlalchemy import select, update

from bot import clock
from bot.crypto import LOCAL_KEY_FILE, TokenBox, token_box
from bot.errors import RoostError, SettingsError
from bot.settings import Settings
from storage.db import database_url, make_engine, session_factory
from storage.events import record_event
from storage.models import Account


def rotate_all(settings: Settings) -> int:
    """Seal every account's tokens again with the newest key, in one transaction.

    Returns how many accounts. If any account's tokens cannot be opened,
    nothing changes and SettingsError says which key is missing.
    """
    box = token_box(settings)
    engine = make_engine(database_url(settings.database_url, settings.roost_var_dir))
    try:
        with session_factory(engine).begin() as session:
            stored = session.execute(
                select(Account.id, Account.handle, Account.credentials).order_by(Account.id)
            ).all()
            unreadable = []
            count = 0
            for account_id, handle, sealed in stored:
                try:
                    fresh = box.rotate(sealed)
                except RoostError:
                    unreadable.append(handle)
                    continue
                # Only over what was read: tokens refreshed meanwhile are already sealed
                # with the newest key, and must not be replaced by the spent ones.
                session.execute(
                    update(Account)
                    .where(Account.id == account_id, Account.credentials == sealed)
                    .values(credentials=fresh)
                )
                count += 1
            if unreadable:
                raise SettingsError(_missing_key(settings, unreadable))
            record_event(session, "keys.rotated", clock.now(), count=count)
    finally:
        engine.dispose()
    return count


def check_key(settings: Settings) -> None:
    """Raise SettingsError, naming ROOST_SECRET_KEY, unless it opens every account's tokens."""
    box = token_box(settings)
    engine = make_engine(database_url(settings.database_url, settings.roost_var_dir))
    try:
        with session_factory(engine)() as session:
            stored = session.execute(
                select(Account.handle, Account.credentials).order_by(Account.handle)
            ).all()
    finally:
        engine.dispose()
    unreadable = [handle for handle, sealed in stored if not _opens(box, sealed)]
    if unreadable:
        raise SettingsError(_missing_key(settings, unreadable))


def _opens(box: TokenBox, sealed: str) -> bool:
    try:
        box.open(sealed)
    except RoostError:
        return False
    return True


def _missing_key(settings: Settings, handles: list[str]) -> str:
    """What the operator must do (the command line, a process's start): not Slack's."""
    accounts = ", ".join(f"@{handle}" for handle in handles)
    if settings.roost_secret_key is None:
        local = settings.roost_var_dir / LOCAL_KEY_FILE
        return (  # not spoken: for the operator
            f"ROOST_SECRET_KEY is not set, and the local key in {local} cannot open the tokens "
            f"stored for {accounts}: the key that sealed them is missing. Set ROOST_SECRET_KEY "
            "to that key, then run `roost keys rotate`."
        )
    return (  # not spoken: for the operator
        f"ROOST_SECRET_KEY cannot open the tokens stored for {accounts}: the key that sealed "
        "them is missing from it. Put that key back after the new one, comma-separated "
        "(ROOST_SECRET_KEY=NEW_KEY,OLD_KEY), then run `roost keys rotate` to re-encrypt every "
        "token with the newest key."
    )

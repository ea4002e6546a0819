"""Outbound rows: one per key, and every status change for exactly one caller."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from storage import outbound as rows
from storage.db import session_factory
from storage.models import Account, Member
from storage.team import CoTagTaken, member, set_cotag

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def account(engine: Engine) -> Account:
    with session_factory(engine).begin() as session:
        found = Account(
            x_user_id=1,
            handle="brand",
            name="",
            channel_id="C1",
            auth_kind="oauth2",
            credentials="sealed",
            created_at=NOW,
            updated_at=NOW,
            banned_words=[],
            sla_minutes=60,
        )
        session.add(found)
    return found


def new_row(session: Session, account: Account, key: str = "reply:1:abc") -> int | None:
    return rows.create(
        session,
        idempotency_key=key,
        kind="reply",
        account_id=account.id,
        text="hi ^BK",
        status="pending",
        attempts=0,
        created_at=NOW,
    )


def test_one_row_per_idempotency_key(engine: Engine, account: Account) -> None:
    with session_factory(engine).begin() as session:
        first = new_row(session, account)
        assert first is not None
        assert new_row(session, account) is None
        assert new_row(session, account, key="reply:1:other") not in (None, first)


def test_concurrent_claims_let_exactly_one_worker_send(engine: Engine, account: Account) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as session:
        outbound_id = new_row(session, account)
    assert outbound_id is not None

    def claim(_: int) -> bool:
        with sessions.begin() as session:
            return rows.claim_for_sending(session, outbound_id, NOW) is not None

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(claim, range(8))) == [False] * 7 + [True]
    with sessions.begin() as session:
        sent = rows.settle(session, outbound_id, "sent", NOW, x_id="99")
        assert sent is not None and sent.attempts == 1
        # A sent row is never claimed, settled or retried again.
        assert rows.claim_for_sending(session, outbound_id, NOW) is None
        assert rows.settle(session, outbound_id, "unknown", NOW) is None
        assert rows.retry(session, outbound_id) is None


def test_an_approval_is_decided_once(engine: Engine, account: Account) -> None:
    with session_factory(engine).begin() as session:
        approver = member(session, "T1", "U0OWNER", NOW)
        outbound_id = rows.create(
            session,
            idempotency_key="reply:1:wait",
            kind="reply",
            account_id=account.id,
            status="awaiting_approval",
            attempts=0,
            created_at=NOW,
        )
        assert outbound_id is not None
        assert rows.decide(session, outbound_id, approver.id, True, NOW) is not None
        assert rows.decide(session, outbound_id, approver.id, False, NOW) is None
        assert rows.claim_for_sending(session, outbound_id, NOW) is not None


def test_cotags_are_unique_in_a_team_not_across_teams(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        set_cotag(session, member(session, "T1", "U1", NOW), "^BK", NOW)
        with pytest.raises(CoTagTaken) as taken:
            set_cotag(session, member(session, "T1", "U2", NOW), "^BK", NOW)
        assert taken.value.args == ("U1",)
        set_cotag(session, member(session, "T2", "U3", NOW), "^BK", NOW)
        assert member(session, "T1", "U1", NOW).id == member(session, "T1", "U1", NOW).id
        assert session.query(Member).count() == 3

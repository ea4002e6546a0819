"""Thread notes: a message Slack delivers twice is kept, and acted on, once."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.runtime import Runtime
from storage.assignments import add_note
from storage.models import Account, Note
from tests.stored import add_mentions


def test_the_same_message_twice_is_one_note_and_says_so(rt: Runtime, brand: Account) -> None:
    (mention_id,) = add_mentions(rt, brand, {"created": rt.clock()})
    kept = []
    for _ in range(2):
        with rt.sessions.begin() as session:
            kept.append(add_note(session, mention_id, "U1", "C1", "1.000001", "hi", rt.clock()))
    # On PostgreSQL the driver's rowcount said -1 for the second: only RETURNING tells.
    assert kept == [True, False]
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Note)) == 1

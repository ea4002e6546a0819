"""Roost's numbers for the ids of every network.

Mentions, outbound rows and the notes and flags about people keep a network's post and
person ids as numbers. X's ids are numbers already, and stand for themselves. A Bluesky
at:// URI or DID, or a Mastodon id, is numbered here once (per network) and the number
stands for it everywhere; the network's adapter is handed the id again through `refs_of`.

The numbers are negative, so they never meet an X id, and rise in the order ids were
first numbered: intake numbers a page's posts oldest first, so sorting mentions by
number still sorts them by time, as it does X's.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import insert_into
from storage.models import NetworkRef

REF_BASE = -(2**62)
"""Below the first number: far below zero, so below every X id, rising from there."""

REF_ROWS = 2**31 - 1
"""The most ids the table numbers (its key is a 32-bit integer)."""

NUMBERED_ALREADY = frozenset({"x"})
"""The networks whose ids are positive numbers already (X's snowflakes): each is its own."""


def is_numbered(number: int) -> bool:
    """Whether `number` is one Roost gives another network's id (rather than X's own)."""
    return REF_BASE < number <= REF_BASE + REF_ROWS


def numbers(session: Session, network: str, refs: Sequence[str]) -> dict[str, int]:
    """Roost's number for each of `refs` on `network`, numbering new ones in the order
    given (a concurrent numbering of the same id is taken, not doubled)."""
    wanted = list(dict.fromkeys(refs))
    if not wanted:
        return {}
    if network in NUMBERED_ALREADY:
        return {ref: int(ref) for ref in wanted}
    known = _known(session, network, wanted)
    missing = [ref for ref in wanted if ref not in known]
    if missing:
        session.execute(
            insert_into(session, NetworkRef.__table__).on_conflict_do_nothing(
                index_elements=["network", "ref"]
            ),
            [{"network": network, "ref": ref} for ref in missing],
        )
        known.update(_known(session, network, missing))
    return {ref: REF_BASE + known[ref] for ref in wanted}


def number(session: Session, network: str, ref: str) -> int:
    """Roost's number for one id (numbered now if it is new)."""
    return numbers(session, network, [ref])[ref]


def refs_of(session: Session, numbered: Collection[int]) -> dict[int, str]:
    """The network's id each number stands for: an X id is its own number, written out
    (numbers never given are left out)."""
    found = {n: str(n) for n in numbered if n > 0}
    ids = {n - REF_BASE for n in numbered if is_numbered(n)}
    if ids:
        rows = session.execute(select(NetworkRef.id, NetworkRef.ref).where(NetworkRef.id.in_(ids)))
        found.update((REF_BASE + row_id, ref) for row_id, ref in rows)
    return found


def ref_of(session: Session, numbered: int) -> str:
    """The network's id `numbered` stands for; LookupError when it stands for none."""
    found = refs_of(session, [numbered]).get(numbered)
    if found is None:
        raise LookupError(f"no network id is numbered {numbered}")  # not spoken
    return found


def _known(session: Session, network: str, refs: Sequence[str]) -> dict[str, int]:
    found = session.execute(
        select(NetworkRef.ref, NetworkRef.id).where(
            NetworkRef.network == network, NetworkRef.ref.in_(refs)
        )
    )
    return {ref: row_id for ref, row_id in found}

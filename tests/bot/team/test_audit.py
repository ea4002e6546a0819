"""`/roost audit`: the arguments, the CSV, and who gets it, through the fake Slack."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.inbox.intake import Intake
from bot.runtime import Runtime
from bot.team.audit import DEFAULT_DAYS, MAX_DAYS, audit_csv, parse_audit_args, send_audit
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.events import record_event
from storage.models import Account, Event, Mention
from tests.conftest import AGENT, LEAD, OWNER, add_brand_account, give

HEADER = ["at", "kind", "actor", "account", "mention", "detail"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (None, DEFAULT_DAYS)),
        ("   ", (None, DEFAULT_DAYS)),
        ("@brand", ("brand", DEFAULT_DAYS)),
        ("7", (None, 7)),
        ("@brand 90", ("brand", 90)),
        ("brand 7d", ("brand", 7)),
        ("7 @brand", ("brand", 7)),
        ("@Brand_1 30 days", ("Brand_1", 30)),
        ("1D", (None, 1)),
        (f"{MAX_DAYS}", (None, MAX_DAYS)),
        ("@123", ("123", DEFAULT_DAYS)),
    ],
)
def test_arguments_are_read(text: str, expected: tuple[str | None, int]) -> None:
    assert parse_audit_args(text) == expected


@pytest.mark.parametrize(
    "text",
    ["0", f"{MAX_DAYS + 1}", "99999999", "-7", "@brand @other", "7 30", "@brand!", "@", "7.5"]
    + ["@a_handle_far_too_long", "<!channel>"],
)
def test_bad_arguments_say_how_to_ask(text: str) -> None:
    with pytest.raises(ValueError, match=r"`/roost audit \[@account\] \[days\]`, days 1–366"):
        parse_audit_args(text)


def rows_of(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM, so spreadsheets read UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def mention_id(rt: Runtime, fake_x: FakeX, brand: Account) -> int:
    fake_x.add_user("jane", name="Jane Doe")
    fake_x.post_mention("brand", author="jane", text="@brand my phone will not turn on")
    Intake(rt).poll(brand)
    with rt.sessions() as session:
        return session.scalars(select(Mention.id)).one()


def test_the_csv_holds_the_accounts_events_in_the_window_oldest_first(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    other = add_brand_account(rt, fake_x, "other", "C0OTHER")
    mention = mention_id(rt, fake_x, brand)
    now = rt.clock()
    with rt.sessions.begin() as session:
        tweet_id = session.get_one(Mention, mention).tweet_id
        record_event(session, "settings.changed", now - timedelta(days=40), account_id=brand.id)
        # Recorded out of order: the file is in the order things happened.
        record_event(
            session,
            "outbound.sent",
            now - timedelta(seconds=30),
            actor=AGENT,
            account_id=brand.id,
            mention_id=mention,
            text='사과드립니다, "quoted", and\na new line',
        )
        record_event(
            session,
            "grant.set",
            now - timedelta(days=2),
            actor=OWNER,
            account_id=brand.id,
            user=AGENT,
            role="agent",
        )
        record_event(session, "grant.set", now - timedelta(days=1), account_id=other.id)
        record_event(session, "member.cotag", now - timedelta(days=1), actor=AGENT, cotag="^BK")

    with rt.sessions() as session:
        rows = rows_of(audit_csv(session, account_id=brand.id, since=now - timedelta(days=30)))
    assert rows[0] == HEADER
    assert [row[1] for row in rows[1:]] == ["grant.set", "account.added", "outbound.sent"]
    granted, added, sent = rows[1:]
    assert granted == [
        (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "grant.set",
        OWNER,
        "brand",
        "",
        '{"role":"agent","user":"U0AGENT"}',
    ]
    assert added[2] == ""  # Roost itself acted
    assert sent[2:5] == [AGENT, "brand", str(tweet_id)]
    assert sent[5] == '{"text":"사과드립니다, \\"quoted\\", and\\na new line"}'

    with rt.sessions() as session:
        everything = rows_of(audit_csv(session, account_id=None, since=now - timedelta(days=30)))
        all_time = rows_of(audit_csv(session, account_id=None, since=now - timedelta(days=366)))
    assert [row[3] for row in everything[1:]].count("other") == 2  # added, and the grant
    assert ["member.cotag", AGENT, "", ""] in [row[1:5] for row in everything]
    assert len(all_time) == len(everything) + 1  # the 40-day-old change


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_is_defused(rt: Runtime, brand: Account, start: str) -> None:
    formula = f'{start}cmd|"/C calc"!A0'
    with rt.sessions.begin() as session:
        record_event(session, formula, rt.clock(), actor=formula, account_id=brand.id, text=formula)
    with rt.sessions() as session:
        rows = rows_of(audit_csv(session, account_id=brand.id, since=rt.clock() - timedelta(1)))
    kind, actor, detail = rows[-1][1], rows[-1][2], rows[-1][5]
    assert kind == actor == "'" + formula
    assert detail.startswith("{")  # JSON never starts a formula
    for row in rows[1:]:
        assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


def test_credentials_never_leave_in_the_csv(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    with rt.sessions() as session:
        sealed = session.get_one(Account, brand.id).credentials
    token = rt.box.open(sealed)["access_token"]
    give(rt, fake_slack, OWNER, "owner", "^OW")
    with rt.sessions.begin() as session:
        # No event holds credentials; should one ever, the export still does not show them.
        record_event(
            session,
            "account.reconnected",
            rt.clock(),
            account_id=brand.id,
            access_token=token,
            nested={"credentials": sealed, "kept": "visible"},
        )
    with rt.sessions() as session:
        content = audit_csv(session, account_id=None, since=rt.clock() - timedelta(days=1))
    text = content.decode("utf-8-sig")
    assert token not in text and sealed not in text
    assert '"access_token":"[redacted]"' in text.replace('""', '"')
    assert "visible" in text


def events_of(rt: Runtime, account_id: int | None) -> list[Event]:
    with rt.sessions() as session:
        query = select(Event).order_by(Event.at, Event.id)
        if account_id is not None:
            query = query.where(Event.account_id == account_id)
        return list(session.scalars(query))


def test_an_owner_gets_the_accounts_audit_in_their_dm(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(rt, fake_slack, OWNER, "owner", "^OW")
    give(rt, fake_slack, AGENT, "agent", "^BK")
    fake_slack.add_user(OWNER, "owner")
    expected = [event.kind for event in events_of(rt, brand.id)]

    answer = send_audit(rt, team_id=fake_slack.team_id, user_id=OWNER, text="@Brand 7")

    assert answer == (
        f"Sent you the audit of @brand for the last 7 days ({len(expected)} events) "
        "as a CSV in your DM."
    )
    (sent,) = fake_slack.files
    dm = fake_slack.dms(OWNER)
    assert [f["name"] for f in dm[0]["files"]] == ["roost-audit-brand-7d.csv"]
    assert "The audit of @brand for the last 7 days" in dm[0]["text"]
    assert sent["channel"] == dm[0]["channel"]
    assert sent["filename"] == "roost-audit-brand-7d.csv"
    rows = rows_of(sent["content"])
    assert rows[0] == HEADER
    assert [row[1] for row in rows[1:]] == expected
    assert {row[3] for row in rows[1:]} == {"brand"}
    # The export is itself on the record.
    (exported,) = [e for e in events_of(rt, brand.id) if e.kind == "audit.exported"]
    assert (exported.actor, exported.detail) == (OWNER, {"days": 7, "events": len(expected)})


def test_anyone_else_is_refused_and_told_whom_to_ask(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(rt, fake_slack, OWNER, "owner", "^OW")
    give(rt, fake_slack, AGENT, "agent", "^BK")
    fake_slack.add_user(AGENT, "agent")

    answer = send_audit(rt, team_id=fake_slack.team_id, user_id=AGENT, text="@brand")
    assert answer.startswith("Only owners of @brand and workspace admins may export its audit.")
    assert f"<@{OWNER}>" in answer
    everything = send_audit(rt, team_id=fake_slack.team_id, user_id=AGENT, text="")
    assert everything == "Only workspace admins may export the audit of every account."
    assert fake_slack.files == []
    assert not [e for e in events_of(rt, None) if e.kind == "audit.exported"]


def test_an_owner_of_one_account_cannot_export_every_account(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    give(rt, fake_slack, OWNER, "owner", "^OW")
    fake_slack.add_user(OWNER, "owner")
    answer = send_audit(rt, team_id=fake_slack.team_id, user_id=OWNER, text="30")
    assert answer == (
        "Only workspace admins may export the audit of every account. "
        "As an owner, ask for one account: `/roost audit @brand`."
    )
    assert fake_slack.files == []


@pytest.mark.parametrize("how", ["bootstrap", "slack"])
def test_an_admin_may_export_every_account(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, how: str
) -> None:
    give(rt, fake_slack, AGENT, "agent", "^BK")
    add_brand_account(rt, fake_x, "other", "C0OTHER")
    if how == "bootstrap":
        rt.settings = rt.settings.model_copy(update={"roost_admins": f"U0SOMEONE, {LEAD}"})
        fake_slack.add_user(LEAD, "lead")
    else:
        fake_slack.add_user(LEAD, "lead", is_admin=True)
    expected = events_of(rt, None)

    answer = send_audit(rt, team_id=fake_slack.team_id, user_id=LEAD, text="")

    assert answer == (
        f"Sent you the audit of all accounts for the last 30 days ({len(expected)} events) "
        "as a CSV in your DM."
    )
    (sent,) = fake_slack.files
    assert sent["filename"] == "roost-audit-all-30d.csv"
    rows = rows_of(sent["content"])
    assert [row[1] for row in rows[1:]] == [event.kind for event in expected]
    assert {row[3] for row in rows[1:]} >= {"brand", "other"}
    # And any one account.
    answer = send_audit(rt, team_id=fake_slack.team_id, user_id=LEAD, text="@other 1")
    assert answer.startswith("Sent you the audit of @other for the last day (")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("@nobody", "There is no account @nobody in Roost"),
        ("@brand 400", "Days must be 1–366"),
        ("everything please", "Usage: `/roost audit [@account] [days]`"),
    ],
)
def test_what_cannot_be_exported_is_said(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, text: str, said: str
) -> None:
    rt.settings = rt.settings.model_copy(update={"roost_admins": LEAD})
    answer = send_audit(rt, team_id=fake_slack.team_id, user_id=LEAD, text=text)
    assert said in answer
    assert fake_slack.files == []


def test_a_slack_failure_is_said_and_not_recorded(
    rt: Runtime, fake_slack: FakeSlack, brand: Account
) -> None:
    rt.settings = rt.settings.model_copy(update={"roost_admins": LEAD})
    fake_slack.add_user(LEAD, "lead")
    fake_slack.fail("files.completeUploadExternal", error="not_allowed_token_type")
    answer = send_audit(rt, team_id=fake_slack.team_id, user_id=LEAD, text="")
    assert answer == (
        "Could not send the audit to your DM: Slack answered not_allowed_token_type. "
        "Try again shortly."
    )
    assert not [e for e in events_of(rt, None) if e.kind == "audit.exported"]

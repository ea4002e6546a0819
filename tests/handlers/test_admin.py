"""Managing accounts, the team and routes from Slack, through signed requests.

The fake Slack and X, a real Redis and both databases.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_bolt import App
from sqlalchemy import select

from bot.inbox.intake import Intake
from bot.inbox.route_views import ACTION_ROUTE_REMOVE, ACTION_ROUTE_TEST
from bot.runtime import Runtime
from bot.team.views import ACTION_CONNECT, ACTION_GRANT, ACTION_SETTINGS
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Event, Grant, Member, Route
from storage.team import grant, member
from tests.conftest import (
    AGENT,
    BRAND_CHANNEL,
    LEAD,
    OWNER,
    add_brand_account,
    give,
    run_jobs,
)
from tests.handlers.signed import (
    button,
    card_click,
    command,
    dispatch,
    make_app,
    opened_modal,
    submit,
)

BOB = "U0BOB"
ADMIN = "U0ADMIN"
MOBILE = "C0MOBILE"


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack) -> App:
    return make_app(rt)


@pytest.fixture
def team(rt: Runtime, fake_slack: FakeSlack, brand: Account) -> Account:
    """@brand with an owner and an agent; Bob in the workspace; a Slack admin."""
    for user, name in ((OWNER, "owner"), (AGENT, "agent"), (BOB, "bob"), (LEAD, "lead")):
        fake_slack.add_user(user, name)
    fake_slack.add_user(ADMIN, "admin", is_admin=True)
    give(rt, fake_slack, OWNER, "owner", "^OW")
    give(rt, fake_slack, AGENT, "agent", "^BK")
    return brand


def answers(fake_slack: FakeSlack, count: int) -> list[dict[str, Any]]:
    return fake_slack.wait_for(lambda: len(fake_slack.responses) >= count and fake_slack.responses)


def ask(app: App, fake_slack: FakeSlack, text: str, user: str) -> dict[str, Any]:
    before = len(fake_slack.responses)
    assert command(app, fake_slack, text, user=user).status == 200
    return answers(fake_slack, before + 1)[-1]


def shown(answer: dict[str, Any]) -> str:
    return json.dumps(answer.get("blocks") or answer["text"], ensure_ascii=False)


def events(rt: Runtime, kind: str) -> list[Event]:
    with rt.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def role(rt: Runtime, user: str) -> str | None:
    with rt.sessions() as session:
        return session.scalar(
            select(Grant.role)
            .join(Member, Member.id == Grant.member_id)
            .where(Member.user_id == user)
        )


def message_with(answer: dict[str, Any]) -> dict[str, Any]:
    """An ephemeral answer as a message whose buttons can be pressed."""
    return {"blocks": answer["blocks"]}


# --- accounts ---------------------------------------------------------------------


def test_accounts_lists_channel_settings_and_people_with_buttons_for_managers(
    app: App, rt: Runtime, fake_slack: FakeSlack, team: Account
) -> None:
    answer = ask(app, fake_slack, "accounts", OWNER)
    text = shown(answer)
    assert "*@brand* → <#C0BRAND>" in text
    assert f"owner: <@{OWNER}>" in text and f"agent: <@{AGENT}>" in text
    assert ACTION_SETTINGS in text
    # An agent sees the accounts, not the buttons that change them.
    assert ACTION_SETTINGS not in shown(ask(app, fake_slack, "accounts", AGENT))


def test_connect_button_goes_to_xs_consent_when_oauth_is_set_up(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, team: Account
) -> None:
    rt.settings = rt.settings.model_copy(
        update={
            "x_client_id": "roost-client",
            "roost_public_url": "https://roost.example.test",
            "x_authorize_url": f"{fake_x.url}/i/oauth2/authorize",
        }
    )
    answer = ask(app, fake_slack, "accounts", ADMIN)
    connect = next(
        e
        for b in answer["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == ACTION_CONNECT
    )
    assert connect["url"].startswith(f"{fake_x.url}/i/oauth2/authorize?")
    assert "code_challenge_method=S256" in connect["url"]
    # Nobody without a managing role is offered it.
    assert ACTION_CONNECT not in shown(ask(app, fake_slack, "accounts", AGENT))


def test_settings_modal_saves_and_audits_and_refuses_bad_values(
    app: App, rt: Runtime, fake_slack: FakeSlack, team: Account
) -> None:
    listing = message_with(ask(app, fake_slack, "accounts", OWNER))
    before = len(fake_slack.views)
    dispatch(app, card_click(fake_slack, button(listing, ACTION_SETTINGS), user=OWNER))
    modal = opened_modal(fake_slack, before)

    def values(sla: str, hours: str) -> dict[str, Any]:
        return {
            "cotags": {"value": {"selected_options": [{"value": "cotags_enabled"}]}},
            "banned_words": {"value": {"value": "refund, lawsuit\nscam"}},
            "sla_minutes": {"value": {"value": sla}},
            "business_hours": {"value": {"value": hours}},
        }

    bad = submit(app, fake_slack, modal, values("0", "someday"), user=OWNER)
    assert bad["response_action"] == "errors"
    assert set(bad["errors"]) == {"sla_minutes", "business_hours"}

    assert (
        submit(app, fake_slack, modal, values("30", "Mon-Fri 09:00-18:00 Asia/Seoul"), user=OWNER)
        == {}
    )
    with rt.sessions() as session:
        saved = session.get_one(Account, team.id)
    assert saved.banned_words == ["refund", "lawsuit", "scam"]
    assert saved.sla_minutes == 30 and saved.business_hours is not None
    (event,) = events(rt, "account.settings")
    assert event.actor == OWNER and event.detail["changes"]["sla_minutes"] == {"from": 60, "to": 30}

    refused = submit(app, fake_slack, modal, values("45", ""), user=AGENT)
    assert "Only an owner of *@brand*" in refused["errors"]["sla_minutes"]


def test_an_owner_sets_a_monthly_x_budget_with_a_hard_cap(
    app: App, rt: Runtime, fake_slack: FakeSlack, team: Account
) -> None:
    listing = message_with(ask(app, fake_slack, "accounts", OWNER))
    before = len(fake_slack.views)
    dispatch(app, card_click(fake_slack, button(listing, ACTION_SETTINGS), user=OWNER))
    modal = opened_modal(fake_slack, before)
    assert "Monthly X budget" in json.dumps(modal["blocks"])
    values = {
        "sla_minutes": {"value": {"value": "60"}},
        "budget": {"value": {"value": "$50"}},
        "budget_hard": {"value": {"selected_options": [{"value": "budget_hard"}]}},
    }

    assert submit(app, fake_slack, modal, values, user=OWNER) == {}

    with rt.sessions() as session:
        saved = session.get_one(Account, team.id)
    assert (saved.x_budget_cents, saved.x_budget_hard) == (5000, True)
    (event,) = events(rt, "account.settings")
    assert event.detail["changes"]["x_budget_cents"] == {"from": None, "to": 5000}
    bad = submit(
        app, fake_slack, modal, {**values, "budget": {"value": {"value": "lots"}}}, user=OWNER
    )
    assert "Dollars a month" in bad["errors"]["budget"]


# --- the team ---------------------------------------------------------------------


def grant_values(user: str, role_: str | None, cotag: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"who": {"value": {"selected_user": user}}}
    if role_:
        found["account"] = {"value": {"selected_option": {"value": "1"}}}
        found["role"] = {"value": {"selected_option": {"value": role_}}}
    if cotag:
        found["cotag"] = {"value": {"value": cotag}}
    return found


def grant_modal(app: App, fake_slack: FakeSlack, user: str) -> dict[str, Any]:
    listing = message_with(ask(app, fake_slack, "team", user))
    before = len(fake_slack.views)
    dispatch(app, card_click(fake_slack, button(listing, ACTION_GRANT), user=user))
    return opened_modal(fake_slack, before)


def test_an_owner_grants_revokes_and_sets_cotags_all_audited(
    app: App, rt: Runtime, fake_slack: FakeSlack, team: Account
) -> None:
    modal = grant_modal(app, fake_slack, OWNER)
    done = submit(app, fake_slack, modal, grant_values(BOB, "agent", "bb"), user=OWNER)
    assert done["response_action"] == "update"
    assert "is now agent on *@brand*" in shown(done["view"])
    assert "CoTag is now *^BB*" in shown(done["view"])
    assert role(rt, BOB) == "agent"

    roster = shown(ask(app, fake_slack, "team", AGENT))
    assert f"<@{BOB}> *^BB* — agent of @brand" in roster

    done = submit(app, fake_slack, modal, grant_values(BOB, "none"), user=OWNER)
    assert "is no longer agent on *@brand*" in shown(done["view"])
    assert role(rt, BOB) is None
    granted = events(rt, "grant.set")[-1]
    assert (granted.actor, granted.detail["user"], granted.detail["role"]) == (OWNER, BOB, "agent")
    assert events(rt, "grant.revoked")[0].actor == OWNER
    assert events(rt, "member.cotag")[-1].detail["user"] == BOB


def test_a_non_owner_cannot_grant(
    app: App, rt: Runtime, fake_slack: FakeSlack, team: Account
) -> None:
    listing = shown(ask(app, fake_slack, "team", AGENT))
    assert ACTION_GRANT not in listing  # no button for them
    modal = grant_modal(app, fake_slack, OWNER)  # and a forged submission is refused
    refused = submit(app, fake_slack, modal, grant_values(BOB, "owner"), user=AGENT)
    assert "Only an owner of *@brand* or a Slack admin manages it" in refused["errors"]["who"]
    assert role(rt, BOB) is None


def test_granting_someone_outside_the_workspace_says_to_invite_them(
    app: App, rt: Runtime, fake_slack: FakeSlack, team: Account
) -> None:
    modal = grant_modal(app, fake_slack, ADMIN)
    refused = submit(app, fake_slack, modal, grant_values("U0OUTSIDER", "agent"), user=ADMIN)
    assert "invite them to Slack first" in refused["errors"]["who"]


def test_a_taken_cotag_is_refused(
    app: App, rt: Runtime, fake_slack: FakeSlack, team: Account
) -> None:
    modal = grant_modal(app, fake_slack, OWNER)
    refused = submit(app, fake_slack, modal, grant_values(BOB, "agent", "^BK"), user=OWNER)
    assert f"taken by <@{AGENT}>" in refused["errors"]["cotag"]
    assert role(rt, BOB) is None  # nothing in the form was applied


def test_an_owner_of_one_account_cannot_change_the_cotag_of_someone_acting_for_another(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, team: Account
) -> None:
    other = add_brand_account(rt, fake_x, "other", MOBILE)
    with rt.sessions.begin() as session:
        bob = member(session, fake_slack.team_id, BOB, rt.clock())
        for account in (team, other):
            grant(session, session.get_one(Account, account.id), bob, "agent", rt.clock())
    modal = grant_modal(app, fake_slack, OWNER)  # OWNER owns @brand only
    refused = submit(app, fake_slack, modal, grant_values(BOB, None, "^XX"), user=OWNER)
    assert "owner of every account they act for" in refused["errors"]["cotag"]
    with rt.sessions() as session:
        assert session.scalars(select(Member.cotag).where(Member.user_id == BOB)).one() is None
    with rt.sessions.begin() as session:
        owner = member(session, fake_slack.team_id, OWNER, rt.clock())
        grant(session, session.get_one(Account, other.id), owner, "owner", rt.clock())
    done = submit(app, fake_slack, modal, grant_values(BOB, None, "^XX"), user=OWNER)
    assert "CoTag is now *^XX*" in shown(done["view"])


def test_a_bootstrap_admin_manages_everything(
    app: App, rt: Runtime, fake_slack: FakeSlack, team: Account
) -> None:
    rt.settings = rt.settings.model_copy(update={"roost_admins": f"{LEAD}, U0OTHER"})
    modal = grant_modal(app, fake_slack, LEAD)
    submit(app, fake_slack, modal, grant_values(BOB, "needs-approval"), user=LEAD)
    assert role(rt, BOB) == "needs-approval"


# --- routes ---------------------------------------------------------------------


def test_routes_send_matching_mentions_to_a_department_channel(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, team: Account
) -> None:
    fake_slack.add_channel(MOBILE, "cs-mobile")
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane", text="@brand 아이폰이 안 켜져요")
    Intake(rt).poll(team)
    run_jobs(rt)

    answer = ask(app, fake_slack, f"route @brand 아이폰|iphone <#{MOBILE}|cs-mobile>", OWNER)
    assert f"go to <#{MOBILE}>" in answer["text"]
    assert "would have matched 1 of the latest" in answer["text"]

    fake_x.post_mention("brand", author="jane", text="@brand my iPhone again")
    fake_x.post_mention("brand", author="jane", text="@brand where is my parcel")
    Intake(rt).poll(team)
    run_jobs(rt)
    assert "iPhone again" in json.dumps(fake_slack.messages(MOBILE))
    assert "parcel" in json.dumps(fake_slack.messages(BRAND_CHANNEL))

    listing = message_with(ask(app, fake_slack, "routes @brand", OWNER))
    dispatch(app, card_click(fake_slack, button(listing, ACTION_ROUTE_TEST), user=OWNER))
    assert "would have matched 2" in answers(fake_slack, 3)[-1]["text"]
    dispatch(app, card_click(fake_slack, button(listing, ACTION_ROUTE_REMOVE), user=OWNER))
    answers(fake_slack, 4)
    with rt.sessions() as session:
        assert session.scalars(select(Route)).all() == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ("@brand /(a)\\1/ <#C0BRAND|x>", "regular expression"),
        ("@brand /([a-z/ <#C0BRAND|x>", "regular expression"),
        ("@brand iphone <#C0NOTIN|elsewhere>", "/invite @Roost"),
        ("@brand iphone cs-mobile", "is not a channel"),
        ("@nobody iphone <#C0BRAND|x>", "No account @nobody"),
    ],
)
def test_bad_routes_are_refused_with_what_to_do(
    app: App, rt: Runtime, fake_slack: FakeSlack, team: Account, args: str, said: str
) -> None:
    fake_slack.add_channel("C0NOTIN", "elsewhere", bot_is_member=False)
    answer = ask(app, fake_slack, f"route {args}", OWNER)
    assert said in answer["text"]
    with rt.sessions() as session:
        assert session.scalars(select(Route)).all() == []


def test_only_a_manager_routes(app: App, rt: Runtime, fake_slack: FakeSlack, team: Account) -> None:
    answer = ask(app, fake_slack, f"route @brand iphone <#{BRAND_CHANNEL}|x>", AGENT)
    assert "Only an owner of *@brand*" in answer["text"]


def test_a_route_to_a_channel_roost_lost_sends_cards_home_and_says_why(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, team: Account
) -> None:
    fake_slack.add_channel(MOBILE, "cs-mobile")
    ask(app, fake_slack, f"route @brand iphone <#{MOBILE}|cs-mobile>", OWNER)
    fake_slack.remove_bot_from(MOBILE)
    fake_x.add_user("jane")
    fake_x.post_mention("brand", author="jane", text="@brand my iphone is dead")
    Intake(rt).poll(team)
    run_jobs(rt)
    (card,) = [m for m in fake_slack.messages(BRAND_CHANNEL) if "thread_ts" not in m]
    assert "my iphone is dead" in json.dumps(card["blocks"])
    (note,) = fake_slack.thread(BRAND_CHANNEL, card["ts"])
    assert f"matched a route to <#{MOBILE}>" in note["text"] and "/invite" in note["text"]

"""Saved replies through Slack: `/roost replies` manages them (owners an account's,
admins every account's), the reply modal offers them and fills the text box with the
placeholders filled, what comes out is checked as typed text is, and `/roost stats`
counts their uses."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from sqlalchemy import select

from bot.inbox.cards import ACTION_REPLY
from bot.outbound.reply_modal import SAVED_ACTION, TEXT_INPUT
from bot.runtime import Runtime
from sandbox.slack_api import FakeSlack, action_body
from sandbox.x_api import FakeX
from storage.models import Account, Outbound, SavedReply
from tests.conftest import AGENT, OWNER, run_jobs
from tests.handlers.signed import command, dispatch, make_app, opened_modal, press, submit

DELIVERY = 'add @brand "Late delivery" Hi {name}, orders ship two days late. {agent} here to help.'


def answer(fake_slack: FakeSlack) -> str:
    return str(fake_slack.responses[-1].get("text", ""))


def roost(app: App, fake_slack: FakeSlack, text: str, user: str = AGENT) -> str:
    assert command(app, fake_slack, text, user=user).status == 200
    return answer(fake_slack)


def pick(app: App, fake_slack: FakeSlack, view: dict[str, Any], saved_id: int) -> dict:
    """Pick a saved reply in the open modal, as Slack sends it; the modal after."""
    held = fake_slack.open_view(view["id"])
    click = {
        "type": "block_actions",
        "team": {"id": fake_slack.team_id},
        "user": {"id": AGENT, "team_id": fake_slack.team_id},
        "api_app_id": "AROOST",
        "container": {"type": "view", "view_id": held["id"]},
        "view": held,
        "trigger_id": fake_slack.issue_trigger(),
        "actions": [
            {
                "type": "static_select",
                "action_id": SAVED_ACTION,
                "block_id": "saved",
                "selected_option": {"value": str(saved_id)},
            }
        ],
    }
    before = len(fake_slack.views)
    assert dispatch(app, action_body(click)).status == 200
    updated = fake_slack.wait_for(lambda: fake_slack.views[before:] or None)
    assert updated[0]["method"] == "views.update"
    return dict(fake_slack.open_view(view["id"]))


def latest(fake_slack: FakeSlack) -> dict[str, Any]:
    return dict(fake_slack.open_view(fake_slack.views[-1]["view_id"]))


def saved_id(rt: Runtime, name: str) -> int:
    with rt.sessions() as session:
        return session.scalars(select(SavedReply.id).where(SavedReply.name == name)).one()


def test_owners_manage_an_accounts_saved_replies_and_bad_ones_are_refused_clearly(
    rt: Runtime, fake_slack: FakeSlack, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    assert "Only an owner of *@brand*" in roost(app, fake_slack, f"replies {DELIVERY}")  # an agent
    said = roost(app, fake_slack, f"replies {DELIVERY}", user=OWNER)
    assert "Saved “Late delivery” for *@brand*" in said
    assert "already" in roost(app, fake_slack, f"replies {DELIVERY}", user=OWNER)
    said = roost(app, fake_slack, 'replies add @brand "Order" Your order {order} is late.', OWNER)
    assert "Roost cannot fill {order}" in said and "{name} (the author's name)" in said
    said = roost(app, fake_slack, f'replies add "Everyone" {"x" * 10}', user=OWNER)
    assert "Only an admin" in said
    said = roost(app, fake_slack, 'replies add @brand "Long" ' + "word " * 80, user=OWNER)
    assert "it can go as a DM, but a public reply needs it shortened" in said
    listed = roost(app, fake_slack, "replies")
    assert "*Late delivery* (@brand, used 0×)" in listed and "*Long*" in listed
    said = roost(app, fake_slack, 'replies edit @brand "Late delivery" Hi {name}, 3 days.', OWNER)
    assert "Changed “Late delivery”" in said
    assert "Retired" in roost(app, fake_slack, 'replies retire @brand "Long"', user=OWNER)
    assert "*Long*" not in roost(app, fake_slack, "replies")
    assert "no saved reply “Nope”" in roost(app, fake_slack, 'replies retire @brand "Nope"', OWNER)
    # Kept as typed, though Slack escapes a command's & < and >; shown escaped once.
    said = roost(app, fake_slack, 'replies add @brand "Q&A" See our Q&A <3', user=OWNER)
    assert "Saved “Q&amp;A”" in said
    with rt.sessions() as session:
        kept = session.scalars(select(SavedReply.text).where(SavedReply.name == "Q&A")).one()
    assert kept == "See our Q&A <3"


def test_a_saved_reply_fills_the_modal_for_this_author_and_goes_out_checked_and_counted(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    fake_slack.add_user(AGENT, "Bora")
    roost(app, fake_slack, f"replies {DELIVERY}", user=OWNER)
    before = len(fake_slack.views)
    assert press(app, fake_slack, jane_card, ACTION_REPLY).status == 200
    view = opened_modal(fake_slack, before)
    (menu,) = [b["accessory"] for b in view["blocks"] if b.get("block_id") == "saved"]
    assert [o["text"]["text"] for o in menu["options"]] == ["Late delivery"]

    view = pick(
        app,
        fake_slack,
        fake_slack.open_view(fake_slack.views[-1]["view_id"]),
        saved_id(rt, "Late delivery"),
    )

    (box,) = [b for b in view["blocks"] if b.get("block_id", "").startswith("text")]
    assert box["block_id"] == "text-1"
    filled = box["element"]["initial_value"]
    assert filled == "Hi Jane Doe, orders ship two days late. Bora here to help."
    preview = submit(app, fake_slack, view, {"text-1": {TEXT_INPUT: {"value": filled}}})
    assert preview["response_action"] == "push"
    published = submit(app, fake_slack, preview["view"])
    assert published == {"response_action": "clear"}
    run_jobs(rt)
    (posted,) = fake_x.posts_by("brand")
    assert posted["text"] == f"{filled} ^BK"
    with rt.sessions() as session:
        assert session.scalars(select(Outbound.saved_reply_id)).one() == saved_id(
            rt, "Late delivery"
        )
    assert "used 1×" in roost(app, fake_slack, "replies")
    roost(app, fake_slack, "stats")
    assert any(
        "Saved replies used: Late delivery 1×" in str(r.get("blocks")) for r in fake_slack.responses
    )


def test_a_saved_reply_too_long_once_filled_is_refused_by_the_length_check(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    app = make_app(rt)
    roost(app, fake_slack, 'replies add @brand "Long" ' + "word " * 60, user=OWNER)
    before = len(fake_slack.views)
    press(app, fake_slack, jane_card, ACTION_REPLY)
    opened_modal(fake_slack, before)
    view = pick(
        app, fake_slack, fake_slack.open_view(fake_slack.views[-1]["view_id"]), saved_id(rt, "Long")
    )
    (box,) = [b for b in view["blocks"] if b.get("block_id", "").startswith("text")]
    text = box["element"]["initial_value"]
    refused = submit(app, fake_slack, view, {"text-1": {TEXT_INPUT: {"value": text}}})
    assert refused["response_action"] == "errors" and "Too long" in refused["errors"]["text-1"]
    run_jobs(rt)
    assert fake_x.posts_by("brand") == []

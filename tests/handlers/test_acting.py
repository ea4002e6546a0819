"""Acting on a mention from its card: reply, DM, retweet, resolve, approval.

Signed requests through the real Bolt app, the fake Slack and the fake X,
a real Redis and both databases.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from slack_bolt import App
from sqlalchemy import select

from bot.inbox.cards import (
    ACTION_APPROVE,
    ACTION_DM,
    ACTION_IGNORE,
    ACTION_REJECT,
    ACTION_REOPEN,
    ACTION_REPLY,
    ACTION_RESOLVE,
    ACTION_RETWEET,
    ACTION_UNDO_RETWEET,
)
from bot.outbound import acting
from bot.outbound.reply_modal import AS_DM_BLOCK, AS_DM_INPUT, TEXT_BLOCK, TEXT_INPUT
from bot.runtime import Runtime
from sandbox.slack_api import FakeSlack, action_body
from sandbox.x_api import FakeX
from storage.models import Account, Event, Member, Mention, Outbound
from tests.conftest import AGENT, BRAND_CHANNEL, LEAD, OWNER, give, run_jobs
from tests.handlers.signed import button, command, dispatch, make_app, press, submit

JUNIOR = "U0JUNIOR"
STRANGER = "U0STRANGER"


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack) -> App:
    return make_app(rt)


@pytest.fixture
def card(jane_card: dict[str, Any]) -> dict[str, Any]:
    return jane_card


def the_mention(rt: Runtime) -> Mention:
    with rt.sessions() as session:
        return session.scalars(select(Mention)).one()


def outbound_rows(rt: Runtime) -> list[Outbound]:
    with rt.sessions() as session:
        return list(session.scalars(select(Outbound).order_by(Outbound.id)))


def event_kinds(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        return list(session.scalars(select(Event.kind).order_by(Event.id)))


def typed(text: str, *, as_dm: bool = False) -> dict[str, Any]:
    values: dict[str, Any] = {TEXT_BLOCK: {TEXT_INPUT: {"type": "plain_text_input", "value": text}}}
    if as_dm:
        values[AS_DM_BLOCK] = {AS_DM_INPUT: {"selected_options": [{"value": "dm"}]}}
    return values


def open_modal(
    app: App, fake_slack: FakeSlack, card: dict[str, Any], action: str, user: str = AGENT
) -> dict[str, Any]:
    """Press the button; the modal it opens, once filled (it opens loading, at once)."""
    before = len(fake_slack.views)
    assert press(app, fake_slack, card, action, user=user).status == 200
    opened = fake_slack.wait_for(
        lambda: fake_slack.views[before:][1:] and fake_slack.views[before:]
    )
    assert [v["method"] for v in opened] == ["views.open", "views.update"]
    return opened[1]["view"]


def modal_answer(fake_slack: FakeSlack) -> str:
    """What the modal a button opened says instead of a form: why it cannot be used."""
    opened = fake_slack.wait_for(lambda: len(fake_slack.views) >= 2 and fake_slack.views)
    assert [v["method"] for v in opened[-2:]] == ["views.open", "views.update"]
    assert "callback_id" not in opened[-1]["view"]  # nothing to submit
    return json.dumps(opened[-1]["view"]["blocks"])


def preview(
    app: App, fake_slack: FakeSlack, card: dict[str, Any], text: str, **options: Any
) -> dict[str, Any]:
    """Open the reply modal, type `text`, submit: the app's answer (push or errors)."""
    user = options.pop("user", AGENT)
    compose = open_modal(app, fake_slack, card, options.pop("action", ACTION_REPLY), user)
    return submit(app, fake_slack, compose, typed(text, **options), user=user)


def all_text(blocks: list[dict[str, Any]]) -> str:
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text")
            if isinstance(text, dict):
                found.append(text["text"])
            elif isinstance(text, str):
                found.append(text)
    return "\n".join(found)


def latest_card(fake_slack: FakeSlack, card: dict[str, Any]) -> dict[str, Any]:
    return fake_slack.message(BRAND_CHANNEL, card["ts"])


def ephemeral_answer(fake_slack: FakeSlack) -> str:
    answer = fake_slack.wait_for(lambda: fake_slack.responses)[-1]
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    return str(answer["text"])


# --- reply ----------------------------------------------------------------------


def test_reply_previews_exactly_what_goes_out_then_posts_it_once_signed(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    compose = open_modal(app, fake_slack, card, ACTION_REPLY)
    text_input = next(b for b in compose["blocks"] if b.get("block_id") == TEXT_BLOCK)
    assert text_input["element"]["initial_value"] == "@jane "
    assert "Replying publicly as *@brand* to @jane · signed *^BK*" in all_text(compose["blocks"])

    answer = submit(app, fake_slack, compose, typed("@jane Hold the power button for 10 s."))
    assert answer["response_action"] == "push"
    shown = all_text(answer["view"]["blocks"])
    assert "@jane Hold the power button for 10 s. ^BK" in shown
    assert "Length as X counts it: 41/280" in shown
    assert answer["view"]["submit"]["text"] == "Publish"
    assert outbound_rows(rt) == []  # nothing is written before Publish

    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    run_jobs(rt)

    (post,) = fake_x.posts_by("brand")
    assert post["text"] == "@jane Hold the power button for 10 s. ^BK"
    assert str(post["in_reply_to_tweet_id"]) == str(the_mention(rt).tweet_id)
    (row,) = outbound_rows(rt)
    assert (row.status, row.x_id, row.cotag) == ("sent", str(post["id"]), "^BK")
    mention = the_mention(rt)
    assert mention.status == "replied" and mention.first_response_at is not None

    shown = all_text(latest_card(fake_slack, card)["blocks"])
    assert f"<@{AGENT}> replied as @brand after less than a minute" in shown
    assert f"https://x.com/brand/status/{post['id']}" in shown
    assert "Replied" in shown
    (log,) = fake_slack.thread(BRAND_CHANNEL, card["ts"])
    assert "replied as @brand" in log["text"] and "Hold the power button" in log["text"]
    assert {"outbound.requested", "outbound.sent"} <= set(event_kinds(rt))


def test_double_publish_and_a_resent_submission_make_one_post(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    answer = preview(app, fake_slack, card, "@jane On it!")
    for _ in range(3):  # a double click, then Slack resending the same submission
        assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    run_jobs(rt)
    run_jobs(rt)

    assert len(outbound_rows(rt)) == 1
    assert len(fake_x.posts_by("brand")) == 1
    assert len(fake_x.calls_to("/2/tweets", "POST")) == 1


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        # 'ㄱ' (Hangul, 2 each) x 136 + '😀' (2) = 274, + ' ^BK' (4) = 278.
        ("ㄱ" * 136 + "😀", True),
        # 137 Hangul + emoji = 276 + 4 = 280: exactly at the limit.
        ("ㄱ" * 137 + "😀", True),
        # One more ASCII character: 281.
        ("ㄱ" * 137 + "😀a", False),
        # 276 ASCII fit alone; the CoTag pushes them to 280, one more to 281.
        ("a" * 277, False),
    ],
)
def test_length_is_counted_as_x_counts_it_with_the_cotag(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any], text: str, fits: bool
) -> None:
    answer = preview(app, fake_slack, card, text)
    if fits:
        assert answer["response_action"] == "push"
        assert "/280" in all_text(answer["view"]["blocks"])
    else:
        assert answer["response_action"] == "errors"
        assert "281/280" in answer["errors"][TEXT_BLOCK]
        assert "1 over" in answer["errors"][TEXT_BLOCK]


def test_personal_data_blocks_a_public_reply_and_offers_a_dm(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    answer = preview(app, fake_slack, card, "@jane call us back on 010-1234-5678")
    assert answer["response_action"] == "errors"
    error = answer["errors"][TEXT_BLOCK]
    assert "Send as a DM instead" in error and "010-1234-5678" not in error

    answer = preview(app, fake_slack, card, "Call me on 010-1234-5678", as_dm=True)
    assert answer["response_action"] == "push"
    assert "as a DM" in all_text(answer["view"]["blocks"])
    submit(app, fake_slack, answer["view"])
    run_jobs(rt)
    (dm,) = fake_x.dms_between("brand", "jane")
    assert dm["text"] == "Call me on 010-1234-5678"  # no CoTag in DMs by default
    assert fake_x.posts_by("brand") == []


def test_a_banned_word_blocks_naming_the_word(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    with rt.sessions.begin() as session:
        session.scalars(select(Account)).one().banned_words = ["refund"]
    answer = preview(app, fake_slack, card, "@jane No Refund, sorry")
    assert answer["response_action"] == "errors"
    assert "refund" in answer["errors"][TEXT_BLOCK]


def test_more_than_one_cashtag_is_refused_before_x_refuses_it(
    app: App, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    answer = preview(app, fake_slack, card, "@jane $TSLA beats $AAPL")
    assert answer["response_action"] == "errors"
    assert "one cashtag" in answer["errors"][TEXT_BLOCK]
    assert "$TSLA, $AAPL" in answer["errors"][TEXT_BLOCK]


def test_a_post_that_does_not_summon_the_account_offers_a_dm_instead_of_a_reply(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    """X refuses a self-serve app's reply unless the post's author mentioned the account or
    quoted one of its posts; Reply says so at once, and DM still works."""
    compose = open_modal(app, fake_slack, card, ACTION_REPLY)  # opened while it summoned
    with rt.sessions.begin() as session:
        session.scalars(select(Mention)).one().summons = False

    press(app, fake_slack, card, ACTION_REPLY)
    said = modal_answer(fake_slack)
    assert "X will refuse a public reply here" in said and "DM" in said
    answer = submit(app, fake_slack, compose, typed("@jane on it"))
    assert answer["response_action"] == "errors"
    assert "neither mentions @brand" in answer["errors"][TEXT_BLOCK]

    dm = preview(app, fake_slack, card, "On it", action=ACTION_DM)
    submit(app, fake_slack, dm["view"])
    run_jobs(rt)
    assert len(fake_x.dms_between("brand", "jane")) == 1
    assert fake_x.posts_by("brand") == []


def test_on_enterprise_neither_rule_of_self_serve_apps_stands_in_the_way(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    """X exempts Enterprise from the summoned-reply rule and the one-cashtag rule."""
    rt.settings = rt.settings.model_copy(update={"x_plan": "enterprise"})
    with rt.sessions.begin() as session:
        session.scalars(select(Mention)).one().summons = False
    answer = preview(app, fake_slack, card, "@jane $TSLA beats $AAPL")
    assert answer["response_action"] == "push"


def test_empty_text_is_refused(app: App, fake_slack: FakeSlack, card: dict[str, Any]) -> None:
    answer = preview(app, fake_slack, card, "   \n ")
    assert answer["response_action"] == "errors"
    assert "empty" in answer["errors"][TEXT_BLOCK]


def test_user_text_reaches_slack_escaped(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    answer = preview(app, fake_slack, card, "@jane <!channel> & <@U0BOSS> 5 > 3")
    shown = all_text(answer["view"]["blocks"])
    assert "<!channel>" not in shown and "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" in shown
    submit(app, fake_slack, answer["view"])
    run_jobs(rt)
    (post,) = fake_x.posts_by("brand")
    assert post["text"] == "@jane <!channel> & <@U0BOSS> 5 > 3 ^BK"
    for message in fake_slack.messages(BRAND_CHANNEL):
        assert "<!channel>" not in json.dumps(message) and "<@U0BOSS>" not in json.dumps(message)


# --- permissions and CoTags ---------------------------------------------------------


def test_the_modal_opens_within_the_triggers_life_however_slow_the_work_behind_it(
    app: App, fake_slack: FakeSlack, card: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A click's trigger_id lives 3 s; Roost opened the modal only after its database work,
    so a busy moment made the click do nothing (expired_trigger_id)."""
    fake_slack.trigger_seconds = 0.3
    start = acting.start

    def slow_start(*args: Any) -> Any:
        time.sleep(0.6)  # the database, busy
        return start(*args)

    monkeypatch.setattr(acting, "start", slow_start)
    compose = open_modal(app, fake_slack, card, ACTION_REPLY)
    assert compose["callback_id"] and TEXT_BLOCK in json.dumps(compose["blocks"])


def test_a_click_slack_took_too_long_to_deliver_is_asked_for_again(
    app: App, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    fake_slack.trigger_seconds = 0.0  # spent before Roost could open anything
    press(app, fake_slack, card, ACTION_REPLY)
    assert "Click again" in ephemeral_answer(fake_slack)


def test_a_modal_closed_while_it_loads_is_left_closed_and_nobody_is_told_of_a_failure(
    app: App, fake_slack: FakeSlack, card: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    start = acting.start

    def closed_meanwhile(*args: Any) -> Any:
        fake_slack.close_view(fake_slack.views[-1]["view_id"])
        return start(*args)

    monkeypatch.setattr(acting, "start", closed_meanwhile)
    assert press(app, fake_slack, card, ACTION_REPLY).status == 200
    assert [v["method"] for v in fake_slack.views] == ["views.open"]
    assert fake_slack.responses == [] and fake_slack.ephemerals == []


@pytest.mark.parametrize("action", [ACTION_REPLY, ACTION_DM, ACTION_RETWEET, ACTION_RESOLVE])
def test_someone_without_a_grant_is_told_who_can_grant_it(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any], action: str
) -> None:
    assert press(app, fake_slack, card, action, user=STRANGER).status == 200
    opens_a_modal = action in (ACTION_REPLY, ACTION_DM)
    answer = modal_answer(fake_slack) if opens_a_modal else ephemeral_answer(fake_slack)
    assert "no role on *@brand*" in answer
    assert f"<@{LEAD}>" in answer and f"<@{OWNER}>" in answer
    assert outbound_rows(rt) == []


def test_a_viewer_is_refused_too(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    give(rt, fake_slack, STRANGER, "viewer", None)
    press(app, fake_slack, card, ACTION_REPLY, user=STRANGER)
    assert "(viewer) does not let you act" in modal_answer(fake_slack)


def test_a_member_without_a_cotag_is_asked_to_set_one_first(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    give(rt, fake_slack, STRANGER, "agent", None)
    press(app, fake_slack, card, ACTION_REPLY, user=STRANGER)
    assert "/roost cotag" in modal_answer(fake_slack)

    command(app, fake_slack, "cotag zz", user=STRANGER)
    answer = fake_slack.wait_for(lambda: fake_slack.responses)
    assert "Your CoTag is now *^ZZ*" in answer[-1]["text"]
    assert open_modal(app, fake_slack, card, ACTION_REPLY, user=STRANGER)


def test_cotag_command_refuses_a_malformed_or_taken_tag(
    app: App, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    command(app, fake_slack, "cotag ^TOOLONG", user=STRANGER)
    command(app, fake_slack, "cotag ^bk", user=STRANGER)
    answers = fake_slack.wait_for(lambda: len(fake_slack.responses) == 2 and fake_slack.responses)
    assert "1 to 4 letters" in answers[0]["text"]
    assert f"taken by <@{AGENT}>" in answers[1]["text"]


# --- approval -------------------------------------------------------------------


def test_needs_approval_reply_waits_for_an_owner_other_than_its_author(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    give(rt, fake_slack, JUNIOR, "needs-approval", "^JR")
    answer = preview(app, fake_slack, card, "@jane We're sorry!", user=JUNIOR)
    assert answer["view"]["submit"]["text"] == "Send for approval"
    submit(app, fake_slack, answer["view"], user=JUNIOR)
    run_jobs(rt)
    assert fake_x.posts_by("brand") == []
    waiting = latest_card(fake_slack, card)
    assert "awaiting approval" in all_text(waiting["blocks"])

    # The junior cannot approve it, nor can an agent.
    for answered, user in enumerate((JUNIOR, AGENT), start=1):
        press(app, fake_slack, waiting, ACTION_APPROVE, user=user)
        # The click's listener has finished (make_app): its answer is in.
        assert len(fake_slack.responses) == answered
        assert "Only an owner" in fake_slack.responses[-1]["text"]
        run_jobs(rt)
        assert outbound_rows(rt)[0].status == "awaiting_approval"
    assert fake_x.posts_by("brand") == []

    press(app, fake_slack, waiting, ACTION_APPROVE, user=OWNER)
    run_jobs(rt)
    (post,) = fake_x.posts_by("brand")
    assert post["text"] == "@jane We're sorry! ^JR"  # the author's CoTag, not the approver's
    (row,) = outbound_rows(rt)
    assert row.status == "sent" and row.approver_id is not None
    assert {"outbound.awaiting_approval", "outbound.approved", "outbound.sent"} <= set(
        event_kinds(rt)
    )


def test_an_owner_cannot_approve_their_own_reply(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    # An owner who is also marked needs-approval elsewhere is not the case here:
    # the author is the junior, later made owner, who tries to approve it.
    give(rt, fake_slack, JUNIOR, "needs-approval", "^JR")
    answer = preview(app, fake_slack, card, "@jane Hello", user=JUNIOR)
    submit(app, fake_slack, answer["view"], user=JUNIOR)
    run_jobs(rt)
    give(rt, fake_slack, JUNIOR, "owner", None)
    press(app, fake_slack, latest_card(fake_slack, card), ACTION_APPROVE, user=JUNIOR)
    assert "You wrote this one" in ephemeral_answer(fake_slack)
    press(app, fake_slack, latest_card(fake_slack, card), ACTION_REJECT, user=LEAD)
    run_jobs(rt)
    assert fake_x.posts_by("brand") == []
    assert outbound_rows(rt)[0].status == "rejected"
    assert "was rejected" in all_text(latest_card(fake_slack, card)["blocks"])


# --- status ---------------------------------------------------------------------


def test_resolve_ignore_and_reopen_change_the_card_and_log_in_the_thread(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    press(app, fake_slack, card, ACTION_RESOLVE)
    run_jobs(rt)
    resolved = latest_card(fake_slack, card)
    assert the_mention(rt).status == "resolved" and the_mention(rt).resolved_at is not None
    assert "Resolved" in all_text(resolved["blocks"])
    with rt.sessions() as session:
        resolver = session.get_one(Member, the_mention(rt).resolver_id)
        assert resolver.user_id == AGENT  # for the digest's per-person resolution times
    press(app, fake_slack, resolved, ACTION_REOPEN, user=OWNER)
    run_jobs(rt)
    assert the_mention(rt).status == "open" and the_mention(rt).resolver_id is None
    press(app, fake_slack, latest_card(fake_slack, card), ACTION_IGNORE)
    run_jobs(rt)
    assert the_mention(rt).status == "ignored"
    log = [m["text"] for m in fake_slack.thread(BRAND_CHANNEL, card["ts"])]
    assert log == [
        f":white_check_mark: Resolved by <@{AGENT}>.",
        f":arrows_counterclockwise: Reopened by <@{OWNER}>.",
        f":see_no_evil: Marked as ignored (spam or noise) by <@{AGENT}>.",
    ]
    assert {"mention.resolved", "mention.reopened", "mention.ignored"} <= set(event_kinds(rt))


def test_replying_after_someone_resolved_warns_but_still_sends(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    compose = open_modal(app, fake_slack, card, ACTION_REPLY)
    press(app, fake_slack, card, ACTION_RESOLVE, user=OWNER)
    answer = submit(app, fake_slack, compose, typed("@jane Late but here"))
    assert "marked resolved meanwhile" in all_text(answer["view"]["blocks"])
    submit(app, fake_slack, answer["view"])
    run_jobs(rt)
    assert len(fake_x.posts_by("brand")) == 1
    assert the_mention(rt).status == "resolved"  # a late reply does not reopen it


# --- retweet --------------------------------------------------------------------


def test_retweet_once_then_undo(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    retweet = next(
        e
        for b in card["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == ACTION_RETWEET
    )
    assert retweet["confirm"]["confirm"]["text"] == "Retweet"
    press(app, fake_slack, card, ACTION_RETWEET)
    press(app, fake_slack, card, ACTION_RETWEET)  # a double click
    run_jobs(rt)
    tweet_id = str(the_mention(rt).tweet_id)
    brand_id = fake_x.user_id("brand")
    assert fake_x.retweeters_of(tweet_id) == {brand_id}
    assert len(fake_x.calls_to("/2/users/", "POST")) == 1
    shown = latest_card(fake_slack, card)
    assert f"<@{AGENT}> retweeted as @brand" in all_text(shown["blocks"])

    press(app, fake_slack, shown, ACTION_UNDO_RETWEET)
    run_jobs(rt)
    assert fake_x.retweeters_of(tweet_id) == set()
    assert "(since undone)" in all_text(latest_card(fake_slack, card)["blocks"])


@pytest.mark.parametrize(("cotags", "dm_cotags"), [(False, False), (True, True)])
def test_cotags_follow_the_accounts_settings(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    card: dict[str, Any],
    cotags: bool,
    dm_cotags: bool,
) -> None:
    with rt.sessions.begin() as session:
        account = session.scalars(select(Account)).one()
        account.cotags_enabled, account.dm_cotags = cotags, dm_cotags
    for action, text in ((ACTION_REPLY, "@jane public"), (ACTION_DM, "private")):
        answer = preview(app, fake_slack, card, text, action=action)
        submit(app, fake_slack, answer["view"])
    run_jobs(rt)
    (post,) = fake_x.posts_by("brand")
    (dm,) = fake_x.dms_between("brand", "jane")
    assert post["text"] == ("@jane public ^BK" if cotags else "@jane public")
    assert dm["text"] == ("private ^BK" if dm_cotags else "private")


def test_a_rejected_retweet_does_not_block_a_later_one(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    give(rt, fake_slack, JUNIOR, "needs-approval", "^JR")
    press(app, fake_slack, card, ACTION_RETWEET, user=JUNIOR)
    run_jobs(rt)
    press(app, fake_slack, latest_card(fake_slack, card), ACTION_REJECT, user=OWNER)
    run_jobs(rt)
    press(app, fake_slack, latest_card(fake_slack, card), ACTION_RETWEET, user=OWNER)
    run_jobs(rt)
    assert fake_x.retweeters_of(str(the_mention(rt).tweet_id)) == {fake_x.user_id("brand")}
    # Pressing again while it stands says so.
    press(app, fake_slack, latest_card(fake_slack, card), ACTION_RETWEET, user=OWNER)
    assert "already retweeted" in ephemeral_answer(fake_slack)


def test_undoing_a_retweet_needs_approval_for_those_who_need_it(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    press(app, fake_slack, card, ACTION_RETWEET)
    run_jobs(rt)
    give(rt, fake_slack, JUNIOR, "needs-approval", "^JR")
    press(app, fake_slack, latest_card(fake_slack, card), ACTION_UNDO_RETWEET, user=JUNIOR)
    run_jobs(rt)
    assert fake_x.retweeters_of(str(the_mention(rt).tweet_id)) == {fake_x.user_id("brand")}
    assert outbound_rows(rt)[-1].status == "awaiting_approval"


def test_a_refusal_from_the_app_home_arrives_by_dm(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    fake_slack.add_user(STRANGER, "stranger")
    click = {
        "type": "block_actions",
        "team": {"id": fake_slack.team_id},
        "user": {"id": STRANGER, "team_id": fake_slack.team_id},
        "api_app_id": "AROOST",
        "container": {"type": "view", "view_id": "V0HOME"},
        "view": {"id": "V0HOME", "type": "home"},
        "trigger_id": fake_slack.issue_trigger(),
        "actions": [button(card, ACTION_RESOLVE)],
    }
    assert dispatch(app, action_body(click)).status == 200
    (dm,) = fake_slack.dms(STRANGER)
    assert "no role on *@brand*" in dm["text"]

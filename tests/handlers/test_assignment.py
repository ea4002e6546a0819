"""Assigning mentions: the picker, @someone in the card's thread, Undo, lists, SLA reminders.

Signed requests through the real Bolt app, the fake Slack, a real Redis and both databases.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from rq.registry import ScheduledJobRegistry
from slack_bolt import App
from sqlalchemy import select

from bot.errors import SlackError
from bot.inbox.assignment import ACTION_UNDO_ASSIGN
from bot.inbox.cards import ACTION_ASSIGN, ACTION_RESOLVE
from bot.inbox.delivery import reminder_job_id
from bot.inbox.intake import Intake
from bot.inbox.sla import remind, sweep_reminders
from bot.outbound.acting import retweet
from bot.runtime import Runtime
from bot.team.people import Who
from sandbox.slack_api import FakeSlack, event_body
from sandbox.x_api import FakeX
from storage.models import Account, Event, Member, Mention, Note
from tests.conftest import AGENT, BRAND_CHANNEL, LEAD, OWNER, give, run_jobs
from tests.handlers.signed import button, card_click, command, dispatch, make_app, press

BOB = "U0BOB"
CAROL = "U0CAROL"
STRANGER = "U0STRANGER"
JSON = "application/json"
_ts = itertools.count(1)


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack) -> App:
    return make_app(rt)


@pytest.fixture
def card(rt: Runtime, fake_slack: FakeSlack, jane_card: dict[str, Any]) -> dict[str, Any]:
    """@jane's card; Bob and Carol are agents on @brand and people in the workspace."""
    for user, name in ((BOB, "bob"), (CAROL, "carol"), (AGENT, "agent"), (OWNER, "owner")):
        fake_slack.add_user(user, name)
    give(rt, fake_slack, BOB, "agent", "^BB")
    give(rt, fake_slack, CAROL, "agent", "^CC")
    return jane_card


def the_mention(rt: Runtime) -> Mention:
    with rt.sessions() as session:
        return session.scalars(select(Mention)).one()


def assignee(rt: Runtime) -> str | None:
    with rt.sessions() as session:
        mention = session.scalars(select(Mention)).one()
        found = session.get(Member, mention.assignee_id) if mention.assignee_id else None
        return found.user_id if found else None


def events(rt: Runtime, prefix: str = "mention.") -> list[Event]:
    with rt.sessions() as session:
        return list(
            session.scalars(select(Event).where(Event.kind.startswith(prefix)).order_by(Event.id))
        )


def say_in_thread(
    app: App, fake_slack: FakeSlack, card: dict[str, Any], text: str, *, user: str = AGENT
) -> dict[str, Any]:
    """A person writes in the card's thread: Slack's message event, signed."""
    event = {
        "type": "message",
        "channel": BRAND_CHANNEL,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": f"1800000000.{next(_ts):06d}",
        "thread_ts": card["ts"],
        "team": fake_slack.team_id,
    }
    deliver(app, fake_slack, event)
    return event


def deliver(app: App, fake_slack: FakeSlack, event: dict[str, Any]) -> None:
    assert dispatch(app, event_body(event, team_id=fake_slack.team_id), JSON).status == 200


def pick(app: App, fake_slack: FakeSlack, card: dict[str, Any], user: str, *, by: str = AGENT):
    action = {**button(card, ACTION_ASSIGN), "selected_user": user}
    return dispatch(app, card_click(fake_slack, action, user=by))


def thread(fake_slack: FakeSlack, card: dict[str, Any]) -> list[dict[str, Any]]:
    return fake_slack.thread(BRAND_CHANNEL, card["ts"])


def thread_ephemerals(fake_slack: FakeSlack) -> list[str]:
    return [e["text"] for e in fake_slack.ephemerals if e.get("thread_ts")]


def latest_card(fake_slack: FakeSlack, card: dict[str, Any]) -> dict[str, Any]:
    return fake_slack.message(BRAND_CHANNEL, card["ts"])


# --- assigning -------------------------------------------------------------------


def test_the_picker_assigns_tells_the_thread_the_card_the_assignee_and_their_home(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    assert pick(app, fake_slack, card, BOB).status == 200
    run_jobs(rt)

    assert assignee(rt) == BOB and the_mention(rt).status == "assigned"
    (answer,) = thread(fake_slack, card)
    assert answer["text"] == f"Assigned to <@{BOB}> by <@{AGENT}>."
    assert button(answer, ACTION_UNDO_ASSIGN)["value"] == str(events(rt)[-1].id)
    shown = latest_card(fake_slack, card)
    assert f"assigned to <@{BOB}>" in json.dumps(shown["blocks"])
    picker = button(shown, ACTION_ASSIGN)
    assert picker["type"] == "users_select"
    (dm,) = fake_slack.dms(BOB)
    assert f"<@{AGENT}> assigned you a mention of *@brand* from @jane" in dm["text"]
    assert f"/archives/{BRAND_CHANNEL}/p{card['ts'].replace('.', '')}" in dm["text"]
    home = next(v for v in fake_slack.views if v.get("user_id") == BOB)
    assert "my phone will not turn on" in json.dumps(home["view"])
    (event,) = events(rt)
    assert (event.kind, event.actor, event.detail["assignee"]) == ("mention.assigned", AGENT, BOB)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"<@{BOB}> can you take this?", BOB),
        (f"assign <@{BOB}>", BOB),
        (f"<@UROOSTBOT> assign <@{BOB}>", BOB),
        ("take", AGENT),
    ],
)
def test_a_thread_reply_starting_with_an_instruction_assigns(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any], text: str, expected: str
) -> None:
    say_in_thread(app, fake_slack, card, text)
    run_jobs(rt)
    assert assignee(rt) == expected
    answers = [m["text"] for m in thread(fake_slack, card)]
    assert answers[-1] in (f"Assigned to <@{BOB}> by <@{AGENT}>.", f"<@{AGENT}> took this.")


def test_a_thread_reply_also_sent_to_the_channel_is_a_note_and_assigns_too(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    """Slack sends "Also send to channel" replies as subtype thread_broadcast; they were
    dropped, notes and @user assignments with them."""
    event = fake_slack.user_message_event(
        BRAND_CHANNEL, AGENT, f"<@{BOB}> yours, everyone", thread_ts=card["ts"], broadcast=True
    )
    assert event["subtype"] == "thread_broadcast"
    deliver(app, fake_slack, event)
    run_jobs(rt)
    assert assignee(rt) == BOB
    with rt.sessions() as session:
        assert [n.text for n in session.scalars(select(Note))] == [f"<@{BOB}> yours, everyone"]


def test_unassign_and_reassign_tell_the_person_it_was_taken_from(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    say_in_thread(app, fake_slack, card, f"<@{BOB}> yours")
    say_in_thread(app, fake_slack, card, f"<@{CAROL}> actually yours")
    run_jobs(rt)
    assert assignee(rt) == CAROL
    assert "handed a mention of *@brand* from @jane" in fake_slack.dms(BOB)[-1]["text"]
    assert f"to <@{CAROL}>" in fake_slack.dms(BOB)[-1]["text"]
    say_in_thread(app, fake_slack, card, "unassign")
    run_jobs(rt)
    assert assignee(rt) is None and the_mention(rt).status == "open"
    assert [e.kind for e in events(rt)] == [
        "mention.assigned",
        "mention.assigned",
        "mention.unassigned",
    ]


def test_people_talking_in_the_thread_leave_notes_and_nothing_goes_to_x(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    say_in_thread(app, fake_slack, card, f"thanks <@{BOB}>, I asked the customer")
    say_in_thread(app, fake_slack, card, "She wants a refund <!channel>", user=BOB)
    say_in_thread(app, fake_slack, card, "AT&T <3 says 5 > 4", user=BOB)  # kept as typed
    run_jobs(rt)
    assert assignee(rt) is None
    with rt.sessions() as session:
        notes = [(n.author, n.text) for n in session.scalars(select(Note).order_by(Note.id))]
    assert notes == [
        (AGENT, f"thanks <@{BOB}>, I asked the customer"),
        (BOB, "She wants a refund <!channel>"),
        (BOB, "AT&T <3 says 5 > 4"),
    ]
    assert thread(fake_slack, card) == [] and fake_slack.ephemerals == []
    assert [call for call in fake_x.calls if call.method != "GET"] == []


def test_a_message_in_a_thread_that_is_not_a_cards_is_ignored(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    other = fake_slack.messages(BRAND_CHANNEL)  # only the card so far
    assert len(other) == 1
    posted = rt.slack.chat_postMessage(channel=BRAND_CHANNEL, text="lunch?")
    say_in_thread(app, fake_slack, {"ts": posted["ts"]}, f"<@{BOB}> coming?")
    run_jobs(rt)
    assert assignee(rt) is None and events(rt) == []
    with rt.sessions() as session:
        assert session.scalars(select(Note)).all() == []


def test_the_same_event_delivered_twice_assigns_once(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    event = say_in_thread(app, fake_slack, card, f"<@{BOB}> please")
    deliver(app, fake_slack, event)  # Slack's retry of the same message
    run_jobs(rt)
    assert len(events(rt)) == 1
    assert len(thread(fake_slack, card)) == 1
    assert len(fake_slack.dms(BOB)) == 1


# --- who can be assigned, and who can assign ------------------------------------------


@pytest.mark.parametrize(
    ("setup", "target", "said"),
    [
        ("bot", "U0HELPER", "is a bot"),
        ("unknown", "U0NOBODY", "is not in this Slack workspace: invite them to Slack first"),
        ("foreign", "U0ELSEWHERE", "is in another workspace"),
        ("no grant", STRANGER, "has no role on *@brand*"),
        ("viewer", STRANGER, "has no role on *@brand*"),
    ],
)
def test_an_invalid_assignee_gets_a_thread_answer_saying_why(
    app: App,
    rt: Runtime,
    fake_slack: FakeSlack,
    card: dict[str, Any],
    setup: str,
    target: str,
    said: str,
) -> None:
    if setup == "bot":
        fake_slack.add_user(target, "helper", is_bot=True)
    elif setup == "foreign":
        fake_slack.add_user(target, "guest", team_id="T0OTHER")
    elif setup in ("no grant", "viewer"):
        fake_slack.add_user(target, "stranger")
        if setup == "viewer":
            give(rt, fake_slack, target, "viewer", None)
    say_in_thread(app, fake_slack, card, f"<@{target}> can you?")
    run_jobs(rt)
    assert assignee(rt) is None and events(rt) == []
    (answer,) = thread_ephemerals(fake_slack)
    assert said in answer
    if setup in ("no grant", "viewer"):
        assert f"<@{OWNER}>" in answer and f"<@{LEAD}>" in answer


def test_naming_two_people_asks_which(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    say_in_thread(app, fake_slack, card, f"<@{BOB}> <@{CAROL}> who has time?")
    run_jobs(rt)
    assert assignee(rt) is None
    (answer,) = thread_ephemerals(fake_slack)
    assert answer.startswith("Assign to whom?") and f"<@{BOB}>, <@{CAROL}>" in answer


def test_someone_without_a_role_cannot_assign(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    fake_slack.add_user(STRANGER, "stranger")
    pick(app, fake_slack, card, BOB, by=STRANGER)
    answer = fake_slack.wait_for(lambda: fake_slack.responses)[-1]
    assert "You have no role on *@brand*" in answer["text"]
    assert assignee(rt) is None


# --- Undo ---------------------------------------------------------------------------


def test_undo_restores_the_previous_assignee_for_the_assigner_or_an_owner_only(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    pick(app, fake_slack, card, BOB)
    run_jobs(rt)
    pick(app, fake_slack, card, CAROL, by=BOB)
    run_jobs(rt)
    second = thread(fake_slack, card)[-1]

    press(app, fake_slack, second, ACTION_UNDO_ASSIGN, user=AGENT)  # not the one who made it
    assert (
        "Only <@U0BOB>, who made this change, or an owner"
        in (fake_slack.wait_for(lambda: fake_slack.responses)[-1]["text"])
    )
    assert assignee(rt) == CAROL

    press(app, fake_slack, second, ACTION_UNDO_ASSIGN, user=OWNER)
    run_jobs(rt)
    assert assignee(rt) == BOB
    assert thread(fake_slack, card)[-1]["text"] == (
        f":leftwards_arrow_with_hook: <@{OWNER}> undid that: assigned to <@{BOB}> again."
    )
    # Undoing twice changes nothing more.
    press(app, fake_slack, second, ACTION_UNDO_ASSIGN, user=BOB)
    assert "changed since" in fake_slack.wait_for(lambda: fake_slack.responses)[-1]["text"]
    assert assignee(rt) == BOB
    assert events(rt)[-1].detail["undoes"] == events(rt)[1].id


# --- lists --------------------------------------------------------------------------


def test_mine_inbox_and_the_home_list_open_items_with_links(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    brand: Account,
    card: dict[str, Any],
) -> None:
    fake_x.add_user("kim")
    fake_x.post_mention("brand", author="kim", text="@brand where is my order?")
    Intake(rt).poll(brand)
    run_jobs(rt)
    pick(app, fake_slack, card, BOB)
    run_jobs(rt)

    command(app, fake_slack, "mine", user=BOB)
    command(app, fake_slack, "inbox @brand", user=BOB)
    mine, inbox = fake_slack.wait_for(
        lambda: len(fake_slack.responses) == 2 and fake_slack.responses
    )
    assert mine["response_type"] == "ephemeral"
    assert "*Assigned to you* (1)" in mine["text"] and "my phone will not turn on" in mine["text"]
    assert f"/archives/{BRAND_CHANNEL}/p" in mine["text"]
    assert "where is my order" in inbox["text"] and "my phone" not in inbox["text"]

    home = {"type": "app_home_opened", "user": CAROL, "tab": "home", "channel": "D1"}
    deliver(app, fake_slack, home)
    published = [v for v in fake_slack.views if v.get("user_id") == CAROL][-1]["view"]
    shown = json.dumps(published)
    assert "Nothing is assigned to you" in shown and "where is my order" in shown
    assert ACTION_RESOLVE in shown


def test_lists_stay_within_slacks_limits_with_hundreds_open(
    rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    from bot.home import home_view
    from bot.inbox.worklists import HOME_ITEMS, WorkItem, WorkList

    item = WorkItem(1, "brand", "jane", "x" * 5000, the_mention(rt).created_at, "open", None)
    view = home_view(WorkList([item] * HOME_ITEMS, 900), WorkList([item] * HOME_ITEMS, 900))
    assert len(view["blocks"]) <= 100
    assert "… and 888 more" in json.dumps(view, ensure_ascii=False)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in view["blocks"])


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_homes_help_is_whole_in_every_language(language: str) -> None:
    """The help at the Home's foot, in parts Slack takes, each ending where a point ends."""
    from bot.help import HELP
    from bot.home import HELP_PART, help_parts
    from bot.i18n import _, speaking

    with speaking(language):
        text = _(HELP)
        parts = help_parts(text)
    assert " ".join(parts) == text.replace("\n", " ")
    assert all(len(part) <= HELP_PART for part in parts) and len(parts) < 10


# --- SLA ----------------------------------------------------------------------------


def scheduled(rt: Runtime) -> list[str]:
    return ScheduledJobRegistry(queue=rt.team_queue).get_job_ids()


def later(rt: Runtime, minutes: int) -> None:
    moment = rt.clock() + timedelta(minutes=minutes)
    rt.clock = lambda: moment


def test_an_unanswered_mention_gets_one_reminder_mentioning_its_assignee(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    mention = the_mention(rt)
    assert mention.sla_due_at == mention.created_at + timedelta(minutes=60)
    assert reminder_job_id(mention.id) in scheduled(rt)
    assert "reply due by" in json.dumps(card["blocks"])
    pick(app, fake_slack, card, BOB)
    run_jobs(rt)

    assert remind(mention.id) == "not needed"  # not due yet
    later(rt, 61)
    assert remind(mention.id) == "reminded"
    assert remind(mention.id) == "not needed"  # once
    reminders = [m for m in thread(fake_slack, card) if ":alarm_clock:" in m["text"]]
    assert len(reminders) == 1 and f"<@{BOB}>" in reminders[0]["text"]
    assert "overdue" in json.dumps(latest_card(fake_slack, card)["blocks"])
    assert "mention.sla_reminded" in [e.kind for e in events(rt)]


def test_an_unassigned_overdue_mention_reminds_the_channel(
    rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    later(rt, 61)
    remind(the_mention(rt).id)
    (reminder,) = thread(fake_slack, card)
    assert reminder["text"].startswith(":alarm_clock: <!here> nobody is assigned yet")


@pytest.mark.parametrize("how", ["replied", "resolved"])
def test_answering_or_resolving_cancels_the_reminder(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, card: dict[str, Any], how: str
) -> None:
    mention = the_mention(rt)
    if how == "resolved":
        press(app, fake_slack, card, ACTION_RESOLVE)
    else:
        from bot.outbound.acting import publish
        from bot.outbound.reply_modal import Draft

        draft = Draft(mention.id, "reply", "n1", "@jane sorted")
        assert publish(rt, Who(fake_slack.team_id, AGENT), draft).ok
    run_jobs(rt)
    assert reminder_job_id(mention.id) not in scheduled(rt)
    later(rt, 61)
    assert remind(mention.id) == "not needed"
    assert not [m for m in thread(fake_slack, card) if ":alarm_clock:" in m["text"]]


def test_a_reminder_due_while_workers_were_down_is_sent_once_late(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, card: dict[str, Any]
) -> None:
    mention = the_mention(rt)
    rt.redis.flushdb()  # the scheduled reminder is gone with Redis
    later(rt, 90)
    assert sweep_reminders(rt, brand.id) == 1
    assert sweep_reminders(rt, brand.id) == 1  # queued twice, by two sweeps
    run_jobs(rt)
    assert remind(mention.id) == "not needed"  # and the original job, had it survived
    reminders = [m for m in thread(fake_slack, card) if ":alarm_clock:" in m["text"]]
    assert len(reminders) == 1
    (event,) = events(rt, "mention.sla_reminded")
    # Due 60 min after the post, reminded 90 min after this test's start: 30 min late,
    # plus however long the machine took between posting the mention and now.
    assert 30 * 60 <= event.detail["late_seconds"] < 31 * 60
    assert sweep_reminders(rt, brand.id) == 0


def test_retweeting_is_not_an_answer(
    rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    retweet(rt, Who(fake_slack.team_id, AGENT), the_mention(rt).id)
    run_jobs(rt)
    assert reminder_job_id(the_mention(rt).id) in scheduled(rt)


def test_a_reminder_slack_refused_is_sent_when_tried_again(
    rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    later(rt, 61)
    fake_slack.fail("chat.postMessage", status=503)
    with pytest.raises(SlackError):
        remind(the_mention(rt).id)
    assert remind(the_mention(rt).id) == "reminded"
    assert len([m for m in thread(fake_slack, card) if ":alarm_clock:" in m["text"]]) == 1


def test_a_reminder_slack_took_but_whose_answer_was_lost_is_not_posted_again(
    rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    later(rt, 61)
    fake_slack.lose_answer("chat.postMessage")
    with pytest.raises(SlackError):
        remind(the_mention(rt).id)  # posted, but Roost cannot know
    assert remind(the_mention(rt).id) == "reminded"  # the retry finds it in the thread
    assert len([m for m in thread(fake_slack, card) if ":alarm_clock:" in m["text"]]) == 1


def test_an_assignment_whose_answer_was_lost_is_announced_once(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    from bot.inbox.assignment import announce_assignment

    fake_slack.lose_answer("chat.postMessage")
    pick(app, fake_slack, card, BOB)
    run_jobs(rt)  # the announcement's thread answer was posted; its answer lost: a retry waits
    with rt.sessions() as session:
        event_id = session.scalars(select(Event.id).where(Event.kind == "mention.assigned")).one()
    announce_assignment(event_id)  # RQ's retry
    answers = [m for m in thread(fake_slack, card) if "Assigned to" in m["text"]]
    assert len(answers) == 1
    assert len(fake_slack.dms(BOB)) == 1


def test_a_home_that_cannot_be_refreshed_does_not_repeat_the_news(
    app: App, rt: Runtime, fake_slack: FakeSlack, card: dict[str, Any]
) -> None:
    fake_slack.fail("views.publish", status=503, times=5)
    pick(app, fake_slack, card, BOB)
    run_jobs(rt)
    assert len(thread(fake_slack, card)) == 1 and len(fake_slack.dms(BOB)) == 1


def test_the_workers_sweep_covers_accounts_whose_intake_is_stopped(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, card: dict[str, Any]
) -> None:
    from bot.sweep import sweep

    with rt.sessions.begin() as session:
        session.get_one(Account, brand.id).intake_status = "revoked"
    rt.redis.flushdb()
    later(rt, 61)
    assert sweep() == 1  # the overdue reminder, queued
    run_jobs(rt)
    assert len([m for m in thread(fake_slack, card) if ":alarm_clock:" in m["text"]]) == 1

"""One answer to many in a surge: Reply to all and Send to customer service say what
they would do before anything goes out, send once to each person, leave out whom they
must, keep under X's limits with room for the team, and stop when told to."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.errors import Refused
from bot.runtime import Runtime
from bot.slack.pace import Pace
from bot.surge import batches
from bot.surge.answer_modal import ANSWER_CALLBACK, TEXT_BLOCK, TEXT_INPUT
from bot.surge.batches import LIMITS, advance_batches, care_command
from bot.surge.cards import (
    CANCEL_ACTION,
    CARE_ACTION,
    PAUSE_ACTION,
    REPLY_ALL_ACTION,
    publish_surges,
)
from bot.team.budget import Budget, budget_of
from bot.team.people import Who
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Batch, Event, Mention, Outbound
from storage.team import member, revoke
from tests.bot.surge.test_cards import FAST, group_cards, mentions_in, surge_on
from tests.conftest import AGENT, OWNER, give, run_jobs
from tests.handlers.signed import make_app, opened_modal, press, submit

DELIVERY = ["아이폰 배송 언제 되나요?", "배송이 아직도 안 왔어요", "배송 지연 공지 좀 해주세요"]


def replies_by_brand(fake_x: FakeX) -> list[dict[str, Any]]:
    return [p for p in fake_x.posts_by("brand") if p["in_reply_to_tweet_id"]]


def one_group(rt: Runtime, fake_slack: FakeSlack) -> dict[str, Any]:
    publish_surges(rt, Pace(rt.redis, FAST))
    (card,) = group_cards(fake_slack)
    return card


def open_answer(app: Any, fake_slack: FakeSlack, card: dict[str, Any], action: str) -> dict:
    before = len(fake_slack.views)
    assert press(app, fake_slack, card, action).status == 200
    return opened_modal(fake_slack, before)


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def send(app: Any, fake_slack: FakeSlack, view: dict[str, Any], text: str, **more: Any) -> dict:
    values = {TEXT_BLOCK: {TEXT_INPUT: {"type": "plain_text_input", "value": text}}, **more}
    return submit(app, fake_slack, view, values)


@pytest.fixture
def surge(rt: Runtime, fake_slack: FakeSlack, brand: Account) -> None:
    surge_on(rt, fake_slack)
    give(rt, fake_slack, AGENT, "agent", "^BK")


def test_reply_to_all_says_who_is_left_out_what_it_costs_and_replies_once_to_each(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    mentions_in(rt, fake_x, brand, DELIVERY * 3)  # 9 people
    fan = fake_x.add_user("twice")["username"]
    for text in ("배송 언제 와요", "배송 아직이에요?"):  # one person, twice
        fake_x.post_mention("brand", author=fan, text=f"@brand {text}")
    mentions_in(rt, fake_x, brand, ["배송 안 와요 010-1234-5678 로 연락주세요"])
    with rt.sessions.begin() as session:
        ids = list(session.scalars(select(Mention.id).order_by(Mention.id)))
        session.execute(
            update(Mention).where(Mention.id == ids[0]).values(first_response_at=rt.clock())
        )
        session.execute(update(Mention).where(Mention.id == ids[1]).values(summons=False))
    card = one_group(rt, fake_slack)
    app = make_app(rt)

    view = open_answer(app, fake_slack, card, REPLY_ALL_ACTION)

    said = text_of(view)
    total = len(ids)
    assert view["callback_id"] == ANSWER_CALLBACK
    assert view["submit"]["text"] == "Send to 8"  # 12 less answered, not summoned, PII, repeat
    assert f"*8* of the group's {total} mentions get this reply" in said
    assert "1 answered already" in said and "1 did not summon the account" in said
    assert "1 wrote personal data" in said and "1 are further mentions of someone" in said
    assert "$0.010 a reply: *$0.08* for all 8" in said and "a link in it, $0.200 a reply" in said
    assert "All go out now" in said and "signed ^BK" in said

    closed = send(app, fake_slack, view, "Deliveries are 2 days late; details soon.")
    assert closed == {"response_action": "clear"}
    run_jobs(rt)

    replies = replies_by_brand(fake_x)
    assert len(replies) == 8
    assert all(r["text"].endswith("Deliveries are 2 days late; details soon. ^BK") for r in replies)
    assert all(r["text"].startswith("@fan") or r["text"].startswith("@twice") for r in replies)
    assert len({r["in_reply_to_tweet_id"] for r in replies}) == 8
    send(app, fake_slack, view, "Deliveries are 2 days late; details soon.")  # Slack resent it
    advance_batches(rt)
    run_jobs(rt)
    assert len(replies_by_brand(fake_x)) == 8  # nobody twice
    with rt.sessions() as session:
        (batch,) = session.scalars(select(Batch))
        assert batch.status == "done" and batch.planned == 8
        answered = session.scalar(
            select(Mention.id).where(Mention.first_response_at.is_not(None)).limit(1)
        )
        assert answered is not None
    later = rt.clock() + timedelta(seconds=10)
    rt.clock = lambda: later
    publish_surges(rt, Pace(rt.redis, FAST))
    (grown,) = group_cards(fake_slack)
    assert "*Reply to all* by <@U0AGENT>: 8 of 8 sent · done" in text_of(grown)


def test_reply_to_all_keeps_under_xs_window_with_room_left_for_the_team(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    """X's window shortened to 2 s, Roost's with it: a window's share goes, then nothing
    until the window passes, then the rest; X never has to refuse one."""
    limit = LIMITS["reply"]
    fake_x.window_seconds = 2
    rt.settings = rt.settings.model_copy(update={"x_rate_window_seconds": 2})
    counted = 2 + batches.WINDOW_MARGIN.total_seconds()  # Roost's window: X's, and a margin
    mentions_in(rt, fake_x, brand, [f"배송 언제 와요 {n}" for n in range(limit.per_window + 5)])
    card = one_group(rt, fake_slack)
    app = make_app(rt)
    start = rt.clock()
    rt.clock = lambda: start  # Roost's window passes when the test says, however slow it is
    view = open_answer(app, fake_slack, card, REPLY_ALL_ACTION)
    assert f"{limit.for_batches} go out now, the last in about *2 s*" in text_of(view)
    send(app, fake_slack, view, "We're on it.")
    run_jobs(rt)
    assert len(replies_by_brand(fake_x)) == limit.for_batches  # a tenth kept for the team
    assert advance_batches(rt) == 0  # the window is used: nothing more now
    with rt.sessions() as session:
        assert batches.room_for(rt, session, session.get_one(Account, brand.id), "reply") == 0

    time.sleep(2.1)  # X's window, begun at the first reply, is over
    rt.clock = lambda: start + timedelta(seconds=counted + 0.1)
    assert advance_batches(rt) == limit.per_window + 5 - limit.for_batches
    run_jobs(rt)
    assert len(replies_by_brand(fake_x)) == limit.per_window + 5
    with rt.sessions() as session:
        statuses = set(
            session.scalars(select(Outbound.status).where(Outbound.batch_id.is_not(None)))
        )
        assert statuses == {"sent"}  # none was ever held back by a 429
        assert session.get_one(Account, brand.id).x_limited_until is None


def test_pause_holds_what_is_not_released_and_cancel_withdraws_what_is_not_sent(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    mentions_in(rt, fake_x, brand, [f"배송 언제 와요 {n}" for n in range(100)])
    card = one_group(rt, fake_slack)
    app = make_app(rt)
    send(app, fake_slack, open_answer(app, fake_slack, card, REPLY_ALL_ACTION), "Soon.")
    assert advance_batches(rt) == 90  # released; their sends wait for a worker
    later = rt.clock() + timedelta(seconds=10)
    rt.clock = lambda: later
    publish_surges(rt, Pace(rt.redis, FAST))
    (card,) = group_cards(fake_slack)
    assert "0 of 100 sent · going out as X's limits allow" in text_of(card)
    assert press(app, fake_slack, card, PAUSE_ACTION).status == 200
    assert any("is paused" in r.get("text", "") for r in fake_slack.responses)
    assert press(app, fake_slack, card, CANCEL_ACTION).status == 200
    said = [r.get("text", "") for r in fake_slack.responses]
    assert any("90 not yet sent were withdrawn" in text for text in said), said
    run_jobs(rt)
    assert replies_by_brand(fake_x) == []
    assert advance_batches(rt) == 0
    with rt.sessions() as session:
        assert session.scalar(select(Batch.status)) == "cancelled"
        kinds = session.scalars(select(Event.kind).where(Event.kind.like("batch.%"))).all()
        assert sorted(kinds) == ["batch.cancelled", "batch.paused", "batch.started"]


def test_someone_answered_meanwhile_is_not_answered_again_by_the_batch(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    mentions_in(rt, fake_x, brand, DELIVERY * 2)
    card = one_group(rt, fake_slack)
    app = make_app(rt)
    view = open_answer(app, fake_slack, card, REPLY_ALL_ACTION)
    with rt.sessions.begin() as session:  # a reply of someone's own, after the modal opened
        first = session.scalar(select(Mention.id).order_by(Mention.id).limit(1))
        session.execute(
            update(Mention).where(Mention.id == first).values(first_response_at=rt.clock())
        )
    send(app, fake_slack, view, "On its way.")
    run_jobs(rt)
    assert len(replies_by_brand(fake_x)) == 5


def test_a_reply_too_long_with_the_longest_name_and_its_cotag_is_refused_in_the_modal(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    mentions_in(rt, fake_x, brand, DELIVERY)
    card = one_group(rt, fake_slack)
    app = make_app(rt)
    view = open_answer(app, fake_slack, card, REPLY_ALL_ACTION)
    answer = send(app, fake_slack, view, "x" * 270)
    assert answer["response_action"] == "errors"
    assert "over X's limit of 280: shorten it" in answer["errors"][TEXT_BLOCK]
    answer = send(app, fake_slack, view, "Hi <!channel> call 010-1234-5678")
    assert answer["response_action"] == "errors"
    run_jobs(rt)
    assert replies_by_brand(fake_x) == []


def test_customer_service_dms_each_author_once_with_the_accounts_message(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    owner = Who(fake_slack.team_id, OWNER)
    agent = Who(fake_slack.team_id, AGENT)
    assert "has no customer-service message yet" in care_command(rt, agent, "@brand")[0]
    with pytest.raises(Exception, match="owner"):
        care_command(rt, agent, "@brand Call 1588-0000")
    message = "Our care team answers at 1588-0000, 9 to 6."
    assert "now DMs" in care_command(rt, owner, f"@brand {message}")[0]
    mentions_in(rt, fake_x, brand, DELIVERY * 2)
    fan = fake_x.add_user("twice2")["username"]
    for text in ("배송 언제 와요", "배송 아직이에요?"):
        fake_x.post_mention("brand", author=fan, text=f"@brand {text}")
    mentions_in(rt, fake_x, brand, [])
    card = one_group(rt, fake_slack)
    app = make_app(rt)

    view = open_answer(app, fake_slack, card, CARE_ACTION)

    assert message in text_of(view) and "$0.015 a DM" in text_of(view)
    assert view["submit"]["text"] == "Send to 7"
    send(app, fake_slack, view, message)
    run_jobs(rt)
    with rt.sessions() as session:
        authors = set(session.scalars(select(Mention.author_username)))
    sent = [event for author in authors for event in fake_x.dms_between("brand", author or "")]
    assert len(sent) == 7 and all(e["text"] == message for e in sent)
    view = open_answer(app, fake_slack, card, CARE_ACTION)  # again: nobody is left
    assert "Nobody in" in text_of(view) and "8 were sent a DM already" in text_of(view)


def test_the_buttons_refuse_people_without_a_role_and_say_why(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    mentions_in(rt, fake_x, brand, DELIVERY)
    card = one_group(rt, fake_slack)
    app = make_app(rt)
    before = len(fake_slack.views)
    assert press(app, fake_slack, card, REPLY_ALL_ACTION, user="U0STRANGER").status == 200
    view = opened_modal(fake_slack, before)
    assert "You have no role on *@brand*" in text_of(view)


def test_a_hard_budget_pauses_the_batch_where_it_runs_out_and_says_why(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    """Five cents left, hard: five summoned replies of a cent each fit, then the batch pauses
    with the budget's reason on its card, and resuming it releases nothing more."""
    from tests.bot.team.test_budget import set_budget

    mentions_in(rt, fake_x, brand, DELIVERY * 3)
    set_budget(rt, brand, 1_000_000, hard=True)
    with rt.sessions() as session:
        found = budget_of(rt, session.get_one(Account, brand.id))
    assert isinstance(found, Budget)  # reading the mentions cost something already
    set_budget(rt, brand, math.ceil(found.spent * 100) + 5, hard=True)  # five replies more
    card = one_group(rt, fake_slack)
    app = make_app(rt)
    view = open_answer(app, fake_slack, card, REPLY_ALL_ACTION)
    assert "budget does not cover them all" in text_of(view)
    send(app, fake_slack, view, "Soon.")
    run_jobs(rt)
    assert len(replies_by_brand(fake_x)) == 5
    advance_batches(rt)
    with rt.sessions() as session:
        batch = session.scalars(select(Batch)).one()
        assert batch.status == "paused" and "budget for this month is spent" in (batch.why or "")
    later = rt.clock() + timedelta(seconds=10)
    rt.clock = lambda: later
    publish_surges(rt, Pace(rt.redis, FAST))
    (card,) = group_cards(fake_slack)
    assert "5 of 9 sent · paused: @brand's X budget" in text_of(card)
    assert press(app, fake_slack, card, "batch_resume").status == 200
    run_jobs(rt)
    assert len(replies_by_brand(fake_x)) == 5


def test_someone_who_needs_approval_cannot_answer_a_whole_group(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    give(rt, fake_slack, "U0NEW", "needs-approval", "^NW")
    mentions_in(rt, fake_x, brand, DELIVERY)
    card = one_group(rt, fake_slack)
    app = make_app(rt)
    before = len(fake_slack.views)
    assert press(app, fake_slack, card, REPLY_ALL_ACTION, user="U0NEW").status == 200
    view = opened_modal(fake_slack, before)
    assert "without an owner's approval" in text_of(view) and "submit" not in view
    with pytest.raises(Refused, match="without an owner's approval"):
        batches.start(
            rt,
            Who(fake_slack.team_id, "U0NEW"),
            key="k",
            group_id=int(card["blocks"][-1]["block_id"].split(":")[1]),
            kind="reply",
            upto=10**6,
            text="Hi",
            with_link=False,
        )
    with rt.sessions() as session:
        assert session.scalars(select(Batch)).all() == []


def start_reply_all(rt: Runtime, fake_slack: FakeSlack, text: str = "Soon.", **more: Any) -> list:
    """Reply to all on the only group, as the agent, for every mention it has now."""
    with rt.sessions() as session:
        group_id, upto = session.execute(
            select(Mention.surge_group_id, func.max(Mention.id)).group_by(Mention.surge_group_id)
        ).one()
    options: dict[str, Any] = {"kind": "reply", "with_link": False} | more
    return batches.start(
        rt,
        Who(fake_slack.team_id, AGENT),
        key=f"test-{text}",
        group_id=group_id,
        upto=upto,
        text=text,
        **options,
    )


def batch_rows(rt: Runtime) -> Counter[str]:
    with rt.sessions() as session:
        return Counter(
            session.scalars(select(Outbound.status).where(Outbound.batch_id.is_not(None)))
        )


def start_on_each_group(rt: Runtime, fake_slack: FakeSlack, kind: str, text: str) -> None:
    """Start the kind of answer on each of the surge's two groups, as the agent."""
    with rt.sessions() as session:
        groups = session.execute(
            select(Mention.surge_group_id, func.max(Mention.id)).group_by(Mention.surge_group_id)
        ).all()
    assert len(groups) == 2
    for n, (group_id, upto) in enumerate(groups):
        assert not batches.start(
            rt,
            Who(fake_slack.team_id, AGENT),
            key=f"{kind}-{n}",
            group_id=group_id,
            kind=kind,
            upto=upto,
            text=text,
            with_link=False,
        )


def test_a_cancel_during_a_release_withdraws_what_that_release_made_too(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    brand: Account,
    surge: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancel clicked while a run is choosing whom to release: it waits for the run's
    rows, and withdraws them with the rest; nothing goes out."""
    mentions_in(rt, fake_x, brand, [f"배송 언제 와요 {n}" for n in range(30)])
    publish_surges(rt, Pace(rt.redis, FAST))
    assert start_reply_all(rt, fake_slack) == []
    with rt.sessions() as session:
        batch_id = session.scalars(select(Batch.id)).one()
    planning, answers, clicks = batches.plan, [], []

    def cancel_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = planning(*args, **kwargs)
        if kwargs.get("batch_id") and not clicks:
            who = Who(fake_slack.team_id, OWNER)
            clicked = threading.Thread(
                target=lambda: answers.append(batches.change(rt, who, batch_id, "cancelled"))
            )
            clicked.start()
            clicks.append(clicked)
            time.sleep(0.5)
        return found

    monkeypatch.setattr(batches, "plan", cancel_meanwhile)
    advance_batches(rt)
    clicks[0].join(timeout=10)
    assert "cancelled" in answers[0]
    run_jobs(rt)
    assert replies_by_brand(fake_x) == []
    assert set(batch_rows(rt)) <= {"cancelled"}  # nothing released, or all withdrawn


def test_after_a_cancel_a_new_reply_to_all_reaches_those_it_withdrew(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    mentions_in(rt, fake_x, brand, [f"배송 언제 와요 {n}" for n in range(20)])
    publish_surges(rt, Pace(rt.redis, FAST))
    assert start_reply_all(rt, fake_slack, "A tpyo.") == []
    assert advance_batches(rt) == 20
    with rt.sessions() as session:
        batch_id = session.scalars(select(Batch.id)).one()
    owner = Who(fake_slack.team_id, OWNER)
    assert "20 not yet sent were withdrawn" in batches.change(rt, owner, batch_id, "cancelled")
    assert start_reply_all(rt, fake_slack, "No typo.") == []
    run_jobs(rt)
    replies = replies_by_brand(fake_x)
    assert len(replies) == 20 and all(r["text"].endswith("No typo. ^BK") for r in replies)


def test_a_second_reply_to_all_waits_for_the_first_to_end(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    mentions_in(rt, fake_x, brand, DELIVERY * 2)
    publish_surges(rt, Pace(rt.redis, FAST))
    assert start_reply_all(rt, fake_slack, "First.") == []
    (problem,) = start_reply_all(rt, fake_slack, "Second.")
    assert "A Reply to all of this group is running already" in problem


def test_only_someone_who_may_send_resumes_and_a_sender_who_lost_their_role_pauses_it(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    give(rt, fake_slack, "U0NEW", "needs-approval", "^NW")
    mentions_in(rt, fake_x, brand, DELIVERY * 2)
    publish_surges(rt, Pace(rt.redis, FAST))
    assert start_reply_all(rt, fake_slack) == []
    with rt.sessions() as session:
        batch_id = session.scalars(select(Batch.id)).one()
    owner, newcomer = Who(fake_slack.team_id, OWNER), Who(fake_slack.team_id, "U0NEW")
    assert "is paused" in batches.change(rt, owner, batch_id, "paused")
    with pytest.raises(Refused, match="without an owner's approval"):
        batches.change(rt, newcomer, batch_id, "running")
    assert "goes on" in batches.change(rt, Who(fake_slack.team_id, AGENT), batch_id, "running")

    with rt.sessions.begin() as session:  # the agent who sent it leaves the team
        account = session.get_one(Account, brand.id)
        revoke(
            session,
            account,
            member(session, fake_slack.team_id, AGENT, rt.clock()),
            rt.clock(),
            actor=OWNER,
        )
    assert advance_batches(rt) == 0
    run_jobs(rt)
    assert replies_by_brand(fake_x) == []
    with rt.sessions() as session:
        batch = session.get_one(Batch, batch_id)
    assert batch.status == "paused" and "no longer has a role" in (batch.why or "")

    # An owner takes it over: from now on it goes out as theirs, signed with their CoTag.
    with pytest.raises(Refused, match="CoTag"):
        batches.change(rt, owner, batch_id, "running")
    give(rt, fake_slack, OWNER, "owner", "^OW")
    assert "goes on" in batches.change(rt, owner, batch_id, "running")
    assert advance_batches(rt) == 6
    run_jobs(rt)
    replies = replies_by_brand(fake_x)
    assert len(replies) == 6 and all(r["text"].endswith("Soon. ^OW") for r in replies)


def test_one_person_in_two_groups_gets_the_customer_service_dm_once(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    care_command(rt, Who(fake_slack.team_id, OWNER), "@brand Call 1588-0000.")
    fake_x.add_user("both")
    for text in ["배송 언제 와요", "유심비 얼마예요"]:  # one person, in both groups
        fake_x.post_mention("brand", author="both", text=f"@brand {text}")
    mentions_in(
        rt, fake_x, brand, ["배송 아직인가요", "배송 지연 공지", "유심비 문의", "유심비 따로"]
    )
    publish_surges(rt, Pace(rt.redis, FAST))
    start_on_each_group(rt, fake_slack, "dm", "Call 1588-0000.")
    for _ in range(2):
        advance_batches(rt)
        run_jobs(rt)
    assert len(fake_x.dms_between("brand", "both")) == 1


def test_a_hard_budget_counts_what_was_released_and_not_sent_yet(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    """Two runs before any send: the second releases nothing the first's already spend,
    so none fails at X for the budget; the batch pauses with its reason."""
    from tests.bot.team.test_budget import set_budget

    mentions_in(rt, fake_x, brand, DELIVERY * 4)
    set_budget(rt, brand, 1_000_000, hard=True)
    with rt.sessions() as session:
        found = budget_of(rt, session.get_one(Account, brand.id))
    assert isinstance(found, Budget)
    set_budget(rt, brand, math.ceil(found.spent * 100) + 5, hard=True)
    publish_surges(rt, Pace(rt.redis, FAST))
    assert start_reply_all(rt, fake_slack) == []
    assert advance_batches(rt) == 5
    assert advance_batches(rt) == 0
    run_jobs(rt)
    advance_batches(rt)
    assert batch_rows(rt) == {"sent": 5}
    with rt.sessions() as session:
        assert session.scalar(select(Batch.status)) == "paused"


def test_posts_scheduled_for_the_coming_window_keep_their_place_from_a_batch(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    from bot.posts.compose import Compose
    from bot.posts.compose import submit as submit_post

    mentions_in(rt, fake_x, brand, [f"배송 언제 와요 {n}" for n in range(100)])
    publish_surges(rt, Pace(rt.redis, FAST))
    soon = rt.clock() + timedelta(minutes=5)
    for n in range(20):
        compose = Compose(f"Store hours, part {n}", [brand.id], soon)
        submit_post(rt, Who(fake_slack.team_id, AGENT), compose, f"scheduled-{n}")
    assert start_reply_all(rt, fake_slack) == []
    assert advance_batches(rt) == LIMITS["reply"].for_batches - 20


def test_a_hard_budget_counts_what_every_batch_of_the_account_released(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    """Two groups answered at once within a budget for five: five go out in all, and
    the rest wait, paused, rather than fail at X for the budget."""
    from tests.bot.team.test_budget import set_budget

    mentions_in(
        rt, fake_x, brand, DELIVERY * 2 + ["유심비 얼마예요", "유심비 따로", "유심비 문의"] * 2
    )
    set_budget(rt, brand, 1_000_000, hard=True)
    with rt.sessions() as session:
        found = budget_of(rt, session.get_one(Account, brand.id))
    assert isinstance(found, Budget)
    set_budget(rt, brand, math.ceil(found.spent * 100) + 5, hard=True)
    publish_surges(rt, Pace(rt.redis, FAST))
    start_on_each_group(rt, fake_slack, "reply", "Soon.")
    advance_batches(rt)
    advance_batches(rt)
    run_jobs(rt)
    assert batch_rows(rt) == {"sent": 5}


def test_two_batches_of_a_kind_cannot_be_under_way_on_a_group_however_they_are_started(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, surge: None
) -> None:
    from sqlalchemy.exc import IntegrityError

    mentions_in(rt, fake_x, brand, DELIVERY)
    publish_surges(rt, Pace(rt.redis, FAST))
    assert start_reply_all(rt, fake_slack, "First.") == []
    with rt.sessions() as session:
        first = session.scalars(select(Batch)).one()
    second = {
        column.name: getattr(first, column.name)
        for column in Batch.__table__.columns
        if column.name != "id"
    } | {"key": "another"}
    with pytest.raises(IntegrityError), rt.sessions.begin() as session:
        session.add(Batch(**second))
    assert "cancelled" in batches.change(rt, Who(fake_slack.team_id, OWNER), first.id, "cancelled")
    with rt.sessions.begin() as session:  # once it is over, another may start
        session.add(Batch(**second | {"key": "a third"}))


def test_a_cancel_while_a_release_writes_its_rows_withdraws_them_all(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    brand: Account,
    surge: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancel clicked while a run writes its rows: it waits for them, then withdraws all."""
    mentions_in(rt, fake_x, brand, [f"배송 언제 와요 {n}" for n in range(30)])
    publish_surges(rt, Pace(rt.redis, FAST))
    assert start_reply_all(rt, fake_slack) == []
    with rt.sessions() as session:
        batch_id = session.scalars(select(Batch.id)).one()
    releasing, answers, clicks = batches._release, [], []

    def cancel_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not clicks:
            who = Who(fake_slack.team_id, OWNER)
            clicked = threading.Thread(
                target=lambda: answers.append(batches.change(rt, who, batch_id, "cancelled"))
            )
            clicked.start()
            clicks.append(clicked)
            time.sleep(0.5)  # the click waits for this run's rows
        return releasing(*args, **kwargs)

    monkeypatch.setattr(batches, "_release", cancel_meanwhile)
    assert advance_batches(rt) == 30
    clicks[0].join(timeout=10)
    assert "30 not yet sent were withdrawn" in answers[0]
    run_jobs(rt)
    assert replies_by_brand(fake_x) == [] and batch_rows(rt) == {"cancelled": 30}

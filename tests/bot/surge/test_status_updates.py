"""Status updates in a surge: a post as the account that opens with the time, in the
language it is written in; the group's card shows the latest, its thread keeps them all,
Reply to all can link it (at X's price for a link), and the summary says how soon the
first one came."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.posts.status import STATUS_CALLBACK, as_of
from bot.runtime import Runtime
from bot.slack.pace import Pace
from bot.surge.cards import REPLY_ALL_ACTION, STATUS_ACTION, publish_surges
from bot.surge.detect import surge_command
from bot.surge.groups import surge_lines
from bot.team.people import Who
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Surge
from tests.bot.surge.test_batches import (
    DELIVERY,
    one_group,
    open_answer,
    replies_by_brand,
    send,
    text_of,
)
from tests.bot.surge.test_cards import FAST, group_cards, mentions_in, surge_on
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, give, run_jobs
from tests.handlers.signed import make_app, opened_modal, press, submit

LINK = {"link": {"link_input": {"selected_options": [{"value": "link"}]}}}


def test_the_time_opens_an_update_in_the_language_it_is_written_in() -> None:
    at = datetime(2026, 12, 6, 5, 30, tzinfo=UTC)
    assert as_of(at, "Asia/Seoul", "배송이 늦어지고 있습니다") == "14:30 현재"
    assert as_of(at, "Asia/Seoul", "Deliveries are late") == "As of 14:30 KST:"
    assert as_of(at, "UTC", "Deliveries are late") == "As of 05:30 UTC:"
    assert as_of(at, "America/Sao_Paulo", "Late") == "As of 02:30 UTC-03:"


def post_update(
    app: Any, fake_slack: FakeSlack, card: dict[str, Any], text: str, **more: Any
) -> dict[str, Any]:
    before = len(fake_slack.views)
    assert press(app, fake_slack, card, STATUS_ACTION).status == 200
    view = opened_modal(fake_slack, before)
    assert view["callback_id"] == STATUS_CALLBACK
    values = {"text": {"text_input": {"type": "plain_text_input", "value": text}}, **more}
    return submit(app, fake_slack, view, values)


def test_a_status_update_goes_out_timed_and_signed_and_the_group_keeps_its_timeline(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    surge_on(rt, fake_slack)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    fake_slack.add_user(AGENT, name="agent", tz="Asia/Seoul")
    mentions_in(rt, fake_x, brand, DELIVERY * 2)
    card = one_group(rt, fake_slack)
    app = make_app(rt)

    closed = post_update(
        app,
        fake_slack,
        card,
        "배송이 하루 늦어집니다. 공지를 확인해 주세요.",
        notice={"notice_input": {"type": "url_text_input", "value": "https://t.co/notice"}},
    )
    assert closed == {"response_action": "clear"}
    run_jobs(rt)

    (posted,) = [p for p in fake_x.posts_by("brand") if not p["in_reply_to_tweet_id"]]
    assert re.fullmatch(
        r"\d\d:\d\d 현재 배송이 하루 늦어집니다\. 공지를 확인해 주세요\. https://t\.co/notice \^BK",
        posted["text"],
    )
    later = rt.clock() + timedelta(seconds=10)
    rt.clock = lambda: later
    publish_surges(rt, Pace(rt.redis, FAST))
    (card,) = group_cards(fake_slack)
    url = f"https://x.com/brand/status/{posted['id']}"
    assert "Latest status update: " in text_of(card) and url in text_of(card)
    thread = fake_slack.thread(BRAND_CHANNEL, card["ts"])
    timeline = [m for m in thread if ":mega:" in m["text"]]
    assert len(timeline) == 1 and url in timeline[0]["text"]
    publish_surges(rt, Pace(rt.redis, FAST))
    thread = fake_slack.thread(BRAND_CHANNEL, card["ts"])
    assert len([m for m in thread if ":mega:" in m["text"]]) == 1  # once

    # Reply to all can carry its link, and says what X bills for a post with one.
    view = open_answer(app, fake_slack, card, REPLY_ALL_ACTION)
    assert url in text_of(
        view
    ) and "With the status update's link, or any link, $0.200 a reply" in text_of(view)
    send(app, fake_slack, view, "Details here:", **LINK)
    run_jobs(rt)
    replies = replies_by_brand(fake_x)
    assert len(replies) == 6 and all(
        r["text"].endswith(f"Details here: {url} ^BK") for r in replies
    )

    with rt.sessions() as session:
        surge = session.scalars(select(Surge)).one()
        (line,) = surge_lines(session, [brand.id], surge.started_at, rt.clock())
    assert "the first status update 0 min in" in line
    surge_command(rt, Who(fake_slack.team_id, OWNER), "off @brand")
    over = [m["text"] for m in fake_slack.messages(BRAND_CHANNEL) if "is over" in m["text"]]
    assert "the first status update 0 min in" in over[-1]


def test_a_status_update_that_x_would_refuse_is_refused_in_the_modal(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    surge_on(rt, fake_slack)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    mentions_in(rt, fake_x, brand, DELIVERY)
    card = one_group(rt, fake_slack)
    app = make_app(rt)
    answer = post_update(app, fake_slack, card, "x" * 300)
    assert answer["response_action"] == "errors" and "Too long" in json.dumps(answer["errors"])
    answer = post_update(
        app,
        fake_slack,
        card,
        "Update",
        notice={"notice_input": {"type": "url_text_input", "value": "not a link"}},
    )
    assert answer["errors"] == {"notice": "A link starts with https:// and has no spaces."}
    run_jobs(rt)
    assert fake_x.posts_by("brand") == []

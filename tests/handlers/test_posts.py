"""Composing and scheduling posts, through signed requests, the fake Slack and X, a real
Redis and both databases."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_bolt import App
from sqlalchemy import select

from bot.networks.x import XNetwork
from bot.outbound.acting import retry
from bot.outbound.sending import send_outbound, sweep_outbound
from bot.posts.views import ACTION_CANCEL, SHORTCUT
from bot.runtime import Runtime
from bot.team.people import Who
from bot.worker import REDIS_EPOCH_KEY, RoostWorker, alive_key
from sandbox.slack_api import FakeSlack, action_body
from sandbox.x_api import FakeX
from storage.models import Account, Outbound, Post
from storage.outbound import claim_upload
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, add_brand_account, run_jobs
from tests.handlers.signed import (
    button,
    card_click,
    command,
    dispatch,
    make_app,
    opened_modal,
    submit,
)

SHOP_CHANNEL = "C0SHOP"


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack) -> App:
    return make_app(rt)


@pytest.fixture
def accounts(rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account) -> list[Account]:
    """@brand and @shop; the agent (^BK, Asia/Seoul) may post as both."""
    fake_slack.add_channel(SHOP_CHANNEL, "x-shop")
    shop = add_brand_account(rt, fake_x, "shop", SHOP_CHANNEL)
    fake_slack.add_user(AGENT, "agent", tz="Asia/Seoul")
    fake_slack.add_user(OWNER, "owner", tz="Europe/Berlin")
    for account in (brand, shop):
        _give_on(rt, fake_slack, account, AGENT, "agent")
    _cotag(rt, fake_slack, AGENT, "^BK")
    return [brand, shop]


def _give_on(rt: Runtime, fake_slack: FakeSlack, account: Account, user: str, role: str) -> None:
    from storage.team import grant, member

    with rt.sessions.begin() as session:
        found = session.get_one(Account, account.id)
        grant(
            session, found, member(session, fake_slack.team_id, user, rt.clock()), role, rt.clock()
        )


def _cotag(rt: Runtime, fake_slack: FakeSlack, user: str, cotag: str) -> None:
    from storage.team import member, set_cotag

    with rt.sessions.begin() as session:
        set_cotag(session, member(session, fake_slack.team_id, user, rt.clock()), cotag, rt.clock())


def compose(
    app: App, fake_slack: FakeSlack, *, user: str = AGENT, how: str = "command"
) -> dict[str, Any]:
    before = len(fake_slack.views)
    if how == "command":
        assert command(app, fake_slack, "post", user=user).status == 200
    else:
        shortcut = {
            "type": "shortcut",
            "callback_id": SHORTCUT,
            "team": {"id": fake_slack.team_id},
            "user": {"id": user, "team_id": fake_slack.team_id},
            "trigger_id": fake_slack.issue_trigger(),
        }
        assert dispatch(app, action_body(shortcut)).status == 200
    return opened_modal(fake_slack, before)


def values(
    text: str,
    account_ids: list[int],
    *,
    day: str | None = None,
    at: str | None = None,
    thread: bool = False,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "text": {"value": {"value": text}},
        "accounts": {"value": {"selected_options": [{"value": str(i)} for i in account_ids]}},
        "when": {"value": {"selected_option": {"value": "later" if day else "now"}}},
        "date": {"value": {"selected_date": day}},
        "time": {"value": {"selected_time": at}},
        "thread": {"value": {"selected_options": [{"value": "thread"}] if thread else []}},
        "media": {"value": {"files": files or []}},
    }
    return found


def post_rows(rt: Runtime) -> list[Outbound]:
    with rt.sessions() as session:
        return list(
            session.scalars(select(Outbound).where(Outbound.kind == "post").order_by(Outbound.id))
        )


def seoul(moment: datetime) -> tuple[str, str]:
    local = moment.astimezone(ZoneInfo("Asia/Seoul"))
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


# --- now, to several accounts ----------------------------------------------------------


@pytest.mark.parametrize("how", ["command", "shortcut"])
def test_a_post_to_two_accounts_previews_each_then_posts_once_each(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    accounts: list[Account],
    how: str,
) -> None:
    modal = compose(app, fake_slack, how=how)
    ids = [a.id for a in accounts]
    answer = submit(app, fake_slack, modal, values("Our winter sale starts today!", ids))
    assert answer["response_action"] == "push"
    shown = json.dumps(answer["view"]["blocks"], ensure_ascii=False)
    assert shown.count("Our winter sale starts today! ^BK") == 2
    assert "Length as X counts it: 33/280" in shown
    for _ in range(2):  # a double click on Publish
        assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    run_jobs(rt)

    for handle, channel in (("brand", BRAND_CHANNEL), ("shop", SHOP_CHANNEL)):
        (post,) = fake_x.posts_by(handle)
        assert post["text"] == "Our winter sale starts today! ^BK"
        (said,) = fake_slack.messages(channel)[-1:]
        assert f"<@{AGENT}> posted as @{handle}" in said["text"]
        assert f"https://x.com/{handle}/status/{post['id']}" in said["text"]
    assert len(fake_slack.dms(AGENT)) == 2
    with rt.sessions() as session:
        assert len(session.scalars(select(Post)).all()) == 1


def test_someone_who_may_post_as_no_account_is_told_so_in_the_modal(
    app: App, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    said = json.dumps(compose(app, fake_slack, user="U0NOBODY")["blocks"])
    assert "You may post as no account" in said


def test_two_accounts_where_the_person_may_post_as_one(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    fake_slack.add_user("U0JUNIOR", "junior")
    _give_on(rt, fake_slack, accounts[0], "U0JUNIOR", "agent")
    _cotag(rt, fake_slack, "U0JUNIOR", "^JR")
    modal = compose(app, fake_slack, user="U0JUNIOR")
    answer = submit(
        app, fake_slack, modal, values("hello", [a.id for a in accounts]), user="U0JUNIOR"
    )
    assert answer["response_action"] == "errors"
    assert "You may not post as @shop" in answer["errors"]["accounts"]
    assert post_rows(rt) == []


def test_x_rejecting_one_account_does_not_stop_the_other(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    with rt.sessions() as session:
        sealed = session.get_one(Account, accounts[1].id).credentials
    fake_x.revoke(rt.box.open(sealed)["access_token"])
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Hello all", [a.id for a in accounts]))
    submit(app, fake_slack, answer["view"])
    run_jobs(rt)
    assert len(fake_x.posts_by("brand")) == 1 and fake_x.posts_by("shop") == []
    failed = fake_slack.messages(SHOP_CHANNEL)[-1]
    assert "post as @shop failed" in failed["text"] and "Reconnect" in failed["text"]


# --- time ------------------------------------------------------------------------------


def test_a_past_time_and_one_too_far_ahead_are_refused(
    app: App, rt: Runtime, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    modal = compose(app, fake_slack)
    day, at = seoul(rt.clock() - timedelta(hours=1))
    past = submit(app, fake_slack, modal, values("hi", [accounts[0].id], day=day, at=at))
    assert "That time has passed" in past["errors"]["time"]
    day, at = seoul(rt.clock() + timedelta(days=400))
    far = submit(app, fake_slack, modal, values("hi", [accounts[0].id], day=day, at=at))
    assert "at most 365 days ahead" in far["errors"]["time"]


def test_a_time_the_dst_change_skips_is_refused_and_a_doubled_one_explained(
    app: App, rt: Runtime, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    _give_on(rt, fake_slack, accounts[0], OWNER, "owner")
    _cotag(rt, fake_slack, OWNER, "^OW")
    year = rt.clock().year + 1  # Berlin: forward on the last Sunday of March, back in October
    march = max(d for d in range(25, 32) if datetime(year, 3, d).weekday() == 6)
    october = max(d for d in range(25, 32) if datetime(year, 10, d).weekday() == 6)
    modal = compose(app, fake_slack, user=OWNER)
    skipped = submit(
        app,
        fake_slack,
        modal,
        values("hi", [accounts[0].id], day=f"{year}-03-{march}", at="02:30"),
        user=OWNER,
    )
    assert "does not exist" in skipped["errors"]["time"]
    doubled = submit(
        app,
        fake_slack,
        modal,
        values("hi", [accounts[0].id], day=f"{year}-10-{october}", at="02:30"),
        user=OWNER,
    )
    assert doubled["response_action"] == "push"
    assert "happens twice" in json.dumps(doubled["view"]["blocks"])


# --- scheduling -------------------------------------------------------------------------


def schedule(
    app: App,
    rt: Runtime,
    fake_slack: FakeSlack,
    accounts: list[Account],
    text: str,
    ahead: timedelta,
) -> dict[str, Any]:
    modal = compose(app, fake_slack)
    day, at = seoul(rt.clock() + ahead)
    answer = submit(app, fake_slack, modal, values(text, [a.id for a in accounts], day=day, at=at))
    assert answer["response_action"] == "push", answer
    assert answer["view"]["submit"]["text"] == "Schedule"
    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    return answer


def later(rt: Runtime, span: timedelta) -> None:
    moment = rt.clock() + span
    rt.clock = lambda: moment


def test_a_scheduled_post_is_listed_can_be_cancelled_and_goes_nowhere(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    schedule(app, rt, fake_slack, accounts, "Tomorrow's news", timedelta(hours=2))
    assert {r.status for r in post_rows(rt)} == {"pending"}
    command(app, fake_slack, "queue")
    listing = fake_slack.wait_for(lambda: fake_slack.responses)[-1]
    assert "Tomorrow's news" in json.dumps(listing["blocks"])
    dispatch(app, card_click(fake_slack, button(listing, ACTION_CANCEL)))
    assert {r.status for r in post_rows(rt)} == {"cancelled"}
    later(rt, timedelta(hours=3))
    for account in accounts:
        sweep_outbound(rt, account.id)
    run_jobs(rt)
    assert fake_x.posts_by("brand") == [] and fake_x.posts_by("shop") == []


def test_a_post_being_sent_cannot_be_cancelled(
    app: App, rt: Runtime, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    from bot.errors import Refused
    from bot.posts.compose import cancel

    schedule(app, rt, fake_slack, accounts, "Soon", timedelta(hours=1))
    with rt.sessions.begin() as session:
        first = session.scalars(select(Outbound).where(Outbound.kind == "post")).first()
        assert first is not None
        first.status = "sending"
        post_id = first.post_id
    assert post_id is not None
    with pytest.raises(Refused, match="already being sent"):
        cancel(rt, Who(fake_slack.team_id, AGENT), post_id)
    assert [r.status for r in post_rows(rt)].count("pending") == 1  # nothing half-cancelled


def test_redis_flushed_after_scheduling_the_sweep_sends_once_marked_late(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    schedule(app, rt, fake_slack, accounts, "Scheduled hello", timedelta(minutes=30))
    rt.redis.flushdb()
    later(rt, timedelta(minutes=45))
    for _ in range(2):  # two sweeps, before any worker ran
        for account in accounts:
            sweep_outbound(rt, account.id)
    run_jobs(rt)
    assert len(fake_x.posts_by("brand")) == 1 and len(fake_x.posts_by("shop")) == 1
    said = texts(fake_slack.messages(BRAND_CHANNEL))
    assert "late by 15 min" in said


def test_a_hundred_posts_due_in_the_same_second_go_out_once_each(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    from bot.posts.compose import Compose
    from bot.posts.compose import submit as store

    due = rt.clock() + timedelta(minutes=5)
    who = Who(fake_slack.team_id, AGENT)
    for n in range(100):
        store(rt, who, Compose(f"Post number {n}", [accounts[n % 2].id], due), key=f"k{n}")
    later(rt, timedelta(minutes=6))
    for account in accounts:
        sweep_outbound(rt, account.id)  # and the scheduled jobs, as if both fired
    jobs = rt.team_queue.scheduled_job_registry.get_job_ids()
    for job_id in jobs:
        rt.team_queue.scheduled_job_registry.remove(job_id)
    for row in post_rows(rt):
        send_outbound(row.id)  # a duplicate delivery of every job
    run_jobs(rt)
    posted = fake_x.posts_by("brand") + fake_x.posts_by("shop")
    assert len(posted) == 100
    assert len({p["text"] for p in posted}) == 100
    assert len(fake_x.calls_to("/2/tweets", "POST")) == 100


# --- threads -----------------------------------------------------------------------------


def test_a_thread_whose_third_part_fails_keeps_the_first_two_and_resumes(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    text = " ".join(f"word{n}" for n in range(200))
    modal = compose(app, fake_slack)
    too_long = submit(app, fake_slack, modal, values(text, [accounts[0].id]))
    assert "numbered thread" in too_long["errors"]["text"]
    answer = submit(app, fake_slack, modal, values(text, [accounts[0].id], thread=True))
    assert answer["response_action"] == "push"
    submit(app, fake_slack, answer["view"])
    worker = RoostWorker(rt.queues, connection=rt.redis)
    worker.work(burst=True, max_jobs=2)  # parts 1 and 2
    fake_x.fail("/2/tweets", 403, method="POST")
    worker.work(burst=True, max_jobs=1)  # part 3 fails
    run_jobs(rt)
    parts = post_rows(rt)
    assert [r.status for r in parts][:3] == ["sent", "sent", "failed"]
    assert all(r.status == "pending" for r in parts[3:])
    assert len(fake_x.posts_by("brand")) == 2
    said = fake_slack.messages(BRAND_CHANNEL)[-1]
    assert (
        f"failed at part 3 of {len(parts)}" in said["text"] and "Parts 1–2 are up" in said["text"]
    )
    assert ".." not in said["text"]  # the sentence ends the error, with one full stop

    retry(rt, Who(fake_slack.team_id, AGENT), parts[2].id)  # Resume
    run_jobs(rt)
    posted = sorted(fake_x.posts_by("brand"), key=lambda p: int(p["id"]))
    assert len(posted) == len(parts)
    for earlier, part in zip(posted, posted[1:], strict=False):
        assert str(part["in_reply_to_tweet_id"]) == str(earlier["id"])
    assert posted[0]["text"].endswith(f"1/{len(parts)} ^BK")
    assert "a thread of" in fake_slack.messages(BRAND_CHANNEL)[-1]["text"]


def test_the_authors_home_lists_their_scheduled_posts(
    app: App, rt: Runtime, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    from bot.home import publish_home

    schedule(app, rt, fake_slack, accounts, "Next week's launch", timedelta(days=7))
    publish_home(rt, fake_slack.team_id, AGENT)
    home = [v for v in fake_slack.views if v.get("user_id") == AGENT][-1]["view"]
    shown = json.dumps(home, ensure_ascii=False)
    assert "Your scheduled posts" in shown and "Next week's launch" in shown
    assert ACTION_CANCEL in shown and len(home["blocks"]) <= 100


def test_an_edit_is_checked_again_and_only_the_edited_post_goes_out(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    from bot.posts.views import ACTION_EDIT

    schedule(app, rt, fake_slack, accounts[:1], "First draft", timedelta(hours=1))
    command(app, fake_slack, "queue")
    listing = fake_slack.wait_for(lambda: fake_slack.responses)[-1]
    before = len(fake_slack.views)
    dispatch(app, card_click(fake_slack, button(listing, ACTION_EDIT)))
    modal = opened_modal(fake_slack, before)
    assert "First draft" in json.dumps(modal)
    day, at = seoul(rt.clock() + timedelta(hours=1))
    ids = [accounts[0].id]
    too_long = submit(app, fake_slack, modal, values("x" * 300, ids, day=day, at=at))
    assert "Too long" in too_long["errors"]["text"]
    answer = submit(app, fake_slack, modal, values("Final words", ids, day=day, at=at))
    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    assert sorted(r.status for r in post_rows(rt)) == ["cancelled", "pending"]
    later(rt, timedelta(hours=2))
    sweep_outbound(rt, accounts[0].id)
    run_jobs(rt)
    assert [p["text"] for p in fake_x.posts_by("brand")] == ["Final words ^BK"]


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def test_images_from_slack_go_up_to_x_with_the_post(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    images = [fake_slack.add_file(f"sale-{n}.png", "image/png", PNG) for n in range(2)]
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Look!", [a.id for a in accounts], files=images))
    submit(app, fake_slack, answer["view"])
    run_jobs(rt)
    for handle in ("brand", "shop"):
        (post,) = fake_x.posts_by(handle)
        assert len(post["media_ids"]) == 2  # uploaded as each account
    assert all(d["authorized"] for d in fake_slack.downloads)


def test_an_animated_gif_from_slack_goes_up_chunked_as_x_requires(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    fake_x.video_polls = 0  # processed by the time it is finalized
    gif = fake_slack.add_file("loop.gif", "image/gif", b"GIF89a" + bytes(600))
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Loop!", [accounts[0].id], files=[gif]))
    submit(app, fake_slack, answer["view"])
    run_jobs(rt)
    (upload,) = fake_x.uploads_by("brand")
    assert upload["type"] == "animated_gif"
    assert fake_x.calls_to("/2/media/upload/initialize")
    (post,) = fake_x.posts_by("brand")
    assert post["media_ids"] == [upload["id"]]


def test_media_going_up_in_a_live_worker_are_not_uploaded_again_beside_them(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    """A video takes minutes to go up; the sweep, seeing its row due and still pending,
    used to queue a second job that uploaded it again in parallel."""
    image = fake_slack.add_file("sale.png", "image/png", PNG)
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Look!", [accounts[0].id], files=[image]))
    submit(app, fake_slack, answer["view"])
    rt.team_queue.empty()  # its job is with the uploading worker, below
    (row,) = post_rows(rt)
    # Redis has held its data a while, so who is alive is known; one worker is, elsewhere.
    rt.redis.set(REDIS_EPOCH_KEY, time.time() - 60)
    rt.redis.set(alive_key("uploader"), "1")
    with rt.sessions.begin() as session:
        assert claim_upload(session, row.id, "uploader", rt.clock(), taking_from=None)
    later(rt, timedelta(minutes=5))
    assert sweep_outbound(rt, accounts[0].id, dead=set()) == 0  # not lost: under way
    send = rt.team_queue.enqueue(send_outbound, row.id)
    RoostWorker(rt.queues, connection=rt.redis).work(burst=True)
    assert send.return_value() == "media upload under way in another worker"
    assert fake_x.uploads_by("brand") == []
    rt.redis.delete(alive_key("uploader"))  # it died mid-upload: the sweep takes over
    assert sweep_outbound(rt, accounts[0].id, dead={"uploader"}) == 1
    RoostWorker(rt.queues, connection=rt.redis).work(burst=True)
    assert len(fake_x.uploads_by("brand")) == 1
    (post,) = fake_x.posts_by("brand")
    assert len(post["media_ids"]) == 1


def test_an_upload_that_fails_unexpectedly_lets_go_of_its_row(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    accounts: list[Account],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug or RQ's job timeout in the upload left the row claimed by a worker that lives
    on, so no job and no sweep would ever upload it."""
    image = fake_slack.add_file("sale.png", "image/png", PNG)
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Look!", [accounts[0].id], files=[image]))
    submit(app, fake_slack, answer["view"])
    rt.team_queue.empty()
    (row,) = post_rows(rt)
    rt.redis.set(REDIS_EPOCH_KEY, time.time() - 60)
    rt.redis.set(alive_key("uploader"), "1")  # the worker below lives on after the failure

    def broken(*args: object) -> str:
        raise RuntimeError("a bug in the upload")

    monkeypatch.setattr(XNetwork, "upload", broken)
    failed = rt.team_queue.enqueue(send_outbound, row.id)
    RoostWorker(rt.queues, connection=rt.redis, name="uploader").work(burst=True)
    assert failed.get_status() == "failed"
    monkeypatch.undo()

    send = rt.team_queue.enqueue(send_outbound, row.id)
    RoostWorker(rt.queues, connection=rt.redis, name="another").work(burst=True)
    assert send.return_value() != "media upload under way in another worker"
    (post,) = fake_x.posts_by("brand")
    assert len(post["media_ids"]) == 1


@pytest.mark.parametrize(
    ("file", "said"),
    [
        (
            {"name": "menu.pdf", "mimetype": "application/pdf", "filetype": "pdf", "size": 1000},
            "is not a type X takes",
        ),
        (
            {"name": "launch.mp4", "mimetype": "video/mp4", "filetype": "mp4", "size": 600 * 2**20},
            "X takes a video of up to 512 MB",
        ),
    ],
)
def test_an_unsupported_or_oversized_file_is_refused_before_anything_is_stored(
    app: App, rt: Runtime, fake_slack: FakeSlack, accounts: list[Account], file: dict, said: str
) -> None:
    modal = compose(app, fake_slack)
    refused = submit(app, fake_slack, modal, values("hi", [accounts[0].id], files=[file]))
    assert said in refused["errors"]["media"]
    assert post_rows(rt) == []


def test_a_post_whose_answer_was_lost_is_found_on_x_not_posted_twice(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    fake_x.lose_answer("/2/tweets", method="POST")  # as if the worker died mid-call
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Once only", [accounts[0].id]))
    submit(app, fake_slack, answer["view"])
    run_jobs(rt)
    (post,) = fake_x.posts_by("brand")
    (row,) = post_rows(rt)
    assert (row.status, row.x_id) == ("sent", str(post["id"]))
    assert len(fake_x.calls_to("/2/tweets", "POST")) == 1


def test_an_edited_thread_goes_out_whole_and_reported_and_can_still_be_cancelled(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    from bot.posts.compose import Compose, cancel, edit
    from bot.posts.compose import submit as store

    who = Who(fake_slack.team_id, AGENT)
    due = rt.clock() + timedelta(hours=1)
    post_id = store(rt, who, Compose("short", [accounts[0].id], due), key="edit-me")
    assert post_id is not None
    long_text = " ".join(f"word{n}" for n in range(120))
    edit(rt, who, post_id, Compose("Second draft", [accounts[0].id], due))
    edit(rt, who, post_id, Compose(long_text, [accounts[0].id], due, as_thread=True))
    later(rt, timedelta(hours=2))
    sweep_outbound(rt, accounts[0].id)
    run_jobs(rt)
    live = [r for r in post_rows(rt) if r.status != "cancelled"]
    assert len(live) > 1 and all(r.status == "sent" for r in live)
    assert len(fake_x.posts_by("brand")) == len(live)
    assert "a thread of" in fake_slack.messages(BRAND_CHANNEL)[-1]["text"]

    again = store(rt, who, Compose("to cancel", [accounts[0].id], due + timedelta(hours=5)), "c")
    assert again is not None
    edit(rt, who, again, Compose("edited", [accounts[0].id], due + timedelta(hours=5)))
    assert cancel(rt, who, again).startswith("Cancelled")


def test_a_scheduled_post_does_not_outlive_its_authors_role(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    from bot.posts.compose import Compose, queue_of
    from bot.posts.compose import submit as store
    from storage.team import member, revoke

    who = Who(fake_slack.team_id, AGENT)
    due = rt.clock() + timedelta(hours=1)
    store(rt, who, Compose("before I left", [accounts[0].id], due), key="left")
    _give_on(rt, fake_slack, accounts[0], OWNER, "owner")
    assert [p.text for p, _ in queue_of(rt, Who(fake_slack.team_id, OWNER), mine_only=False)] == [
        "before I left"
    ]
    assert queue_of(rt, Who(fake_slack.team_id, "U0NOBODY"), mine_only=False) == []
    with rt.sessions.begin() as session:
        revoke(
            session,
            session.get_one(Account, accounts[0].id),
            member(session, fake_slack.team_id, AGENT, rt.clock()),
            rt.clock(),
            actor=OWNER,
        )
    later(rt, timedelta(hours=2))
    sweep_outbound(rt, accounts[0].id)
    run_jobs(rt)
    assert fake_x.posts_by("brand") == []
    assert "no longer has a role" in fake_slack.messages(BRAND_CHANNEL)[-1]["text"]


def test_media_go_up_again_for_a_post_that_waits_past_a_daily_cap(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    """An upload no post has used is not kept for ever (X keeps a media id a day; Bluesky and
    Mastodon may clear it sooner): a post that waits hours goes with fresh ones."""
    image = fake_slack.add_file("sale.png", "image/png", PNG)
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Look!", [accounts[0].id], files=[image]))
    submit(app, fake_slack, answer["view"])
    fake_x.fail("/2/tweets", 429, method="POST", reset_in=6 * 3600)  # a daily cap, spent
    run_jobs(rt)
    (row,) = post_rows(rt)
    assert row.status == "pending" and row.media_ids is None
    assert len(fake_x.uploads_by("brand")) == 1
    later(rt, timedelta(hours=6, minutes=1))
    send_outbound(row.id)
    (post,) = fake_x.posts_by("brand")
    uploads = fake_x.uploads_by("brand")
    assert len(uploads) == 2 and post["media_ids"] == [uploads[-1]["id"]]


def test_a_short_rate_limit_keeps_the_media_it_uploaded(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, accounts: list[Account]
) -> None:
    image = fake_slack.add_file("sale.png", "image/png", PNG)
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Look!", [accounts[0].id], files=[image]))
    submit(app, fake_slack, answer["view"])
    fake_x.fail("/2/tweets", 429, method="POST", reset_in=60)
    run_jobs(rt)
    (row,) = post_rows(rt)
    assert row.status == "pending" and row.media_ids
    later(rt, timedelta(minutes=2))
    send_outbound(row.id)
    (post,) = fake_x.posts_by("brand")
    assert len(fake_x.uploads_by("brand")) == 1 and post["media_ids"] == row.media_ids

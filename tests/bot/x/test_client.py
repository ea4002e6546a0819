"""The X adapter's write side against the fake X: every call, and every way it can fail."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from jsonschema import ValidationError

from bot.errors import (
    XDuplicate,
    XError,
    XForbidden,
    XNotFound,
    XOutcomeUnknown,
    XRateLimited,
    XRecipientClosed,
    XTokenRevoked,
    XUnavailable,
)
from bot.x.client import DEFAULT_TIMEOUT, READ_RETRIES, XClient, rate_limited
from sandbox.x_api import Call, FakeX, Headers
from tests.conftest import wait_for
from tests.sandbox import openapi

SHORT_TIMEOUT = (1.0, 0.2)
"""(connect, read) seconds: short enough that a slowed answer times out. Only for the
tests that slow the fake: on a busy machine an ordinary answer can take longer."""


@pytest.fixture
def account(fake_x: FakeX) -> dict[str, Any]:
    return fake_x.add_user("brand")


@pytest.fixture
def jane(fake_x: FakeX) -> dict[str, Any]:
    return fake_x.add_user("jane")


def client_for(
    fake_x: FakeX,
    user: dict[str, Any],
    auth_kind: str = "oauth2",
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> XClient:
    if auth_kind == "oauth1":
        consumer_key, consumer_secret, token, secret = fake_x.issue_oauth1(user["id"])
        credentials = {
            "consumer_key": consumer_key,
            "consumer_secret": consumer_secret,
            "access_token": token,
            "access_token_secret": secret,
        }
    else:
        credentials = {"access_token": fake_x.issue_token(user["id"])}
    return XClient(auth_kind, credentials, base_url=fake_x.url, timeout=timeout)


@pytest.fixture(params=["oauth2", "oauth1"])
def client(request: pytest.FixtureRequest, fake_x: FakeX, account: dict[str, Any]) -> XClient:
    """The account's client, once with each kind of user token."""
    return client_for(fake_x, account, request.param)


@pytest.fixture
def mention(fake_x: FakeX, account: dict[str, Any], jane: dict[str, Any]) -> int:
    """A post by @jane mentioning the account (so the account may reply to it)."""
    return int(fake_x.post_mention("brand", author="jane", text="@brand my order?")["id"])


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    yield port


# --- the calls -------------------------------------------------------------------------------


def test_post_tweet_and_reply(fake_x: FakeX, client: XClient, mention: int) -> None:
    plain = client.post_tweet("Opening hours & more")
    reply = client.post_tweet("@jane it ships today", reply_to=mention)

    assert int(reply) > int(plain)
    assert [
        (post["id"], post["text"], post["in_reply_to_tweet_id"])
        for post in fake_x.posts_by("brand")
    ] == [
        (reply, "@jane it ships today", str(mention)),
        (plain, "Opening hours & more", None),
    ]


def test_recent_posts_are_own_posts_since_a_time_newest_first(
    fake_x: FakeX, account: dict[str, Any], client: XClient, mention: int
) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    fake_x.post_mention("jane", author="brand", created_at=base - timedelta(hours=1))
    early = fake_x.post_mention("jane", author="brand", created_at=base + timedelta(seconds=0.1))
    late = fake_x.post_mention("jane", author="brand", created_at=base + timedelta(seconds=0.9))
    reply = client.post_tweet("@jane 5 < 6 & done", reply_to=mention)

    # X takes whole seconds; the post 0.4 s before `since` is dropped all the same.
    posts = list(client.recent_posts(int(account["id"]), since=base + timedelta(seconds=0.5)))
    assert [post["id"] for post in posts] == [reply, late["id"]]
    assert early["id"] not in [post["id"] for post in posts]
    newest = posts[0]
    assert newest["text"] == "@jane 5 &lt; 6 &amp; done"  # as X serves it
    assert newest["referenced_tweets"] == [{"type": "replied_to", "id": str(mention)}]
    assert newest["conversation_id"] == str(mention)
    assert newest["created_at"].endswith("Z")
    call = fake_x.calls_to(f"/2/users/{account['id']}/tweets")[-1]
    assert call.query["max_results"] == "100"
    assert call.query["start_time"] == (base).strftime("%Y-%m-%dT%H:%M:%SZ")

    naive = (base + timedelta(minutes=5)).replace(tzinfo=None)
    assert [post["id"] for post in list(client.recent_posts(int(account["id"]), since=naive))] == [
        reply
    ]


def test_recent_posts_read_on_page_after_page_as_long_as_the_caller_does(
    fake_x: FakeX, account: dict[str, Any], client: XClient
) -> None:
    """In a burst of sends the post a reconcile looks for can be hundreds back."""
    since = datetime.now(UTC) - timedelta(minutes=1)
    for n in range(150):
        fake_x.post_mention("jane", author="brand", text=f"@jane number {n}")
    calls = lambda: len(fake_x.calls_to(f"/2/users/{account['id']}/tweets"))  # noqa: E731

    posts = client.recent_posts(int(account["id"]), since=since)
    assert next(posts)["text"] == "@jane number 149"
    assert calls() == 1  # the first page answered it
    assert len(list(posts)) == 149 and calls() == 2


def test_retweet_unretweet_and_retweeted(
    fake_x: FakeX, account: dict[str, Any], client: XClient, mention: int
) -> None:
    user_id = int(account["id"])
    assert client.retweeted(user_id, mention) is False

    client.retweet(user_id, mention)
    client.retweet(user_id, mention)  # twice is harmless
    assert fake_x.retweeters_of(str(mention)) == {account["id"]}
    assert client.retweeted(user_id, mention) is True

    client.unretweet(user_id, mention)
    client.unretweet(user_id, mention)
    assert fake_x.retweeters_of(str(mention)) == set()
    assert client.retweeted(user_id, mention) is False


def test_retweeted_pages_through_later_retweeters(
    fake_x: FakeX, account: dict[str, Any], client: XClient, mention: int
) -> None:
    client.retweet(int(account["id"]), mention)
    with requests.Session() as http:
        for n in range(120):
            fan = fake_x.add_user(f"fan{n}")
            answer = http.post(
                f"{fake_x.url}/2/users/{fan['id']}/retweets",
                json={"tweet_id": str(mention)},
                headers={"Authorization": f"Bearer {fake_x.issue_token(fan['id'])}"},
            )
            assert answer.ok

    assert client.retweeted(int(account["id"]), mention) is True
    assert len(fake_x.calls_to(f"/2/tweets/{mention}/retweeted_by")) == 2


def test_send_dm_and_recent_dms(
    fake_x: FakeX, account: dict[str, Any], jane: dict[str, Any], client: XClient
) -> None:
    first = client.send_dm(int(jane["id"]), "Hi Jane, your refund is on its way")
    answer = client_for(fake_x, jane).send_dm(int(account["id"]), "thank you!")

    events = client.recent_dms(int(jane["id"]))
    assert [(event["id"], event["sender_id"], event["text"]) for event in events] == [
        (answer, jane["id"], "thank you!"),
        (first, account["id"], "Hi Jane, your refund is on its way"),
    ]
    assert set(events[0]) == {
        "id",
        "event_type",
        "text",
        "sender_id",
        "created_at",
        "dm_conversation_id",
    }
    assert fake_x.dms_between("brand", "jane")[0]["id"] == first


# --- what X refuses --------------------------------------------------------------------------


def test_reply_to_a_deleted_post_is_not_found(fake_x: FakeX, client: XClient, mention: int) -> None:
    fake_x.delete_tweet(str(mention))
    with pytest.raises(XNotFound, match="deleted or is no longer visible") as raised:
        client.post_tweet("@jane thanks", reply_to=mention)
    assert "Nothing was posted" in str(raised.value)
    assert fake_x.posts_by("brand") == []


def test_reply_outside_the_accounts_conversations_is_forbidden(
    fake_x: FakeX, client: XClient, jane: dict[str, Any]
) -> None:
    unrelated = fake_x.post_mention("jane", author="jane", text="@jane note to self")
    with pytest.raises(XForbidden, match="mention") as raised:
        client.post_tweet("hello", reply_to=int(unrelated["id"]))
    assert not isinstance(raised.value, XRecipientClosed)


@pytest.mark.parametrize(
    ("text", "message", "error"),
    [
        ("a" * 281, "Shorten it", XError),
        ("日" * 141, "Shorten it", XError),
        ("$TSLA or $AAPL", "one cashtag", XError),
        # Its own type: the sender looks for its own earlier, interrupted try.
        ("@jane same words", "duplicate", XDuplicate),
    ],
)
def test_refused_text_says_what_to_change(
    fake_x: FakeX, client: XClient, text: str, message: str, error: type[XError]
) -> None:
    fake_x.post_mention("jane", author="brand", text="@jane same words")  # posted before
    with pytest.raises(XError, match=message) as raised:
        client.post_tweet(text)
    assert type(raised.value) is error  # not a plan problem, not worth retrying as is


def test_a_reply_x_does_not_count_as_summoned_is_refused_saying_what_to_do(
    fake_x: FakeX, client: XClient, jane: dict[str, Any]
) -> None:
    """Since 2026-02-23 a conversation the account joined does not open it to replies."""
    mention = fake_x.post_mention("brand", author="jane")
    client.post_tweet("@jane on it", reply_to=int(mention["id"]))
    later = fake_x.post_mention(
        "jane", author="jane", text="@jane still waiting", reply_to=mention["id"]
    )
    with pytest.raises(XForbidden, match="Send a DM instead"):
        client.post_tweet("@jane soon", reply_to=int(later["id"]))


def test_a_spent_daily_cap_says_so_and_resumes_at_its_own_reset(
    fake_x: FakeX, client: XClient, jane: dict[str, Any]
) -> None:
    """After a daily cap Roost used to retry at the next 15-minute reset, and say so."""
    fake_x.limit_factor = 0.001  # DMs: 1 a quarter hour, and 1 a day
    client.send_dm(int(jane["id"]), "hello")
    assert client.rate_limit.spent(datetime.now(UTC)) is not None  # both windows are used up

    with pytest.raises(XRateLimited) as raised:
        client.send_dm(int(jane["id"]), "hello again")

    limited = raised.value
    assert limited.window == "daily, for this account"
    assert limited.reset_at > datetime.now(UTC) + timedelta(hours=23)
    assert "daily cap is spent" in str(limited) and "1 a day" in str(limited)


def test_a_spent_15_minute_window_says_its_reset(fake_x: FakeX, client: XClient) -> None:
    fake_x.limit_factor = 0.01  # posts: 1 a quarter hour, 100 a day for the app
    client.post_tweet("one")
    with pytest.raises(XRateLimited) as raised:
        client.post_tweet("two")
    assert raised.value.window == "15-minute"
    left = raised.value.reset_at - datetime.now(UTC)
    assert timedelta(minutes=14) < left <= timedelta(minutes=15, seconds=1)  # whole seconds


def test_a_429_naming_no_spent_window_never_waits_for_a_daily_reset() -> None:
    """A 429 whose headers show nothing spent used to wait for the latest reset of any
    window: a daily cap's, 22 hours off."""
    now = datetime.now(UTC)
    headers = {
        "x-rate-limit-limit": "100",
        "x-rate-limit-remaining": "3",
        "x-rate-limit-reset": str(int(now.timestamp()) + 600),
        "x-app-limit-24hour-limit": "10000",
        "x-app-limit-24hour-remaining": "50",
        "x-app-limit-24hour-reset": str(int(now.timestamp()) + 80_000),
    }
    assert rate_limited(headers, "posting").reset_at - now <= timedelta(seconds=601)
    after = rate_limited({"retry-after": "30"}, "posting").reset_at - now
    assert timedelta(seconds=29) < after <= timedelta(seconds=31)
    assert rate_limited({}, "posting").reset_at - now > timedelta(seconds=59)


def test_dm_to_a_closed_inbox(fake_x: FakeX, client: XClient) -> None:
    private = fake_x.add_user("private", accepts_dms=False)
    with pytest.raises(XRecipientClosed, match="^@private does not accept DMs"):
        client.send_dm(int(private["id"]), "hi", handle="private")
    with pytest.raises(XRecipientClosed, match="^The recipient does not accept DMs"):
        client.send_dm(int(private["id"]), "hi")
    assert fake_x.dms_between("brand", "private") == []


def test_dm_to_an_unknown_user_is_not_found(client: XClient) -> None:
    with pytest.raises(XNotFound, match="participant_id"):
        client.send_dm(42, "hi")


def test_retweet_of_a_deleted_post_and_on_behalf_of_another(
    fake_x: FakeX, account: dict[str, Any], jane: dict[str, Any], client: XClient, mention: int
) -> None:
    with pytest.raises(XForbidden):
        client.retweet(int(jane["id"]), mention)
    fake_x.delete_tweet(str(mention))
    with pytest.raises(XNotFound, match="deleted"):
        client.retweet(int(account["id"]), mention)
    with pytest.raises(XNotFound, match="deleted"):
        client.retweeted(int(account["id"]), mention)


def test_revoked_token_on_a_write(fake_x: FakeX, account: dict[str, Any]) -> None:
    token = fake_x.issue_token(account["id"])
    client = XClient("oauth2", {"access_token": token}, base_url=fake_x.url)
    fake_x.revoke(token)
    with pytest.raises(XTokenRevoked, match="Reconnect the account"):
        client.post_tweet("hello")


def test_rate_limited_write_carries_the_reset_and_did_nothing(
    fake_x: FakeX, client: XClient, jane: dict[str, Any]
) -> None:
    fake_x.fail("/2/dm_conversations/", 429, reset_in=30, method="POST")
    with pytest.raises(XRateLimited) as raised:
        client.send_dm(int(jane["id"]), "hi")
    wait = (raised.value.reset_at - datetime.now(UTC)).total_seconds()
    assert 28 <= wait <= 31
    assert fake_x.dms_between("brand", "jane") == []


def test_other_refusals(fake_x: FakeX, client: XClient) -> None:
    fake_x.fail("/2/tweets", 403, method="POST")
    with pytest.raises(XForbidden, match="access level and plan"):
        client.post_tweet("hello")
    fake_x.fail("/2/tweets", 422, method="POST")
    with pytest.raises(XError, match="X rejected posting"):
        client.post_tweet("hello")
    assert fake_x.posts_by("brand") == []


# --- when the outcome is unknown -------------------------------------------------------------


def test_server_error_on_a_write_is_an_unknown_outcome(
    fake_x: FakeX, account: dict[str, Any], client: XClient, mention: int
) -> None:
    fake_x.fail("/2/tweets", 503, method="POST")
    with pytest.raises(XOutcomeUnknown, match="may have gone through"):
        client.post_tweet("@jane thanks", reply_to=mention)
    # A 5xx on a read is just X failing: tried again at once, then later.
    fake_x.fail(f"/2/users/{account['id']}/tweets", 503, times=READ_RETRIES + 1)
    with pytest.raises(XUnavailable):
        list(client.recent_posts(int(account["id"]), since=datetime.now(UTC)))


def test_a_read_x_fails_once_is_tried_again_at_once(
    fake_x: FakeX, account: dict[str, Any], client: XClient, mention: int
) -> None:
    """A page of many that X fails now and then should not cost the whole poll."""
    fake_x.fail(f"/2/users/{account['id']}/mentions", 503, times=READ_RETRIES)
    page = client.mentions_page(int(account["id"]))
    assert [tweet["id"] for tweet in page["data"]] == [str(mention)]
    assert len(fake_x.calls_to(f"/2/users/{account['id']}/mentions")) == READ_RETRIES + 1


def test_lost_answer_to_a_post_is_unknown_yet_the_post_exists(
    fake_x: FakeX, account: dict[str, Any], client: XClient, mention: int
) -> None:
    started = datetime.now(UTC)
    fake_x.lose_answer("/2/tweets")
    with pytest.raises(XOutcomeUnknown, match="connection dropped") as raised:
        client.post_tweet("@jane on its way", reply_to=mention)
    assert "Check the account on X" in str(raised.value)

    (post,) = fake_x.posts_by("brand")
    found = list(client.recent_posts(int(account["id"]), since=started))
    assert [(p["id"], p["text"]) for p in found] == [(post["id"], "@jane on its way")]


def test_lost_answers_to_a_dm_and_a_retweet(
    fake_x: FakeX, account: dict[str, Any], jane: dict[str, Any], client: XClient, mention: int
) -> None:
    fake_x.lose_answer("/2/dm_conversations/")
    with pytest.raises(XOutcomeUnknown):
        client.send_dm(int(jane["id"]), "hello")
    assert [event["text"] for event in client.recent_dms(int(jane["id"]))] == ["hello"]

    fake_x.lose_answer(f"/2/users/{account['id']}/retweets", method=None)
    with pytest.raises(XOutcomeUnknown):
        client.retweet(int(account["id"]), mention)
    assert client.retweeted(int(account["id"]), mention) is True


def test_slow_answer_to_a_write_is_unknown_and_the_post_lands(
    fake_x: FakeX, account: dict[str, Any]
) -> None:
    client = client_for(fake_x, account, timeout=SHORT_TIMEOUT)
    fake_x.slow("/2/tweets", 1.0)
    started = time.monotonic()
    with pytest.raises(XOutcomeUnknown, match="no answer in time"):
        client.post_tweet("a slow one")
    assert time.monotonic() - started < 0.9
    assert wait_for(lambda: fake_x.posts_by("brand"))[0]["text"] == "a slow one"


def test_slow_answer_to_a_read_is_unavailable(fake_x: FakeX, account: dict[str, Any]) -> None:
    client = client_for(fake_x, account, timeout=SHORT_TIMEOUT)
    fake_x.slow(f"/2/users/{account['id']}/tweets", 1.0, times=READ_RETRIES + 1)
    with pytest.raises(XUnavailable):
        list(client.recent_posts(int(account["id"]), since=datetime.now(UTC)))


def test_unreachable_x_on_a_write_sent_nothing(
    fake_x: FakeX, account: dict[str, Any], closed_port: int
) -> None:
    client = XClient(
        "oauth2",
        {"access_token": fake_x.issue_token(account["id"])},
        base_url=f"http://127.0.0.1:{closed_port}",
        timeout=SHORT_TIMEOUT,
    )
    with pytest.raises(XUnavailable, match="nothing was sent"):
        client.post_tweet("hello")
    with pytest.raises(XUnavailable, match="nothing was sent"):
        client.send_dm(1, "hello")


def test_connect_timeout_on_a_write_sent_nothing(fake_x: FakeX, account: dict[str, Any]) -> None:
    # A listener that never accepts, with its queue full: new connections hang in SYN.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        waiting = []
        try:
            for _ in range(4):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(address)
                waiting.append(sock)
            client = XClient(
                "oauth2",
                {"access_token": fake_x.issue_token(account["id"])},
                base_url=f"http://127.0.0.1:{address[1]}",
                timeout=(0.2, 0.2),
            )
            with pytest.raises(XUnavailable, match="ConnectTimeout"):
                client.post_tweet("hello")
        finally:
            for sock in waiting:
                sock.close()


# --- media -----------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
GIF = b"GIF89a" + bytes(range(256)) * 4


def test_upload_an_image_and_post_it(
    request: pytest.FixtureRequest, fake_x: FakeX, client: XClient
) -> None:
    media_id = client.upload_image(PNG, "image/png")
    (upload,) = fake_x.uploads_by("brand")
    assert (upload["id"], upload["type"], upload["size"]) == (media_id, "photo", len(PNG))
    (call,) = fake_x.calls_to("/2/media/upload", method="POST")
    assert call.headers["content-type"].startswith("multipart/form-data")
    scheme = {"oauth1": "OAuth", "oauth2": "Bearer"}[request.node.callspec.params["client"]]
    assert call.headers["authorization"].startswith(scheme + " ")

    post_id = client.post_tweet("New in store", media_ids=[media_id])
    (post,) = fake_x.posts_by("brand")
    assert (post["id"], post["text"], post["media_ids"]) == (post_id, "New in store", [media_id])


def test_upload_a_video_in_chunks_waiting_as_x_says(fake_x: FakeX, client: XClient) -> None:
    fake_x.video_polls = 2
    fake_x.check_after_secs = 2
    waits: list[float] = []
    media_id = client.upload_video(MP4, "video/mp4", chunk_bytes=4000, poll=waits.append)

    assert waits == [2.0, 2.0]
    assert len(fake_x.calls_to(f"/2/media/upload/{media_id}/append")) == 3
    (upload,) = fake_x.uploads_by("brand")
    assert (upload["state"], upload["size"]) == ("succeeded", len(MP4))
    client.post_tweet("Watch this", media_ids=[media_id])
    assert fake_x.posts_by("brand")[0]["media_ids"] == [media_id]


def test_an_animated_gif_goes_up_chunked_and_waits_for_processing(
    fake_x: FakeX, client: XClient
) -> None:
    """X documents the one-request upload for images only; a GIF sent that way is refused."""
    fake_x.video_polls = 1
    waits: list[float] = []
    media_id = client.upload_gif(GIF, poll=waits.append)

    assert waits == [1.0]
    (started,) = fake_x.calls_to("/2/media/upload/initialize")
    assert json.loads(started.body)["media_category"] == "tweet_gif"
    (upload,) = fake_x.uploads_by("brand")
    assert (upload["type"], upload["state"]) == ("animated_gif", "succeeded")
    client.post_tweet("Loop", media_ids=[media_id])
    with pytest.raises(XError, match="could not process the GIF"):
        client.upload_gif(PNG, poll=waits.append)


def test_video_x_cannot_process_says_why(fake_x: FakeX, client: XClient) -> None:
    fake_x.fail_processing(error={"code": 3, "name": "InvalidMedia", "message": "Too long."})
    with pytest.raises(XError, match=r"could not process the video \(Too long\)"):
        client.upload_video(MP4, "video/mp4", poll=lambda seconds: None)


def test_video_still_processing_after_the_wait_gives_up(fake_x: FakeX, client: XClient) -> None:
    fake_x.video_polls = 1000
    fake_x.check_after_secs = 250
    waits: list[float] = []
    with pytest.raises(XError, match="still processing the video after 10 minutes"):
        client.upload_video(MP4, "video/mp4", poll=waits.append)
    assert waits == [250.0, 250.0]


def test_upload_refusals(fake_x: FakeX, client: XClient) -> None:
    fake_x.max_image_bytes = 100
    with pytest.raises(XError, match="X rejected uploading the image: File size exceeds 100"):
        client.upload_image(PNG, "image/png")
    with pytest.raises(XError, match="media type unrecognized"):
        client.upload_image(b"%PDF-1.7 not an image", "image/png")
    fake_x.max_video_bytes = 100
    with pytest.raises(XError, match="X rejected uploading the video: File size exceeds 100"):
        client.upload_video(MP4, "video/mp4")
    fake_x.fail("/2/media/upload/", 429, reset_in=30, method="POST")
    with pytest.raises(XRateLimited):
        client.upload_video(MP4, "video/mp4")


def test_unanswered_upload_is_a_write_of_unknown_outcome(fake_x: FakeX, client: XClient) -> None:
    fake_x.fail("/2/media/upload/", 503, method="POST")
    with pytest.raises(XOutcomeUnknown):
        client.upload_video(MP4, "video/mp4")
    fake_x.lose_answer("/2/media/upload")
    with pytest.raises(XOutcomeUnknown):
        client.upload_image(PNG, "image/png")
    # Uploading again is safe: nothing was posted.
    assert client.upload_image(PNG, "image/png")
    assert fake_x.posts_by("brand") == []


def test_revoked_token_on_an_upload(fake_x: FakeX, account: dict[str, Any]) -> None:
    token = fake_x.issue_token(account["id"])
    client = XClient("oauth2", {"access_token": token}, base_url=fake_x.url)
    fake_x.revoke(token)
    with pytest.raises(XTokenRevoked):
        client.upload_image(PNG, "image/png")


def test_posting_unknown_media_is_refused_with_xs_words(fake_x: FakeX, client: XClient) -> None:
    with pytest.raises(XError, match="X rejected posting: Your media IDs are invalid"):
        client.post_tweet("hello", media_ids=["1234"])
    assert fake_x.posts_by("brand") == []


def test_every_call_roost_makes_is_one_xs_openapi_description_allows(
    fake_x: FakeX, client: XClient, account: dict[str, Any], jane: dict[str, Any], mention: int
) -> None:
    """Not hand-built requests: the calls XClient itself sends, as the fake received them,
    each checked against X's description (endpoint, query parameters, JSON body)."""
    registry = openapi.registry()
    fake_x.video_polls = 1
    since = datetime.now(UTC) - timedelta(minutes=1)
    client.me()
    client.mentions_page(int(account["id"]))
    list(client.recent_posts(int(account["id"]), since=since))
    image = client.upload_image(PNG, "image/png")
    gif = client.upload_gif(GIF, poll=lambda seconds: None)
    video = client.upload_video(MP4, "video/mp4", chunk_bytes=4000, poll=lambda seconds: None)
    client.post_tweet("@jane on it", reply_to=mention, media_ids=[image])
    client.post_tweet("A loop", media_ids=[gif])
    client.post_tweet("A film", media_ids=[video])
    client.send_dm(int(jane["id"]), "hello")
    client.recent_dms(int(jane["id"]))
    client.retweet(int(account["id"]), mention)
    client.retweeted(int(account["id"]), mention)
    client.unretweet(int(account["id"]), mention)

    calls = [call for call in fake_x.calls if not call.path.startswith("/2/oauth2/")]
    assert len({(call.method, call.path.split("/")[2]) for call in calls}) >= 5
    for call in calls:
        openapi.assert_call_is_described(registry, call)


def test_the_judge_of_calls_refuses_what_x_does_not_describe() -> None:
    """So that the check above can fail: an unknown parameter, a value outside X's enum,
    an extra property in a body X's schema closes."""
    registry = openapi.registry()
    headers = Headers([("content-type", "application/json")])

    def call(method: str, path: str, query: dict[str, str], body: bytes = b"") -> Call:
        return Call(method, path, query, headers, body)

    openapi.assert_call_is_described(
        registry, call("GET", "/2/users/1/mentions", {"max_results": "100"})
    )
    with pytest.raises(AssertionError, match="no parameter 'bogus'"):
        openapi.assert_call_is_described(
            registry, call("GET", "/2/users/1/mentions", {"bogus": "1"})
        )
    with pytest.raises(ValidationError):
        openapi.assert_call_is_described(
            registry, call("GET", "/2/users/1/mentions", {"tweet.fields": "author_id,colour"})
        )
    with pytest.raises(ValidationError):
        openapi.assert_call_is_described(
            registry,
            call("POST", "/2/tweets", {}, json.dumps({"text": "hi", "colour": "red"}).encode()),
        )
    with pytest.raises(AssertionError, match="documents no"):
        openapi.assert_call_is_described(registry, call("GET", "/2/nowhere", {}))

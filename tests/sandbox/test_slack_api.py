"""Tests for the fake Slack Web API, driven through the real slack_sdk clients over HTTP."""

import base64
import http.client
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from slack_bolt import Ack, App, BoltRequest, Respond, Say
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from sandbox.slack_api import (
    FakeSlack,
    action_body,
    command_body,
    event_body,
    signed_headers,
)
from tests.conftest import REPO_ROOT, wait_for

BRAND = "C0BRAND"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.add_channel(BRAND, "x-brand")
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.url)


def slack_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> SlackApiError:
    """Run a client call that must fail and return the SlackApiError it raised."""
    with pytest.raises(SlackApiError) as caught:
        call(*args, **kwargs)
    return caught.value


# ------------------------------------------------------------------------- messages


def test_auth_test_describes_the_bot(fake: FakeSlack, client: WebClient) -> None:
    answer = client.auth_test()

    assert answer["team_id"] == fake.team_id == "T0ROOST"
    assert answer["user_id"] == fake.bot_user_id == "UROOSTBOT"
    assert answer["bot_id"] and answer["url"].startswith("https://")
    assert fake.url.startswith("http://127.0.0.1:") and fake.url.endswith("/api/")


def test_post_update_reply_permalink_and_history(fake: FakeSlack, client: WebClient) -> None:
    metadata = {"event_type": "mention_card", "event_payload": {"tweet_id": "1"}}
    posted = client.chat_postMessage(
        channel=BRAND, text="@brand hi", blocks=[section("*@alice* hi")], metadata=metadata
    )
    ts = posted["ts"]
    assert posted["channel"] == BRAND
    assert posted["message"]["blocks"] == [section("*@alice* hi")]

    updated = client.chat_update(channel=BRAND, ts=ts, text="handled", blocks=[section("done")])
    assert updated["message"]["text"] == "handled"
    missing = slack_error(client.chat_update, channel=BRAND, ts="1.000001", text="x")
    assert missing.response["error"] == "message_not_found"
    reply = client.chat_postMessage(channel=BRAND, text="replied", thread_ts=ts)
    # Slack threads are one level deep: answering the reply lands in the same thread.
    nested = client.chat_postMessage(channel=BRAND, text="again", thread_ts=reply["ts"])
    assert nested["message"]["thread_ts"] == ts

    permalink = client.chat_getPermalink(channel=BRAND, message_ts=ts)["permalink"]
    assert permalink == f"https://fake.slack.test/archives/{BRAND}/p{ts.replace('.', '')}"
    parent = fake.message(BRAND, ts)
    assert (parent["text"], parent["edits"], parent["metadata"]) == ("handled", 1, metadata)
    assert [m["text"] for m in fake.thread(BRAND, ts)] == ["replied", "again"]
    assert [m["ts"] for m in fake.messages(BRAND)] == [ts, reply["ts"], nested["ts"]]

    history = client.conversations_history(channel=BRAND, include_all_metadata=True)
    (top,) = history["messages"]  # replies stay in their thread
    assert (top["ts"], top["text"], top["reply_count"]) == (ts, "handled", 2)
    assert top["metadata"] == metadata
    assert "metadata" not in client.conversations_history(channel=BRAND)["messages"][0]
    replies = client.conversations_replies(channel=BRAND, ts=ts)["messages"]
    assert [m["text"] for m in replies] == ["handled", "replied", "again"]


def test_history_is_newest_first_and_pages_with_a_cursor(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=BRAND, text=f"m{i}")["ts"] for i in range(5)]
    assert len(set(stamps)) == 5 and stamps == sorted(stamps, key=Decimal)

    # Iterating a SlackResponse follows next_cursor, reusing one object for every page.
    pages = [
        [m["text"] for m in page["messages"]]
        for page in client.conversations_history(channel=BRAND, limit=2)
    ]

    assert pages == [["m4", "m3"], ["m2", "m1"], ["m0"]]
    window = client.conversations_history(channel=BRAND, oldest=stamps[1], latest=stamps[3])
    assert [m["text"] for m in window["messages"]] == ["m2"]


def test_ephemeral_delete_info_and_join(fake: FakeSlack, client: WebClient) -> None:
    assert client.chat_postEphemeral(channel=BRAND, user="U1", text="only you")["message_ts"]
    assert fake.ephemerals == [{"channel": BRAND, "user": "U1", "text": "only you", "blocks": []}]

    ts = client.chat_postMessage(channel=BRAND, text="bye")["ts"]
    client.chat_delete(channel=BRAND, ts=ts)
    assert fake.messages(BRAND) == []
    assert slack_error(client.chat_delete, channel=BRAND, ts=ts).response["error"] == (
        "message_not_found"
    )

    fake.add_channel("C0OTHER", "other", bot_is_member=False)
    info = client.conversations_info(channel="C0OTHER")["channel"]
    assert (info["id"], info["name"], info["is_member"], info["is_private"]) == (
        "C0OTHER",
        "other",
        False,
        False,
    )
    assert client.conversations_join(channel="C0OTHER")["channel"]["is_member"] is True
    assert client.chat_postMessage(channel="C0OTHER", text="joined")["ok"]


def test_form_encoded_body_with_token_field(fake: FakeSlack) -> None:
    answer = requests.post(
        f"{fake.url}chat.postMessage",
        data={"token": fake.bot_token, "channel": BRAND, "blocks": json.dumps([section("x")])},
        timeout=5,
    )

    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert fake.messages(BRAND)[0]["blocks"] == [section("x")]
    (call,) = fake.calls_to("chat.postMessage")
    assert "token" not in call.args  # the token is authentication, not an argument


def test_keep_alive_serves_several_requests_on_one_connection(fake: FakeSlack) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", urlsplit(fake.url).port, timeout=5)
    try:
        sockets = []
        for _ in range(3):
            connection.request(
                "POST", "/api/auth.test", headers={"Authorization": f"Bearer {fake.bot_token}"}
            )
            answer = connection.getresponse()
            assert json.loads(answer.read())["ok"] is True
            sockets.append(connection.sock)
        assert sockets[0] is not None and sockets.count(sockets[0]) == 3
    finally:
        connection.close()


def test_wait_for_sees_a_message_posted_from_another_thread(
    fake: FakeSlack, client: WebClient
) -> None:
    poster = threading.Thread(
        target=client.chat_postMessage, kwargs={"channel": BRAND, "text": "x"}
    )
    poster.start()
    try:
        posted = fake.wait_for(lambda: fake.messages(BRAND), timeout=5)
    finally:
        poster.join(timeout=5)

    assert [m["text"] for m in posted] == ["x"]
    with pytest.raises(TimeoutError):
        fake.wait_for(lambda: len(fake.messages(BRAND)) > 1, timeout=0.05)


# ------------------------------------------------------------------------- limits and errors


def test_51_blocks_are_invalid_but_50_are_fine(fake: FakeSlack, client: WebClient) -> None:
    assert client.chat_postMessage(channel=BRAND, text="t", blocks=[section("b")] * 50)["ok"]

    error = slack_error(
        client.chat_postMessage, channel=BRAND, text="t", blocks=[section("b")] * 51
    )

    assert error.response["error"] == "invalid_blocks"
    assert "no more than 50 items" in error.response["response_metadata"]["messages"][0]
    assert len(fake.messages(BRAND)) == 1


def test_section_text_over_3000_chars_is_invalid(client: WebClient) -> None:
    assert client.chat_postMessage(channel=BRAND, text="t", blocks=[section("x" * 3000)])["ok"]

    error = slack_error(
        client.chat_postMessage, channel=BRAND, text="t", blocks=[section("x" * 3001)]
    )

    assert error.response["error"] == "invalid_blocks"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]


def test_a_buttons_and_a_modals_texts_keep_slacks_limits(
    fake: FakeSlack, client: WebClient
) -> None:
    """Slack refuses a button over 75 characters, an option over 75, a placeholder over
    150, and a modal's title, submit or close over 24: in any language."""

    def actions(**button: Any) -> list[dict[str, Any]]:
        element = {"type": "button", "action_id": "a", **button}
        return [{"type": "actions", "elements": [element]}]

    fine = {"text": {"type": "plain_text", "text": "답" * 75}}
    assert client.chat_postMessage(channel=BRAND, text="t", blocks=actions(**fine))["ok"]
    long = {"text": {"type": "plain_text", "text": "답" * 76}}
    error = slack_error(client.chat_postMessage, channel=BRAND, text="t", blocks=actions(**long))
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    ]
    select = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "pick"},
        "accessory": {
            "type": "static_select",
            "action_id": "s",
            "placeholder": {"type": "plain_text", "text": "x" * 151},
            "options": [{"text": {"type": "plain_text", "text": "y" * 76}, "value": "1"}],
        },
    }
    error = slack_error(client.chat_postMessage, channel=BRAND, text="t", blocks=[select])
    assert len(error.response["response_metadata"]["messages"]) == 2

    def modal(**parts: Any) -> dict[str, Any]:
        title = {"type": "plain_text", "text": "제목"}
        return {"type": "modal", "title": title, "blocks": [section("b")], **parts}

    trigger = fake.issue_trigger()
    submit = {"type": "plain_text", "text": "보내기" * 9}
    error = slack_error(client.views_open, trigger_id=trigger, view=modal(submit=submit))
    assert "/view/submit/text" in error.response["response_metadata"]["messages"][0]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"channel": BRAND}, "no_text"),
        ({"channel": BRAND, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": BRAND, "text": "t", "thread_ts": "1.000001"}, "thread_not_found"),
        (
            {"channel": BRAND, "text": "t", "blocks": [{"type": "header", "text": "x"}]},
            "invalid_blocks",
        ),
        ({"channel": "C0NOPE", "text": "t"}, "channel_not_found"),
    ],
)
def test_post_message_rejections(client: WebClient, payload: dict[str, Any], expected: str) -> None:
    # api_call skips slack_sdk's client-side warning about a missing text argument.
    error = slack_error(client.api_call, "chat.postMessage", json=payload)

    assert error.response.status_code == 200
    assert error.response["error"] == expected


def test_bot_removed_from_channel_gets_not_in_channel(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("C0SECRET", "secret", is_private=True, bot_is_member=False)
    fake.remove_bot_from(BRAND)

    assert slack_error(client.chat_postMessage, channel=BRAND, text="t").response["error"] == (
        "not_in_channel"
    )
    # Private channels the bot is not in do not exist as far as it can tell.
    assert slack_error(client.conversations_info, channel="C0SECRET").response["error"] == (
        "channel_not_found"
    )


def test_wrong_and_revoked_tokens(fake: FakeSlack, client: WebClient) -> None:
    stranger = WebClient(token="xoxb-not-a-real-token", base_url=fake.url)
    assert slack_error(stranger.auth_test).response["error"] == "invalid_auth"

    fake.revoke(fake.bot_token)

    assert slack_error(client.auth_test).response["error"] == "token_revoked"


def test_app_token_only_opens_socket_mode_connections(fake: FakeSlack, client: WebClient) -> None:
    app_client = WebClient(token=fake.app_token, base_url=fake.url)

    url = app_client.apps_connections_open(app_token=fake.app_token)["url"]
    # ws://, not wss://: slack_sdk connects without TLS to any port but 443.
    assert url.startswith(f"ws://{fake.url.removeprefix('http://').split('/')[0]}/link/?ticket=")
    error = slack_error(client.apps_connections_open, app_token=fake.bot_token)
    assert error.response["error"] == "not_allowed_token_type"
    assert slack_error(client.api_call, "chat.nope").response["error"] == "unknown_method"


def test_rate_limit_surfaces_status_and_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", retry_after=7)

    error = slack_error(client.chat_postMessage, channel=BRAND, text="t")

    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel=BRAND, text="t")["ok"]  # the fault was used up


def test_rate_limit_retry_handler_succeeds_after_one_429(fake: FakeSlack) -> None:
    client = WebClient(
        token=fake.bot_token,
        base_url=fake.url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.fail("chat.postMessage", retry_after=1)

    assert client.chat_postMessage(channel=BRAND, text="eventually")["ok"]

    assert len(fake.calls_to("chat.postMessage")) == 2
    assert [m["text"] for m in fake.messages(BRAND)] == ["eventually"]


def test_server_errors_and_injected_api_errors(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", status=503)
    fake.fail("chat.postMessage", error="fatal_error", times=2)

    assert slack_error(client.chat_postMessage, channel=BRAND, text="t").response.status_code == 503
    for _ in range(2):
        error = slack_error(client.chat_postMessage, channel=BRAND, text="t")
        assert (error.response.status_code, error.response["error"]) == (200, "fatal_error")
    assert client.chat_postMessage(channel=BRAND, text="t")["ok"]
    with pytest.raises(ValueError):
        fake.fail("chat.postMessage", status=404)


def test_a_storm_fails_every_nth_call(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", error="fatal_error", times=2, every=3)
    outcomes = []
    for _ in range(7):
        try:
            outcomes.append(client.chat_postMessage(channel=BRAND, text="t")["ok"])
        except SlackApiError:
            outcomes.append(False)
    assert outcomes == [True, True, False, True, True, False, True]


def test_slow_delays_the_answer(fake: FakeSlack, client: WebClient) -> None:
    fake.slow("auth.test", 0.3)

    started = time.monotonic()
    assert client.auth_test()["ok"]
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert client.auth_test()["ok"]
    assert time.monotonic() - started < 0.3  # only the next call was held


def test_a_lost_answer_posts_the_message_and_says_nothing(fake: FakeSlack) -> None:
    fake.lose_answer("chat.postMessage")
    # No retry on a dropped connection (slack_sdk retries one by default): as Roost calls.
    impatient = WebClient(token=fake.bot_token, base_url=fake.url, timeout=5, retry_handlers=[])
    with pytest.raises(OSError):  # the connection closes with no answer
        impatient.chat_postMessage(channel=BRAND, text="did it go?")
    assert [m["text"] for m in fake.messages(BRAND)] == ["did it go?"]
    assert impatient.chat_postMessage(channel=BRAND, text="again")["ok"]  # only the next one
    with pytest.raises(ValueError):
        fake.lose_answer("chat.postMessage", times=0)


# ------------------------------------------------------------------------- users, views, files


def test_users_info(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U0ALICE", "alice", real_name="Alice Kim", is_admin=True)

    user = client.users_info(user="U0ALICE")["user"]

    assert (user["id"], user["name"], user["real_name"]) == ("U0ALICE", "alice", "Alice Kim")
    assert (user["is_bot"], user["deleted"], user["is_admin"]) == (False, False, True)
    assert (user["tz"], user["tz_offset"]) == ("Asia/Seoul", 9 * 3600)
    assert user["profile"]["display_name"] == "alice"
    assert client.users_info(user=fake.bot_user_id)["user"]["is_bot"] is True
    assert slack_error(client.users_info, user="U0NOBODY").response["error"] == "user_not_found"


def test_views_are_recorded_and_validated(fake: FakeSlack, client: WebClient) -> None:
    home = {"type": "home", "blocks": [section("Accounts")]}
    published = client.views_publish(user_id="U0ALICE", view=home)["view"]
    assert published["id"].startswith("V") and published["blocks"] == home["blocks"]

    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Reply"}, "blocks": []}
    opened = client.views_open(trigger_id=fake.issue_trigger(), view=modal)["view"]
    client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)

    assert [(v["method"], v["view"]) for v in fake.views] == [
        ("views.publish", home),
        ("views.open", modal),
        ("views.update", modal),
    ]
    assert fake.views[0]["user_id"] == "U0ALICE"
    stale = slack_error(client.views_update, view_id=opened["id"], hash=opened["hash"], view=modal)
    assert stale.response["error"] == "hash_conflict"
    long_title = {**modal, "title": {"type": "plain_text", "text": "x" * 25}}
    error = slack_error(client.views_open, trigger_id=fake.issue_trigger(), view=long_title)
    assert error.response["error"] == "invalid_arguments"


def test_a_trigger_id_works_once_and_for_three_seconds(fake: FakeSlack, client: WebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Reply"}, "blocks": []}
    trigger = fake.issue_trigger()
    client.views_open(trigger_id=trigger, view=modal)

    assert slack_error(client.views_open, trigger_id=trigger, view=modal).response["error"] == (
        "exchanged_trigger_id"
    )
    invalid = slack_error(client.views_open, trigger_id="1.2.3", view=modal)
    assert invalid.response["error"] == "invalid_trigger_id"
    fake.trigger_seconds = 0.05
    late = fake.issue_trigger()
    time.sleep(0.1)
    assert slack_error(client.views_push, trigger_id=late, view=modal).response["error"] == (
        "expired_trigger_id"
    )
    assert [v["method"] for v in fake.views] == ["views.open"]


def test_a_thread_reply_also_sent_to_the_channel_is_a_thread_broadcast(
    fake: FakeSlack, client: WebClient
) -> None:
    card = client.chat_postMessage(channel="C0BRAND", text="a card")["ts"]
    plain = fake.user_message_event("C0BRAND", "U0ALICE", "a note", thread_ts=card)
    broadcast = fake.user_message_event(
        "C0BRAND", "U0ALICE", "everyone: taken", thread_ts=card, broadcast=True
    )

    assert "subtype" not in plain and plain["thread_ts"] == card
    assert broadcast["subtype"] == "thread_broadcast" and broadcast["thread_ts"] == card
    assert broadcast["root"]["ts"] == card and broadcast["root"]["text"] == "a card"
    replies = client.conversations_replies(channel="C0BRAND", ts=card)["messages"]
    assert [m["text"] for m in replies] == ["a card", "a note", "everyone: taken"]


def test_files_upload_v2_end_to_end(fake: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=BRAND, text="card")["ts"]

    answer = client.files_upload_v2(
        channel=BRAND,
        content=b"tweet,likes\n1,3\n",
        filename="report.csv",
        title="Mentions report",
        initial_comment="Here you go",
        thread_ts=parent,
    )

    assert answer["file"]["title"] == "Mentions report"
    (stored,) = fake.files
    assert (stored["filename"], stored["size"], stored["channel"]) == ("report.csv", 16, BRAND)
    assert stored["content"] == b"tweet,likes\n1,3\n"
    (share,) = fake.thread(BRAND, parent)
    assert share["text"] == "Here you go"
    assert share["files"] == [
        {"id": stored["id"], "name": "report.csv", "title": "Mentions report", "size": 16}
    ]


def test_added_file_downloads_with_the_bot_token_only(fake: FakeSlack) -> None:
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    file = fake.add_file("sunset photo.png", "image/png", content)
    assert file["id"].startswith("F") and file["name"] == "sunset photo.png"
    assert (file["mimetype"], file["filetype"], file["size"]) == ("image/png", "png", 264)
    team_file = f"{fake.base_url}/files-pri/{fake.team_id}-{file['id']}"
    assert file["url_private"] == f"{team_file}/sunset%20photo.png"
    assert file["url_private_download"] == f"{team_file}/download/sunset%20photo.png"

    auth = {"Authorization": f"Bearer {fake.bot_token}"}
    for url in (file["url_private"], file["url_private_download"]):
        fetched = requests.get(url, headers=auth, timeout=5)
        assert fetched.status_code == 200 and fetched.content == content
        assert fetched.headers["Content-Type"] == "image/png"

    # Without the token (or with another) Slack sends people to its sign-in page.
    for headers in ({}, {"Authorization": "Bearer xoxb-someone-else"}):
        refused = requests.get(file["url_private"], headers=headers, timeout=5)
        assert refused.status_code == 200 and refused.history[0].status_code == 302
        assert refused.headers["Content-Type"].startswith("text/html")
        assert b"Sign in" in refused.content
    fake.revoke(fake.bot_token)
    assert requests.get(file["url_private"], headers=auth, timeout=5).history
    assert [download["authorized"] for download in fake.downloads] == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_files_info_and_deleted_files(fake: FakeSlack, client: WebClient) -> None:
    file = fake.add_file("clip.mov", "video/quicktime", b"\x00\x00\x00\x14ftypqt  ")
    assert client.files_info(file=file["id"])["file"] == file
    assert file["filetype"] == "mov"

    fake.delete_file(file["id"])
    assert slack_error(client.files_info, file=file["id"]).response["error"] == "file_deleted"
    assert slack_error(client.files_info, file="F0NOPE").response["error"] == "file_not_found"
    gone = requests.get(
        file["url_private_download"],
        headers={"Authorization": f"Bearer {fake.bot_token}"},
        timeout=5,
    )
    assert gone.status_code == 404
    with pytest.raises(KeyError):
        fake.delete_file(file["id"])


def test_response_url_accepts_webhook_posts(fake: FakeSlack) -> None:
    webhook = WebhookClient(fake.response_url())

    sent = webhook.send(text="Replied", blocks=[section("Replied")], replace_original=True)

    assert sent.status_code == 200
    assert fake.responses == [
        {"text": "Replied", "blocks": [section("Replied")], "replace_original": True}
    ]
    unknown = WebhookClient(f"{fake.url.removesuffix('/api/')}/_response/nope").send(text="x")
    assert unknown.status_code == 404


# ------------------------------------------------------------------------- control endpoints


def test_control_endpoints(fake: FakeSlack, client: WebClient) -> None:
    base = fake.url.removesuffix("/api/")
    injected = requests.post(
        f"{base}/_control/faults",
        json={"method": "chat.postMessage", "error": "is_archived"},
        timeout=5,
    )
    assert injected.json() == {"ok": True}
    assert slack_error(client.chat_postMessage, channel=BRAND, text="t").response["error"] == (
        "is_archived"
    )
    client.chat_postMessage(channel=BRAND, text="visible")

    listed = requests.get(f"{base}/_control/messages", params={"channel": BRAND}, timeout=5)
    calls = requests.get(f"{base}/_control/calls", timeout=5).json()["calls"]

    assert [m["text"] for m in listed.json()["messages"]] == ["visible"]
    assert [c["method"] for c in calls] == ["chat.postMessage", "chat.postMessage"]
    bad = requests.post(f"{base}/_control/faults", json={"status": 500}, timeout=5)
    assert bad.status_code == 400


# ------------------------------------------------------------------------- inbound helpers


def test_signed_headers_pass_slack_sdk_verification() -> None:
    secret = "s3cret"
    body = command_body(
        "/roost",
        "status",
        user_id="U0ALICE",
        channel_id=BRAND,
        team_id="T0ROOST",
        response_url="http://127.0.0.1/_response/x",
    )
    verifier = SignatureVerifier(secret)

    assert verifier.is_valid_request(body, signed_headers(secret, body))
    assert verifier.is_valid_request(body.encode(), signed_headers(secret, body.encode()))
    assert not verifier.is_valid_request(body + "&x=1", signed_headers(secret, body))
    assert not verifier.is_valid_request(body, signed_headers("other", body))
    stale = signed_headers(secret, body, timestamp=int(time.time()) - 3600)
    assert stale["X-Slack-Request-Timestamp"] == str(int(time.time()) - 3600)
    assert not verifier.is_valid_request(body, stale)


def test_inbound_body_builders() -> None:
    command = parse_qs(
        command_body(
            "/roost",
            "link @brand",
            user_id="U0ALICE",
            channel_id=BRAND,
            team_id="T0ROOST",
            response_url="http://r",
        )
    )
    assert command["command"] == ["/roost"] and command["text"] == ["link @brand"]
    assert command["trigger_id"] == ["T.1"] and command["response_url"] == ["http://r"]

    payload = {"type": "block_actions", "actions": [{"action_id": "reply"}]}
    assert json.loads(parse_qs(action_body(payload))["payload"][0]) == payload

    envelope = json.loads(event_body({"type": "app_home_opened"}, team_id="T0ROOST"))
    assert envelope["type"] == "event_callback" and envelope["api_app_id"] == "AROOST"
    assert envelope["event"] == {"type": "app_home_opened"}
    assert envelope["event_id"].startswith("Ev") and isinstance(envelope["event_time"], int)


# ------------------------------------------------------------------------- standalone


def pump_lines(stream: IO[str], lines: "queue.Queue[str | None]") -> None:
    """Copy a child's output into a queue line by line, then None at end of stream."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def next_line_containing(lines: "queue.Queue[str | None]", needle: str) -> str:
    """The next queued line containing needle, waiting at most 30 s in total (a process
    starting on a machine busy with the rest of the suite can take a while)."""
    deadline = time.monotonic() + 30
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            break
        if needle in line:
            return line
    raise AssertionError(f"no output line containing {needle!r}")


def test_standalone_server_prints_setup_and_each_message() -> None:
    command = [sys.executable, "-m", "sandbox.slack_api", "--port", "0"]
    with subprocess.Popen(
        [*command, "--channel", "C0CLI:cli"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=pump_lines, args=(process.stdout, lines))
        reader.start()
        try:
            url = next_line_containing(lines, "SLACK_API_URL=").strip().partition("=")[2]
            token = next_line_containing(lines, "SLACK_BOT_TOKEN=").strip().partition("=")[2]
            assert next_line_containing(lines, "SLACK_SIGNING_SECRET=")
            next_line_containing(lines, "Ctrl-C")
            standalone = WebClient(token=token, base_url=url)
            standalone.chat_postMessage(channel="C0CLI", text="New mention", blocks=[section("hi")])

            printed = next_line_containing(lines, "posted")
            assert "C0CLI" in printed and "New mention | hi" in printed
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
        assert next_line_containing(lines, "stopped")
        reader.join(timeout=10)


# ------------------------------------------------------------------------- integration


def test_slack_bolt_app_runs_against_the_fake(fake: FakeSlack) -> None:
    app = App(
        client=WebClient(token=fake.bot_token, base_url=fake.url),
        signing_secret=fake.signing_secret,
        process_before_response=True,  # run the listener inside dispatch()
    )

    @app.command("/roost")
    def roost(ack: Ack, respond: Respond, say: Say, command: dict[str, Any]) -> None:
        ack()
        respond(f"checking {command['text']}")
        say(text="status: ok")

    body = command_body(
        "/roost",
        "status",
        user_id="U0ALICE",
        channel_id=BRAND,
        team_id=fake.team_id,
        response_url=fake.response_url(),
    )
    headers: dict[str, str | Sequence[str]] = {
        "Content-Type": "application/x-www-form-urlencoded",
        **signed_headers(fake.signing_secret, body),
    }

    assert app.dispatch(BoltRequest(body=body, headers=headers)).status == 200
    assert fake.responses == [{"text": "checking status"}]
    assert [m["text"] for m in fake.messages(BRAND)] == ["status: ok"]
    assert [c.method for c in fake.calls] == ["auth.test", "chat.postMessage"]
    forged: dict[str, str | Sequence[str]] = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    assert app.dispatch(BoltRequest(body=body, headers=forged)).status == 401


def test_stop_is_prompt_with_idle_and_slow_connections() -> None:
    fake = FakeSlack().start()
    idle = http.client.HTTPConnection("127.0.0.1", urlsplit(fake.url).port, timeout=5)
    held = queue.Queue[int]()
    held_call = threading.Thread(
        target=lambda: held.put(requests.post(f"{fake.url}auth.test", timeout=10).status_code)
    )
    try:
        idle.request(
            "POST", "/api/auth.test", headers={"Authorization": f"Bearer {fake.bot_token}"}
        )
        idle.getresponse().read()  # the connection now idles in keep-alive
        fake.slow("auth.test", 30)
        held_call.start()
        fake.wait_for(lambda: len(fake.calls_to("auth.test")) == 2)
        started = time.monotonic()

        fake.stop()

        held_call.join(timeout=5)
        assert time.monotonic() - started < 2
        assert held.get_nowait() == 200  # the held request is answered, not dropped
    finally:
        fake.stop()
        idle.close()


# --- Socket Mode -------------------------------------------------------------------------


@pytest.fixture
def socket_client(fake: FakeSlack) -> Iterator[Any]:
    """slack_sdk's own Socket Mode client, connected to the fake; it records what it got."""
    from slack_sdk.socket_mode.builtin import SocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest
    from slack_sdk.socket_mode.response import SocketModeResponse

    client = SocketModeClient(
        app_token=fake.app_token, web_client=WebClient(base_url=fake.url), ping_interval=1
    )
    client.received = []  # type: ignore[attr-defined]
    client.acking = True  # type: ignore[attr-defined]

    def listener(socket_client: SocketModeClient, request: SocketModeRequest) -> None:
        client.received.append(request)  # type: ignore[attr-defined]
        if client.acking:  # type: ignore[attr-defined]
            payload = {"text": "ok"} if request.type == "slash_commands" else None
            response = SocketModeResponse(envelope_id=request.envelope_id, payload=payload)
            socket_client.send_socket_mode_response(response)

    client.socket_mode_request_listeners.append(listener)
    client.connect()
    wait_for(lambda: fake.socket_mode.connections == 1, timeout=10)
    yield client
    client.close()


def test_socket_mode_delivers_envelopes_and_takes_their_acks(
    fake: FakeSlack, socket_client: Any
) -> None:
    event = fake.socket_mode.deliver(
        "events_api", {"type": "event_callback", "event": {"type": "message", "text": "hi"}}
    )
    command = fake.socket_mode.deliver("slash_commands", {"command": "/roost", "text": "mine"})
    click = fake.socket_mode.deliver("interactive", {"type": "block_actions", "actions": []})

    assert fake.socket_mode.wait_for_ack(event) == {"envelope_id": event}
    assert fake.socket_mode.wait_for_ack(command) == {
        "envelope_id": command,
        "payload": {"text": "ok"},
    }
    assert fake.socket_mode.wait_for_ack(click)["envelope_id"] == click
    kinds = [(r.type, r.retry_attempt) for r in socket_client.received]
    assert kinds == [("events_api", 0), ("slash_commands", 0), ("interactive", 0)]


def test_socket_mode_refreshes_and_the_client_connects_again(
    fake: FakeSlack, socket_client: Any
) -> None:
    fake.socket_mode.refresh()
    wait_for(lambda: fake.socket_mode.opened == 2, timeout=10)
    wait_for(lambda: fake.socket_mode.connections == 1, timeout=10)
    after = fake.socket_mode.deliver("events_api", {"type": "event_callback", "event": {}})
    assert fake.socket_mode.wait_for_ack(after)["envelope_id"] == after
    assert len(fake.calls_to("apps.connections.open")) == 2


def test_an_envelope_not_acknowledged_is_delivered_again(
    fake: FakeSlack, socket_client: Any
) -> None:
    fake.socket_mode.ack_seconds = 0.5
    socket_client.acking = False
    envelope = fake.socket_mode.deliver("events_api", {"type": "event_callback", "event": {}})
    wait_for(lambda: len(socket_client.received) >= 2, timeout=10)
    socket_client.acking = True
    fake.socket_mode.wait_for_ack(envelope)
    again = socket_client.received[1]
    assert (again.envelope_id, again.retry_attempt, again.retry_reason) == (envelope, 1, "timeout")


def test_a_socket_mode_url_works_once_and_only_with_its_ticket(fake: FakeSlack) -> None:
    app_client = WebClient(token=fake.app_token, base_url=fake.url)
    url = app_client.apps_connections_open(app_token=fake.app_token)["url"]
    host, _, rest = url.removeprefix("ws://").partition("/")
    key = base64.b64encode(b"0123456789abcdef").decode()

    def upgrade(path: str) -> int:
        connection = http.client.HTTPConnection(host, timeout=5)
        connection.request(
            "GET",
            path,
            headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key},
        )
        status = connection.getresponse().status
        connection.close()
        return status

    assert upgrade("/link/?ticket=forged") == 401
    assert upgrade("/" + rest) == 101
    assert upgrade("/" + rest) == 401  # once


def test_socket_mode_carries_large_envelopes_whole(fake: FakeSlack, socket_client: Any) -> None:
    """Frames past 125 and 65,535 bytes use the longer length fields."""
    big = "x" * 70_000
    envelope = fake.socket_mode.deliver("events_api", {"type": "event_callback", "text": big})
    fake.socket_mode.wait_for_ack(envelope)
    (request,) = socket_client.received
    assert request.payload["text"] == big


def test_enforced_limits_refuse_posting_past_a_channels_pace_as_slack_does(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.add_channel("C0QUIET", "quiet")
    for n in range(4):  # the burst
        client.chat_postMessage(channel=BRAND, text=f"card {n}")
    assert fake.rate_limited == 0  # off until asked: the other tests post freely
    fake.enforce_limits()
    for n in range(4):
        client.chat_postMessage(channel=BRAND, text=f"card {n}")
    error = slack_error(client.chat_postMessage, channel=BRAND, text="one too many")
    assert error.response.status_code == 429 and error.response.headers["Retry-After"] == "1"
    assert client.chat_postMessage(channel="C0QUIET", text="another channel")["ok"]
    time.sleep(1.05)  # a token a second
    assert client.chat_postMessage(channel=BRAND, text="again")["ok"]
    ts = client.chat_postMessage(channel="C0QUIET", text="to edit")["ts"]
    for n in range(4):  # Tier 3: the workspace's, whatever the channel
        client.chat_update(channel="C0QUIET", ts=ts, text=f"edit {n}")
    assert (
        slack_error(client.chat_update, channel=BRAND, ts=ts, text="x").response.status_code == 429
    )
    assert fake.rate_limited == 2
    fake.add_user("U0PERSON", "person")
    for _ in range(5):  # conversations.open is Tier 3 too: five at once, then a refusal
        client.conversations_open(users="U0PERSON")
    assert slack_error(client.conversations_open, users="U0PERSON").response.status_code == 429
    assert fake.rate_limited == 3

"""Tests of the fake Bluesky, through the atproto SDK where it has the call and raw HTTP for
the error bodies and headers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from atproto import Client, models
from atproto_client.exceptions import (
    BadRequestError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.exceptions import NetworkError as SdkNetworkError

from sandbox.bluesky_api import FakeBluesky, parse_at_uri, record_cid
from tests.conftest import REPO_ROOT, wait_for

BRAND = "brand.bsky.social"
ALICE = "alice.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky() as fake:
        fake.add_account(BRAND, PASSWORD)
        fake.add_account(ALICE, "alice-pass")
        yield fake


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def client(fake: FakeBluesky) -> Iterator[Client]:
    client = Client(base_url=fake.url)
    client.login(BRAND, PASSWORD)
    yield client
    client.request.close()


def xrpc(
    http: requests.Session,
    fake: FakeBluesky,
    nsid: str,
    *,
    token: str | None = None,
    json: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    method = "POST" if json is not None else "GET"
    return http.request(
        method, f"{fake.url}/xrpc/{nsid}", json=json, params=params, headers=sent, timeout=5
    )


def session(http: requests.Session, fake: FakeBluesky) -> dict[str, Any]:
    answer = xrpc(
        http,
        fake,
        "com.atproto.server.createSession",
        json={"identifier": BRAND, "password": PASSWORD},
    )
    assert answer.status_code == 200
    result: dict[str, Any] = answer.json()
    return result


def test_sessions_create_refresh_and_rotate(fake: FakeBluesky, http: requests.Session) -> None:
    made = session(http, fake)
    assert made["did"] == fake.did(BRAND) and made["did"].startswith("did:plc:")
    assert made["handle"] == BRAND
    me = xrpc(http, fake, "com.atproto.server.getSession", token=made["accessJwt"])
    assert me.json()["did"] == made["did"]
    # The refresh JWT is for refreshSession only, and the access JWT is not for that.
    wrong = xrpc(http, fake, "com.atproto.server.getSession", token=made["refreshJwt"])
    assert (wrong.status_code, wrong.json()["error"]) == (400, "InvalidToken")
    wrong = xrpc(http, fake, "com.atproto.server.refreshSession", token=made["accessJwt"], json={})
    assert (wrong.status_code, wrong.json()["error"]) == (400, "InvalidToken")
    fresh = xrpc(http, fake, "com.atproto.server.refreshSession", token=made["refreshJwt"], json={})
    assert fresh.status_code == 200 and fresh.json()["refreshJwt"] != made["refreshJwt"]
    # Within the grace period the old refresh token still answers; after it, no more.
    again = xrpc(http, fake, "com.atproto.server.refreshSession", token=made["refreshJwt"], json={})
    assert again.status_code == 200
    fake.refresh_grace_seconds = 0
    late = xrpc(http, fake, "com.atproto.server.refreshSession", token=made["refreshJwt"], json={})
    assert late.json() == {"error": "ExpiredToken", "message": "Token has been revoked"}


def test_auth_errors_as_the_pds_answers_them(fake: FakeBluesky, http: requests.Session) -> None:
    wrong = xrpc(
        http, fake, "com.atproto.server.createSession", json={"identifier": BRAND, "password": "x"}
    )
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": "AuthenticationRequired",
        "message": "Invalid identifier or password",
    }
    none = xrpc(http, fake, "app.bsky.notification.listNotifications")
    assert (none.status_code, none.json()["error"]) == (401, "AuthenticationRequired")
    forged = xrpc(http, fake, "com.atproto.server.getSession", token="a.b.c")
    assert (forged.status_code, forged.json()["error"]) == (401, "InvalidToken")

    fake.access_seconds = 0
    expired = session(http, fake)
    answer = xrpc(http, fake, "com.atproto.server.getSession", token=expired["accessJwt"])
    assert answer.status_code == 400
    assert answer.json() == {"error": "ExpiredToken", "message": "Token has expired"}


def test_expire_access_ends_tokens_the_client_thinks_good(
    fake: FakeBluesky, http: requests.Session
) -> None:
    made = session(http, fake)
    fake.expire_access(BRAND)
    answer = xrpc(http, fake, "com.atproto.server.getSession", token=made["accessJwt"])
    assert answer.json()["error"] == "ExpiredToken"


def test_revoke_refuses_the_password_and_the_sessions(
    fake: FakeBluesky, http: requests.Session
) -> None:
    made = session(http, fake)
    fake.revoke(BRAND)
    access = xrpc(http, fake, "com.atproto.server.getSession", token=made["accessJwt"])
    assert (access.status_code, access.json()["error"]) == (401, "InvalidToken")
    refresh = xrpc(
        http, fake, "com.atproto.server.refreshSession", token=made["refreshJwt"], json={}
    )
    assert refresh.json() == {"error": "ExpiredToken", "message": "Token has been revoked"}
    login = xrpc(
        http,
        fake,
        "com.atproto.server.createSession",
        json={"identifier": BRAND, "password": PASSWORD},
    )
    assert login.status_code == 401
    fake.set_password(BRAND, "new-pass")
    new = xrpc(
        http,
        fake,
        "com.atproto.server.createSession",
        json={"identifier": BRAND, "password": "new-pass"},
    )
    assert new.status_code == 200


def test_the_sdk_logs_in_and_exports_its_session(fake: FakeBluesky, client: Client) -> None:
    assert client.me is not None and client.me.handle == BRAND
    restored = Client(base_url=fake.url)
    restored.login(session_string=client.export_session_string())
    assert restored.me is not None and restored.me.did == fake.did(BRAND)
    assert client.resolve_handle(ALICE).did == fake.did(ALICE)
    restored.request.close()


def test_a_mention_is_a_post_record_with_a_facet_and_a_notification(
    fake: FakeBluesky, client: Client
) -> None:
    made = fake.post_mention(ALICE, f"안녕 @{BRAND} 👋")
    repo, collection, rkey = parse_at_uri(made["uri"]) or ("", "", "")
    assert (repo, collection, len(rkey)) == (fake.did(ALICE), "app.bsky.feed.post", 13)
    assert made["cid"].startswith("bafyrei")
    record = fake.record(made["uri"])
    assert record is not None and made["cid"] == record_cid(record)
    facet = record["facets"][0]
    text = record["text"].encode()
    assert text[facet["index"]["byteStart"] : facet["index"]["byteEnd"]] == f"@{BRAND}".encode()

    [notification] = client.app.bsky.notification.list_notifications().notifications
    assert (notification.reason, notification.uri) == ("mention", made["uri"])
    assert notification.author.handle == ALICE
    assert notification.record.text == record["text"]


def test_notifications_reasons_paging_and_seen(fake: FakeBluesky, client: Client) -> None:
    ours = client.send_post("our post")
    for n in range(5):
        fake.post_mention(ALICE, f"@{BRAND} {n}")
    fake.post(ALICE, "a reply", reply_to=ours.uri)
    fake.post(ALICE, "a quote", quote_of=ours.uri)
    fake.repost(ALICE, ours.uri)
    fake.like(ALICE, ours.uri)
    fake.follow(ALICE, BRAND)
    list_notifications = client.app.bsky.notification.list_notifications
    every = list_notifications(models.AppBskyNotificationListNotifications.Params(limit=100))
    assert [n.reason for n in every.notifications] == [
        "follow",
        "like",
        "repost",
        "quote",
        "reply",
        "mention",
        "mention",
        "mention",
        "mention",
        "mention",
    ]
    assert every.cursor is None
    pages: list[str] = []
    cursor = None
    while True:
        page = list_notifications(
            models.AppBskyNotificationListNotifications.Params(
                reasons=["mention", "reply"], limit=2, cursor=cursor
            )
        )
        pages.extend(n.record.text for n in page.notifications)
        if not page.cursor:
            break
        cursor = page.cursor
    assert pages == ["a reply"] + [f"@{BRAND} {n}" for n in reversed(range(5))]
    client.app.bsky.notification.update_seen({"seen_at": every.notifications[0].indexed_at})
    again = list_notifications()
    assert all(n.is_read for n in again.notifications)
    assert again.seen_at == every.notifications[0].indexed_at


def test_notifications_refuse_seen_at_and_a_bad_limit(
    fake: FakeBluesky, http: requests.Session
) -> None:
    token = session(http, fake)["accessJwt"]
    nsid = "app.bsky.notification.listNotifications"
    seen = xrpc(http, fake, nsid, token=token, params={"seenAt": "2024-01-01T00:00:00Z"})
    assert (seen.status_code, seen.json()["error"]) == (400, "InvalidRequest")
    big = xrpc(http, fake, nsid, token=token, params={"limit": 101})
    assert big.status_code == 400


def test_posts_are_checked_as_the_lexicon_checks_them(
    fake: FakeBluesky, http: requests.Session
) -> None:
    made = session(http, fake)
    token, did = made["accessJwt"], made["did"]

    def create(**record: Any) -> requests.Response:
        value = {"$type": "app.bsky.feed.post", "createdAt": "2026-01-01T00:00:00.000Z", **record}
        body = {"repo": did, "collection": "app.bsky.feed.post", "record": value}
        return xrpc(http, fake, "com.atproto.repo.createRecord", token=token, json=body)

    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    assert create(text="가" * 300).status_code == 200
    too_long = create(text="가" * 301)
    assert too_long.status_code == 400
    assert too_long.json()["message"] == (
        "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes"
    )
    assert "3000 characters" in create(text=family * 121).json()["message"]
    out_of_text = [
        {
            "index": {"byteStart": 0, "byteEnd": 99},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://a.b"}],
        }
    ]
    assert create(text="short", facets=out_of_text).status_code == 400
    missing = {"uri": f"at://{did}/app.bsky.feed.post/3k2aaaaaaaaaa", "cid": "bafyreiabc"}
    assert create(text="hi", reply={"root": missing, "parent": missing}).status_code == 400
    upload = http.post(
        f"{fake.url}/xrpc/com.atproto.repo.uploadBlob",
        data=PNG,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
        timeout=5,
    ).json()["blob"]
    assert upload["mimeType"] == "image/png"  # sniffed, not as declared
    five = {"$type": "app.bsky.embed.images", "images": [{"image": upload, "alt": ""}] * 5}
    assert "more than 4" in create(text="pics", embed=five).json()["message"]
    no_alt = {"$type": "app.bsky.embed.images", "images": [{"image": upload}]}
    assert create(text="pics", embed=no_alt).status_code == 400
    four = {"$type": "app.bsky.embed.images", "images": [{"image": upload, "alt": "a"}] * 4}
    assert create(text="pics", embed=four).status_code == 200


def test_upload_blob_limit(fake: FakeBluesky, client: Client) -> None:
    fake.max_blob_bytes = 100
    with pytest.raises(RequestErrorBase) as raised:
        client.invoke_procedure(
            "com.atproto.repo.uploadBlob", content=PNG * 4, headers={"Content-Type": "image/png"}
        )
    response = raised.value.response
    assert response is not None and response.status_code == 413


def test_threads_reposts_and_records(fake: FakeBluesky, client: Client) -> None:
    root = fake.post_mention(ALICE, f"@{BRAND} question")
    parent = models.ComAtprotoRepoStrongRef.Main(uri=root["uri"], cid=root["cid"])
    answer = client.send_post(
        "answer", reply_to=models.AppBskyFeedPost.ReplyRef(root=parent, parent=parent)
    )
    thread = client.get_post_thread(answer.uri).thread
    assert thread.post.uri == answer.uri and thread.parent.post.uri == root["uri"]
    repost = client.repost(root["uri"], root["cid"])
    [view] = client.get_posts([root["uri"]]).posts
    assert view.viewer.repost == repost.uri and view.repost_count == 1 and view.reply_count == 1
    assert fake.reposts_by(BRAND)[0]["uri"] == repost.uri
    did, _, rkey = parse_at_uri(repost.uri) or ("", "", "")
    got = client.com.atproto.repo.get_record(
        {"repo": did, "collection": "app.bsky.feed.repost", "rkey": rkey}
    )
    assert got.value.subject.uri == root["uri"]
    client.delete_repost(repost.uri)
    assert fake.reposts_by(BRAND) == []
    with pytest.raises(BadRequestError) as raised:
        client.com.atproto.repo.get_record(
            {"repo": did, "collection": "app.bsky.feed.repost", "rkey": rkey}
        )
    assert raised.value.response is not None
    assert raised.value.response.content.error == "RecordNotFound"
    listed = client.com.atproto.repo.list_records({"repo": did, "collection": "app.bsky.feed.post"})
    assert [record.uri for record in listed.records] == [answer.uri]


def test_chat_needs_the_proxy_and_an_open_recipient(fake: FakeBluesky, client: Client) -> None:
    alice = fake.did(ALICE)
    params = models.ChatBskyConvoGetConvoForMembers.Params(members=[alice])
    with pytest.raises(RequestErrorBase) as raised:
        client.chat.bsky.convo.get_convo_for_members(params)  # no atproto-proxy header
    assert raised.value.response is not None
    assert raised.value.response.status_code == 501
    chat = client.with_bsky_chat_proxy()
    convo = chat.chat.bsky.convo.get_convo_for_members(params).convo
    assert sorted(member.did for member in convo.members) == sorted([alice, fake.did(BRAND)])
    sent = chat.chat.bsky.convo.send_message(
        models.ChatBskyConvoSendMessage.Data(
            convo_id=convo.id, message=models.ChatBskyConvoDefs.MessageInput(text="안녕하세요")
        )
    )
    assert fake.dms(ALICE)[0]["id"] == sent.id
    fake.close_dms(ALICE)
    with pytest.raises(BadRequestError) as closed:
        chat.chat.bsky.convo.get_convo_for_members(params)
    assert closed.value.response is not None
    assert closed.value.response.content.message == "recipient has disabled incoming messages"
    chat.request.close()


def test_rate_limits_answer_with_the_real_headers(
    fake: FakeBluesky, http: requests.Session
) -> None:
    fake.set_rate_limit("session-5m", 2)
    body = {"identifier": BRAND, "password": PASSWORD}
    first = xrpc(http, fake, "com.atproto.server.createSession", json=body)
    assert first.headers["ratelimit-limit"] == "2" and first.headers["ratelimit-remaining"] == "1"
    assert first.headers["ratelimit-policy"] == "2;w=300"
    xrpc(http, fake, "com.atproto.server.createSession", json=body)
    limited = xrpc(http, fake, "com.atproto.server.createSession", json=body)
    assert limited.status_code == 429
    assert limited.json() == {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
    assert limited.headers["ratelimit-remaining"] == "0"
    assert 295 <= int(limited.headers["ratelimit-reset"]) - time.time() <= 301


def test_record_writes_cost_points(fake: FakeBluesky, client: Client) -> None:
    fake.set_rate_limit("writes-hour", 7)
    post = client.send_post("one")  # 3 points
    client.send_post("two")  # 6
    client.delete_post(post.uri)  # 7
    with pytest.raises(RateLimitExceededError):
        client.send_post("three")


def test_faults_slow_and_lost_answers(fake: FakeBluesky, client: Client) -> None:
    fake.fail("/xrpc/com.atproto.repo.createRecord", 500)
    with pytest.raises(RequestErrorBase) as raised:
        client.send_post("no")
    assert raised.value.response is not None
    assert raised.value.response.status_code == 500
    fake.lose_answer("/xrpc/com.atproto.repo.createRecord")
    with pytest.raises((httpx.TransportError, SdkNetworkError)):
        client.send_post("made, but unanswered")
    assert [p["value"]["text"] for p in fake.posts_by(BRAND)] == ["made, but unanswered"]
    fake.slow("/xrpc/app.bsky.feed.getPosts", 0.3)
    started = time.monotonic()
    client.get_posts([fake.posts_by(BRAND)[0]["uri"]])
    assert time.monotonic() - started >= 0.3
    assert len(fake.calls_to("com.atproto.repo.createRecord", "POST")) == 2


def test_expired_session_through_the_sdk(fake: FakeBluesky, client: Client) -> None:
    fake.expire_access(BRAND)
    with pytest.raises(BadRequestError) as raised:
        client.get_profile(BRAND)
    assert (
        raised.value.response is not None and raised.value.response.content.error == "ExpiredToken"
    )
    fake.revoke(BRAND)
    again = Client(base_url=fake.url)
    with pytest.raises(UnauthorizedError):
        again.login(BRAND, PASSWORD)
    again.request.close()


def test_only_this_computer(fake: FakeBluesky, http: requests.Session) -> None:
    answer = http.get(
        f"{fake.url}/xrpc/com.atproto.identity.resolveHandle",
        params={"handle": BRAND},
        headers={"Host": "evil.example"},
        timeout=5,
    )
    assert answer.status_code == 403


def test_control_endpoints(fake: FakeBluesky, http: requests.Session) -> None:
    made = http.post(f"{fake.url}/_control/accounts", json={"handle": "carol"}, timeout=5).json()
    assert made["handle"] == "carol.bsky.social"
    mention = http.post(
        f"{fake.url}/_control/mentions", json={"author": "carol", "text": f"@{BRAND} hi"}, timeout=5
    ).json()
    assert (
        http.get(f"{fake.url}/_control/notifications/{BRAND}", timeout=5).json()[0]["uri"]
        == mention["uri"]
    )
    assert (
        http.get(f"{fake.url}/_control/posts/carol", timeout=5).json()[0]["uri"] == mention["uri"]
    )
    http.post(f"{fake.url}/_control/revoke", json={"handle": BRAND}, timeout=5)
    login = xrpc(
        http,
        fake,
        "com.atproto.server.createSession",
        json={"identifier": BRAND, "password": PASSWORD},
    )
    assert login.status_code == 401
    http.post(
        f"{fake.url}/_control/password", json={"handle": BRAND, "password": "new-1"}, timeout=5
    )
    again = xrpc(
        http,
        fake,
        "com.atproto.server.createSession",
        json={"identifier": BRAND, "password": "new-1"},
    )
    assert again.status_code == 200
    http.post(
        f"{fake.url}/_control/faults",
        json={"path_prefix": "/xrpc/com.atproto.identity", "status": 503},
        timeout=5,
    )
    failed = xrpc(http, fake, "com.atproto.identity.resolveHandle", params={"handle": BRAND})
    assert failed.status_code == 503
    assert http.get(f"{fake.url}/_control/nothing", timeout=5).status_code == 404


def test_standalone_prints_its_url() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.bluesky_api",
            "--port",
            "0",
            "--quiet",
            "--password",
            "pw-1",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True
    )  # type: ignore[union-attr]
    reader.start()
    try:
        first = wait_for(lambda: next((line for line in lines if "listening on" in line), None), 20)
        url = first.rsplit(" ", 1)[-1].strip()
        client = Client(base_url=url)
        assert client.login(BRAND, "pw-1") is not None
        client.request.close()
    finally:
        process.terminate()
        process.wait(10)
        reader.join(5)
        assert process.stdout is not None
        process.stdout.close()

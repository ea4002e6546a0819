"""Tests of the fake X API server, driven through tweepy wherever tweepy has the call."""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import tweepy
from jsonschema import Draft202012Validator
from referencing import Registry
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth1

from sandbox.x_api import (
    ACCESS_TOKEN_SECONDS,
    INVALID_CODE,
    INVALID_TOKEN,
    MISSING_BASIC_AUTH,
    OAUTH2_SCOPES,
    OPENAPI_PATH,
    FakeX,
)
from tests.conftest import REPO_ROOT, wait_for
from tests.sandbox.openapi import SPEC_URI, pointer
from tests.sandbox.openapi import registry as spec_registry

X_HOST = "https://api.twitter.com"
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
RATE_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")


class RedirectAdapter(HTTPAdapter):
    """Sends requests meant for api.twitter.com to the fake instead, signed for the fake's
    address when `oauth1` (tweepy signs for api.twitter.com before any adapter runs)."""

    def __init__(self, base_url: str, oauth1: OAuth1 | None = None) -> None:
        super().__init__()
        self._base_url = base_url
        self._oauth1 = oauth1

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        assert request.url is not None and request.url.startswith(X_HOST)
        request.url = self._base_url + request.url[len(X_HOST) :]
        if self._oauth1 is not None:
            request.headers.pop("Authorization", None)
            self._oauth1(request)
        return super().send(request, *args, **kwargs)


def x_escaped(text: str) -> str:
    """Text as X serves it: `&`, `<` and `>` as HTML entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with FakeX(keepalive_seconds=0.05) as server:
        yield server


@pytest.fixture
def brand(fake: FakeX) -> dict[str, Any]:
    return fake.add_user("brand", name="The Brand", followers=42, verified=True)


@pytest.fixture
def alice(fake: FakeX) -> dict[str, Any]:
    return fake.add_user("alice")


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def client_for(fake: FakeX) -> Iterator[Callable[..., Any]]:
    """Builds tweepy clients (Client or StreamingClient) wired to the fake."""
    sessions: list[requests.Session] = []

    def build(kind: type = tweepy.Client, **credentials: Any) -> Any:
        client = kind(return_type=dict, **credentials)
        oauth1 = None
        if "consumer_key" in credentials:
            oauth1 = OAuth1(
                credentials["consumer_key"],
                credentials["consumer_secret"],
                credentials["access_token"],
                credentials["access_token_secret"],
            )
        client.session.mount(X_HOST, RedirectAdapter(fake.url, oauth1))
        sessions.append(client.session)
        return client

    yield build
    for session in sessions:
        session.close()


@pytest.fixture
def brand_client(fake: FakeX, brand: dict[str, Any], client_for: Callable[..., Any]) -> Any:
    return client_for(bearer_token=fake.issue_token(brand["id"]))


@pytest.fixture
def rules_client(fake: FakeX, client_for: Callable[..., Any]) -> Any:
    return client_for(tweepy.StreamingClient, bearer_token=fake.app_bearer)


def open_stream(fake: FakeX, http: requests.Session, query: str = "") -> requests.Response:
    response = http.get(
        f"{fake.url}/2/tweets/search/stream{query}",
        headers={"Authorization": f"Bearer {fake.app_bearer}"},
        stream=True,
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Transfer-Encoding"] == "chunked"
    return response


def read_tweet_lines(lines: Iterator[bytes], count: int) -> list[dict[str, Any]]:
    """Read stream lines until `count` tweet lines arrived, skipping keep-alives."""
    tweets: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5.0
    while len(tweets) < count:
        assert time.monotonic() < deadline, f"only {len(tweets)} of {count} lines arrived"
        line = next(lines)
        if line:
            tweets.append(json.loads(line))
    return tweets


# --- users -----------------------------------------------------------------------------------


def test_users_me_with_oauth2_token_and_user_fields(
    brand: dict[str, Any], brand_client: Any
) -> None:
    plain = brand_client.get_me(user_auth=False)
    assert plain == {"data": {"id": brand["id"], "name": "The Brand", "username": "brand"}}

    detailed = brand_client.get_me(user_auth=False, user_fields=["verified", "public_metrics"])
    assert detailed["data"]["verified"] is True
    assert detailed["data"]["public_metrics"]["followers_count"] == 42
    assert "protected" not in detailed["data"]


def test_users_me_with_oauth1_signed_request(
    fake: FakeX, brand: dict[str, Any], client_for: Callable[..., Any]
) -> None:
    consumer_key, consumer_secret, access_token, access_secret = fake.issue_oauth1(brand["id"])
    client = client_for(
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        access_token=access_token,
        access_token_secret=access_secret,
    )

    assert client.get_me()["data"]["id"] == brand["id"]
    assert fake.calls_to("/2/users/me")[-1].headers["Authorization"].startswith("OAuth ")


def test_oauth1_signatures_are_checked_against_the_host_requested(
    fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    consumer_key, consumer_secret, access_token, access_secret = fake.issue_oauth1(brand["id"])
    oauth1 = OAuth1(consumer_key, consumer_secret, access_token, access_secret)

    def signed_for(url: str, *, send_to: str | None = None) -> requests.Response:
        request = requests.Request("GET", url).prepare()
        oauth1(request)
        request.url = send_to or url
        return http.send(request, timeout=5)

    me = f"{fake.url}/2/users/me"
    assert signed_for(me).json()["data"]["id"] == brand["id"]
    # Signed for X's host, sent to another one: what a host-rewriting adapter must not do.
    assert signed_for(f"{X_HOST}/2/users/me", send_to=me).json() == UNAUTHORIZED
    # Any change to the query after signing breaks the signature.
    assert signed_for(f"{me}?user.fields=name", send_to=f"{me}?user.fields=id").status_code == 401
    # A signature over the right request, with someone else's secret, is refused too.
    forged = OAuth1(consumer_key, consumer_secret, access_token, "not-the-secret")
    request = requests.Request("GET", me).prepare()
    forged(request)
    assert http.send(request, timeout=5).status_code == 401


def test_oauth1_refuses_a_replayed_nonce(
    fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    oauth1 = OAuth1(*fake.issue_oauth1(brand["id"]))
    request = requests.Request("GET", f"{fake.url}/2/users/me").prepare()
    oauth1(request)

    assert http.send(request, timeout=5).status_code == 200
    assert http.send(request, timeout=5).json() == UNAUTHORIZED


def test_user_by_id_and_unknown_user_error(
    brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    assert brand_client.get_user(id=alice["id"])["data"]["username"] == "alice"

    missing = brand_client.get_user(id="123")
    assert missing == {
        "errors": [
            {
                "value": "123",
                "detail": "Could not find user with id: [123].",
                "title": "Not Found Error",
                "resource_type": "user",
                "parameter": "id",
                "resource_id": "123",
                "type": "https://api.x.com/2/problems/resource-not-found",
            }
        ]
    }


# --- mentions timeline -----------------------------------------------------------------------


def test_mentions_paginate_newest_first_and_honour_since_and_until(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    posted = [
        fake.post_mention("brand", author="alice", text=f"@brand #{n}")["id"] for n in range(12)
    ]
    assert [int(tweet_id) for tweet_id in posted] == sorted(int(t) for t in posted)
    assert all(len(tweet_id) == 19 for tweet_id in posted)

    pages = list(tweepy.Paginator(brand_client.get_users_mentions, brand["id"], max_results=5))
    assert [page["meta"]["result_count"] for page in pages] == [5, 5, 2]
    assert [tweet["id"] for page in pages for tweet in page["data"]] == posted[::-1]
    assert pages[0]["meta"]["newest_id"] == posted[11]
    assert pages[0]["meta"]["oldest_id"] == posted[7]
    assert "next_token" not in pages[-1]["meta"]

    newer = brand_client.get_users_mentions(brand["id"], since_id=posted[6], max_results=10)
    assert [tweet["id"] for tweet in newer["data"]] == posted[:6:-1]

    older = brand_client.get_users_mentions(brand["id"], until_id=posted[3], max_results=10)
    assert [tweet["id"] for tweet in older["data"]] == posted[2::-1]

    resumed = tweepy.Paginator(
        brand_client.get_users_mentions, brand["id"], since_id=posted[1], max_results=5
    )
    assert [tweet["id"] for page in resumed for tweet in page["data"]] == posted[:1:-1]

    empty = brand_client.get_users_mentions(brand["id"], since_id=posted[-1])
    assert empty == {"meta": {"result_count": 0}}


def test_mentions_timeline_reaches_only_the_most_recent(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    fake.timeline_depth = 8
    posted = [fake.post_mention("brand", author="alice")["id"] for _ in range(12)]

    pages = tweepy.Paginator(brand_client.get_users_mentions, brand["id"], max_results=5)
    assert [tweet["id"] for page in pages for tweet in page["data"]] == posted[:3:-1]


@pytest.mark.parametrize("max_results", [4, 101, "ten"])
def test_max_results_outside_5_to_100_is_invalid(
    fake: FakeX, brand: dict[str, Any], brand_client: Any, max_results: Any
) -> None:
    with pytest.raises(tweepy.BadRequest) as raised:
        brand_client.get_users_mentions(brand["id"], max_results=max_results)

    body = raised.value.response.json()
    assert body["title"] == "Invalid Request"
    assert body["type"] == "https://api.x.com/2/problems/invalid-request"
    assert body["errors"][0]["parameters"] == {"max_results": [str(max_results)]}


def test_unknown_field_name_is_invalid(brand: dict[str, Any], brand_client: Any) -> None:
    with pytest.raises(tweepy.BadRequest, match="tweet.fields"):
        brand_client.get_users_mentions(brand["id"], tweet_fields=["author"])


def test_field_selection_defaults_and_requested_fields(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    fake.post_mention("brand", author="alice", media=("photo",))

    bare = brand_client.get_users_mentions(brand["id"])
    assert set(bare["data"][0]) == {"id", "text", "edit_history_tweet_ids"}
    assert "includes" not in bare

    full = brand_client.get_users_mentions(
        brand["id"],
        tweet_fields=["author_id", "conversation_id", "created_at", "lang", "public_metrics"],
        expansions=["author_id", "attachments.media_keys"],
        user_fields=["created_at", "profile_image_url"],
        media_fields=["url", "width"],
    )
    tweet = full["data"][0]
    assert set(tweet) == {
        "id",
        "text",
        "edit_history_tweet_ids",
        "author_id",
        "conversation_id",
        "created_at",
        "lang",
        "public_metrics",
    }
    assert tweet["conversation_id"] == tweet["id"]
    assert tweet["created_at"].endswith("Z") and len(tweet["created_at"]) == 24
    assert set(full["includes"]["users"][0]) == {
        "id",
        "name",
        "username",
        "created_at",
        "profile_image_url",
    }
    assert set(full["includes"]["media"][0]) == {"media_key", "type", "url", "width"}


def test_note_tweet_html_escaping_and_mention_entities(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    short = "🎉 @brand 5 < 6 & @Alice > @nobody"
    fake.post_mention("brand", author="alice", text=short)
    note = "@brand " + "long & <story> " * 1700
    assert len(note) > 25_000
    fake.post_mention("brand", author="alice", note_text=note)

    page = brand_client.get_users_mentions(
        brand["id"], tweet_fields=["entities", "note_tweet"], max_results=5
    )
    long_tweet, short_tweet = page["data"]

    assert short_tweet["text"] == "🎉 @brand 5 &lt; 6 &amp; @Alice &gt; @nobody"
    assert "note_tweet" not in short_tweet
    assert short_tweet["entities"]["mentions"] == [
        {"start": 2, "end": 8, "username": "brand", "id": brand["id"]},
        {"start": 17, "end": 23, "username": "Alice", "id": alice["id"]},
        {"start": 26, "end": 33, "username": "nobody"},
    ]
    assert short[2:8] == "@brand" and short[26:33] == "@nobody"

    assert long_tweet["text"] == x_escaped(note[:280])
    assert long_tweet["note_tweet"]["text"] == x_escaped(note)
    assert long_tweet["note_tweet"]["entities"]["mentions"][0]["username"] == "brand"


def test_reply_references_and_expansions(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    bob = fake.add_user("bob")
    root = fake.post_mention("alice", author="bob", text="@alice look")
    reply = fake.post_mention(
        ["brand", "alice"], author="alice", reply_to=root["id"], media=("photo", "video")
    )
    assert reply["text"] == "@brand @alice hello"
    assert reply["conversation_id"] == root["id"]
    assert reply["in_reply_to_user_id"] == bob["id"]
    assert reply["referenced_tweets"] == [{"type": "replied_to", "id": root["id"]}]

    page = brand_client.get_users_mentions(
        brand["id"],
        tweet_fields=["in_reply_to_user_id", "referenced_tweets", "attachments"],
        expansions=[
            "referenced_tweets.id",
            "referenced_tweets.id.author_id",
            "in_reply_to_user_id",
            "attachments.media_keys",
        ],
    )
    assert page["data"][0]["attachments"]["media_keys"] == reply["attachments"]["media_keys"]
    assert [tweet["id"] for tweet in page["includes"]["tweets"]] == [root["id"]]
    assert [user["id"] for user in page["includes"]["users"]] == [bob["id"]]
    assert [item["type"] for item in page["includes"]["media"]] == ["photo", "video"]
    assert fake.mentions_of("BRAND") == [reply]


def test_deleted_author_is_left_out_of_includes_with_an_error(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    fake.post_mention("brand", author="alice")
    fake.delete_user(alice["id"])

    page = brand_client.get_users_mentions(
        brand["id"], tweet_fields=["author_id"], expansions=["author_id"]
    )
    assert page["data"][0]["author_id"] == alice["id"]
    assert "includes" not in page
    assert page["errors"] == [
        {
            "value": alice["id"],
            "detail": f"Could not find user with author_id: [{alice['id']}].",
            "title": "Not Found Error",
            "resource_type": "user",
            "parameter": "author_id",
            "resource_id": alice["id"],
            "type": "https://api.x.com/2/problems/resource-not-found",
        }
    ]


def test_deleted_referenced_tweet_is_reported_missing(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    parent = fake.post_mention("alice", author="brand")
    reply = fake.post_mention("brand", author="alice", reply_to=parent["id"])
    fake.delete_tweet(parent["id"])

    page = brand_client.get_users_mentions(brand["id"], expansions=["referenced_tweets.id"])
    assert [tweet["id"] for tweet in page["data"]] == [reply["id"]]
    assert page["errors"][0]["resource_type"] == "tweet"
    assert page["errors"][0]["parameter"] == "referenced_tweets.id"
    assert page["errors"][0]["resource_id"] == parent["id"]
    assert fake.mentions_of("alice") == []


def test_post_mention_validates_its_input(fake: FakeX, alice: dict[str, Any]) -> None:
    assert fake.post_mention("brand", author="alice", text="no handle")["text"] == (
        "@brand no handle"
    )
    with pytest.raises(ValueError, match="no user named"):
        fake.post_mention("brand", author="ghost")
    with pytest.raises(ValueError, match="not both"):
        fake.post_mention("brand", author="alice", text="a", note_text="b")
    with pytest.raises(ValueError, match="no tweet"):
        fake.post_mention("brand", author="alice", reply_to="1")
    with pytest.raises(ValueError, match="media"):
        fake.post_mention("brand", author="alice", media=("hologram",))


def test_concurrent_posts_and_reads_stay_consistent(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    def post_many() -> None:
        for _ in range(50):
            fake.post_mention("brand", author="alice")

    writers = [threading.Thread(target=post_many) for _ in range(4)]
    for writer in writers:
        writer.start()
    while any(writer.is_alive() for writer in writers):
        brand_client.get_users_mentions(brand["id"], max_results=100)
    for writer in writers:
        writer.join()

    pages = tweepy.Paginator(brand_client.get_users_mentions, brand["id"], max_results=100)
    ids = [int(tweet["id"]) for page in pages for tweet in page["data"]]
    assert len(ids) == len(set(ids)) == 200
    assert ids == sorted(ids, reverse=True)


# --- recent search ---------------------------------------------------------------------------


def test_recent_search_finds_matching_posts_of_the_last_seven_days_newest_first(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    fake.add_user("bob")
    old = fake.post_mention(
        [],
        author="bob",
        text="아이폰 배송 지난주",
        created_at=datetime.now(UTC) - timedelta(days=8),
    )
    first = fake.post_mention([], author="alice", text="아이폰 배송 언제 와요?")
    galaxy = fake.post_mention([], author="bob", text="갤럭시 배송은 빨라요")
    own = fake.post_mention([], author="brand", text="아이폰 배송 안내드립니다")
    mention = fake.post_mention("brand", author="bob", text="@brand 아이폰 배송 문의")
    retweet = fake.retweet("bob", first["id"])

    def found(query: str, **options: Any) -> list[str]:
        page = brand_client.search_recent_tweets(query, user_auth=False, **options)
        return [tweet["id"] for tweet in page.get("data", [])]

    assert found('"아이폰 배송"') == [retweet["id"], mention["id"], own["id"], first["id"]]
    assert old["id"] not in found("지난주")
    assert found('"아이폰 배송" -from:brand -@brand -is:retweet') == [first["id"]]
    assert found("(갤럭시 OR 아이폰) from:bob -is:retweet") == [mention["id"], galaxy["id"]]
    assert found("배송 since_nothing") == []

    page = brand_client.search_recent_tweets('"아이폰 배송"', user_auth=False, max_results=10)
    assert page["meta"] == {
        "result_count": 4,
        "newest_id": retweet["id"],
        "oldest_id": first["id"],
    }
    assert found('"아이폰 배송"', since_id=own["id"]) == [retweet["id"], mention["id"]]


def test_recent_search_pages_with_next_token(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    posted = [
        fake.post_mention([], author="alice", text=f"delivery late {n}")["id"] for n in range(25)
    ]
    seen: list[str] = []
    token = None
    while True:
        page = brand_client.search_recent_tweets(
            "delivery", user_auth=False, max_results=10, next_token=token
        )
        seen += [tweet["id"] for tweet in page["data"]]
        token = page["meta"].get("next_token")
        if token is None:
            break
    assert seen == posted[::-1]
    assert fake.calls_to("/2/tweets/search/recent")[-1].query["next_token"]


def test_recent_search_refuses_queries_x_refuses(
    openapi: Registry, fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    auth = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}
    url = f"{fake.url}/2/tweets/search/recent"

    def refused(**params: str) -> str:
        answer = http.get(url, params=params, headers=auth)
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert_response_shape(
            openapi,
            body,
            "/2/tweets/search/recent",
            status="default",
            media_type="application/problem+json",
        )
        assert body["title"] == "Invalid Request"
        return str(body["errors"][0]["message"])

    assert "can not be empty" in refused(query=" ")
    assert "non-negation term" in refused(query="-from:brand -is:retweet")
    assert "ends too early" in refused(query="(delivery OR late")
    assert "Query is too long" in refused(query="x" * 513)
    assert "must be on or after" in refused(
        query="delivery",
        start_time=(datetime.now(UTC) - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert "between 10 and 100" in refused(query="delivery", max_results="5")
    just_now = (datetime.now(UTC) - timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "minimum of 10 seconds prior" in refused(query="delivery", end_time=just_now)
    assert "minimum of 10 seconds prior" in refused(query="delivery", start_time=just_now)
    fake.add_user("alice")
    old = fake.post_mention(
        [], author="alice", text="old", created_at=datetime.now(UTC) - timedelta(days=8)
    )
    assert "must be a tweet id created after" in refused(query="delivery", since_id=old["id"])
    assert http.get(url, params={"query": "x" * 512}, headers=auth).status_code == 200


def test_recent_search_is_billed_per_post_and_rate_limited(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], http: requests.Session
) -> None:
    for n in range(3):
        fake.post_mention([], author="alice", text=f"late parcel {n}")
    auth = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}
    answer = http.get(
        f"{fake.url}/2/tweets/search/recent",
        params={"query": "parcel", "expansions": "author_id"},
        headers=auth,
    )
    assert answer.headers["x-rate-limit-limit"] == "300"
    assert answer.json()["meta"]["result_count"] == 3
    # Three posts at $0.005 and their one author at $0.010; the same again today is free.
    assert fake.spend("brand") == pytest.approx(0.025)
    http.get(f"{fake.url}/2/tweets/search/recent", params={"query": "parcel"}, headers=auth)
    assert fake.spend("brand") == pytest.approx(0.025)
    app = {"Authorization": f"Bearer {fake.app_bearer}"}
    answer = http.get(f"{fake.url}/2/tweets/search/recent", params={"query": "x"}, headers=app)
    assert answer.status_code == 200 and answer.headers["x-rate-limit-limit"] == "450"


# --- authentication --------------------------------------------------------------------------


def test_revoked_tokens_answer_401(
    fake: FakeX, brand: dict[str, Any], client_for: Callable[..., Any]
) -> None:
    token = fake.issue_token(brand["id"])
    client = client_for(bearer_token=token)
    consumer_key, consumer_secret, access_token, access_secret = fake.issue_oauth1(brand["id"])
    oauth1_client = client_for(
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        access_token=access_token,
        access_token_secret=access_secret,
    )
    client.get_me(user_auth=False)
    oauth1_client.get_me()

    fake.revoke(token)
    fake.revoke(access_token)

    with pytest.raises(tweepy.Unauthorized) as raised:
        client.get_me(user_auth=False)
    assert raised.value.response.json() == UNAUTHORIZED
    with pytest.raises(tweepy.Unauthorized):
        oauth1_client.get_me()
    with pytest.raises(ValueError, match="unknown token"):
        fake.revoke(token)


def test_missing_token_and_deleted_user_answer_401(
    fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    assert http.get(f"{fake.url}/2/users/me").json() == UNAUTHORIZED
    token = fake.issue_token(brand["id"])
    fake.delete_user(brand["id"])
    response = http.get(f"{fake.url}/2/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_mentions_are_readable_only_by_their_user(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], client_for: Callable[..., Any]
) -> None:
    alice_client = client_for(bearer_token=fake.issue_token(alice["id"]))
    with pytest.raises(tweepy.Forbidden):
        alice_client.get_users_mentions(brand["id"])

    app_client = client_for(bearer_token=fake.app_bearer)
    with pytest.raises(tweepy.Forbidden) as raised:
        app_client.get_me(user_auth=False)
    assert raised.value.response.json()["title"] == "Unsupported Authentication"


# --- injected faults and rate-limit headers --------------------------------------------------


def test_injected_429_carries_rate_limit_reset_then_recovers(
    fake: FakeX, brand: dict[str, Any], brand_client: Any
) -> None:
    fake.fail("/2/users/", 429, reset_in=30, retry_after=7)

    with pytest.raises(tweepy.TooManyRequests) as raised:
        brand_client.get_users_mentions(brand["id"])
    response = raised.value.response
    assert response.json() == {
        "title": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
        "detail": "Too Many Requests",
    }
    assert response.headers["x-rate-limit-remaining"] == "0"
    assert response.headers["Retry-After"] == "7"
    assert 28 <= raised.value.reset_time - time.time() <= 31

    assert brand_client.get_users_mentions(brand["id"]) == {"meta": {"result_count": 0}}


def test_injected_503_repeats_times_and_respects_method(
    fake: FakeX, brand: dict[str, Any], brand_client: Any
) -> None:
    fake.fail("/2/users/me", 503, times=2)
    fake.fail("/2/users/me", 500, method="POST")

    for _ in range(2):
        with pytest.raises(tweepy.TwitterServerError) as raised:
            brand_client.get_me(user_auth=False)
        assert raised.value.response.json()["title"] == "Service Unavailable"
    assert brand_client.get_me(user_auth=False)["data"]["id"] == brand["id"]


def test_a_storm_fails_every_nth_request(
    fake: FakeX, brand: dict[str, Any], brand_client: Any
) -> None:
    fake.fail("/2/users/me", 503, times=2, every=3)
    outcomes = []
    for _ in range(7):
        try:
            brand_client.get_me(user_auth=False)
            outcomes.append("ok")
        except tweepy.TwitterServerError:
            outcomes.append("503")
    assert outcomes == ["ok", "ok", "503", "ok", "ok", "503", "ok"]
    with pytest.raises(ValueError):
        fake.fail("/2/users/me", 503, every=0)


def test_injected_fault_with_custom_body(
    fake: FakeX, brand: dict[str, Any], brand_client: Any
) -> None:
    body = {"title": "Payment Required", "type": "about:blank", "status": 402, "detail": "No."}
    fake.fail("/2/users/me", 402, body=body)
    with pytest.raises(tweepy.HTTPException) as raised:
        brand_client.get_me(user_auth=False)
    assert raised.value.response.status_code == 402
    assert raised.value.response.json() == body


def test_slow_delays_only_the_given_number_of_answers(
    fake: FakeX, brand: dict[str, Any], brand_client: Any
) -> None:
    fake.slow("/2/users/me", 0.3)

    started = time.monotonic()
    brand_client.get_me(user_auth=False)
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    brand_client.get_me(user_auth=False)
    assert time.monotonic() - started < 0.3


def test_answers_carry_their_endpoints_rate_limit_headers(
    fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    token = fake.issue_token(brand["id"])
    answers = [
        http.get(f"{fake.url}/2/users/me", headers={"Authorization": f"Bearer {token}"}),
        http.get(f"{fake.url}/2/users/me", headers={"Authorization": f"Bearer {token}"}),
        http.get(f"{fake.url}/2/users/me"),
        http.get(f"{fake.url}/2/nowhere", headers={"Authorization": f"Bearer {token}"}),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 401, 404]
    for answer in answers:
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert [answers[0].headers[name] for name in RATE_HEADERS[:2]] == ["75", "74"]
    assert answers[1].headers["x-rate-limit-remaining"] == "73"
    assert int(answers[0].headers["x-rate-limit-reset"]) > time.time() + 800
    # Nobody to count a call against, or no such endpoint: no limits to report.
    assert not any(name in answers[2].headers for name in RATE_HEADERS)
    assert not any(name in answers[3].headers for name in RATE_HEADERS)
    assert answers[3].json()["title"] == "Not Found"


def test_limits_are_enforced_per_endpoint_and_per_user_with_xs_429(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], http: requests.Session
) -> None:
    brand_auth = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}
    alice_auth = {"Authorization": f"Bearer {fake.issue_token(alice['id'])}"}
    me = f"{fake.url}/2/users/me"
    answers = [http.get(me, headers=brand_auth) for _ in range(76)]

    assert [a.status_code for a in answers[-2:]] == [200, 429]
    limited = answers[-1]
    assert limited.json() == {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert int(limited.headers["x-rate-limit-reset"]) > time.time() + 800
    # Another user, or another endpoint, has limits of its own.
    assert http.get(me, headers=alice_auth).status_code == 200
    assert http.get(f"{fake.url}/2/users/{brand['id']}/mentions", headers=brand_auth).ok


def test_daily_caps_are_reported_and_enforced_beside_the_15_minute_window(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], http: requests.Session
) -> None:
    brand_auth = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}
    dm = f"{fake.url}/2/dm_conversations/with/{alice['id']}/messages"
    first = http.post(dm, json={"text": "hello 0"}, headers=brand_auth)
    assert first.status_code == 201
    assert first.headers["x-rate-limit-limit"] == "15"
    assert first.headers["x-user-limit-24hour-limit"] == "1440"
    assert first.headers["x-user-limit-24hour-remaining"] == "1439"
    assert first.headers["x-app-limit-24hour-limit"] == "1440"
    assert int(first.headers["x-user-limit-24hour-reset"]) > time.time() + 86_000
    for n in range(1, 15):
        assert http.post(dm, json={"text": f"hello {n}"}, headers=brand_auth).status_code == 201
    assert http.post(dm, json={"text": "one too many"}, headers=brand_auth).status_code == 429

    # Posts: 100 a user each 15 minutes, and 10,000 a day for the whole app.
    post = http.post(f"{fake.url}/2/tweets", json={"text": "hi"}, headers=brand_auth)
    assert post.headers["x-rate-limit-limit"] == "100"
    assert post.headers["x-app-limit-24hour-limit"] == "10000"
    assert "x-user-limit-24hour-limit" not in post.headers


def test_a_daily_cap_spent_says_so_with_the_days_reset(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], http: requests.Session
) -> None:
    """Once the app's daily posts are spent, a new 15-minute window does not help."""
    fake.limit_factor = 0.0003  # 10,000 a day becomes 3; 100 a quarter hour, 1
    tokens = [fake.issue_token(user["id"]) for user in (brand, alice)]
    tokens.append(fake.issue_token(fake.add_user("carol")["id"]))
    posts = [
        http.post(
            f"{fake.url}/2/tweets",
            json={"text": f"hi {n}"},
            headers={"Authorization": f"Bearer {t}"},
        )
        for n, t in enumerate(tokens)
    ]
    assert [p.status_code for p in posts] == [201, 201, 201]
    dave = fake.issue_token(fake.add_user("dave")["id"])
    refused = http.post(
        f"{fake.url}/2/tweets", json={"text": "hi"}, headers={"Authorization": f"Bearer {dave}"}
    )
    assert refused.status_code == 429
    assert refused.headers["x-rate-limit-remaining"] == "1"  # dave's own window is fresh
    assert refused.headers["x-app-limit-24hour-remaining"] == "0"
    assert int(refused.headers["x-app-limit-24hour-reset"]) > time.time() + 86_000


def test_the_limit_factor_raises_every_limit_for_benchmarks(
    fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    fake.limit_factor = 10
    answer = http.get(
        f"{fake.url}/2/users/me",
        headers={"Authorization": f"Bearer {fake.issue_token(brand['id'])}"},
    )
    assert answer.headers["x-rate-limit-limit"] == "750"


def test_http_keep_alive_reuses_one_connection(fake: FakeX) -> None:
    host, port = fake.url.removeprefix("http://").split(":")
    connection = HTTPConnection(host, int(port), timeout=5)

    def get_me() -> None:
        connection.request("GET", "/2/users/me")
        answer = connection.getresponse()
        assert answer.version == 11
        assert int(answer.getheader("Content-Length") or -1) == len(answer.read())

    try:
        get_me()
        first_socket = connection.sock
        get_me()
        assert connection.sock is first_socket
    finally:
        connection.close()
    assert len(fake.calls_to("/2/users/me", method="GET")) == 2


# --- filtered stream and rules ---------------------------------------------------------------


def test_rules_add_list_and_delete(fake: FakeX, rules_client: Any) -> None:
    added = rules_client.add_rules(
        [tweepy.StreamRule("@brand", tag="mentions"), tweepy.StreamRule("refund OR @help")]
    )
    assert added["meta"]["summary"] == {"created": 2, "not_created": 0, "valid": 2, "invalid": 0}
    assert "sent" in added["meta"]
    mentions_rule, refund_rule = added["data"]
    assert mentions_rule["value"] == "@brand" and mentions_rule["tag"] == "mentions"
    assert "tag" not in refund_rule
    sent = fake.calls_to("/2/tweets/search/stream/rules", method="POST")[0]
    assert json.loads(sent.body)["add"][0] == {"value": "@brand", "tag": "mentions"}

    listed = rules_client.get_rules()
    assert listed["data"] == added["data"]
    assert listed["meta"]["result_count"] == 2

    again = rules_client.add_rules([tweepy.StreamRule("@brand"), tweepy.StreamRule("(oops")])
    assert again["meta"]["summary"] == {"created": 0, "not_created": 2, "valid": 1, "invalid": 1}
    assert [error["title"] for error in again["errors"]] == ["DuplicateRule", "UnprocessableEntity"]

    dry = rules_client.add_rules(tweepy.StreamRule("dry"), dry_run=True)
    assert dry["meta"]["summary"]["created"] == 1
    assert rules_client.get_rules()["meta"]["result_count"] == 2

    deleted = rules_client.delete_rules([refund_rule["id"], "42"])
    assert deleted["meta"]["summary"] == {"deleted": 1, "not_deleted": 1}
    assert deleted["errors"][0]["errors"][0]["message"] == "Rule does not exist"
    assert rules_client.get_rules()["data"] == [mentions_rule]

    rules_client.delete_rules(mentions_rule["id"])
    assert rules_client.get_rules()["meta"]["result_count"] == 0


def test_rules_past_the_cap_are_refused_one_by_one_in_a_200(fake: FakeX, rules_client: Any) -> None:
    fake.rule_cap = 2
    answer = rules_client.add_rules([tweepy.StreamRule(f"@brand{n}") for n in range(3)])

    assert answer["meta"]["summary"] == {"created": 2, "not_created": 1, "valid": 3, "invalid": 0}
    (error,) = answer["errors"]
    assert error["value"] == "@brand2" and error["title"] == "RulesCapExceeded"
    assert len(rules_client.get_rules()["data"]) == 2


def test_rules_and_stream_need_the_app_bearer(
    fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    user_auth = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}
    rules = http.get(f"{fake.url}/2/tweets/search/stream/rules", headers=user_auth)
    assert rules.status_code == 403
    stream = http.get(f"{fake.url}/2/tweets/search/stream", headers=user_auth)
    assert stream.status_code == 403
    assert http.get(f"{fake.url}/2/tweets/search/stream").status_code == 401
    assert fake.open_streams == 0


def test_stream_delivers_matching_tweets_with_rules_and_keepalives(
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    rules_client: Any,
    http: requests.Session,
) -> None:
    rules = rules_client.add_rules(
        [tweepy.StreamRule("@brand", tag="mentions"), tweepy.StreamRule("refund")]
    )["data"]
    fake.post_mention("brand", author="alice", text="@brand before connecting")

    query = "?tweet.fields=author_id,created_at&expansions=author_id&user.fields=verified"
    with open_stream(fake, http, query) as response:
        lines = response.iter_lines()
        hello = fake.post_mention("brand", author="alice", text="@brand hello")
        fake.post_mention("someone", author="alice", text="@someone unrelated")
        refund = fake.post_mention("brand", author="alice", text="@brand a REFUND please")
        tweets = read_tweet_lines(lines, 2)
        # Nothing else matches, so what follows is a bare keep-alive line.
        assert next(lines) == b""

    assert [line["data"]["id"] for line in tweets] == [hello["id"], refund["id"]]
    assert tweets[0]["data"] == {
        key: hello[key]
        for key in ("id", "text", "edit_history_tweet_ids", "author_id", "created_at")
    }
    assert tweets[0]["includes"] == {
        "users": [{"id": alice["id"], "name": "alice", "username": "alice", "verified": False}]
    }
    assert tweets[0]["matching_rules"] == [{"id": rules[0]["id"], "tag": "mentions"}]
    assert tweets[1]["matching_rules"] == [
        {"id": rules[0]["id"], "tag": "mentions"},
        {"id": rules[1]["id"]},
    ]


def test_stream_rule_grammar(
    fake: FakeX, alice: dict[str, Any], rules_client: Any, http: requests.Session
) -> None:
    fake.add_user("bob")
    values = [
        "(@brand OR @brandhelp) -is:reply",
        "from:alice refund",
        '"thank you" lang:fr',
        "has:media @brand",
        "done",
    ]
    rules = rules_client.add_rules([tweepy.StreamRule(value) for value in values])["data"]
    rule_ids = {rule["id"]: rule["value"] for rule in rules}

    with open_stream(fake, http) as response:
        lines = response.iter_lines()
        first = fake.post_mention("brandhelp", author="bob", text="@BrandHelp hi")
        fake.post_mention("brand", author="bob", text="@brand reply", reply_to=first["id"])
        fake.post_mention("bob", author="alice", text="@bob my refund")
        fake.post_mention("bob", author="alice", text="@bob Thank You", lang="fr")
        fake.post_mention("bob", author="alice", text="@bob thank you", lang="en")
        fake.post_mention(
            "brand", author="bob", text="@brand pic", reply_to=first["id"], media=("photo",)
        )
        fake.post_mention("bob", author="alice", text="@bob done")
        tweets = read_tweet_lines(lines, 5)

    matched = [
        (line["data"]["text"], [rule_ids[rule["id"]] for rule in line["matching_rules"]])
        for line in tweets
    ]
    assert matched == [
        ("@BrandHelp hi", [values[0]]),
        ("@bob my refund", [values[1]]),
        ("@bob Thank You", [values[2]]),
        ("@brand pic", [values[3]]),
        ("@bob done", [values[4]]),
    ]


def test_drop_streams_cuts_the_connection_after_lines_and_allows_reconnect(
    fake: FakeX, alice: dict[str, Any], rules_client: Any, http: requests.Session
) -> None:
    rules_client.add_rules(tweepy.StreamRule("@brand"))
    with open_stream(fake, http) as response:
        lines = response.iter_lines()
        fake.drop_streams(after_lines=1)
        first = fake.post_mention("brand", author="alice")
        fake.post_mention("brand", author="alice")
        tweets = read_tweet_lines(lines, 1)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            read_tweet_lines(lines, 1)
    assert tweets[0]["data"]["id"] == first["id"]

    wait_for(lambda: fake.open_streams == 0)
    with open_stream(fake, http) as response:
        lines = response.iter_lines()
        fake.drop_streams()
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            read_tweet_lines(lines, 1)


def test_one_stream_connection_per_app(fake: FakeX, http: requests.Session) -> None:
    headers = {"Authorization": f"Bearer {fake.app_bearer}"}
    url = f"{fake.url}/2/tweets/search/stream"
    with open_stream(fake, http):
        with requests.get(url, headers=headers, timeout=5) as second:
            assert second.status_code == 429
            assert second.json() == {
                "title": "ConnectionException",
                "detail": "This stream is currently at the maximum allowed connection limit.",
                "connection_issue": "TooManyConnections",
                "type": "https://api.x.com/2/problems/streaming-connection",
            }
    # The first client went away: its slot frees once the fake notices.
    wait_for(lambda: fake.open_streams == 0)
    with open_stream(fake, http):
        assert fake.open_streams == 1


def test_stop_ends_open_streams(http: requests.Session) -> None:
    server = FakeX(keepalive_seconds=0.05).start()
    try:
        response = open_stream(server, http)
    finally:
        server.stop()
    with response, pytest.raises(requests.exceptions.ChunkedEncodingError):
        read_tweet_lines(response.iter_lines(), 1)


# --- posting ---------------------------------------------------------------------------------


def forbidden(detail: str) -> dict[str, Any]:
    """X's 403 body for a refused write."""
    return {"title": "Forbidden", "type": "about:blank", "status": 403, "detail": detail}


def test_post_tweet_and_reply_land_in_timelines_and_mentions(
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    brand_client: Any,
    http: requests.Session,
) -> None:
    mention = fake.post_mention("brand", author="alice", text="@brand where is my order?")

    plain = http.post(
        f"{fake.url}/2/tweets",
        json={"text": "Big news & more <soon>"},
        headers={"Authorization": f"Bearer {fake.issue_token(brand['id'])}"},
    )
    assert plain.status_code == 201
    posted = plain.json()["data"]
    assert posted == {
        "id": posted["id"],
        "text": "Big news &amp; more &lt;soon&gt;",
        "edit_history_tweet_ids": [posted["id"]],
    }

    reply = brand_client.create_tweet(
        text="@alice on its way!", in_reply_to_tweet_id=mention["id"], user_auth=False
    )["data"]
    assert int(reply["id"]) > int(posted["id"])
    sent = json.loads(fake.calls_to("/2/tweets", method="POST")[-1].body)
    assert sent == {"text": "@alice on its way!", "reply": {"in_reply_to_tweet_id": mention["id"]}}

    posts = fake.posts_by("BRAND")
    assert [(post["id"], post["text"], post["in_reply_to_tweet_id"]) for post in posts] == [
        (reply["id"], "@alice on its way!", mention["id"]),
        (posted["id"], "Big news & more <soon>", None),
    ]
    assert all(post["created_at"].endswith("Z") for post in posts)
    (mentioning,) = fake.mentions_of("alice")
    assert mentioning["id"] == reply["id"]
    assert mentioning["entities"]["mentions"] == [
        {"start": 0, "end": 6, "username": "alice", "id": alice["id"]}
    ]

    timeline = brand_client.get_users_tweets(
        brand["id"],
        tweet_fields=[
            "created_at",
            "conversation_id",
            "in_reply_to_user_id",
            "referenced_tweets",
            "author_id",
        ],
    )
    newest, oldest = timeline["data"]
    assert newest == {
        "id": reply["id"],
        "text": "@alice on its way!",
        "edit_history_tweet_ids": [reply["id"]],
        "author_id": brand["id"],
        "conversation_id": mention["id"],
        "in_reply_to_user_id": alice["id"],
        "referenced_tweets": [{"type": "replied_to", "id": mention["id"]}],
        "created_at": newest["created_at"],
    }
    assert oldest["id"] == posted["id"] and oldest["conversation_id"] == posted["id"]
    assert timeline["meta"] == {
        "result_count": 2,
        "newest_id": reply["id"],
        "oldest_id": posted["id"],
    }


def test_post_tweet_refusals_read_like_x(
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    brand_client: Any,
    client_for: Callable[..., Any],
) -> None:
    bob = fake.add_user("bob")
    unrelated = fake.post_mention("alice", author="bob", text="@alice lunch?")
    mention = fake.post_mention("brand", author="alice")
    gone = fake.post_mention("brand", author="alice", text="@brand oops")
    fake.delete_tweet(gone["id"])

    def refusal(**arguments: Any) -> dict[str, Any]:
        with pytest.raises(tweepy.Forbidden) as raised:
            brand_client.create_tweet(user_auth=False, **arguments)
        body: dict[str, Any] = raised.value.response.json()
        return body

    assert refusal(text="a" * 281) == forbidden(
        "Your Tweet text is too long. For more information on how Twitter determines text "
        "length see https://github.com/twitter/twitter-text."
    )
    # Weighted length: CJK characters count twice, so 140 fit and 141 do not.
    brand_client.create_tweet(text="日" * 140, user_auth=False)
    assert refusal(text="日" * 141)["detail"].startswith("Your Tweet text is too long.")

    deleted = forbidden("You attempted to reply to a Tweet that is deleted or not visible to you.")
    assert refusal(text="hi", in_reply_to_tweet_id=gone["id"]) == deleted
    assert refusal(text="hi", in_reply_to_tweet_id="1") == deleted

    assert refusal(text="nice", in_reply_to_tweet_id=unrelated["id"]) == forbidden(
        "Reply to this conversation is not allowed because you have not been mentioned or "
        "otherwise engaged by the author of the post you are replying to."
    )
    first = brand_client.create_tweet(
        text="thanks!", in_reply_to_tweet_id=mention["id"], user_auth=False
    )["data"]
    # Its own posts stay open to the account...
    brand_client.create_tweet(text="and more", in_reply_to_tweet_id=first["id"], user_auth=False)
    # ...but since 2026-02-23 a conversation it joined does not: only a post whose author
    # mentions it, or quotes one of its posts, summons it.
    later = fake.post_mention("bob", author="alice", text="@bob me too", reply_to=mention["id"])
    assert refusal(text="welcome", in_reply_to_tweet_id=later["id"])["detail"].startswith(
        "Reply to this conversation is not allowed"
    )
    quote = fake.post_mention("bob", author="alice", text="@bob see this", quote_of=first["id"])
    brand_client.create_tweet(text="welcome", in_reply_to_tweet_id=quote["id"], user_auth=False)

    assert refusal(text="thanks!") == forbidden(
        "You are not allowed to create a Tweet with duplicate content."
    )
    bob_client = client_for(bearer_token=fake.issue_token(bob["id"]))
    assert bob_client.create_tweet(text="thanks!", user_auth=False)["data"]["text"] == "thanks!"
    assert len(fake.posts_by("brand")) == 4

    # At most one cashtag a post; "$1" or "a$B" are not cashtags at all.
    assert refusal(text="$TSLA beats $AAPL") == forbidden(
        "Posts created via the API may contain at most 1 cashtag."
    )
    brand_client.create_tweet(text="$TSLA is up $1 from a$B", user_auth=False)


def test_replies_are_unrestricted_when_asked() -> None:
    with FakeX(restrict_replies=False) as server:
        brand = server.add_user("brand")
        server.add_user("alice")
        tweet = server.post_mention("alice", author="alice", text="@alice note to self")
        with requests.Session() as http:
            answer = http.post(
                f"{server.url}/2/tweets",
                json={"text": "hi", "reply": {"in_reply_to_tweet_id": tweet["id"]}},
                headers={"Authorization": f"Bearer {server.issue_token(brand['id'])}"},
            )
        assert answer.status_code == 201


def test_post_tweet_rejects_malformed_requests(
    fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    user = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}

    def post(**kwargs: Any) -> requests.Response:
        return http.post(f"{fake.url}/2/tweets", **kwargs)

    for body in ({}, {"text": "  "}, {"text": "hi", "colour": "red"}, {"text": 5}):
        answer = post(json=body, headers=user)
        assert answer.status_code == 400, body
        assert answer.json()["type"] == "https://api.x.com/2/problems/invalid-request"
    assert post(data=b"[", headers=user).status_code == 400
    malformed_reply = {"text": "hi", "reply": {"in_reply_to_tweet_id": "abc"}}
    assert post(json=malformed_reply, headers=user).status_code == 400

    app = {"Authorization": f"Bearer {fake.app_bearer}"}
    refused = post(json={"text": "hi"}, headers=app)
    assert refused.status_code == 403
    assert refused.json()["title"] == "Unsupported Authentication"
    assert post(json={"text": "hi"}).status_code == 401
    assert fake.posts_by("brand") == []


def test_delete_tweet_only_own_and_only_once(
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    brand_client: Any,
) -> None:
    mine = brand_client.create_tweet(text="@alice oops", user_auth=False)["data"]
    hers = fake.post_mention("brand", author="alice")

    assert brand_client.delete_tweet(mine["id"], user_auth=False) == {"data": {"deleted": True}}
    assert fake.posts_by("brand") == [] and fake.mentions_of("alice") == []

    with pytest.raises(tweepy.NotFound) as raised:
        brand_client.delete_tweet(mine["id"], user_auth=False)
    assert raised.value.response.json() == {
        "value": mine["id"],
        "detail": f"Could not find tweet with id: [{mine['id']}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "id",
        "resource_id": mine["id"],
        "type": "https://api.x.com/2/problems/resource-not-found",
        "status": 404,
    }
    with pytest.raises(tweepy.Forbidden):
        brand_client.delete_tweet(hers["id"], user_auth=False)
    assert fake.mentions_of("brand") == [hers]


def test_user_timeline_pages_and_filters(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    posted = [
        fake.post_mention("alice", author="brand", created_at=start + timedelta(minutes=n))["id"]
        for n in range(7)
    ]
    reply = fake.post_mention("alice", author="brand", reply_to=posted[0])["id"]
    fake.post_mention("brand", author="alice")  # alice's, not in brand's timeline

    pages = list(tweepy.Paginator(brand_client.get_users_tweets, brand["id"], max_results=5))
    assert [tweet["id"] for page in pages for tweet in page["data"]] == [reply, *posted[::-1]]

    since = brand_client.get_users_tweets(brand["id"], since_id=posted[4])
    assert [tweet["id"] for tweet in since["data"]] == [reply, posted[6], posted[5]]

    window = brand_client.get_users_tweets(
        brand["id"],
        start_time=start + timedelta(minutes=2),
        end_time=start + timedelta(minutes=5),
        exclude=["replies"],
    )
    assert [tweet["id"] for tweet in window["data"]] == posted[4:1:-1]
    no_replies = brand_client.get_users_tweets(brand["id"], exclude="replies", max_results=100)
    assert reply not in [tweet["id"] for tweet in no_replies["data"]]

    with pytest.raises(tweepy.BadRequest, match="start_time"):
        brand_client.get_users_tweets(brand["id"], start_time="yesterday")
    with pytest.raises(tweepy.BadRequest, match="exclude"):
        brand_client.get_users_tweets(brand["id"], exclude="likes")
    assert brand_client.get_users_tweets("42")["errors"][0]["detail"] == (
        "Could not find user with id: [42]."
    )
    assert brand_client.get_users_tweets(alice["id"])["meta"]["result_count"] == 1


# --- retweets --------------------------------------------------------------------------------


def test_retweet_unretweet_and_retweeters(
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    brand_client: Any,
    client_for: Callable[..., Any],
) -> None:
    tweet = fake.post_mention("brand", author="alice", text="@brand love it")

    retweeted = brand_client.retweet(tweet["id"], user_auth=False)
    assert retweeted == {"data": {"retweeted": True, "rest_id": retweeted["data"]["rest_id"]}}
    assert json.loads(fake.calls_to(f"/2/users/{brand['id']}/retweets")[-1].body) == {
        "tweet_id": tweet["id"]
    }
    assert brand_client.retweet(tweet["id"], user_auth=False) == retweeted  # no change
    assert fake.retweeters_of(tweet["id"]) == {brand["id"]}
    # A retweet is a post of its own on X, which posts_by leaves out.
    assert fake.posts_by("brand") == []
    own = brand_client.get_users_tweets(brand["id"], tweet_fields=["referenced_tweets"])["data"]
    assert own == [
        {
            "id": retweeted["data"]["rest_id"],
            "text": "RT @alice: @brand love it",
            "edit_history_tweet_ids": [retweeted["data"]["rest_id"]],
            "referenced_tweets": [{"type": "retweeted", "id": tweet["id"]}],
        }
    ]
    assert "data" not in brand_client.get_users_tweets(brand["id"], exclude=["retweets"])

    others = [fake.add_user(f"fan{n}") for n in range(2)]
    for other in others:
        client_for(bearer_token=fake.issue_token(other["id"])).retweet(tweet["id"], user_auth=False)
    assert fake.tweet(tweet["id"])["public_metrics"]["retweet_count"] == 3

    pages = list(tweepy.Paginator(brand_client.get_retweeters, tweet["id"], max_results=2))
    assert [user["username"] for page in pages for user in page["data"]] == [
        "fan1",
        "fan0",
        "brand",
    ]
    assert [page["meta"]["result_count"] for page in pages] == [2, 1]

    assert brand_client.unretweet(tweet["id"], user_auth=False) == {"data": {"retweeted": False}}
    assert brand_client.unretweet(tweet["id"], user_auth=False) == {"data": {"retweeted": False}}
    assert fake.retweeters_of(tweet["id"]) == {other["id"] for other in others}

    fake.delete_tweet(tweet["id"])
    assert fake.retweeters_of(tweet["id"]) == set()
    assert brand_client.get_retweeters(tweet["id"])["errors"][0]["resource_type"] == "tweet"
    # The retweets went with it.
    assert fake.mentions_of("brand") == []


def test_retweets_reach_mentions_and_the_stream_unless_the_rule_excludes_them(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], http: requests.Session
) -> None:
    fake.add_user("fan")
    rules = {"add": [{"value": "@brand", "tag": "all"}, {"value": "@brand -is:retweet"}]}
    http.post(
        f"{fake.url}/2/tweets/search/stream/rules",
        json=rules,
        headers={"Authorization": f"Bearer {fake.app_bearer}"},
    )
    stream = open_stream(fake, http, "?tweet.fields=referenced_tweets")
    lines = stream.iter_lines()
    tweet = fake.post_mention("brand", author="alice", text="@brand love it")
    assert len(json.loads(next(line for line in lines if line))["matching_rules"]) == 2

    retweet = fake.retweet("fan", tweet["id"])

    assert retweet["text"] == "RT @alice: @brand love it"
    assert retweet["referenced_tweets"] == [{"type": "retweeted", "id": tweet["id"]}]
    assert [m["username"] for m in retweet["entities"]["mentions"]] == ["alice", "brand"]
    assert retweet["edit_controls"]["is_edit_eligible"] is False
    pushed = json.loads(next(line for line in lines if line))
    assert pushed["data"]["id"] == retweet["id"]
    assert [rule["tag"] for rule in pushed["matching_rules"]] == ["all"]
    assert [m["id"] for m in fake.mentions_of("brand")] == [retweet["id"], tweet["id"]]
    assert [m["id"] for m in fake.mentions_of("alice")] == [retweet["id"]]
    assert fake.retweet("fan", tweet["id"]) == retweet  # once per user
    stream.close()


def test_quote_posts_reference_the_post_they_quote(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    original = brand_client.create_tweet(text="Our new thing", user_auth=False)["data"]

    quote = fake.post_mention(
        "brand", author="alice", text="@brand is it out?", quote_of=original["id"]
    )

    assert quote["referenced_tweets"] == [{"type": "quoted", "id": original["id"]}]
    page = brand_client.get_users_mentions(
        brand["id"], expansions=["referenced_tweets.id"], tweet_fields=["referenced_tweets"]
    )
    assert page["data"][0]["referenced_tweets"] == [{"type": "quoted", "id": original["id"]}]
    assert page["includes"]["tweets"][0]["text"] == "Our new thing"


def test_an_edit_is_a_new_version_and_timelines_serve_the_newest(
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    brand_client: Any,
    http: requests.Session,
) -> None:
    http.post(
        f"{fake.url}/2/tweets/search/stream/rules",
        json={"add": [{"value": "@brand"}]},
        headers={"Authorization": f"Bearer {fake.app_bearer}"},
    )
    stream = open_stream(fake, http, "?tweet.fields=edit_history_tweet_ids,edit_controls")
    lines = stream.iter_lines()
    first = fake.post_mention("brand", author="alice", text="@brand my order is lost")
    next(line for line in lines if line)

    edited = fake.edit_tweet(first["id"], "@brand my order 1234 is lost")

    assert edited["id"] != first["id"]
    assert edited["edit_history_tweet_ids"] == [first["id"], edited["id"]]
    assert edited["conversation_id"] == first["id"]
    assert edited["edit_controls"]["edits_remaining"] == 4
    pushed = json.loads(next(line for line in lines if line))["data"]
    assert pushed["id"] == edited["id"]
    assert pushed["edit_history_tweet_ids"] == [first["id"], edited["id"]]
    page = brand_client.get_users_mentions(brand["id"])
    assert [t["id"] for t in page["data"]] == [edited["id"]]
    assert fake.tweet(first["id"])["edit_history_tweet_ids"] == [first["id"], edited["id"]]
    with pytest.raises(ValueError, match="no tweet"):
        fake.edit_tweet(first["id"], "an older version cannot be edited")
    for n in range(4):
        edited = fake.edit_tweet(edited["id"], f"@brand edit {n}")
    with pytest.raises(ValueError, match="5 times"):
        fake.edit_tweet(edited["id"], "@brand once too often")
    old = fake.post_mention(
        "brand", author="alice", created_at=datetime.now(UTC) - timedelta(hours=2)
    )
    with pytest.raises(ValueError, match="first hour"):
        fake.edit_tweet(old["id"], "@brand too late")
    stream.close()


def test_retweet_refusals(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], http: requests.Session
) -> None:
    tweet = fake.post_mention("brand", author="alice")
    auth = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}

    on_behalf = http.post(
        f"{fake.url}/2/users/{alice['id']}/retweets", json={"tweet_id": tweet["id"]}, headers=auth
    )
    assert on_behalf.status_code == 403
    assert fake.retweeters_of(tweet["id"]) == set()

    missing = http.post(
        f"{fake.url}/2/users/{brand['id']}/retweets", json={"tweet_id": "1"}, headers=auth
    )
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Could not find tweet with tweet_id: [1]."

    for body in ({}, {"tweet_id": 1}, {"tweet_id": "x"}):
        answer = http.post(f"{fake.url}/2/users/{brand['id']}/retweets", json=body, headers=auth)
        assert answer.status_code == 400, body
    undo_for_alice = http.delete(
        f"{fake.url}/2/users/{alice['id']}/retweets/{tweet['id']}", headers=auth
    )
    assert undo_for_alice.status_code == 403


# --- direct messages -------------------------------------------------------------------------


def test_dms_are_sent_and_listed_newest_first(
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    brand_client: Any,
    client_for: Callable[..., Any],
) -> None:
    first = brand_client.create_direct_message(
        participant_id=alice["id"], text="Hi Alice & co", user_auth=False
    )["data"]
    conversation = f"{brand['id']}-{alice['id']}"  # the smaller id first
    assert first == {"dm_conversation_id": conversation, "dm_event_id": first["dm_event_id"]}
    alice_client = client_for(bearer_token=fake.issue_token(alice["id"]))
    answer = alice_client.create_direct_message(
        participant_id=brand["id"], text="thanks", user_auth=False
    )["data"]
    assert answer["dm_conversation_id"] == conversation

    bare = brand_client.get_direct_message_events(participant_id=alice["id"], user_auth=False)
    assert bare["data"] == [
        {"id": answer["dm_event_id"], "event_type": "MessageCreate", "text": "thanks"},
        {"id": first["dm_event_id"], "event_type": "MessageCreate", "text": "Hi Alice & co"},
    ]
    assert bare["meta"] == {"result_count": 2}

    detailed = brand_client.get_direct_message_events(
        participant_id=alice["id"],
        dm_event_fields=["created_at", "dm_conversation_id"],
        expansions=["sender_id"],
        user_fields=["username"],
        max_results=1,
        user_auth=False,
    )
    (event,) = detailed["data"]
    assert set(event) == {
        "id",
        "event_type",
        "text",
        "created_at",
        "dm_conversation_id",
        "sender_id",
    }
    assert event["sender_id"] == alice["id"]
    assert detailed["includes"] == {
        "users": [{"id": alice["id"], "name": "alice", "username": "alice"}]
    }
    older = brand_client.get_direct_message_events(
        participant_id=alice["id"],
        pagination_token=detailed["meta"]["next_token"],
        user_auth=False,
    )
    assert [event["id"] for event in older["data"]] == [first["dm_event_id"]]
    assert "next_token" not in older["meta"]

    joins = brand_client.get_direct_message_events(
        participant_id=alice["id"], event_types=["ParticipantsJoin"], user_auth=False
    )
    assert joins == {"meta": {"result_count": 0}}
    with pytest.raises(tweepy.BadRequest, match="dm_event.fields"):
        brand_client.get_direct_message_events(
            participant_id=alice["id"], dm_event_fields=["colour"], user_auth=False
        )

    assert [dm["text"] for dm in fake.dms_between("brand", "alice")] == ["Hi Alice & co"]
    assert fake.dms_between("alice", "brand")[0]["id"] == answer["dm_event_id"]


def test_dm_refusals(
    fake: FakeX, brand: dict[str, Any], brand_client: Any, http: requests.Session
) -> None:
    closed = fake.add_user("private", accepts_dms=False)
    later = fake.add_user("later")
    brand_client.create_direct_message(participant_id=later["id"], text="hi", user_auth=False)
    fake.close_dms(fake.user_id("LATER"))
    with pytest.raises(tweepy.Forbidden):
        brand_client.create_direct_message(participant_id=later["id"], text="hi", user_auth=False)
    with pytest.raises(ValueError, match="no user"):
        fake.user_id("nobody")
    with pytest.raises(tweepy.Forbidden) as raised:
        brand_client.create_direct_message(participant_id=closed["id"], text="hi", user_auth=False)
    assert raised.value.response.json() == forbidden("You cannot send messages to this user.")
    assert fake.dms_between("brand", "private") == []

    with pytest.raises(tweepy.NotFound) as missing:
        brand_client.create_direct_message(participant_id="42", text="hi", user_auth=False)
    assert missing.value.response.json()["parameter"] == "participant_id"

    auth = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}
    url = f"{fake.url}/2/dm_conversations/with/{closed['id']}/messages"
    for body in ({}, {"text": ""}, {"text": "hi", "extra": 1}):
        assert http.post(url, json=body, headers=auth).status_code == 400, body
    app = http.post(
        url, json={"text": "hi"}, headers={"Authorization": f"Bearer {fake.app_bearer}"}
    )
    assert app.status_code == 403


# --- faults on writes ------------------------------------------------------------------------


def test_failed_writes_are_not_carried_out(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    tweet = fake.post_mention("brand", author="alice")
    fake.fail("/2/tweets", 503, method="POST")
    fake.fail(f"/2/users/{brand['id']}/retweets", 429, reset_in=60)
    fake.fail("/2/dm_conversations/", 500)

    with pytest.raises(tweepy.TwitterServerError):
        brand_client.create_tweet(text="hello", user_auth=False)
    with pytest.raises(tweepy.TooManyRequests) as limited:
        brand_client.retweet(tweet["id"], user_auth=False)
    assert 58 <= limited.value.reset_time - time.time() <= 61
    assert limited.value.response.headers["x-rate-limit-remaining"] == "0"
    with pytest.raises(tweepy.TwitterServerError):
        brand_client.create_direct_message(participant_id=alice["id"], text="hi", user_auth=False)

    assert fake.posts_by("brand") == []
    assert fake.retweeters_of(tweet["id"]) == set()
    assert fake.dms_between("brand", "alice") == []
    brand_client.create_tweet(text="hello", user_auth=False)
    assert [post["text"] for post in fake.posts_by("brand")] == ["hello"]


def test_lost_answers_are_carried_out_then_dropped(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    tweet = fake.post_mention("brand", author="alice")
    fake.lose_answer("/2/tweets")
    fake.lose_answer("/2/users/", times=1)  # POST only: the retweet, not tweepy's get_me
    fake.lose_answer("/2/dm_conversations/")

    with pytest.raises(requests.ConnectionError):
        brand_client.create_tweet(text="did it post?", user_auth=False)
    assert [post["text"] for post in fake.posts_by("brand")] == ["did it post?"]
    with pytest.raises(requests.ConnectionError):
        brand_client.retweet(tweet["id"], user_auth=False)
    assert fake.retweeters_of(tweet["id"]) == {brand["id"]}
    with pytest.raises(requests.ConnectionError):
        brand_client.create_direct_message(participant_id=alice["id"], text="hi", user_auth=False)
    assert len(fake.dms_between("brand", "alice")) == 1
    # Reads on the same paths are answered, and the next write is too.
    assert brand_client.get_direct_message_events(participant_id=alice["id"], user_auth=False)
    assert brand_client.create_tweet(text="again", user_auth=False)["data"]["text"] == "again"

    fake.lose_answer("/2/users/", method=None, times=2)
    with pytest.raises(requests.ConnectionError):
        brand_client.get_users_tweets(brand["id"])
    with pytest.raises(requests.ConnectionError):
        brand_client.get_users_tweets(brand["id"])
    # The two posts and the retweet, which X lists among the user's posts.
    assert brand_client.get_users_tweets(brand["id"])["meta"]["result_count"] == 3


def test_slow_write_is_carried_out_though_its_answer_comes_too_late(
    fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    fake.slow("/2/tweets", 0.5)
    with pytest.raises(requests.ReadTimeout):
        http.post(
            f"{fake.url}/2/tweets",
            json={"text": "late"},
            headers={"Authorization": f"Bearer {fake.issue_token(brand['id'])}"},
            timeout=(5, 0.1),
        )
    assert wait_for(lambda: fake.posts_by("brand"))[0]["text"] == "late"


# --- control endpoints and standalone mode ---------------------------------------------------


def test_control_endpoints(fake: FakeX, http: requests.Session) -> None:
    created = http.post(f"{fake.url}/_control/users", json={"username": "acme"}).json()
    auth = {"Authorization": f"Bearer {created['access_token']}"}
    me = http.get(f"{fake.url}/2/users/me", headers=auth).json()["data"]
    assert me["id"] == created["user"]["id"] and me["username"] == "acme"
    assert set(created["oauth1"]) == {
        "consumer_key",
        "consumer_secret",
        "access_token",
        "access_token_secret",
    }

    tweet = http.post(
        f"{fake.url}/_control/mentions", json={"to": "acme", "author": "newcomer"}
    ).json()
    assert tweet["text"] == "@acme hello"
    mentions_path = f"/2/users/{created['user']['id']}/mentions"
    mentions_url = fake.url + mentions_path
    assert http.get(mentions_url, headers=auth).json()["data"][0]["id"] == tweet["id"]

    http.post(f"{fake.url}/_control/faults", json={"path_prefix": "/2/users/", "status": 503})
    assert http.get(mentions_url, headers=auth).status_code == 503

    state = http.get(f"{fake.url}/_control/state").json()
    assert [user["username"] for user in state["users"]] == ["acme", "newcomer"]
    assert state["tweets"] == 1 and state["mentions"] == {"acme": 1}

    calls = http.get(f"{fake.url}/_control/calls").json()
    assert [call["path"] for call in calls] == ["/2/users/me", mentions_path, mentions_path]

    assert http.post(f"{fake.url}/_control/drop_streams", json={}).json() == {"ok": True}
    http.post(f"{fake.url}/_control/revoke", json={"token": created["access_token"]})
    assert http.get(f"{fake.url}/2/users/me", headers=auth).status_code == 401
    assert http.post(f"{fake.url}/_control/revoke", json={"token": "x"}).status_code == 400
    assert http.post(f"{fake.url}/_control/users", data=b"[").status_code == 400
    missing = http.post(f"{fake.url}/_control/mentions", json={"to": "acme"})
    assert missing.status_code == 400 and "author" in missing.json()["error"]
    assert http.get(f"{fake.url}/_control/nothing").status_code == 404


def test_control_endpoints_for_the_write_side(fake: FakeX, http: requests.Session) -> None:
    brand = http.post(f"{fake.url}/_control/users", json={"username": "acme"}).json()
    closed = http.post(
        f"{fake.url}/_control/users", json={"username": "shy", "accepts_dms": False}
    ).json()
    auth = {"Authorization": f"Bearer {brand['access_token']}"}
    refused = http.post(
        f"{fake.url}/2/dm_conversations/with/{closed['user']['id']}/messages",
        json={"text": "hi"},
        headers=auth,
    )
    assert refused.status_code == 403

    lost = {"path_prefix": "/2/tweets"}
    assert http.post(f"{fake.url}/_control/lose_answer", json=lost).json() == {"ok": True}
    with pytest.raises(requests.ConnectionError):
        http.post(f"{fake.url}/2/tweets", json={"text": "hello"}, headers=auth)
    assert http.post(f"{fake.url}/2/tweets", json={"text": "again"}, headers=auth).ok

    state = http.get(f"{fake.url}/_control/state").json()
    assert state["posts"] == {"acme": 2}
    assert state["retweets"] == 0 and state["dms"] == 0
    missing = http.post(f"{fake.url}/_control/lose_answer", json={})
    assert missing.status_code == 400 and "path_prefix" in missing.json()["error"]


def test_standalone_prints_configuration_and_serves() -> None:
    command = [sys.executable, "-m", "sandbox.x_api", "--port", "0", "--user", "acme"]
    with subprocess.Popen(
        [*command, "--quiet"], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        output = b""
        deadline = time.monotonic() + 30.0  # a busy machine starts Python slowly
        while b"Ctrl-C" not in output:
            assert time.monotonic() < deadline, output
            if select.select([process.stdout], [], [], 0.05)[0]:
                output += os.read(process.stdout.fileno(), 4096)
        text = output.decode()
        url = text.split("listening on ")[1].split()[0]
        token = text.split("OAuth 2.0 user token:")[1].split()[0]
        assert "access_token_secret=" in text and "app bearer:" in text and "curl" in text
        assert "X_CLIENT_ID=" in text and f"X_AUTHORIZE_URL={url}/i/oauth2/authorize" in text

        with requests.Session() as session:
            me = session.get(f"{url}/2/users/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json()["data"]["username"] == "acme"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


# --- OAuth 2.0 -------------------------------------------------------------------------------

CALLBACK = "https://roost.example/x/oauth/callback"
# RFC 7636, appendix B: a code verifier and its S256 challenge.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
READ_SCOPES = "tweet.read users.read offline.access"


def consent(
    fake: FakeX, http: requests.Session, client_id: str, **overrides: str
) -> requests.Response:
    """Open the fake consent page as a browser would, without following its redirect."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": READ_SCOPES,
        "state": "state-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **overrides,
    }
    return http.get(f"{fake.url}/i/oauth2/authorize", params=query, allow_redirects=False)


def sent_back(response: requests.Response) -> dict[str, str]:
    """The query the consent redirected to the callback with."""
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return dict(parse_qsl(urlsplit(location).query))


def token_call(fake: FakeX, http: requests.Session, **form: str) -> requests.Response:
    return http.post(f"{fake.url}/2/oauth2/token", data=form)


def exchange(
    fake: FakeX, http: requests.Session, client_id: str, code: str, /, **overrides: str
) -> requests.Response:
    """Trade a code for tokens as a public client; `overrides` replace form fields."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
        "client_id": client_id,
        **overrides,
    }
    return token_call(fake, http, **form)


def me_status(fake: FakeX, http: requests.Session, access_token: str) -> int:
    answer = http.get(f"{fake.url}/2/users/me", headers={"Authorization": f"Bearer {access_token}"})
    return answer.status_code


@pytest.fixture
def public_client(fake: FakeX, brand: dict[str, Any]) -> str:
    client_id, secret = fake.register_client(CALLBACK)
    assert secret is None
    fake.consent_as("brand")
    return client_id


def test_consent_sends_a_code_back_that_buys_working_tokens_once(
    fake: FakeX,
    brand: dict[str, Any],
    public_client: str,
    http: requests.Session,
    client_for: Callable[..., Any],
) -> None:
    back = sent_back(consent(fake, http, public_client))
    assert back["state"] == "state-1" and set(back) == {"code", "state"}

    answer = exchange(fake, http, public_client, back["code"])
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert set(tokens) == {"token_type", "expires_in", "access_token", "scope", "refresh_token"}
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == ACCESS_TOKEN_SECONDS
    assert tokens["scope"] == READ_SCOPES
    me = client_for(bearer_token=tokens["access_token"]).get_me(user_auth=False)
    assert me["data"]["id"] == brand["id"]

    again = exchange(fake, http, public_client, back["code"])
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_request", "error_description": INVALID_CODE}
    calls = fake.calls_to("/2/oauth2/token", "POST")
    assert [dict(parse_qsl(call.body.decode()))["grant_type"] for call in calls] == [
        "authorization_code",
        "authorization_code",
    ]


def test_without_offline_access_there_is_no_refresh_token(
    fake: FakeX, public_client: str, http: requests.Session
) -> None:
    back = sent_back(consent(fake, http, public_client, scope="tweet.read users.read"))
    tokens = exchange(fake, http, public_client, back["code"]).json()
    assert "refresh_token" not in tokens and tokens["scope"] == "tweet.read users.read"


def test_plain_code_challenge_is_accepted_too(
    fake: FakeX, public_client: str, http: requests.Session
) -> None:
    back = sent_back(
        consent(fake, http, public_client, code_challenge=VERIFIER, code_challenge_method="plain")
    )
    assert exchange(fake, http, public_client, back["code"]).status_code == 200


@pytest.mark.parametrize(
    "mismatch",
    ["verifier", "redirect_uri", "client", "expired", "unknown"],
)
def test_a_code_is_bound_to_its_client_callback_and_verifier(
    fake: FakeX, public_client: str, http: requests.Session, mismatch: str
) -> None:
    other_client, _ = fake.register_client([CALLBACK, "https://other.example/cb"])
    if mismatch == "expired":
        fake.code_seconds = 0
    code = sent_back(consent(fake, http, public_client))["code"]
    overrides = {
        "verifier": {"code_verifier": "x" * 43},
        "redirect_uri": {"redirect_uri": "https://other.example/cb"},
        "client": {"client_id": other_client},
        "expired": {},
        "unknown": {"code": "not-a-code"},
    }[mismatch]
    refused = exchange(fake, http, public_client, code, **overrides)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_request", "error_description": INVALID_CODE}
    # Whatever went wrong with it, the code was spent.
    spent = mismatch != "unknown"
    assert exchange(fake, http, public_client, code).status_code == (400 if spent else 200)


def test_consent_refusals_and_choices(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], http: requests.Session
) -> None:
    client_id, _ = fake.register_client(CALLBACK)
    nobody = consent(fake, http, client_id)
    assert nobody.status_code == 400 and "consent_as" in nobody.text

    # Addresses X cannot trust get a page, never a redirect.
    unknown = consent(fake, http, "no-such-client")
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    assert unknown.headers["Content-Type"].startswith("text/html")
    elsewhere = consent(fake, http, client_id, redirect_uri="https://evil.example/cb")
    assert elsewhere.status_code == 400 and "Location" not in elsewhere.headers

    # Other mistakes go back to the app, with the state.
    assert sent_back(consent(fake, http, client_id, scope="tweet.read nonsense.write")) == {
        "error": "invalid_scope",
        "state": "state-1",
    }
    assert sent_back(consent(fake, http, client_id, code_challenge=""))["error"] == (
        "invalid_request"
    )
    assert sent_back(consent(fake, http, client_id, response_type="token"))["error"] == (
        "unsupported_response_type"
    )

    fake.consent_as("brand")
    fake.deny_consent()
    assert sent_back(consent(fake, http, client_id, state="s-2")) == {
        "error": "access_denied",
        "state": "s-2",
    }
    code = sent_back(consent(fake, http, client_id, fake_user="alice"))["code"]
    tokens = exchange(fake, http, client_id, code).json()
    me = http.get(
        f"{fake.url}/2/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["data"]["username"] == "alice"
    with pytest.raises(ValueError, match="no user"):
        fake.consent_as("nobody")


def test_refresh_tokens_rotate_and_work_once(
    fake: FakeX, public_client: str, http: requests.Session
) -> None:
    first = exchange(
        fake, http, public_client, sent_back(consent(fake, http, public_client))["code"]
    )
    tokens = first.json()
    renewed = token_call(
        fake,
        http,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=public_client,
    )
    assert renewed.status_code == 200, renewed.text
    pair = renewed.json()
    assert pair["refresh_token"] != tokens["refresh_token"]
    assert pair["access_token"] != tokens["access_token"]
    assert pair["scope"] == READ_SCOPES and pair["expires_in"] == ACCESS_TOKEN_SECONDS
    assert me_status(fake, http, pair["access_token"]) == 200
    # The old access token lives on until it expires.
    assert me_status(fake, http, tokens["access_token"]) == 200

    reused = token_call(
        fake,
        http,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=public_client,
    )
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_request", "error_description": INVALID_TOKEN}
    other_client, _ = fake.register_client(CALLBACK)
    stolen = token_call(
        fake,
        http,
        grant_type="refresh_token",
        refresh_token=pair["refresh_token"],
        client_id=other_client,
    )
    assert stolen.status_code == 400
    # Refused for another client, the token still works for its own.
    mine = token_call(
        fake,
        http,
        grant_type="refresh_token",
        refresh_token=pair["refresh_token"],
        client_id=public_client,
    )
    assert mine.status_code == 200


def test_two_refreshes_with_one_token_at_once_only_one_wins(
    fake: FakeX, public_client: str
) -> None:
    with requests.Session() as http:
        code = sent_back(consent(fake, http, public_client))["code"]
        refresh_token = exchange(fake, http, public_client, code).json()["refresh_token"]
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def refresh() -> None:
        with requests.Session() as session:
            barrier.wait()
            form = {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": public_client,
            }
            statuses.append(session.post(f"{fake.url}/2/oauth2/token", data=form).status_code)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 400, 400, 400]


def test_access_tokens_expire_after_token_seconds(
    fake: FakeX, public_client: str, http: requests.Session
) -> None:
    fake.token_seconds = 0
    code = sent_back(consent(fake, http, public_client))["code"]
    tokens = exchange(fake, http, public_client, code).json()
    assert tokens["expires_in"] == 0
    assert me_status(fake, http, tokens["access_token"]) == 401
    # Its refresh token still buys a fresh pair.
    fake.token_seconds = ACCESS_TOKEN_SECONDS
    pair = token_call(
        fake,
        http,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=public_client,
    ).json()
    assert me_status(fake, http, pair["access_token"]) == 200


def test_a_confidential_client_authenticates_with_http_basic(
    fake: FakeX, brand: dict[str, Any], http: requests.Session
) -> None:
    client_id, secret = fake.register_client(CALLBACK, confidential=True)
    assert secret is not None
    fake.consent_as("brand")
    code = sent_back(consent(fake, http, client_id))["code"]

    in_body = exchange(fake, http, client_id, code)
    assert in_body.status_code == 401
    assert in_body.json() == {
        "error": "unauthorized_client",
        "error_description": MISSING_BASIC_AUTH,
    }
    code = sent_back(consent(fake, http, client_id))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
    }
    wrong = http.post(f"{fake.url}/2/oauth2/token", data=form, auth=(client_id, "nope"))
    assert wrong.status_code == 401
    right = http.post(f"{fake.url}/2/oauth2/token", data=form, auth=(client_id, secret))
    assert right.status_code == 200, right.text
    assert me_status(fake, http, right.json()["access_token"]) == 200


def test_revoke_ends_access_and_refresh_tokens(
    fake: FakeX, public_client: str, http: requests.Session
) -> None:
    code = sent_back(consent(fake, http, public_client))["code"]
    tokens = exchange(fake, http, public_client, code).json()
    revoke = f"{fake.url}/2/oauth2/revoke"

    for token, hint in (
        (tokens["access_token"], "access_token"),
        (tokens["refresh_token"], "refresh_token"),
    ):
        answer = http.post(
            revoke, data={"token": token, "token_type_hint": hint, "client_id": public_client}
        )
        assert answer.status_code == 200 and answer.json() == {"revoked": True}
    assert me_status(fake, http, tokens["access_token"]) == 401
    refused = token_call(
        fake,
        http,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=public_client,
    )
    assert refused.status_code == 400

    # RFC 7009: revoking what is unknown (or revoked already) is no error.
    again = http.post(revoke, data={"token": tokens["access_token"], "client_id": public_client})
    assert again.json() == {"revoked": True}
    assert http.post(revoke, data={"client_id": public_client}).status_code == 400
    assert http.post(revoke, data={"token": "t"}).status_code == 401
    assert len(fake.calls_to("/2/oauth2/revoke", "POST")) == 5

    # From Python, as for any other token.
    code = sent_back(consent(fake, http, public_client))["code"]
    refresh_token = exchange(fake, http, public_client, code).json()["refresh_token"]
    fake.revoke(refresh_token)
    refused = token_call(
        fake, http, grant_type="refresh_token", refresh_token=refresh_token, client_id=public_client
    )
    assert refused.status_code == 400


def test_token_endpoint_refuses_malformed_requests(
    fake: FakeX, public_client: str, http: requests.Session
) -> None:
    url = f"{fake.url}/2/oauth2/token"
    as_json = http.post(url, json={"grant_type": "refresh_token", "client_id": public_client})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    missing = http.post(url, data={"client_id": public_client})
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": "Missing required parameter [grant_type].",
    }
    unknown = http.post(url, data={"client_id": public_client, "grant_type": "password"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unsupported_grant_type"
    no_code = http.post(url, data={"client_id": public_client, "grant_type": "authorization_code"})
    assert no_code.json()["error_description"] == "Missing required parameter [code]."
    assert http.get(url).status_code == 405


def test_oauth_control_endpoints(fake: FakeX, http: requests.Session) -> None:
    http.post(f"{fake.url}/_control/users", json={"username": "acme"})
    client = http.post(
        f"{fake.url}/_control/oauth/clients", json={"redirect_uris": [CALLBACK]}
    ).json()
    assert client["client_secret"] is None
    assert http.post(f"{fake.url}/_control/oauth/consent", json={"username": "acme"}).json() == {
        "ok": True
    }
    code = sent_back(consent(fake, http, client["client_id"]))["code"]
    assert exchange(fake, http, client["client_id"], code).status_code == 200

    http.post(f"{fake.url}/_control/oauth/consent", json={"deny": True})
    assert sent_back(consent(fake, http, client["client_id"]))["error"] == "access_denied"
    confidential = http.post(
        f"{fake.url}/_control/oauth/clients",
        json={"redirect_uris": CALLBACK, "confidential": True},
    ).json()
    assert confidential["client_secret"]
    bad = http.post(f"{fake.url}/_control/oauth/clients", json={"redirect_uris": ["ftp://x"]})
    assert bad.status_code == 400


def test_oauth2_scopes_are_those_of_the_openapi_description() -> None:
    if not OPENAPI_PATH.exists():
        pytest.skip(f"X's OpenAPI description not found at {OPENAPI_PATH}")
    spec = json.loads(OPENAPI_PATH.read_text())
    flow = spec["components"]["securitySchemes"]["OAuth2UserToken"]["flows"]
    assert OAUTH2_SCOPES == set(flow["authorizationCode"]["scopes"])


# --- shapes against X's OpenAPI description --------------------------------------------------


@pytest.fixture(scope="module")
def openapi() -> Registry:
    return spec_registry()


_pointer = pointer


def assert_response_shape(
    registry: Registry,
    instance: Any,
    path: str,
    method: str = "get",
    status: str = "200",
    media_type: str = "application/json",
) -> None:
    """Validate against the schema the OpenAPI declares for that path, method and status."""
    pointer = _pointer("paths", path, method, "responses", status, "content", media_type, "schema")
    Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=registry).validate(instance)


def assert_request_shape(registry: Registry, instance: Any, path: str, method: str) -> None:
    """Validate a request body against the schema the OpenAPI declares for it."""
    pointer = _pointer(
        "paths", path, method, "requestBody", "content", "application/json", "schema"
    )
    Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=registry).validate(instance)


def assert_component_shape(registry: Registry, instance: Any, name: str) -> None:
    schema = {"$ref": SPEC_URI + _pointer("components", "schemas", name)}
    Draft202012Validator(schema, registry=registry).validate(instance)


def test_responses_match_the_openapi_description(
    openapi: Registry,
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    brand_client: Any,
    rules_client: Any,
    http: requests.Session,
) -> None:
    me = brand_client.get_me(user_auth=False, user_fields=["verified", "protected", "created_at"])
    assert_response_shape(openapi, me, "/2/users/me")

    # The snapshot's schemas say "post" (note_post, referenced_posts, includes.posts) where the
    # live API and the request parameters say "tweet". The response schemas accept unknown
    # properties, so those parts are validated separately against the renamed components.
    ghost = fake.add_user("ghost")
    parent = fake.post_mention("ghost", author="alice", media=("video",))
    fake.post_mention(
        "brand", author="ghost", note_text="@brand " + "x" * 400, reply_to=parent["id"]
    )
    fake.delete_user(ghost["id"])
    fields = ["author_id", "conversation_id", "created_at", "entities", "in_reply_to_user_id"]
    mentions = brand_client.get_users_mentions(
        brand["id"],
        tweet_fields=[*fields, "lang", "note_tweet", "referenced_tweets", "attachments"],
        expansions=[
            "author_id",
            "referenced_tweets.id",
            "referenced_tweets.id.attachments.media_keys",
        ],
        user_fields=["description", "profile_image_url"],
        media_fields=["duration_ms", "variants", "preview_image_url"],
    )
    assert mentions["errors"] and mentions["includes"]["tweets"] and mentions["includes"]["media"]
    assert_response_shape(openapi, mentions, "/2/users/{id}/mentions")
    tweet = mentions["data"][0]
    assert_component_shape(openapi, tweet["note_tweet"], "PostNotePost")
    assert_component_shape(openapi, tweet["referenced_tweets"], "PostReferencedPosts")
    for included in mentions["includes"]["tweets"]:
        assert_component_shape(openapi, included, "Post")

    with pytest.raises(tweepy.BadRequest) as raised:
        brand_client.get_users_mentions(brand["id"], max_results=3)
    error = raised.value.response.json()
    assert_response_shape(
        openapi,
        error,
        "/2/users/{id}/mentions",
        status="default",
        media_type="application/problem+json",
    )

    added = rules_client.add_rules(tweepy.StreamRule("@brand", tag="mentions"))
    assert_response_shape(openapi, added, "/2/tweets/search/stream/rules", method="post")
    assert_response_shape(openapi, rules_client.get_rules(), "/2/tweets/search/stream/rules")
    deleted = rules_client.delete_rules(added["data"][0]["id"])
    assert_response_shape(openapi, deleted, "/2/tweets/search/stream/rules", method="post")
    rules_client.add_rules(tweepy.StreamRule("@brand", tag="mentions"))

    with open_stream(fake, http, "?tweet.fields=author_id,entities&expansions=author_id") as stream:
        fake.post_mention("brand", author="alice")
        (line,) = read_tweet_lines(stream.iter_lines(), 1)
    assert_response_shape(openapi, line, "/2/tweets/search/stream")


def test_either_spelling_of_post_fields_is_taken_and_answered_in_kind(
    openapi: Registry,
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    http: requests.Session,
) -> None:
    """X's OpenAPI says post.fields, note_post and referenced_posts; the live API and tweepy
    say tweet. The fake answers each in its own spelling."""
    parent = fake.post_mention("alice", author="brand", text="@alice hi")
    fake.post_mention(
        "brand", author="alice", note_text="@brand " + "x" * 300, reply_to=parent["id"]
    )
    auth = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}
    url = f"{fake.url}/2/users/{brand['id']}/mentions"
    as_spec = http.get(
        url,
        params={"post.fields": "note_post,referenced_posts", "expansions": "referenced_posts"},
        headers=auth,
    ).json()
    (post,) = as_spec["data"]
    assert set(post) == {"id", "text", "edit_history_post_ids", "note_post", "referenced_posts"}
    assert as_spec["includes"]["posts"][0]["id"] == parent["id"]
    assert_response_shape(openapi, as_spec, "/2/users/{id}/mentions")
    assert_component_shape(openapi, post["note_post"], "PostNotePost")
    live = http.get(
        url,
        params={
            "tweet.fields": "note_tweet,referenced_tweets",
            "expansions": "referenced_tweets.id",
        },
        headers=auth,
    ).json()
    assert set(live["data"][0]) == {
        "id",
        "text",
        "edit_history_tweet_ids",
        "note_tweet",
        "referenced_tweets",
    }
    assert live["includes"]["tweets"][0]["id"] == parent["id"]


def test_write_side_responses_match_the_openapi_description(
    openapi: Registry,
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    brand_client: Any,
    http: requests.Session,
) -> None:
    mention = fake.post_mention("brand", author="alice")
    auth = {"Authorization": f"Bearer {fake.issue_token(brand['id'])}"}
    created = http.post(
        f"{fake.url}/2/tweets",
        json={"text": "@alice thanks", "reply": {"in_reply_to_tweet_id": mention["id"]}},
        headers=auth,
    )
    assert created.status_code == 201
    assert_response_shape(openapi, created.json(), "/2/tweets", "post", "201")
    brand_client.create_tweet(text="second", in_reply_to_tweet_id=mention["id"], user_auth=False)
    assert_request_shape(openapi, json.loads(fake.calls[-1].body), "/2/tweets", "post")

    timeline = brand_client.get_users_tweets(
        brand["id"],
        max_results=5,
        tweet_fields=["created_at", "conversation_id", "in_reply_to_user_id", "referenced_tweets"],
        expansions=["referenced_tweets.id"],
    )
    assert timeline["includes"]["tweets"]
    assert_response_shape(openapi, timeline, "/2/users/{id}/tweets")
    assert_component_shape(openapi, timeline["data"][0]["referenced_tweets"], "PostReferencedPosts")

    retweeted = brand_client.retweet(mention["id"], user_auth=False)
    assert_response_shape(openapi, retweeted, "/2/users/{id}/retweets", "post")
    assert_request_shape(openapi, json.loads(fake.calls[-1].body), "/2/users/{id}/retweets", "post")
    retweeters = brand_client.get_retweeters(mention["id"], user_fields=["created_at"])
    assert_response_shape(openapi, retweeters, "/2/tweets/{id}/retweeted_by")
    undone = brand_client.unretweet(mention["id"], user_auth=False)
    assert_response_shape(openapi, undone, "/2/users/{id}/retweets/{source_tweet_id}", "delete")

    deleted = brand_client.delete_tweet(created.json()["data"]["id"], user_auth=False)
    assert_response_shape(openapi, deleted, "/2/tweets/{id}", "delete")

    sent = http.post(
        f"{fake.url}/2/dm_conversations/with/{alice['id']}/messages",
        json={"text": "hi"},
        headers=auth,
    )
    assert sent.status_code == 201
    messages = "/2/dm_conversations/with/{participant_id}/messages"
    assert_response_shape(openapi, sent.json(), messages, "post", "201")
    assert_request_shape(openapi, json.loads(fake.calls[-1].body), messages, "post")
    events = brand_client.get_direct_message_events(
        participant_id=alice["id"],
        dm_event_fields=["created_at", "dm_conversation_id"],
        expansions=["sender_id"],
        user_auth=False,
    )
    assert events["includes"]["users"]
    events_path = "/2/dm_conversations/with/{participant_id}/dm_events"
    assert_response_shape(openapi, events, events_path)

    # Typed problems (not found, invalid request) fit the snapshot's Problem union.
    with pytest.raises(tweepy.NotFound) as not_found:
        brand_client.delete_tweet("1", user_auth=False)
    problem = not_found.value.response.json()
    assert_response_shape(
        openapi, problem, "/2/tweets/{id}", "delete", "default", "application/problem+json"
    )
    invalid = http.post(f"{fake.url}/2/tweets", json={"text": ""}, headers=auth).json()
    assert_response_shape(
        openapi, invalid, "/2/tweets", "post", "default", "application/problem+json"
    )
    # X's refusals are `about:blank` problems (as from the live API), which the snapshot's
    # Problem union leaves out: only their RFC 7807 members can be checked.
    refused = http.post(f"{fake.url}/2/tweets", json={"text": "second"}, headers=auth).json()
    assert set(refused) == {"title", "type", "status", "detail"}
    assert refused["type"] == "about:blank" and refused["status"] == 403


# --- media uploads ---------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n"
GIF = b"GIF89a" + bytes(500)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def upload_image(
    fake: FakeX, token: str, data: bytes = PNG, category: str = "tweet_image"
) -> requests.Response:
    return requests.post(
        f"{fake.url}/2/media/upload",
        data={"media_category": category},
        files={"media": ("media", data, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def upload_video_chunks(
    fake: FakeX,
    token: str,
    data: bytes = MP4,
    *,
    chunk: int = 4000,
    total: int | None = None,
    media_type: str = "video/mp4",
    category: str = "tweet_video",
) -> str:
    """Initialize and append `data` in chunks; the media id (not finalized)."""
    auth = {"Authorization": f"Bearer {token}"}
    started = requests.post(
        f"{fake.url}/2/media/upload/initialize",
        json={
            "media_type": media_type,
            "total_bytes": len(data) if total is None else total,
            "media_category": category,
        },
        headers=auth,
        timeout=5,
    )
    assert started.status_code == 200, started.text
    media_id: str = started.json()["data"]["id"]
    for index, offset in enumerate(range(0, len(data), chunk)):
        appended = requests.post(
            f"{fake.url}/2/media/upload/{media_id}/append",
            data={"segment_index": str(index)},
            files={"media": ("media", data[offset : offset + chunk], "video/mp4")},
            headers=auth,
            timeout=5,
        )
        assert appended.status_code == 200, appended.text
    return media_id


def finalize(fake: FakeX, token: str, media_id: str) -> requests.Response:
    return requests.post(
        f"{fake.url}/2/media/upload/{media_id}/finalize",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def media_status(fake: FakeX, token: str, media_id: str) -> requests.Response:
    return requests.get(
        f"{fake.url}/2/media/upload",
        params={"media_id": media_id, "command": "STATUS"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def error_messages(response: requests.Response) -> list[str]:
    return [error["message"] for error in response.json().get("errors", [])]


def test_image_upload_then_a_post_carrying_it(
    fake: FakeX, brand: dict[str, Any], brand_client: Any
) -> None:
    token = fake.issue_token(brand["id"])
    uploaded = upload_image(fake, token)
    assert uploaded.status_code == 200
    data = uploaded.json()["data"]
    assert data["media_key"] == f"3_{data['id']}" and data["size"] == len(PNG)
    assert "processing_info" not in data
    (upload,) = fake.uploads_by("brand")
    assert (upload["id"], upload["type"], upload["state"]) == (data["id"], "photo", "succeeded")

    posted = brand_client.create_tweet(text="look", media_ids=[data["id"]], user_auth=False)
    sent = json.loads(fake.calls_to("/2/tweets", method="POST")[-1].body)
    assert sent["media"] == {"media_ids": [data["id"]]}
    (post,) = fake.posts_by("brand")
    assert (post["id"], post["media_ids"]) == (posted["data"]["id"], [data["id"]])

    timeline = brand_client.get_users_tweets(
        brand["id"],
        max_results=5,
        tweet_fields=["attachments"],
        expansions=["attachments.media_keys"],
        media_fields=["url"],
    )
    assert timeline["data"][0]["attachments"]["media_keys"] == [data["media_key"]]
    assert timeline["includes"]["media"][0]["type"] == "photo"

    # Media alone makes a post; JSON bodies carry the media base64-encoded.
    encoded = base64.b64encode(PNG).decode()
    again = requests.post(
        f"{fake.url}/2/media/upload",
        json={"media": encoded, "media_category": "tweet_image"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()["data"]
    brand_client.create_tweet(media_ids=[again["id"]], user_auth=False)
    assert fake.posts_by("brand")[0]["media_ids"] == [again["id"]]


def test_image_upload_refusals(fake: FakeX, brand: dict[str, Any]) -> None:
    token = fake.issue_token(brand["id"])
    fake.max_image_bytes = 1000
    too_big = upload_image(fake, token)
    assert too_big.status_code == 400
    assert error_messages(too_big) == ["File size exceeds 1000 bytes."]
    fake.max_image_bytes = 5 * 1024 * 1024

    not_an_image = upload_image(fake, token, b"%PDF-1.7 hello")
    assert error_messages(not_an_image) == ["media type unrecognized."]
    # X documents the one-request upload for images only: GIFs go chunked.
    assert upload_image(fake, token, GIF, "tweet_gif").status_code == 400
    assert upload_image(fake, token, MP4, "tweet_video").status_code == 400
    assert upload_image(fake, token, PNG, "poster").status_code == 400
    assert upload_image(fake, fake.app_bearer).status_code == 403
    assert upload_image(fake, "nobody").status_code == 401
    assert fake.uploads_by("brand") == []


def test_an_animated_gif_goes_up_chunked_and_is_processed_before_use(
    fake: FakeX, brand: dict[str, Any], brand_client: Any
) -> None:
    token = fake.issue_token(brand["id"])
    fake.video_polls = 1
    media_id = upload_video_chunks(fake, token, GIF, media_type="image/gif", category="tweet_gif")
    finalized = finalize(fake, token, media_id).json()["data"]
    assert finalized["processing_info"]["state"] == "pending"
    with pytest.raises(tweepy.BadRequest):  # not usable until processed
        brand_client.create_tweet(text="gif", media_ids=[media_id], user_auth=False)
    status = requests.get(
        f"{fake.url}/2/media/upload",
        params={"media_id": media_id, "command": "STATUS"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()["data"]
    assert status["processing_info"]["state"] == "succeeded"
    assert status["media_key"].startswith("16_")
    brand_client.create_tweet(text="gif", media_ids=[media_id], user_auth=False)

    not_a_gif = upload_video_chunks(fake, token, PNG, media_type="image/gif", category="tweet_gif")
    finalize(fake, token, not_a_gif)
    failed = requests.get(
        f"{fake.url}/2/media/upload",
        params={"media_id": not_a_gif, "command": "STATUS"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()["data"]
    assert failed["processing_info"]["state"] == "failed"


def test_chunked_video_processes_over_several_polls(
    fake: FakeX, brand: dict[str, Any], brand_client: Any
) -> None:
    token = fake.issue_token(brand["id"])
    fake.video_polls = 2
    fake.check_after_secs = 3
    media_id = upload_video_chunks(fake, token)
    assert len(fake.calls_to(f"/2/media/upload/{media_id}/append")) == 3

    finalized = finalize(fake, token, media_id)
    assert finalized.status_code == 200
    info = finalized.json()["data"]["processing_info"]
    assert (info["state"], info["check_after_secs"]) == ("pending", 3)
    assert finalized.json()["data"]["size"] == len(MP4)

    # Not yet processed: X refuses to attach it.
    with pytest.raises(tweepy.BadRequest) as refused:
        brand_client.create_tweet(text="clip", media_ids=[media_id], user_auth=False)
    assert refused.value.api_messages == ["Your media IDs are invalid."]

    states = [
        media_status(fake, token, media_id).json()["data"]["processing_info"]["state"]
        for _ in range(3)
    ]
    assert states == ["in_progress", "succeeded", "succeeded"]
    brand_client.create_tweet(text="clip", media_ids=[media_id], user_auth=False)
    assert fake.posts_by("brand")[0]["media_ids"] == [media_id]
    assert fake.uploads_by("brand")[0]["type"] == "video"

    fake.video_polls = 0
    at_once = finalize(fake, token, upload_video_chunks(fake, token)).json()["data"]
    assert at_once["processing_info"]["state"] == "succeeded"


def test_chunked_upload_checks_sizes_and_sessions(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any]
) -> None:
    token = fake.issue_token(brand["id"])
    auth = {"Authorization": f"Bearer {token}"}
    fake.max_video_bytes = len(MP4) - 1

    def initialize(**request: Any) -> requests.Response:
        body = {"media_type": "video/mp4", "total_bytes": 10, "media_category": "tweet_video"}
        return requests.post(
            f"{fake.url}/2/media/upload/initialize", json={**body, **request}, headers=auth
        )

    too_big = initialize(total_bytes=len(MP4))
    assert too_big.status_code == 400
    assert error_messages(too_big) == [f"File size exceeds {len(MP4) - 1} bytes."]
    assert initialize(media_type="video/avi").status_code == 400
    assert initialize(media_type="image/png").status_code == 400
    assert initialize(total_bytes=-1).status_code == 400
    assert initialize(duration=3).status_code == 400
    fake.max_video_bytes = 512 * 1024 * 1024

    short = upload_video_chunks(fake, token, total=len(MP4) + 1)
    mismatch = finalize(fake, token, short)
    assert error_messages(mismatch) == ["Segments do not add up to provided total file size."]

    media_id = upload_video_chunks(fake, token)
    alices = fake.issue_token(alice["id"])
    assert finalize(fake, alices, media_id).status_code == 400
    assert media_status(fake, alices, media_id).status_code == 400
    assert finalize(fake, token, media_id).status_code == 200
    assert finalize(fake, token, media_id).status_code == 400
    late = requests.post(
        f"{fake.url}/2/media/upload/{media_id}/append",
        data={"segment_index": "9"},
        files={"media": ("media", b"more", "video/mp4")},
        headers=auth,
    )
    assert late.status_code == 400
    bad_index = requests.post(
        f"{fake.url}/2/media/upload/{short}/append",
        data={"segment_index": "1000"},
        files={"media": ("media", b"x", "video/mp4")},
        headers=auth,
    )
    assert bad_index.status_code == 400
    assert media_status(fake, token, "123").status_code == 400


def test_video_processing_can_fail(fake: FakeX, brand: dict[str, Any], brand_client: Any) -> None:
    token = fake.issue_token(brand["id"])
    fake.video_polls = 1
    fake.fail_processing(error={"code": 3, "name": "InvalidMedia", "message": "Too long."})
    media_id = upload_video_chunks(fake, token)
    assert finalize(fake, token, media_id).json()["data"]["processing_info"]["state"] == "pending"
    info = media_status(fake, token, media_id).json()["data"]["processing_info"]
    assert info["state"] == "failed"
    assert info["error"] == {"code": 3, "name": "InvalidMedia", "message": "Too long."}
    with pytest.raises(tweepy.BadRequest):
        brand_client.create_tweet(text="clip", media_ids=[media_id], user_auth=False)

    # Bytes that are no MP4 or MOV fail processing on their own.
    garbage = upload_video_chunks(fake, token, b"not a video at all")
    finalize(fake, token, garbage)
    info = media_status(fake, token, garbage).json()["data"]["processing_info"]
    assert (info["state"], info["error"]["name"]) == ("failed", "InvalidMedia")
    assert [upload["state"] for upload in fake.uploads_by("brand")] == ["failed", "failed"]


def test_posts_attach_only_own_finished_media_that_fit_one_post(
    fake: FakeX, brand: dict[str, Any], alice: dict[str, Any], brand_client: Any
) -> None:
    token = fake.issue_token(brand["id"])
    fake.video_polls = 0
    images = [upload_image(fake, token).json()["data"]["id"] for _ in range(5)]
    video = upload_video_chunks(fake, token)
    finalize(fake, token, video)
    alices = upload_image(fake, fake.issue_token(alice["id"])).json()["data"]["id"]

    for media_ids in ([alices], ["1234"], images, [images[0], video], [video, video]):
        with pytest.raises(tweepy.BadRequest):
            brand_client.create_tweet(text=f"try {media_ids}", media_ids=media_ids, user_auth=False)
    assert fake.posts_by("brand") == []

    brand_client.create_tweet(text="four", media_ids=images[:4], user_auth=False)
    brand_client.create_tweet(text="the clip", media_ids=[video], user_auth=False)
    assert [post["media_ids"] for post in fake.posts_by("brand")] == [[video], images[:4]]


def test_media_control_endpoint(fake: FakeX, brand: dict[str, Any], http: requests.Session) -> None:
    answer = http.post(
        f"{fake.url}/_control/media",
        json={"video_polls": 0, "max_video_bytes": 10, "fail_processing": 1},
    )
    assert answer.json() == {"ok": True}
    assert (fake.video_polls, fake.max_video_bytes) == (0, 10)
    fake.max_video_bytes = 10_000_000
    token = fake.issue_token(brand["id"])
    media_id = upload_video_chunks(fake, token)
    assert finalize(fake, token, media_id).json()["data"]["processing_info"]["state"] == "failed"
    assert http.get(f"{fake.url}/_control/state").json()["uploads"] == 1


def test_media_shapes_match_the_openapi_description(
    openapi: Registry, fake: FakeX, brand: dict[str, Any]
) -> None:
    token = fake.issue_token(brand["id"])
    fake.video_polls = 1
    image = upload_image(fake, token).json()
    assert_response_shape(openapi, image, "/2/media/upload", "post")

    media_id = upload_video_chunks(fake, token)
    initialize_call = fake.calls_to("/2/media/upload/initialize")[-1]
    assert_request_shape(
        openapi, json.loads(initialize_call.body), "/2/media/upload/initialize", "post"
    )
    appended = requests.post(
        f"{fake.url}/2/media/upload/{media_id}/append",
        data={"segment_index": "3"},  # an empty last segment: the total still adds up
        files={"media": ("media", b"", "video/mp4")},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert_response_shape(openapi, appended, "/2/media/upload/{id}/append", "post")
    finalized = finalize(fake, token, media_id).json()
    assert_response_shape(openapi, finalized, "/2/media/upload/{id}/finalize", "post")
    status = media_status(fake, token, media_id).json()
    assert status["data"]["processing_info"]["state"] == "succeeded"
    assert_response_shape(openapi, status, "/2/media/upload")

    started = requests.post(
        f"{fake.url}/2/media/upload/initialize",
        json={"media_type": "video/mp4", "total_bytes": 1, "media_category": "tweet_video"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert_response_shape(openapi, started, "/2/media/upload/initialize", "post")

    post = {"text": "clip", "media": {"media_ids": [media_id]}}
    assert_request_shape(openapi, post, "/2/tweets", "post")
    refused = requests.post(
        f"{fake.url}/2/tweets",
        json={"text": "x", "media": {"media_ids": ["1"]}},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert_response_shape(
        openapi, refused, "/2/tweets", "post", "default", "application/problem+json"
    )


def test_a_post_is_looked_up_by_its_id_as_x_serves_it(
    openapi: Registry,
    fake: FakeX,
    brand: dict[str, Any],
    alice: dict[str, Any],
    brand_client: Any,
    http: requests.Session,
) -> None:
    asked = fake.post_mention("brand", author="alice", text="@brand a < b", media=("photo",))
    found = brand_client.get_tweet(
        asked["id"],
        tweet_fields=["author_id", "created_at", "conversation_id", "attachments"],
        expansions=["author_id", "attachments.media_keys"],
        media_fields=["url"],
    )
    assert_response_shape(openapi, found, "/2/tweets/{id}")
    assert found["data"]["id"] == asked["id"] and found["data"]["text"] == x_escaped("@brand a < b")
    assert found["includes"]["users"][0]["username"] == "alice"
    assert found["includes"]["media"][0]["type"] == "photo"
    # Billed as a read of the post and one of its author; limited as X limits the lookup.
    assert fake.spend_by_kind("brand") == pytest.approx({"post read": 0.005, "user read": 0.01})
    answer = http.get(
        f"{fake.url}/2/tweets/{asked['id']}",
        headers={"Authorization": f"Bearer {fake.issue_token(brand['id'])}"},
    )
    assert answer.status_code == 200 and answer.headers["x-rate-limit-limit"] == "900"

    fake.delete_tweet(asked["id"])
    gone = brand_client.get_tweet(asked["id"])
    assert_response_shape(openapi, gone, "/2/tweets/{id}")
    assert "data" not in gone and gone["errors"][0]["resource_type"] == "tweet"

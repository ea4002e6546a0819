"""The Bluesky adapter through the real atproto SDK, against the fake Bluesky over loopback."""

from __future__ import annotations

import socket
import time
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.errors import (
    Forbidden,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    RecipientClosed,
    TokenRevoked,
    TooLong,
    Unavailable,
)
from bot.networks.base import Attachment, Author, Network, Write
from bot.networks.bluesky import BlueskyNetwork, connect, length
from sandbox.bluesky_api import FakeBluesky

BRAND = "brand.bsky.social"
ALICE = "alice.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one grapheme, 25 bytes


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky() as fake:
        fake.add_account(BRAND, PASSWORD, display_name="Brand")
        fake.add_account(ALICE, "alice-pass", display_name="Alice")
        yield fake


@pytest.fixture
def sessions() -> list[str]:
    return []


@pytest.fixture
def opened() -> Iterator[list[BlueskyNetwork]]:
    """Networks a test made, closed after it (their HTTP clients hold connections)."""
    networks: list[BlueskyNetwork] = []
    yield networks
    for network in networks:
        network.close()


@pytest.fixture
def net(fake: FakeBluesky, sessions: list[str], opened: list[BlueskyNetwork]) -> BlueskyNetwork:
    network, session = connect(fake.url, BRAND, PASSWORD, on_session=sessions.append)
    opened.append(network)
    assert sessions == [session]
    return network


def test_it_is_a_network(net: BlueskyNetwork) -> None:
    network: Network = net
    assert (network.name, network.label) == ("bluesky", "Bluesky")
    assert net.capabilities.dm and net.capabilities.media == 4
    assert net.limits().max_length == 300 and net.limits().unit == "graphemes"


def test_me_is_the_account(fake: FakeBluesky, net: BlueskyNetwork) -> None:
    assert net.me() == Author(ref=fake.did(BRAND), handle=BRAND, name="Brand")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("안녕하세요", 5),
        (unicodedata.normalize("NFD", "한국"), 2),  # jamo sequences are one cluster each
        (FAMILY, 1),
        ("\U0001f1f0\U0001f1f7", 1),  # a flag: two regional indicators
        ("e\u0301", 1),  # e and a combining acute
        ("\U0001f44d\U0001f3fd", 1),  # a thumbs-up with a skin tone
    ],
)
def test_length_counts_graphemes(text: str, expected: int) -> None:
    assert length(text) == expected


def test_a_post_past_300_graphemes_is_refused_before_sending(
    fake: FakeBluesky, net: BlueskyNetwork
) -> None:
    with pytest.raises(TooLong):
        net.post("가" * 301)
    net.post("가" * 300)
    with pytest.raises(TooLong, match="3,000 bytes"):
        net.post(FAMILY * 121)  # 121 graphemes, 3,025 bytes
    assert len(fake.calls_to("com.atproto.repo.createRecord")) == 1


def test_bluesky_refusing_a_post_as_too_long_is_too_long(
    fake: FakeBluesky, net: BlueskyNetwork
) -> None:
    body = {
        "error": "InvalidRequest",
        "message": "Invalid app.bsky.feed.post record: "
        "Record/text must not be longer than 300 graphemes",
    }
    fake.fail("/xrpc/com.atproto.repo.createRecord", 400, body=body)
    with pytest.raises(TooLong):
        net.post("short here, long there")


def test_mentions_newest_page_then_from_the_cursor_oldest_first(
    fake: FakeBluesky, net: BlueskyNetwork
) -> None:
    for n in range(105):
        fake.post_mention(ALICE, f"@{BRAND} old {n}")
    first = net.mentions(None)
    assert len(first.posts) == 100  # the newest page only, never the whole history
    assert first.posts[-1].text == f"@{BRAND} old 104"
    assert first.posts[0].text == f"@{BRAND} old 5"

    fake.like(ALICE, fake.post(BRAND, "our news")["uri"])  # not a mention
    for n in range(130):
        fake.post_mention(ALICE, f"@{BRAND} new {n}")
    second = net.mentions(first.cursor)
    assert [post.text for post in second.posts] == [f"@{BRAND} new {n}" for n in range(130)]
    assert net.mentions(second.cursor) == type(second)(posts=[], cursor=second.cursor)


def test_a_first_read_goes_back_to_when_the_account_was_added_page_by_page(
    fake: FakeBluesky, net: BlueskyNetwork
) -> None:
    fake.post_mention(ALICE, f"@{BRAND} before Roost")
    added = datetime.now(UTC)
    time.sleep(0.002)  # Bluesky's times are in milliseconds
    for n in range(130):
        fake.post_mention(ALICE, f"@{BRAND} since {n}")
    pages: list[int] = []
    page = net.mentions(None, since=added, before_page=lambda: pages.append(1))
    assert [post.text for post in page.posts] == [f"@{BRAND} since {n}" for n in range(130)]
    assert len(pages) == 2
    assert page.cursor is not None
    fake.post_mention(ALICE, f"@{BRAND} later")
    later = net.mentions(page.cursor)
    assert later.cursor is not None and net.after(later.cursor, page.cursor)
    assert not net.after(page.cursor, later.cursor)

    class Stop(Exception):
        pass

    def stop() -> None:
        raise Stop

    with pytest.raises(Stop):  # what `before_page` raises ends the read, before any page
        net.mentions(page.cursor, before_page=stop)


def test_a_mention_becomes_a_post(fake: FakeBluesky, net: BlueskyNetwork) -> None:
    made = fake.post_mention(ALICE, f"@{BRAND} 사진 봐주세요", langs=["ko"], images=2)
    [post] = net.mentions(None).posts
    rkey = made["uri"].rsplit("/", 1)[-1]
    assert post.ref == made["uri"]
    assert post.author == Author(fake.did(ALICE), ALICE, "Alice")
    assert post.url == f"https://bsky.app/profile/{ALICE}/post/{rkey}"
    assert post.lang == "ko" and post.summons and post.root_ref is None
    assert [media.kind for media in post.media] == ["photo", "photo"]
    assert post.media[0].alt == "image 1"
    assert post.created_at.tzinfo is not None


def test_replies_and_quotes_carry_their_thread(fake: FakeBluesky, net: BlueskyNetwork) -> None:
    ours = net.post("Our launch is today")
    answer = fake.post(ALICE, "congrats", reply_to=ours.ref)
    deeper = fake.post(ALICE, "and more", reply_to=answer["uri"])
    quote = fake.post(ALICE, "look at this", quote_of=ours.ref)
    posts = {post.ref: post for post in net.mentions(None).posts}
    assert posts[answer["uri"]].root_ref == ours.ref
    assert posts[answer["uri"]].parent_ref == ours.ref and posts[answer["uri"]].summons
    # A reply further down the thread reaches the account (its root) without naming it.
    assert posts[deeper["uri"]].parent_ref == answer["uri"]
    assert not posts[deeper["uri"]].summons
    assert posts[quote["uri"]].summons


def test_reply_threads_under_the_root_with_mention_and_link_facets(
    fake: FakeBluesky, net: BlueskyNetwork
) -> None:
    root = fake.post(ALICE, f"@{BRAND} my order?")
    parent = fake.post(ALICE, "still waiting", reply_to=root["uri"], langs=["ko"])
    text = f"안녕하세요 😀 @{ALICE} 여기 보세요 https://example.com/주문?id=1 감사합니다"
    reply = net.reply(parent["uri"], text)
    record = fake.record(reply.ref)
    assert record is not None
    assert record["reply"]["root"] == {
        "uri": root["uri"],
        "cid": root["cid"],
        "$type": "com.atproto.repo.strongRef",
    }
    assert record["reply"]["parent"]["uri"] == parent["uri"]
    assert record["langs"] == ["ko"] and reply.lang == "ko"
    assert (reply.root_ref, reply.parent_ref) == (root["uri"], parent["uri"])
    encoded = text.encode()
    spans = {
        feature["$type"]: encoded[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode()
        for facet in record["facets"]
        for feature in facet["features"]
    }
    assert spans == {
        "app.bsky.richtext.facet#mention": f"@{ALICE}",
        "app.bsky.richtext.facet#link": "https://example.com/주문?id=1",
    }
    mention = record["facets"][0]["features"][0]
    assert mention["did"] == fake.did(ALICE)


def test_post_with_images_and_alt_text(fake: FakeBluesky, net: BlueskyNetwork) -> None:
    image = net.upload(Attachment(PNG, "image/png", "A bowl of bibimbap"))
    made = net.post("New menu", media=[image] * 2)
    record = fake.record(made.ref)
    assert record is not None
    images = record["embed"]["images"]
    assert [image["alt"] for image in images] == ["A bowl of bibimbap"] * 2
    assert images[0]["image"]["mimeType"] == "image/png"
    assert made.url == f"https://bsky.app/profile/{BRAND}/post/{made.ref.rsplit('/', 1)[-1]}"
    assert net.lookup(made.ref).media[0].alt == "A bowl of bibimbap"


def test_only_images_go_up(net: BlueskyNetwork) -> None:
    with pytest.raises(Forbidden, match="Bluesky takes images only"):
        net.upload(Attachment(b"\x00\x00\x00\x18ftypmp42", "video/mp4"))


def test_lookup_and_a_deleted_post(fake: FakeBluesky, net: BlueskyNetwork) -> None:
    made = fake.post(ALICE, "hello there")
    found = net.lookup(made["uri"])
    assert (found.text, found.author.handle) == ("hello there", ALICE)
    fake.delete(made["uri"])
    with pytest.raises(NotFound):
        net.lookup(made["uri"])
    with pytest.raises(NotFound):
        net.reply(made["uri"], "too late")


def test_repost_once_and_undo(fake: FakeBluesky, net: BlueskyNetwork) -> None:
    made = fake.post(ALICE, "worth sharing")
    first = net.repost(made["uri"])
    assert net.repost(made["uri"]) == first
    assert [record["uri"] for record in fake.reposts_by(BRAND)] == [first]
    net.undo_repost(made["uri"])
    assert fake.reposts_by(BRAND) == []
    net.undo_repost(made["uri"])  # nothing to take back


def test_undo_repost_of_a_deleted_post_finds_the_repost_record(
    fake: FakeBluesky, net: BlueskyNetwork
) -> None:
    made = fake.post(ALICE, "soon gone")
    net.repost(made["uri"])
    fake.delete(made["uri"])
    net.undo_repost(made["uri"])
    assert fake.reposts_by(BRAND) == []


def test_dm_through_the_chat_proxy(fake: FakeBluesky, net: BlueskyNetwork) -> None:
    alice = Author(fake.did(ALICE), ALICE)
    message_id = net.dm(alice, "주문 번호를 알려주시겠어요?")
    [sent] = fake.dms(ALICE)
    assert sent["id"] == message_id and sent["to"] == [alice.ref]
    calls = fake.calls_to("chat.bsky.convo.sendMessage")
    assert calls[0].headers.get("atproto-proxy") == "did:web:api.bsky.chat#bsky_chat"
    net.dm(Author("", ALICE), "by handle")  # resolved to the DID
    assert len(fake.dms(ALICE)) == 2


def test_dm_to_someone_who_takes_none_is_recipient_closed(
    fake: FakeBluesky, net: BlueskyNetwork
) -> None:
    fake.close_dms(ALICE)
    with pytest.raises(RecipientClosed):
        net.dm(Author(fake.did(ALICE), ALICE), "hello")
    fake.close_dms(ALICE, "following")
    with pytest.raises(RecipientClosed):
        net.dm(Author(fake.did(ALICE), ALICE), "hello")
    fake.follow(ALICE, BRAND)
    net.dm(Author(fake.did(ALICE), ALICE), "hello")


def test_find_sent_settles_a_lost_answer(fake: FakeBluesky, net: BlueskyNetwork) -> None:
    parent = fake.post(ALICE, f"@{BRAND} help")
    since = datetime.now(UTC) - timedelta(seconds=1)
    fake.lose_answer("/xrpc/com.atproto.repo.createRecord")
    with pytest.raises(OutcomeUnknown):
        net.reply(parent["uri"], "We are on it")
    reply = Write("reply", "We are on it", parent_ref=parent["uri"])
    found = net.find_sent(reply, since=since, exclude=frozenset())
    assert found.made is True and found.ref is not None and found.url is not None
    assert net.find_sent(reply, since=since, exclude=frozenset({found.ref})).made is False
    elsewhere = Write("reply", "We are on it", parent_ref="at://elsewhere")
    assert net.find_sent(elsewhere, since=since, exclude=frozenset()).made is False
    # Not the reply when a post is looked for, nor another text, nor one made before.
    assert (
        net.find_sent(Write("post", "We are on it"), since=since, exclude=frozenset()).made is False
    )
    assert (
        net.find_sent(Write("post", "never said"), since=since, exclude=frozenset()).made is False
    )
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert net.find_sent(reply, since=later, exclude=frozenset()).made is False
    # Nothing tells a repost or a chat message from an earlier one.
    repost = Write("retweet", target_ref=parent["uri"])
    assert net.find_sent(repost, since=since, exclude=frozenset()).made is None


def test_a_5xx_on_a_write_is_outcome_unknown_on_a_read_unavailable(
    fake: FakeBluesky, net: BlueskyNetwork
) -> None:
    fake.fail("/xrpc/com.atproto.repo.createRecord", 500)
    with pytest.raises(OutcomeUnknown):
        net.post("hello")
    fake.fail("/xrpc/app.bsky.notification.listNotifications", 503)
    with pytest.raises(Unavailable) as raised:
        net.mentions(None)
    assert not isinstance(raised.value, OutcomeUnknown)


def test_a_timeout_on_a_write_is_outcome_unknown(
    fake: FakeBluesky, opened: list[BlueskyNetwork]
) -> None:
    net = BlueskyNetwork(
        fake.url, handle=BRAND, app_password=PASSWORD, timeout=httpx.Timeout(0.5, connect=5.0)
    )
    opened.append(net)
    net.me()
    fake.slow("/xrpc/com.atproto.repo.createRecord", 2.0)
    with pytest.raises(OutcomeUnknown):
        net.post("slowly")
    assert [post["value"]["text"] for post in fake.posts_by(BRAND)] == ["slowly"]


def test_a_refused_connection_is_unavailable(
    net: BlueskyNetwork, opened: list[BlueskyNetwork]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The saved session names its PDS: here one where nothing listens.
    session = net.session_string.rsplit(":::", 1)[0] + f":::http://127.0.0.1:{port}"
    dead = BlueskyNetwork(f"http://127.0.0.1:{port}", session=session)
    opened.append(dead)
    with pytest.raises(Unavailable) as raised:
        dead.post("hello")
    assert not isinstance(raised.value, OutcomeUnknown)


def test_an_expired_access_token_is_refreshed_once(
    fake: FakeBluesky, net: BlueskyNetwork, sessions: list[str], opened: list[BlueskyNetwork]
) -> None:
    fake.post_mention(ALICE, f"@{BRAND} hi")
    fake.expire_access(BRAND)
    assert len(net.mentions(None).posts) == 1
    assert len(fake.calls_to("com.atproto.server.refreshSession")) == 1
    assert len(sessions) == 2 and sessions[1] != sessions[0]

    # A process that kept the stored session string goes on from it.
    again = BlueskyNetwork(fake.url, session=sessions[-1])
    opened.append(again)
    assert again.me().handle == BRAND


def test_a_short_lived_token_is_refreshed_by_the_sdk_and_stored(
    fake: FakeBluesky, sessions: list[str], opened: list[BlueskyNetwork]
) -> None:
    fake.access_seconds = 60  # the SDK refreshes 15 minutes before exp: at once
    net, _ = connect(fake.url, BRAND, PASSWORD, on_session=sessions.append)
    opened.append(net)
    net.post("hello")
    assert len(sessions) >= 2
    assert fake.calls_to("com.atproto.server.refreshSession")


def test_a_revoked_app_password_is_token_revoked(
    fake: FakeBluesky, net: BlueskyNetwork, opened: list[BlueskyNetwork]
) -> None:
    fake.revoke(BRAND)
    with pytest.raises(TokenRevoked, match="app password"):
        net.post("hello")
    again = BlueskyNetwork(fake.url, handle=BRAND, app_password=PASSWORD)
    opened.append(again)
    with pytest.raises(TokenRevoked):
        again.me()


def test_a_429_is_rate_limited_until_the_reset(fake: FakeBluesky, net: BlueskyNetwork) -> None:
    fake.set_rate_limit("writes-hour", 3)  # one post: 3 points
    net.post("first")
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as raised:
        net.post("second")
    assert raised.value.window == "hourly"
    assert (
        before + timedelta(minutes=59)
        < raised.value.reset_at
        <= before + timedelta(hours=1, seconds=2)
    )
    assert [post["value"]["text"] for post in fake.posts_by(BRAND)] == ["first"]


def test_post_url(net: BlueskyNetwork) -> None:
    ref = "at://did:plc:abc/app.bsky.feed.post/3k2la3b4c5d6e"
    assert net.post_url(ALICE, ref) == f"https://bsky.app/profile/{ALICE}/post/3k2la3b4c5d6e"

"""The Mastodon adapter through the real Mastodon.py against the fake instance on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from mastodon import Mastodon

from bot.errors import (
    NetworkError,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    TokenRevoked,
    TooLong,
    Unavailable,
)
from bot.networks.base import Attachment, Author, Found, MentionPage, Network, Write
from bot.networks.mastodon import (
    MENTIONS_PAGE_SIZE,
    MastodonNetwork,
    connect,
    forget_instances,
    plain_text,
    status_length,
)
from sandbox.mastodon_api import FakeMastodon
from sandbox.mastodon_api import status_length as instance_length

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ALICE = "alice@example.org"


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    forget_instances()
    server = FakeMastodon().start()
    yield server
    server.stop()


@pytest.fixture
def token(fake: FakeMastodon) -> str:
    return fake.add_account("brand")[1]


@pytest.fixture
def network(fake: FakeMastodon, token: str) -> MastodonNetwork:
    return connect(fake.url, token, timeout=(2.0, 5.0))


def local_client(fake: FakeMastodon, username: str) -> Mastodon:
    """Mastodon.py signed in as another local account, for what people elsewhere do."""
    return Mastodon(
        api_base_url=fake.url,
        access_token=fake.add_account(username)[1],
        ratelimit_method="throw",
        request_timeout=5,
    )


def refused_url() -> str:
    """A loopback address where nothing listens: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- the account and its instance --------------------------------------------------------------


def test_connect_checks_the_token_and_reads_the_instance(fake: FakeMastodon, token: str) -> None:
    fake.max_media_attachments = 2
    network: Network = connect(fake.url, token)
    me = network.me()
    assert me.handle == f"brand@{fake.domain}"
    assert me.ref == fake.account_id("brand")
    assert (network.name, network.label) == ("mastodon", "Mastodon")
    assert network.capabilities.dm and network.capabilities.repost
    assert network.capabilities.dm_word == "direct message"
    assert network.capabilities.media == 2


def test_connect_refuses_a_revoked_token(fake: FakeMastodon, token: str) -> None:
    fake.revoke(token)
    with pytest.raises(TokenRevoked, match="Reconnect the account with a new one"):
        connect(fake.url, token)
    with pytest.raises(TokenRevoked):
        connect(fake.url, "never-issued")


def test_limits_are_the_instances_own_and_read_once(fake: FakeMastodon, token: str) -> None:
    fake.max_characters = 1000
    network = connect(fake.url, token)
    limits = network.limits()
    assert (limits.max_length, limits.unit) == (1000, "characters")
    assert limits.extra["characters_reserved_per_url"] == 23
    other = MastodonNetwork(fake.url, fake.add_account("second")[1])
    assert other.limits().max_length == 1000
    assert len(fake.calls_to("/api/v2/instance")) == 1


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "see https://example.com/" + "long/" * 40,
        f"@{ALICE} thanks!",
        "@brand and @carol@social.example.net, 안녕하세요",
        "👩‍👩‍👧‍👦 family, 🇰🇷 flag, é composed",
        "mail me@example.org or visit example.com",
        "https://a.example.com/x?y=1. and http://b.example.org/(z)",
        "   ",
    ],
)
def test_length_counts_as_the_instance_does(text: str) -> None:
    assert status_length(text) == instance_length(text)


def test_length_counts_urls_as_23_and_remote_mentions_short(network: MastodonNetwork) -> None:
    assert network.length("https://example.com/" + "a" * 300) == 23
    assert network.length(f"@{ALICE} hi") == len("@alice hi")
    assert network.length("👍🏽") == 1


def test_the_instance_takes_what_length_allows(
    fake: FakeMastodon, network: MastodonNetwork
) -> None:
    fake.max_characters = 1000
    forget_instances()
    limit = network.limits().max_length
    url = "https://example.com/" + "x" * 200
    text = f"@{ALICE} {url} " + "가" * (limit - network.length(f"@{ALICE} {url} "))
    assert network.length(text) == limit == 1000
    assert network.post(text).ref
    with pytest.raises(TooLong, match="character limit of 1000"):
        network.post(text + "!")


def test_post_url(fake: FakeMastodon, network: MastodonNetwork) -> None:
    assert network.post_url(ALICE, "123") == f"{fake.url}/@{ALICE}/123"
    assert network.post_url(f"brand@{fake.domain}", "9") == f"{fake.url}/@brand/9"


# --- mentions ----------------------------------------------------------------------------------


def test_mentions_become_posts(fake: FakeMastodon, network: MastodonNetwork) -> None:
    fake.add_remote(ALICE, display_name="Alice")
    status = fake.post_mention(
        ALICE,
        "Tom & Jerry <3\nsee https://example.com/a/very/long/path/indeed/yes\n\nnext",
        visibility="unlisted",
        language="ko",
    )
    page = network.mentions(None)
    [post] = page.posts
    assert post.ref == status["id"]
    assert post.author.handle == ALICE and post.author.name == "Alice"
    assert post.author.ref == fake.account_id(ALICE)
    assert post.text == (
        "@brand Tom & Jerry <3\nsee https://example.com/a/very/long/path/indeed/yes\n\nnext"
    )
    assert post.url == f"https://example.org/@alice/{status['id']}"
    assert (post.lang, post.visibility, post.summons) == ("ko", "unlisted", True)
    assert post.parent_ref is None and post.root_ref is None
    assert post.created_at.tzinfo is not None
    assert page.cursor == fake.notifications_of("brand")[-1]["id"]


def test_mentions_read_on_from_the_cursor_oldest_first(
    fake: FakeMastodon, network: MastodonNetwork
) -> None:
    assert network.mentions(None) == MentionPage(posts=[], cursor=None)
    fake.post_mention(ALICE, "first")
    cursor = network.mentions(None).cursor
    assert cursor is not None
    assert network.mentions(cursor).posts == []
    assert network.mentions(cursor).cursor == cursor
    for n in range(MENTIONS_PAGE_SIZE + 5):
        fake.post_mention(ALICE, f"number {n}")
    calls_before = len(fake.calls_to("/api/v1/notifications"))
    page = network.mentions(cursor)
    assert [post.text for post in page.posts] == [
        f"@brand number {n}" for n in range(MENTIONS_PAGE_SIZE + 5)
    ]
    assert page.cursor == fake.notifications_of("brand")[-1]["id"]
    reads = fake.calls_to("/api/v1/notifications")[calls_before:]
    assert [call.first("min_id") for call in reads][0] == cursor
    assert len(reads) == 2
    assert reads[0].query["types[]"] == ["mention"]
    # Without a cursor: the newest page only, never the whole history.
    newest = network.mentions(None)
    assert len(newest.posts) == MENTIONS_PAGE_SIZE
    assert newest.posts[-1].text == f"@brand number {MENTIONS_PAGE_SIZE + 4}"


def test_a_first_read_goes_back_to_when_the_account_was_added_page_by_page(
    fake: FakeMastodon, network: MastodonNetwork
) -> None:
    fake.post_mention(ALICE, "before Roost")
    added = datetime.now(UTC)
    time.sleep(0.002)  # Mastodon's times are in milliseconds
    for n in range(MENTIONS_PAGE_SIZE + 5):
        fake.post_mention(ALICE, f"since {n}")
    pages: list[int] = []
    page = network.mentions(None, since=added, before_page=lambda: pages.append(1))
    assert [post.text for post in page.posts] == [
        f"@brand since {n}" for n in range(MENTIONS_PAGE_SIZE + 5)
    ]
    assert len(pages) == 2 and page.cursor is not None
    assert network.after(page.cursor, "9") and not network.after("9", page.cursor)

    def stop() -> None:
        raise LookupError("the lease is gone")

    calls = len(fake.calls_to("/api/v1/notifications"))
    with pytest.raises(LookupError):  # what `before_page` raises ends the read
        network.mentions(page.cursor, before_page=stop)
    assert len(fake.calls_to("/api/v1/notifications")) == calls


def test_mentions_skip_other_notifications_and_keep_replies_and_media(
    fake: FakeMastodon, network: MastodonNetwork
) -> None:
    alice = local_client(fake, "alice")
    own = network.post("our news")
    alice.status_reblog(own.ref)
    alice.retrieve_mastodon_version()
    image = alice.media_post(PNG, mime_type="image/png", description="a cat")
    answer = alice.status_post("@brand look", in_reply_to_id=own.ref, media_ids=[image])
    [post] = network.mentions(None).posts
    assert post.ref == str(answer.id)
    assert post.parent_ref == own.ref and post.root_ref is None
    [media] = post.media
    assert (media.kind, media.alt) == ("photo", "a cat")
    assert media.url.startswith(fake.url)


def test_direct_mention_keeps_its_visibility(fake: FakeMastodon, network: MastodonNetwork) -> None:
    fake.post_mention(ALICE, "just between us", visibility="direct")
    [post] = network.mentions(None).posts
    assert post.visibility == "direct"


# --- lookup and find_sent ----------------------------------------------------------------------


def test_lookup_finds_the_thread_root(fake: FakeMastodon, network: MastodonNetwork) -> None:
    root = fake.post_status(ALICE, "a thread")
    middle = fake.post_status(ALICE, "goes on", in_reply_to=root["id"])
    last = fake.post_mention(ALICE, "and asks", in_reply_to=middle["id"])
    post = network.lookup(last["id"])
    assert (post.root_ref, post.parent_ref, post.summons) == (root["id"], middle["id"], True)
    first = network.lookup(root["id"])
    assert (first.root_ref, first.parent_ref, first.summons) == (None, None, False)
    fake.delete_status(last["id"])
    with pytest.raises(NotFound):
        network.lookup(last["id"])


def test_find_sent_settles_a_post(fake: FakeMastodon, network: MastodonNetwork) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    mention = fake.post_mention(ALICE, "question")
    network.post("an unrelated post")
    reply = network.reply(mention["id"], "Thanks for asking & see https://example.com/faq")
    post = network.post("hello @carol@elsewhere.example\nsecond line")

    def found(
        write: Write, since: datetime = since, exclude: frozenset[str] = frozenset()
    ) -> Found:
        return network.find_sent(write, since=since, exclude=exclude)

    assert found(Write("post", "hello @carol@elsewhere.example second line")) == Found(
        True, post.ref, post.url
    )
    answer = "Thanks for asking & see https://example.com/faq"
    assert found(Write("reply", answer, parent_ref=mention["id"])).ref == reply.ref
    # Not the reply when asked for a post, not before `since`, not another text, not one
    # another write made.
    assert found(Write("post", answer)).made is False
    assert (
        found(Write("post", "an unrelated post"), since=datetime.now(UTC) + timedelta(1)).made
        is False
    )
    assert found(Write("post", "never said")).made is False
    assert (
        found(Write("reply", answer, parent_ref=mention["id"]), exclude=frozenset({reply.ref})).made
        is False
    )
    # A boost cannot be told from an earlier one.
    assert found(Write("retweet", target_ref=mention["id"])).made is None


# --- writes ------------------------------------------------------------------------------------


def test_post_with_images_and_alt_text(fake: FakeMastodon, network: MastodonNetwork) -> None:
    images = [
        network.upload(Attachment(PNG, "image/png", alt="the roof at dawn")),
        network.upload(Attachment(PNG, "image/png")),
    ]
    post = network.post("two pictures", media=images)
    assert post.visibility == "public"
    assert [(m.kind, m.alt) for m in post.media] == [("photo", "the roof at dawn"), ("photo", None)]
    assert [m["description"] for m in fake.media_of("brand")] == ["the roof at dawn", None]
    assert fake.calls_to("/api/v2/media", "POST")
    assert not fake.calls_to("/api/v1/media", "POST")


def test_gif_waits_for_processing(fake: FakeMastodon, network: MastodonNetwork) -> None:
    gif = network.upload(Attachment(b"GIF89a" + b"\x00" * 8, "image/gif"))
    post = network.post("moving", media=[gif])
    assert [m.kind for m in post.media] == ["animated_gif"]
    assert fake.calls_to("/api/v1/media/", "GET")


def test_key_drops_a_repeat(fake: FakeMastodon, network: MastodonNetwork) -> None:
    first = network.post("only once", key="roost-outbound-7")
    again = network.post("only once", key="roost-outbound-7")
    assert again.ref == first.ref
    assert len(fake.statuses_by("brand")) == 1
    assert network.post("only once", key="roost-outbound-8").ref != first.ref


def test_reply_names_the_person_and_keeps_the_visibility(
    fake: FakeMastodon, network: MastodonNetwork
) -> None:
    public = fake.post_mention(ALICE, "public question")
    reply = network.reply(public["id"], "Here is the answer.")
    assert reply.text == "@alice Here is the answer."
    assert (reply.parent_ref, reply.visibility) == (public["id"], "public")
    assert fake.status(reply.ref)["mentions"][0]["acct"] == ALICE
    named = network.reply(public["id"], f"Thanks @{ALICE}!")
    assert named.text == "Thanks @alice!"
    for visibility in ("unlisted", "private", "direct"):
        parent = fake.post_mention(ALICE, f"a {visibility} question", visibility=visibility)
        assert network.reply(parent["id"], "noted").visibility == visibility


def test_reply_to_own_post_names_nobody(network: MastodonNetwork) -> None:
    first = network.post("1/2 a thread")
    second = network.reply(first.ref, "2/2 the end")
    assert second.text == "2/2 the end" and second.parent_ref == first.ref


def test_reply_to_a_gone_post_is_not_found(fake: FakeMastodon, network: MastodonNetwork) -> None:
    mention = fake.post_mention(ALICE, "soon gone")
    fake.delete_status(mention["id"])
    with pytest.raises(NotFound):
        network.reply(mention["id"], "too late")
    assert fake.statuses_by("brand") == []


def test_dm_is_a_direct_status(fake: FakeMastodon, network: MastodonNetwork) -> None:
    fake.add_account("carol")
    ref = network.dm(Author(ref=fake.account_id("carol"), handle="carol"), "a private word")
    status = fake.status(ref)
    assert status["visibility"] == "direct"
    assert plain_text(status["content"]) == "@carol a private word"
    [notification] = fake.notifications_of("carol")
    assert (notification["type"], notification["status"]["id"]) == ("mention", ref)
    remote = network.dm(Author(ref=fake.add_remote(ALICE), handle=ALICE), f"@{ALICE} hi")
    assert plain_text(fake.status(remote)["content"]) == "@alice hi"


def test_repost_and_undo(fake: FakeMastodon, network: MastodonNetwork) -> None:
    status = fake.post_status(ALICE, "worth sharing")
    boost = network.repost(status["id"])
    assert network.repost(status["id"]) == boost
    assert fake.reblogs_of(status["id"]) == ["brand"]
    network.undo_repost(status["id"])
    assert fake.reblogs_of(status["id"]) == []
    network.undo_repost(status["id"])  # none to take back
    fake.delete_status(status["id"])
    network.undo_repost(status["id"])  # gone, and its boosts with it
    with pytest.raises(NotFound):
        network.repost(status["id"])


# --- errors ------------------------------------------------------------------------------------


def test_revoked_token_on_any_call(
    fake: FakeMastodon, token: str, network: MastodonNetwork
) -> None:
    fake.revoke(token)
    with pytest.raises(TokenRevoked, match="reading mentions"):
        network.mentions(None)
    with pytest.raises(TokenRevoked):
        network.post("after the revoke")


def test_rate_limit_says_when_calls_resume(fake: FakeMastodon, network: MastodonNetwork) -> None:
    fake.set_rate_limit("api", 1, 3600)
    network.mentions(None)
    before = window_end(3600)
    with pytest.raises(RateLimited) as caught:
        network.mentions(None)
    # X-RateLimit-Reset: the end of the instance's window, to the microsecond.
    assert caught.value.reset_at in {before, window_end(3600)}
    assert f"{caught.value.reset_at:%H:%M:%S}" in str(caught.value)


def window_end(seconds: int) -> datetime:
    """Where a window of `seconds` that started at a multiple of them since the epoch ends."""
    now = datetime.now(UTC).timestamp()
    return datetime.fromtimestamp((now // seconds + 1) * seconds, UTC)


def test_rate_limit_on_a_write(fake: FakeMastodon, network: MastodonNetwork) -> None:
    fake.set_rate_limit("statuses", 1, 60)
    network.post("one")
    with pytest.raises(RateLimited) as caught:
        network.post("two")
    assert caught.value.window == "5-minute"
    assert datetime.now(UTC) < caught.value.reset_at <= datetime.now(UTC) + timedelta(seconds=60)
    assert len(fake.statuses_by("brand")) == 1


def test_server_error_on_a_write_is_outcome_unknown(
    fake: FakeMastodon, network: MastodonNetwork
) -> None:
    fake.fail("/api/v1/statuses", 500, method="POST")
    with pytest.raises(OutcomeUnknown, match="500"):
        network.post("maybe")
    fake.fail("/api/v1/notifications", 502)
    with pytest.raises(Unavailable, match="502"):
        network.mentions(None)


def test_lost_answer_and_timeout_on_writes(fake: FakeMastodon, token: str) -> None:
    network = connect(fake.url, token, timeout=(2.0, 0.3))
    since = datetime.now(UTC) - timedelta(seconds=1)
    fake.lose_answer("/api/v1/statuses")
    with pytest.raises(OutcomeUnknown, match="dropped"):
        network.post("sent, unanswered")
    assert network.find_sent(
        Write("post", "sent, unanswered"), since=since, exclude=frozenset()
    ).made
    fake.slow("/api/v1/statuses", 1.0)
    with pytest.raises(OutcomeUnknown, match="no answer in time"):
        network.post("sent, late", key="k-late")
    # The retry with the same key gets the status the first try made.
    assert network.post("sent, late", key="k-late").text == "sent, late"
    assert len(fake.statuses_by("brand")) == 2


def test_refused_connection_is_unavailable() -> None:
    network = MastodonNetwork(refused_url(), "any-token", timeout=(1.0, 1.0))
    with pytest.raises(Unavailable, match="nothing was sent"):
        network.post("nobody home")
    with pytest.raises(Unavailable):
        network.mentions(None)


def test_other_refusals_carry_mastodons_words(fake: FakeMastodon, network: MastodonNetwork) -> None:
    with pytest.raises(NetworkError, match="File content type is invalid") as caught:
        network.upload(Attachment(b"MZ", "application/x-msdownload"))
    assert not isinstance(caught.value, TooLong)
    private = fake.post_mention(ALICE, "no boosts", visibility="private")
    with pytest.raises(NetworkError, match="This action is not allowed"):
        network.repost(private["id"])

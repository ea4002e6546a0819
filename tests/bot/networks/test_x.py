"""The X adapter (bot.networks.x) against the fake X: X behind the seam as Bluesky and
Mastodon are, with what only X has (budgets, its duplicate guard, edits, billing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.errors import Duplicate, NotFound, OutcomeUnknown, RecipientClosed
from bot.networks.base import Attachment, Author, Found, Network, Write
from bot.networks.x import XNetwork
from bot.team.budget import Budget
from bot.x.client import XClient
from bot.x.prices import load_prices
from sandbox.x_api import FakeX

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
NOTHING: frozenset[str] = frozenset()


@pytest.fixture
def brand(fake_x: FakeX) -> dict[str, Any]:
    return fake_x.add_user("brand", name="Brand")


@pytest.fixture
def jane(fake_x: FakeX) -> dict[str, Any]:
    return fake_x.add_user("jane", name="Jane", followers=1200, verified=True)


def adapter(fake_x: FakeX, user: dict[str, Any], budget: Budget | None = None) -> XNetwork:
    token = fake_x.issue_token(user["id"])
    client = XClient("oauth2", {"access_token": token}, base_url=fake_x.url)
    return XNetwork(client, user_id=int(user["id"]), handle=user["username"], budget=lambda: budget)


@pytest.fixture
def net(fake_x: FakeX, brand: dict[str, Any]) -> Iterator[XNetwork]:
    network = adapter(fake_x, brand)
    yield network
    network.close()


def spent_budget(*, hard: bool, spent_share: float = 1.0) -> Budget:
    """A $10 budget of which `spent_share` is spent."""
    micros = 10_000_000
    return Budget("brand", micros, hard, int(micros * spent_share), load_prices(None))


def test_it_is_a_network(net: XNetwork) -> None:
    network: Network = net
    assert network.name == "x" and network.label == "X"
    assert network.capabilities.refuses_repeats and not network.capabilities.keyed_writes
    assert network.me() == Author(network.me().ref, "brand", "Brand")
    assert network.length("배송") == 4 and network.limits().max_length == 280


def test_mentions_read_back_to_the_cursor_oldest_first(
    fake_x: FakeX, net: XNetwork, jane: dict[str, Any]
) -> None:
    first = [fake_x.post_mention("brand", author="jane", text=f"@brand {n}") for n in range(3)]
    page = net.mentions(None)
    assert [post.ref for post in page.posts] == [tweet["id"] for tweet in first]
    assert page.cursor == first[-1]["id"] and not page.more and page.paused is None
    burst = [fake_x.post_mention("brand", author="jane", text=f"@brand b{n}") for n in range(250)]
    calls = len(fake_x.calls_to(f"/2/users/{brand_id(fake_x)}/mentions"))
    page = net.mentions(page.cursor)
    assert [post.ref for post in page.posts] == [tweet["id"] for tweet in burst]
    assert len(fake_x.calls_to(f"/2/users/{brand_id(fake_x)}/mentions")) == calls + 3
    assert net.mentions(page.cursor).posts == []
    assert net.mentions(page.cursor).cursor == page.cursor


def brand_id(fake_x: FakeX) -> str:
    return fake_x.user_id("brand")


def test_a_first_read_goes_back_to_when_the_account_was_added(
    fake_x: FakeX, net: XNetwork, jane: dict[str, Any]
) -> None:
    added = datetime.now(UTC) - timedelta(minutes=30)
    fake_x.post_mention("brand", author="jane", created_at=added - timedelta(hours=1))
    for n in range(150):
        fake_x.post_mention("brand", author="jane", text=f"@brand since {n}")
    assert len(net.mentions(None).posts) == 100  # no start given: the newest page
    page = net.mentions(None, since=added)
    assert len([post for post in page.posts if post.created_at >= added]) == 150


def test_a_post_carries_what_x_says_of_it(
    fake_x: FakeX, net: XNetwork, jane: dict[str, Any]
) -> None:
    asked = fake_x.post_mention("brand", author="jane", text="@brand where is my order?")
    again = fake_x.post_mention("brand", author="jane", reply_to=asked["id"], media=["photo"])
    edited = fake_x.edit_tweet(asked["id"], "@brand where is my order #123?")
    posts = {post.ref: post for post in net.mentions(None).posts}
    reply = posts[again["id"]]
    assert reply.root_ref == asked["id"] and reply.parent_ref == asked["id"]
    assert reply.author.handle == "jane" and reply.author.followers == 1200
    assert reply.author.verified and reply.summons
    assert reply.url == f"https://x.com/jane/status/{again['id']}"
    assert [media.kind for media in reply.media] == ["photo"]
    newest = posts[edited["id"]]
    assert newest.versions == (asked["id"], edited["id"]) and newest.text.endswith("#123?")
    assert net.lookup(again["id"]).text == reply.text
    fake_x.delete_tweet(again["id"])
    with pytest.raises(NotFound):
        net.lookup(again["id"])


def test_a_budget_that_refuses_the_next_page_pauses_the_read(
    fake_x: FakeX, brand: dict[str, Any], jane: dict[str, Any]
) -> None:
    fake_x.post_mention("brand", author="jane")
    network = adapter(fake_x, brand, spent_budget(hard=True))
    page = network.mentions("1")
    assert page.posts == [] and page.cursor is None
    assert page.paused is not None and "brand" in page.paused
    assert not fake_x.calls_to(f"/2/users/{brand['id']}/mentions")


def test_writes_and_their_media(fake_x: FakeX, net: XNetwork, jane: dict[str, Any]) -> None:
    asked = fake_x.post_mention("brand", author="jane")
    image = net.upload(Attachment(PNG, "image/png"))
    posted = net.post("New menu", media=[image])
    assert posted.url == f"https://x.com/brand/status/{posted.ref}"
    answered = net.reply(asked["id"], "On its way ^BK")
    assert answered.parent_ref == asked["id"]
    (reply, post) = fake_x.posts_by("brand")
    assert post["media_ids"] == [image] and reply["in_reply_to_tweet_id"] == asked["id"]
    assert net.dm(Author(jane["id"], "jane"), "Your order number?")
    assert [dm["text"] for dm in fake_x.dms_between("brand", "jane")] == ["Your order number?"]
    assert net.repost(asked["id"]) is None
    assert brand_id(fake_x) in fake_x.retweeters_of(asked["id"])
    net.undo_repost(asked["id"])
    assert brand_id(fake_x) not in fake_x.retweeters_of(asked["id"])
    with pytest.raises(Duplicate):
        net.reply(asked["id"], "On its way ^BK")


def test_a_dm_someone_does_not_take_is_said_so(fake_x: FakeX, net: XNetwork) -> None:
    closed = fake_x.add_user("closed", accepts_dms=False)
    with pytest.raises(RecipientClosed):
        net.dm(Author(closed["id"], "closed"), "hello")


def test_find_sent_settles_each_kind_of_lost_write(
    fake_x: FakeX, net: XNetwork, jane: dict[str, Any]
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=2)
    asked = fake_x.post_mention("brand", author="jane")
    fake_x.lose_answer("/2/tweets")
    with pytest.raises(OutcomeUnknown):
        net.reply(asked["id"], "Looking into it ^BK")
    reply = Write("reply", "Looking into it ^BK", parent_ref=asked["id"])
    found = net.find_sent(reply, since=since, exclude=NOTHING)
    made = fake_x.posts_by("brand")[0]["id"]
    assert found == Found(True, made, f"https://x.com/brand/status/{made}")
    assert net.find_sent(reply, since=since, exclude=frozenset({made})).made is False
    as_a_post = Write("post", "Looking into it ^BK")
    assert net.find_sent(as_a_post, since=since, exclude=NOTHING).made is False

    to_jane = Author(jane["id"], "jane")
    fake_x.lose_answer("/2/dm_conversations")
    with pytest.raises(OutcomeUnknown):
        net.dm(to_jane, "Your order number?")
    dm = Write("dm", "Your order number?", to=to_jane)
    assert net.find_sent(dm, since=since, exclude=NOTHING).made is True

    retweet = Write("retweet", target_ref=asked["id"])
    assert net.find_sent(retweet, since=since, exclude=NOTHING).made is False
    net.repost(asked["id"])
    assert net.find_sent(retweet, since=since, exclude=NOTHING) == Found(True)
    undo = Write("unretweet", target_ref=asked["id"])
    assert net.find_sent(undo, since=since, exclude=NOTHING).made is False


def test_a_lost_write_found_is_billed_as_x_billed_it(
    fake_x: FakeX, brand: dict[str, Any], jane: dict[str, Any]
) -> None:
    billed: list[list[Any]] = []
    token = fake_x.issue_token(brand["id"])
    client = XClient("oauth2", {"access_token": token}, base_url=fake_x.url, meter=billed.append)
    network = XNetwork(client, user_id=int(brand["id"]), handle="brand")
    since = datetime.now(UTC) - timedelta(seconds=2)
    fake_x.lose_answer("/2/tweets")
    with pytest.raises(OutcomeUnknown):
        network.post("Opening hours: 9 to 6")
    billed.clear()
    assert network.find_sent(Write("post", "Opening hours: 9 to 6"), since=since, exclude=NOTHING)
    assert [charge.kind for charge in billed[-1]] == ["write:post"]


def test_the_budget_bounds_the_look(fake_x: FakeX, brand: dict[str, Any]) -> None:
    since = datetime.now(UTC) - timedelta(seconds=2)
    lost = Write("post", "never made")
    refused = adapter(fake_x, brand, spent_budget(hard=True))
    found = refused.find_sent(lost, since=since, exclude=NOTHING)
    assert found.made is False and found.notes[0].startswith("X was not asked")
    assert not fake_x.calls_to(f"/2/users/{brand['id']}/tweets")
    frugal = adapter(fake_x, brand, spent_budget(hard=False, spent_share=1.0))
    found = frugal.find_sent(lost, since=since, exclude=NOTHING)
    assert found.made is False and "Only the cheapest check" in found.notes[0]
    assert len(fake_x.calls_to(f"/2/users/{brand['id']}/tweets")) == 1


def test_each_page_is_announced_and_cursors_only_move_forward(
    fake_x: FakeX, net: XNetwork, jane: dict[str, Any]
) -> None:
    fake_x.post_mention("brand", author="jane", text="@brand first")
    start = net.mentions(None).cursor
    for n in range(150):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    pages: list[int] = []
    page = net.mentions(start, before_page=lambda: pages.append(1))
    assert len(page.posts) == 150 and len(pages) == 2
    assert page.cursor is not None and net.after(page.cursor, page.posts[0].ref)
    assert not net.after(page.posts[0].ref, page.cursor)

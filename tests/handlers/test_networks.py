"""Bluesky and Mastodon beside X: a mention on each arrives as a card, is replied to,
reposted, DMed, assigned and resolved from Slack, the same way as X's.

Signed requests through the real Bolt app, the real atproto and Mastodon.py SDKs against
the fake Bluesky and fake Mastodon over loopback, a real Redis and both databases.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from slack_bolt import App
from sqlalchemy import select

from bot.inbox.cards import ACTION_DM, ACTION_REPLY, ACTION_RESOLVE, ACTION_RETWEET
from bot.inbox.intake import Intake, Listener
from bot.outbound.reply_modal import TEXT_BLOCK
from bot.runtime import Runtime
from bot.team.networks import connect_account
from bot.worker import REDIS_EPOCH_KEY
from sandbox.bluesky_api import FakeBluesky
from sandbox.mastodon_api import FakeMastodon
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Mention, Outbound
from storage.refs import ref_of
from storage.team import grant, member, set_cotag
from tests.conftest import AGENT, BRAND_CHANNEL, give, run_jobs
from tests.handlers.signed import card_click, make_app, press, submit
from tests.handlers.test_acting import all_text, ephemeral_answer, open_modal, typed


@dataclass
class Network:
    """One network's fake, the brand's account on it, and how a customer speaks there."""

    name: str
    label: str
    account: Account
    customer: str
    fake: Any
    secret: str  # the app password, or the access token

    @property
    def write_path(self) -> str:
        """Where the network takes a new post."""
        if self.name == "bluesky":
            return "/xrpc/com.atproto.repo.createRecord"
        return "/api/v1/statuses"

    def revoke(self) -> None:
        """The account's access taken back at the network."""
        self.fake.revoke(self.account.handle if self.name == "bluesky" else self.secret)

    def mention(self, text: str, **options: Any) -> str:
        """A customer's post naming the brand; its id on the network."""
        if self.name == "bluesky":
            made = self.fake.post_mention(self.customer, f"@{self.account.handle} {text}")
            return str(made["uri"])
        made = self.fake.post_mention(self.customer, text, **options)
        return str(made["id"])

    def brand_posts(self) -> list[dict[str, Any]]:
        """The brand's own posts, oldest first: (text, the id of what it answers)."""
        if self.name == "bluesky":
            return [
                {
                    "text": p["value"]["text"],
                    "parent": (p["value"].get("reply") or {}).get("parent", {}).get("uri"),
                    "id": p["uri"],
                }
                for p in self.fake.posts_by(self.account.handle)
            ]
        return [
            {"text": _plain(s["content"]), "parent": s["in_reply_to_id"], "id": s["id"]}
            for s in self.fake.statuses_by("brand")
            if s["reblog"] is None
        ]


def _plain(content: str) -> str:
    from bot.networks.mastodon import plain_text

    return plain_text(content)


@pytest.fixture(params=["bluesky", "mastodon"])
def network(
    request: pytest.FixtureRequest,
    rt: Runtime,
    fake_bluesky: FakeBluesky,
    fake_mastodon: FakeMastodon,
) -> Network:
    """The brand connected on one network (a minute ago), with a customer there."""
    earlier = rt.clock() - timedelta(minutes=1)
    if request.param == "bluesky":
        fake_bluesky.add_account("acme.bsky.social", "app-pass-1234", display_name="Acme")
        fake_bluesky.add_account("mia.bsky.social", "pw", display_name="Mia Chen")
        account, _ = connect_account(
            rt.sessions,
            rt.box,
            earlier,
            network="bluesky",
            service=fake_bluesky.url,
            secrets={"handle": "acme.bsky.social", "app_password": "app-pass-1234"},
            channel=BRAND_CHANNEL,
        )
        return Network(
            "bluesky", "Bluesky", account, "mia.bsky.social", fake_bluesky, "app-pass-1234"
        )
    _, token = fake_mastodon.add_account("brand", display_name="Acme")
    fake_mastodon.add_remote("mia@example.social", display_name="Mia Chen")
    fake_mastodon.max_characters = 1000
    account, _ = connect_account(
        rt.sessions,
        rt.box,
        earlier,
        network="mastodon",
        service=fake_mastodon.url,
        secrets={"access_token": token},
        channel=BRAND_CHANNEL,
    )
    return Network("mastodon", "Mastodon", account, "mia@example.social", fake_mastodon, token)


@pytest.fixture
def app(rt: Runtime, fake_slack: FakeSlack) -> App:
    return make_app(rt)


def card_of(rt: Runtime, fake_slack: FakeSlack, network: Network, text: str) -> dict[str, Any]:
    """The customer's mention, read by intake and delivered: its card."""
    network.mention(text)
    intake = Intake(rt)
    try:
        assert intake.poll(network.account) == 1
    finally:
        intake.close()
    run_jobs(rt)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    return fake_slack.messages(BRAND_CHANNEL)[-1]


def the_mention(rt: Runtime) -> Mention:
    with rt.sessions() as session:
        return session.scalars(select(Mention)).one()


def rows(rt: Runtime) -> list[Outbound]:
    with rt.sessions() as session:
        return list(session.scalars(select(Outbound).order_by(Outbound.id)))


def test_the_mention_is_a_card_that_says_its_network_and_links_there(
    rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    card = card_of(rt, fake_slack, network, "my parcel is a week late")

    shown = all_text(card["blocks"])
    assert f"Mention of *@{network.account.handle}* on {network.label}" in shown
    assert "my parcel is a week late" in shown
    assert f"View on {network.label}" in shown
    mention = the_mention(rt)
    assert mention.url and mention.url in json.dumps(card["blocks"])
    assert mention.author_username is not None and "mia" in mention.author_username
    assert mention.tweet_id < 0 and mention.author_id < 0  # Roost's numbers, never X's ids
    labels = [
        e["text"]["text"]
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]
    assert labels[:3] == ["Reply", "DM", "Repost" if network.name == "bluesky" else "Boost"]


def test_a_reply_is_counted_as_its_network_counts_and_goes_out_once_signed(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    card = card_of(rt, fake_slack, network, "where is my order?")
    compose = open_modal(app, fake_slack, card, ACTION_REPLY)
    answer = submit(app, fake_slack, compose, typed("Sorry! It ships today 📦"))
    assert answer["response_action"] == "push"
    shown = all_text(answer["view"]["blocks"])
    limit = "300" if network.name == "bluesky" else "1000"  # the instance's own limit
    assert f"Length as {network.label} counts it: 27/{limit}" in shown
    assert "Sorry! It ships today 📦 ^BK" in shown

    for _ in range(2):  # a double click
        assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    run_jobs(rt)
    run_jobs(rt)

    (reply,) = network.brand_posts()
    assert reply["text"].endswith("Sorry! It ships today 📦 ^BK")
    (row,) = rows(rt)
    assert (row.status, row.x_id) == ("sent", reply["id"])
    assert the_mention(rt).status == "replied"
    assert reply["parent"] == _post_id(rt)
    shown = all_text(fake_slack.message(BRAND_CHANNEL, card["ts"])["blocks"])
    assert f"replied as @{network.account.handle}" in shown
    assert f"View on {network.label}" in shown
    assert row.url is not None and row.url in json.dumps(
        fake_slack.message(BRAND_CHANNEL, card["ts"])["blocks"]
    )


def test_too_long_for_the_network_is_refused_in_the_modal(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    card = card_of(rt, fake_slack, network, "hello")
    compose = open_modal(app, fake_slack, card, ACTION_REPLY)
    # 298 Hangul syllables fit X's weight nowhere, and Bluesky's 300 graphemes only without
    # the CoTag; Mastodon's instance here takes 1000.
    answer = submit(
        app, fake_slack, compose, typed("가" * (298 if network.name == "bluesky" else 998))
    )
    assert answer["response_action"] == "errors"
    assert "over the limit" in json.dumps(answer["errors"])
    assert rows(rt) == []


def test_repost_dm_assign_and_resolve_from_the_card(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    card = card_of(rt, fake_slack, network, "love the new colours")

    assert press(app, fake_slack, card, ACTION_RETWEET).status == 200
    run_jobs(rt)
    if network.name == "bluesky":
        (repost,) = network.fake.reposts_by(network.account.handle)
        assert repost["value"]["subject"]["uri"] == _post_id(rt)
    else:
        assert network.fake.reblogs_of(_post_id(rt)) == ["brand"]
    shown = all_text(fake_slack.message(BRAND_CHANNEL, card["ts"])["blocks"])
    word = "reposted" if network.name == "bluesky" else "boosted"  # the network's own word
    assert f"{word} as @{network.account.handle}" in shown and "retweet" not in shown
    press(app, fake_slack, card, ACTION_RETWEET)  # again, while it stands
    assert f"already {word} as @{network.account.handle}" in ephemeral_answer(fake_slack)

    compose = open_modal(app, fake_slack, card, ACTION_DM)
    answer = submit(app, fake_slack, compose, typed("Thanks! A code for you: 4Q-77"))
    assert answer["response_action"] == "push"
    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    run_jobs(rt)
    kinds = {(row.kind, row.status) for row in rows(rt)}
    assert kinds == {("retweet", "sent"), ("dm", "sent")}

    from tests.conftest import OWNER
    from tests.handlers.test_assignment import pick

    fake_slack.add_user(OWNER, "owner")
    give(rt, fake_slack, OWNER, "owner", "^OW")
    assert pick(app, fake_slack, card, OWNER).status == 200
    run_jobs(rt)
    with rt.sessions() as session:
        from storage.models import Member

        assignee = session.get(Member, the_mention(rt).assignee_id)
        assert assignee is not None and assignee.user_id == OWNER
    assert press(app, fake_slack, card, ACTION_RESOLVE).status == 200
    run_jobs(rt)
    assert the_mention(rt).status == "resolved"


def _post_id(rt: Runtime) -> str:
    """The mention's id on its network."""
    with rt.sessions() as session:
        return ref_of(session, the_mention(rt).tweet_id)


# --- one post to every network ------------------------------------------------------------


@pytest.fixture
def three(
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    fake_bluesky: FakeBluesky,
    fake_mastodon: FakeMastodon,
) -> list[Account]:
    """@brand on X, acme.bsky.social on Bluesky and brand on Mastodon (an instance that
    takes 500), the agent (^BK) an agent on each."""
    from tests.conftest import add_brand_account

    x = add_brand_account(rt, fake_x, "brand", BRAND_CHANNEL)
    fake_bluesky.add_account("acme.bsky.social", "app-pass-1234")
    bluesky, _ = connect_account(
        rt.sessions,
        rt.box,
        rt.clock(),
        network="bluesky",
        service=fake_bluesky.url,
        secrets={"handle": "acme.bsky.social", "app_password": "app-pass-1234"},
        channel=BRAND_CHANNEL,
    )
    _, token = fake_mastodon.add_account("brand")
    mastodon, _ = connect_account(
        rt.sessions,
        rt.box,
        rt.clock(),
        network="mastodon",
        service=fake_mastodon.url,
        secrets={"access_token": token},
        channel=BRAND_CHANNEL,
    )
    for account in (x, bluesky, mastodon):
        give_on(rt, fake_slack, account, AGENT, "agent")
    with rt.sessions.begin() as session:
        set_cotag(
            session, member(session, fake_slack.team_id, AGENT, rt.clock()), "^BK", rt.clock()
        )
    return [x, bluesky, mastodon]


def test_one_post_goes_to_all_three_networks_each_split_by_its_own_rules(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    fake_bluesky: FakeBluesky,
    fake_mastodon: FakeMastodon,
    three: list[Account],
) -> None:
    from tests.handlers.test_posts import compose, values

    # 293 Hangul and spaces, 297 signed: one post on Mastodon (500) and on Bluesky (300
    # graphemes), but two on X, where each syllable weighs 2.
    text = " ".join(["배송 안내"] * 49)
    modal = compose(app, fake_slack)
    from_options = json.dumps(modal["blocks"], ensure_ascii=False)
    assert "acme.bsky.social · Bluesky" in from_options
    ids = [account.id for account in three]
    answer = submit(app, fake_slack, modal, values(text, ids, thread=True))
    assert answer["response_action"] == "push", answer
    shown = json.dumps(answer["view"]["blocks"], ensure_ascii=False)
    assert "Length as Bluesky counts it: 297/300" in shown
    assert "Length as Mastodon counts it: 297/500" in shown
    assert "Length as X counts it" in shown and " 1/2 ^BK" in shown
    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    for _ in range(4):  # each part of X's thread goes after the one before it
        run_jobs(rt)

    parts = sorted(fake_x.posts_by("brand"), key=lambda post: int(post["id"]))
    assert [post["text"][-8:] for post in parts] == [" 1/2 ^BK", " 2/2 ^BK"]
    (bsky,) = fake_bluesky.posts_by("acme.bsky.social")
    assert bsky["value"]["text"] == text + " ^BK"
    (toot,) = fake_mastodon.statuses_by("brand")
    assert _plain(toot["content"]) == text + " ^BK"
    with rt.sessions() as session:
        sent = session.scalars(select(Outbound)).all()
    assert {row.status for row in sent} == {"sent"} and len(sent) == 4


def test_a_post_over_a_networks_limit_without_a_thread_is_refused_for_that_account(
    app: App, rt: Runtime, fake_slack: FakeSlack, three: list[Account]
) -> None:
    from tests.handlers.test_posts import compose, values

    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("가" * 310, [a.id for a in three[1:]]))
    assert answer["response_action"] == "errors"
    said = json.dumps(answer["errors"], ensure_ascii=False)
    assert "Too long for @acme.bsky.social: 314/300" in said
    assert "brand@" not in said  # Mastodon's 500 takes it


def test_watched_words_are_refused_for_an_account_off_x_with_why(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    from tests.conftest import OWNER
    from tests.handlers.signed import command

    give(rt, fake_slack, OWNER, "owner", "^OW")
    handle = network.account.handle
    assert command(app, fake_slack, f'watch @{handle} "late parcel"', user=OWNER).status == 200
    said = fake_slack.wait_for(lambda: fake_slack.responses)[-1]["text"]
    assert f"Watched words are read through X's search, and *@{handle}* is on" in said
    with rt.sessions() as session:
        from storage.models import Watch

        assert session.scalars(select(Watch)).all() == []


# --- connecting from Slack ------------------------------------------------------------------


def _connect_form(app: App, fake_slack: FakeSlack, network: str) -> dict[str, Any]:
    """`/roost accounts` as an owner, then its Connect Bluesky or Connect Mastodon button:
    the form it opens."""
    from tests.conftest import OWNER
    from tests.handlers.signed import command, dispatch, opened_modal

    assert command(app, fake_slack, "accounts", user=OWNER).status == 200
    listing = fake_slack.wait_for(lambda: fake_slack.responses)[-1]
    (connect,) = [
        e
        for b in listing["blocks"]
        if b.get("block_id") == "accounts:connect"
        for e in b["elements"]
        if e.get("value") == network
    ]
    before = len(fake_slack.views)
    click = card_click(fake_slack, {**connect, "block_id": "accounts:connect"}, user=OWNER)
    assert dispatch(app, click).status == 200
    form = opened_modal(fake_slack, before)
    return {**form, "id": fake_slack.views[before + 1]["view_id"]}


def _typed(**fields: str) -> dict[str, Any]:
    return {
        block: {"value": {"type": "plain_text_input", "value": v}} for block, v in fields.items()
    }


def test_an_owner_connects_bluesky_and_mastodon_from_slack(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    fake_bluesky: FakeBluesky,
    fake_mastodon: FakeMastodon,
) -> None:
    from tests.conftest import OWNER, add_brand_account

    add_brand_account(rt, fake_x, "brand", BRAND_CHANNEL)
    give(rt, fake_slack, OWNER, "owner", "^OW")
    fake_bluesky.add_account("acme.bsky.social", "app-pass-1234")
    _, token = fake_mastodon.add_account("acme")

    form = _connect_form(app, fake_slack, "bluesky")
    assert form["callback_id"] == "accounts.connect_network"
    answer = submit(
        app, fake_slack, form, _typed(handle="", secret="x", service="bsky.social"), user=OWNER
    )
    assert answer == {"response_action": "errors", "errors": {"handle": "Fill this in."}}
    answer = submit(
        app,
        fake_slack,
        form,
        _typed(handle="acme.bsky.social", secret="wrong", service=fake_bluesky.url),
        user=OWNER,
        view_id=form["id"],
    )
    assert answer["response_action"] == "update"
    said = all_text(fake_slack.views[-1]["view"]["blocks"])
    assert "Bluesky refused the session" in said and "Nothing was connected" in said
    submit(
        app,
        fake_slack,
        form,
        _typed(handle="acme.bsky.social", secret="app-pass-1234", service=fake_bluesky.url),
        user=OWNER,
        view_id=form["id"],
    )
    said = all_text(fake_slack.views[-1]["view"]["blocks"])
    assert f"Connected *@acme.bsky.social*: its mentions come to <#{BRAND_CHANNEL}>" in said

    form = _connect_form(app, fake_slack, "mastodon")
    answer = submit(
        app, fake_slack, form, _typed(service="http://example.org", secret=token), user=OWNER
    )
    assert "not an https address" in answer["errors"]["service"]
    typed = _typed(service=fake_mastodon.url, secret=token)
    submit(app, fake_slack, form, typed, user=OWNER, view_id=form["id"])
    said = all_text(fake_slack.views[-1]["view"]["blocks"])
    assert f"Connected *@acme@{fake_mastodon.domain}*" in said

    run_jobs(rt)
    announced = [m["text"] for m in fake_slack.messages(BRAND_CHANNEL)]
    assert any("acme.bsky.social" in text and f"<@{OWNER}>" in text for text in announced)
    with rt.sessions() as session:
        networks = sorted(session.scalars(select(Account.network)).all())
    assert networks == ["bluesky", "mastodon", "x"]


def test_an_agent_is_offered_no_connect_buttons_and_is_refused_the_form(
    app: App, rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack
) -> None:
    from tests.conftest import add_brand_account
    from tests.handlers.signed import command, dispatch

    add_brand_account(rt, fake_x, "brand", BRAND_CHANNEL)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    assert command(app, fake_slack, "accounts").status == 200
    listing = fake_slack.wait_for(lambda: fake_slack.responses)[-1]
    assert "accounts.connect_network" not in json.dumps(listing["blocks"])
    forged = {"action_id": "accounts.connect_network", "block_id": "accounts:connect"}
    before = len(fake_slack.views)
    assert dispatch(app, card_click(fake_slack, {**forged, "value": "bluesky"})).status == 200
    said = (
        all_text(fake_slack.views[-1]["view"]["blocks"]) if len(fake_slack.views) > before else ""
    )
    refusal = said or fake_slack.wait_for(lambda: fake_slack.responses)[-1]["text"]
    assert "Only Slack admins and owners of an account may connect one." in refusal


# --- when the network says no, or says nothing --------------------------------------------


def give_on(rt: Runtime, fake_slack: FakeSlack, account: Account, user: str, role: str) -> None:
    """A role on this account for a Slack user."""
    with rt.sessions.begin() as session:
        found = session.get_one(Account, account.id)
        grant(
            session, found, member(session, fake_slack.team_id, user, rt.clock()), role, rt.clock()
        )


def _publish(app: App, fake_slack: FakeSlack, card: dict[str, Any], text: str) -> None:
    compose = open_modal(app, fake_slack, card, ACTION_REPLY)
    answer = submit(app, fake_slack, compose, typed(text))
    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}


def test_a_rate_limited_reply_waits_for_the_reset_then_goes_out_once(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    from bot.outbound.sending import send_outbound

    card = card_of(rt, fake_slack, network, "is the shop open?")
    network.fake.fail(network.write_path, 429, method="POST")
    _publish(app, fake_slack, card, "Yes, until 8pm")
    run_jobs(rt)
    (row,) = rows(rt)
    assert row.status == "pending" and row.run_at is not None and row.run_at > rt.clock()
    assert network.brand_posts() == []
    thread = " ".join(m["text"] for m in fake_slack.thread(BRAND_CHANNEL, card["ts"]))
    assert "It goes out then, once." in thread

    with rt.sessions.begin() as session:  # the reset has come
        session.get_one(Outbound, row.id).run_at = rt.clock()
    assert send_outbound(row.id) == "sent"  # the job RQ runs at the reset
    assert send_outbound(row.id).startswith("not pending")  # and a copy of it sends nothing
    (reply,) = network.brand_posts()
    assert reply["text"].endswith("Yes, until 8pm ^BK")


def test_a_reply_whose_answer_was_lost_is_found_there_not_sent_twice(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    card = card_of(rt, fake_slack, network, "is the shop open?")
    network.fake.lose_answer(network.write_path)
    _publish(app, fake_slack, card, "Yes, until 9pm")
    run_jobs(rt)
    (reply,) = network.brand_posts()
    (row,) = rows(rt)
    assert (row.status, row.x_id) == ("sent", reply["id"])


def test_a_revoked_account_stops_reading_says_so_once_and_loses_nothing_when_reconnected(
    rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    from bot.inbox.intake import Listener

    listener = Listener(rt)
    try:
        network.revoke()
        network.mention("posted while Roost could not read")
        listener.cycle()
        run_jobs(rt)
        with rt.sessions() as session:
            assert session.get_one(Account, network.account.id).intake_status == "revoked"
        (notice,) = fake_slack.messages(BRAND_CHANNEL)
        assert f"Roost stopped reading mentions of *@{network.account.handle}*" in notice["text"]
        assert f"*Connect {network.label}* in `/roost accounts`" in notice["text"]
        assert f"roost accounts add --network {network.name}" in notice["text"]
        listener.cycle()  # a stopped account is not read, nor told about, again
        run_jobs(rt)
        assert len(fake_slack.messages(BRAND_CHANNEL)) == 1

        if network.name == "bluesky":
            network.fake.set_password(network.account.handle, "new-app-pass")
            secrets = {"handle": network.account.handle, "app_password": "new-app-pass"}
        else:
            _, token = network.fake.add_account("brand")
            secrets = {"access_token": token}
        connect_account(
            rt.sessions,
            rt.box,
            rt.clock(),
            network=network.name,
            service=network.fake.url,
            secrets=secrets,
            channel=BRAND_CHANNEL,
        )
        listener.cycle()
        run_jobs(rt)
    finally:
        listener.release_all()
    shown = [all_text(m.get("blocks") or []) for m in fake_slack.messages(BRAND_CHANNEL)]
    assert sum("posted while Roost could not read" in text for text in shown) == 1


def test_what_a_customer_writes_reaches_slack_as_text_not_as_commands(
    rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    card = card_of(rt, fake_slack, network, "<!channel> *urgent* <https://evil.example|click>")
    body = json.dumps(card["blocks"])
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    assert "<https://evil.example|click>" not in body


def test_the_digest_and_stats_count_every_networks_mentions(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    fake_bluesky: FakeBluesky,
    fake_mastodon: FakeMastodon,
    three: list[Account],
) -> None:
    from bot.inbox.intake import Listener
    from tests.conftest import OWNER
    from tests.handlers.signed import command

    x, bluesky, mastodon = three
    fake_x.add_user("jane")
    fake_bluesky.add_account("mia.bsky.social", "pw")
    fake_x.post_mention("brand", author="jane", text="@brand one on X")
    fake_bluesky.post_mention("mia.bsky.social", "@acme.bsky.social one on Bluesky")
    fake_mastodon.post_mention("mia@example.social", "one on Mastodon")
    fake_mastodon.post_mention("leo@example.social", "two on Mastodon")
    listener = Listener(rt)
    try:
        listener.cycle()
    finally:
        listener.release_all()
    run_jobs(rt)
    (bsky_card,) = [
        m for m in fake_slack.messages(BRAND_CHANNEL) if "one on Bluesky" in json.dumps(m)
    ]
    _publish(app, fake_slack, bsky_card, "Thanks, Mia!")
    run_jobs(rt)
    for account in three:
        give_on(rt, fake_slack, account, OWNER, "owner")

    domain = fake_mastodon.domain
    assert command(app, fake_slack, "digest now", user=OWNER).status == 200
    digest = json.dumps(fake_slack.wait_for(lambda: fake_slack.responses)[-1], ensure_ascii=False)
    assert "*4 new mentions* in the last 24 hours" in digest
    assert "@mia.bsky.social to @acme.bsky.social" in digest
    assert f"@leo@example.social to @brand@{domain}" in digest

    assert command(app, fake_slack, "stats", user=OWNER).status == 200
    shown = json.dumps(fake_slack.wait_for(lambda: fake_slack.responses)[-1], ensure_ascii=False)
    assert "4 mentions (0 in the 7 days before), 1 answered" in shown
    assert "• @acme.bsky.social: 1 mention; 1 answered" in shown
    assert "• @brand: 1 mention" in shown
    assert f"• @brand@{domain}: 2 mentions" in shown


def test_a_flood_beyond_a_reads_pages_is_read_whole_in_one_poll_each_once(
    rt: Runtime, fake_slack: FakeSlack, network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More pages than a read takes (Mastodon's, paging forward from the cursor), and many
    pages back to the cursor (Bluesky's, paging back from the newest): nothing is left
    behind, nothing stored twice, and the next poll reads nothing again. Pages are made
    small here, so that a flood is a few hundred mentions."""
    from bot.networks import bluesky, mastodon

    monkeypatch.setattr(bluesky, "PAGE_SIZE", 20)
    monkeypatch.setattr(mastodon, "MENTIONS_PAGE_SIZE", 20)
    monkeypatch.setattr(mastodon, "MENTIONS_PAGES", 3)
    card_of(rt, fake_slack, network, "the first, before the flood")
    flood = 250
    for n in range(flood):
        network.mention(f"flood {n}")
    intake = Intake(rt)
    try:
        assert intake.poll(network.account) == flood
        assert intake.poll(network.account) == 0
    finally:
        intake.close()
    with rt.sessions() as session:
        texts = session.scalars(select(Mention.text)).all()
    assert len(texts) == flood + 1
    assert {t.rsplit(" ", 1)[-1] for t in texts if "flood " in t} == {str(n) for n in range(flood)}


def test_images_from_slack_go_with_the_post_to_every_network_and_a_gif_not_to_bluesky(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    fake_bluesky: FakeBluesky,
    fake_mastodon: FakeMastodon,
    three: list[Account],
) -> None:
    from tests.handlers.test_posts import PNG, compose, values

    gif = fake_slack.add_file("loop.gif", "image/gif", b"GIF89a" + bytes(600))
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Loop!", [three[1].id], files=[gif]))
    assert answer["response_action"] == "errors"
    assert "loop.gif: Bluesky takes images only" in json.dumps(answer["errors"])

    image = fake_slack.add_file("sale.png", "image/png", PNG)
    modal = compose(app, fake_slack)
    ids = [account.id for account in three]
    answer = submit(app, fake_slack, modal, values("Look!", ids, files=[image]))
    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    run_jobs(rt)

    (on_x,) = fake_x.posts_by("brand")
    assert len(on_x["media_ids"]) == 1
    (on_bluesky,) = fake_bluesky.posts_by("acme.bsky.social")
    (picture,) = on_bluesky["value"]["embed"]["images"]
    assert picture["image"]["mimeType"] == "image/png"
    (on_mastodon,) = fake_mastodon.statuses_by("brand")
    assert [m["type"] for m in on_mastodon["media_attachments"]] == ["image"]
    assert all(d["authorized"] for d in fake_slack.downloads)


def test_a_send_whose_worker_died_goes_again_only_where_the_network_drops_a_repeat(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    """A worker died mid-call and the reply is not among the account's posts. Mastodon
    drops a repeat of Roost's key, so it goes again; Bluesky has no such guard and may
    still be writing it, so it waits for a person, as unknown."""
    from bot.outbound.sending import reconcile_outbound
    from storage import outbound as outbound_rows

    card = card_of(rt, fake_slack, network, "is the shop open?")
    compose = open_modal(app, fake_slack, card, ACTION_REPLY)
    answer = submit(app, fake_slack, compose, typed("Yes, until 10pm"))
    rt.team_queue.empty()
    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    rt.team_queue.empty()  # the send job is lost with its worker
    (row,) = rows(rt)
    with rt.sessions.begin() as session:
        assert outbound_rows.claim_for_sending(session, row.id, rt.clock(), by="gone-worker")
    rt.redis.set(REDIS_EPOCH_KEY, time.time() - 60)  # live workers have had time to say so

    outcome = reconcile_outbound(row.id)
    run_jobs(rt)
    (row,) = rows(rt)
    if network.name == "mastodon":
        assert outcome == "sending again"
        (reply,) = network.brand_posts()
        assert row.status == "sent" and row.x_id == reply["id"]
    else:
        assert outcome == "unknown" and row.status == "unknown"
        assert network.brand_posts() == []


def test_long_handles_and_display_names_are_kept_and_carded(
    rt: Runtime, fake_slack: FakeSlack, fake_bluesky: FakeBluesky
) -> None:
    """A handle of 58 characters (a domain name) and a display name of 60 family emoji
    (300 code points) fit, on both databases."""
    brand = "customer-care-team.acme-international-holdings.example.com"
    fake_bluesky.add_account(brand, "app-pass-1234")
    fake_bluesky.add_account("mia.bsky.social", "pw", display_name="👨‍👩‍👧" * 60)
    account, _ = connect_account(
        rt.sessions,
        rt.box,
        rt.clock() - timedelta(minutes=1),
        network="bluesky",
        service=fake_bluesky.url,
        secrets={"handle": brand, "app_password": "app-pass-1234"},
        channel=BRAND_CHANNEL,
    )
    fake_bluesky.post_mention("mia.bsky.social", f"@{brand} hello")
    intake = Intake(rt)
    try:
        assert intake.poll(account) == 1
    finally:
        intake.close()
    run_jobs(rt)
    (card,) = fake_slack.messages(BRAND_CHANNEL)
    assert f"Mention of *@{brand}* on Bluesky" in all_text(card["blocks"])
    assert the_mention(rt).author_name == "👨‍👩‍👧" * 60


def test_the_connect_form_refuses_a_private_address_and_names_that_resolve_to_one(
    app: App,
    rt: Runtime,
    fake_x: FakeX,
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from bot.errors import Refused
    from bot.networks.services import check_public
    from tests.conftest import OWNER, add_brand_account

    add_brand_account(rt, fake_x, "brand", BRAND_CHANNEL)
    give(rt, fake_slack, OWNER, "owner", "^OW")
    form = _connect_form(app, fake_slack, "mastodon")
    for inside in ("https://169.254.169.254", "10.0.0.5", "https://[fd00::1]", "0.0.0.0"):
        typed = _typed(service=inside, secret="token")
        answer = submit(app, fake_slack, form, typed, user=OWNER)
        assert "an address inside a private network" in answer["errors"]["service"], inside

    def resolves_inward(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.20", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", resolves_inward)
    with pytest.raises(Refused, match="inside a private network"):
        check_public("https://intranet.example")


def test_the_accounts_handle_reaches_the_logs_and_its_secrets_never_do(
    rt: Runtime, network: Network
) -> None:
    from bot.logs import REDACTED, redacting_filter, scrub
    from bot.team.networks import network_for

    with rt.sessions() as session:
        account = session.get_one(Account, network.account.id)
    network_for(rt, account).close()
    line = scrub(f"@{account.handle} with {network.secret}", tuple(redacting_filter.secrets))
    assert line == f"@{account.handle} with {REDACTED}"


def test_an_answer_to_the_brands_reply_goes_into_the_cards_thread(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    """Bluesky names a thread's first post; Mastodon only the post answered, so its
    thread is found through the brand's reply to the card's mention."""
    card = card_of(rt, fake_slack, network, "my order is late")
    _publish(app, fake_slack, card, "Sorry! Which order number?")
    run_jobs(rt)
    (reply,) = network.brand_posts()
    if network.name == "bluesky":
        network.fake.post_mention(
            network.customer, f"@{network.account.handle} it is 4417", reply_to=reply["id"]
        )
    else:
        network.fake.post_mention(network.customer, "it is 4417", in_reply_to=reply["id"])
    intake = Intake(rt)
    try:
        assert intake.poll(network.account) == 1
    finally:
        intake.close()
    run_jobs(rt)
    with rt.sessions() as session:
        first, answer = session.scalars(select(Mention).order_by(Mention.tweet_id)).all()
    assert answer.conversation_id == first.conversation_id
    assert answer.root_tweet_id == first.tweet_id and answer.slack_thread_ts == card["ts"]
    threaded = " ".join(json.dumps(m) for m in fake_slack.thread(BRAND_CHANNEL, card["ts"]))
    assert "it is 4417" in threaded


def test_a_reply_the_network_failed_on_is_unknown_on_its_card_naming_that_network(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    card = card_of(rt, fake_slack, network, "is the shop open?")
    network.fake.fail(network.write_path, 500, method="POST")
    _publish(app, fake_slack, card, "Yes, until 11pm")
    run_jobs(rt)
    (row,) = rows(rt)
    assert row.status == "unknown" and network.brand_posts() == []
    shown = json.dumps(fake_slack.message(BRAND_CHANNEL, card["ts"])["blocks"])
    assert f"unknown whether {network.label} took it" in shown
    assert f"checking on {network.label} that it was not posted" in shown


def test_an_x_budget_holds_only_what_x_bills(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    """Bluesky and Mastodon bill nothing: a spent hard cap on the account (or the app's X
    plan) neither pauses its reading nor stops its replies. Before, it did both."""
    with rt.sessions.begin() as session:
        account = session.get_one(Account, network.account.id)
        account.x_budget_cents, account.x_budget_hard = 0, True
    network.mention("are you open on Sunday?")
    listener = Listener(rt)
    listener.cycle()
    listener.release_all()
    run_jobs(rt)
    give(rt, fake_slack, AGENT, "agent", "^BK")
    card = fake_slack.messages(BRAND_CHANNEL)[-1]
    _publish(app, fake_slack, card, "Yes, from noon")
    run_jobs(rt)
    (reply,) = network.brand_posts()
    assert reply["text"].endswith("Yes, from noon ^BK")
    assert [row.status for row in rows(rt)] == ["sent"]


def test_a_reply_sent_as_the_modal_offers_it_goes_out_whole(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    """The modal starts the reply with the customer's handle; on Mastodon that is
    `@mia@example.social`, which the personal-data guard took for an e-mail address, so a
    reply sent as offered was refused."""
    card = card_of(rt, fake_slack, network, "does it come in green?")
    compose = open_modal(app, fake_slack, card, ACTION_REPLY)
    box = next(b for b in compose["blocks"] if b.get("block_id") == TEXT_BLOCK)
    offered = box["element"].get("initial_value") or ""
    answer = submit(app, fake_slack, compose, typed(offered + "Yes, from Friday"))
    assert answer["response_action"] == "push", answer
    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    run_jobs(rt)
    (reply,) = network.brand_posts()
    assert reply["text"].endswith("Yes, from Friday ^BK")


def test_media_go_up_again_where_an_unused_upload_may_not_outlast_a_wait(
    app: App, rt: Runtime, fake_slack: FakeSlack, network: Network
) -> None:
    """Bluesky may delete a blob no record names within minutes: a post kept waiting by a
    rate limit uploads its image again. A Mastodon instance keeps unattached media about a
    day, so a short wait reuses them."""
    from bot.outbound.sending import send_outbound
    from tests.handlers.test_posts import PNG, compose, values

    give(rt, fake_slack, AGENT, "agent", "^BK")
    image = fake_slack.add_file("sale.png", "image/png", PNG)
    modal = compose(app, fake_slack)
    answer = submit(app, fake_slack, modal, values("Look!", [network.account.id], files=[image]))
    assert submit(app, fake_slack, answer["view"]) == {"response_action": "clear"}
    network.fake.fail(network.write_path, 429, method="POST")
    run_jobs(rt)
    (row,) = rows(rt)
    assert row.status == "pending" and network.brand_posts() == []
    assert (row.media_ids is None) == (network.name == "bluesky")
    with rt.sessions.begin() as session:  # the reset has come
        session.get_one(Outbound, row.id).run_at = rt.clock()
    assert send_outbound(row.id) == "sent"
    assert len(network.brand_posts()) == 1
    upload = "com.atproto.repo.uploadBlob" if network.name == "bluesky" else "/api/v2/media"
    uploads = [call for call in network.fake.calls_to(upload) if call.method == "POST"]
    assert len(uploads) == (2 if network.name == "bluesky" else 1)

"""The mention card: pure Block Kit, checked from tables and against Slack's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.inbox.cards import (
    ACTION_APPROVE,
    ACTION_ASSIGN,
    ACTION_CHECK,
    ACTION_DM,
    ACTION_IGNORE,
    ACTION_REJECT,
    ACTION_REOPEN,
    ACTION_REPLY,
    ACTION_RESOLVE,
    ACTION_RETRY,
    ACTION_RETWEET,
    ACTION_UNDO_RETWEET,
    SECTION_LIMIT,
    CardMention,
    CardOutbound,
    build_mention_card,
    card_metadata,
    notification_text,
)

POSTED = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def card(**fields: object) -> CardMention:
    values: dict[str, object] = {
        "id": 7,
        "tweet_id": 1860000000000000001,
        "account_handle": "brand",
        "text": "@brand my phone will not turn on",
        "created_at": POSTED,
        "author_username": "jane",
        "author_name": "Jane Doe",
        "author_followers": 1234,
    }
    values.update(fields)
    return CardMention(**values)  # type: ignore[arg-type]


def texts(blocks: list[dict]) -> list[str]:
    """Every mrkdwn/plain text in the blocks, in order."""
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            if "text" in element:
                text = element["text"]
                found.append(text["text"] if isinstance(text, dict) else text)
    return found


def body_of(blocks: list[dict]) -> str:
    return [b for b in blocks if b["type"] == "section"][1]["text"]["text"]


def assert_within_slack_limits(blocks: list[dict]) -> None:
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= 75
                assert len(element["value"]) <= 2000
            if element.get("type") == "mrkdwn":
                assert len(element["text"]) <= 3000


def test_card_shows_account_author_text_link_and_buttons() -> None:
    blocks = build_mention_card(card())
    joined = "\n".join(texts(blocks))
    assert "Mention of *@brand*" in joined
    assert "*Jane Doe* <https://x.com/jane|@jane> · 1,234 followers" in joined
    assert body_of(blocks) == "@brand my phone will not turn on"
    assert "<https://x.com/jane/status/1860000000000000001|View on X>" in joined
    assert "<!date^1795665600^{date_short_pretty} {time}|2026-11-26 04:00 UTC>" in joined
    actions = next(b for b in blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        ACTION_REPLY,
        ACTION_DM,
        ACTION_RETWEET,
        ACTION_ASSIGN,
        ACTION_RESOLVE,
        ACTION_IGNORE,
    ]
    assert actions["block_id"] == "mention:7"
    assert all(e.get("value") == "7" for e in actions["elements"] if e["type"] == "button")
    assert_within_slack_limits(blocks)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<!channel> refund now", "&lt;!channel&gt; refund now"),
        ("<!here> anyone?", "&lt;!here&gt; anyone?"),
        ("ping <@U123ABC> please", "ping &lt;@U123ABC&gt; please"),
        ("<https://evil.example|click me>", "&lt;https://evil.example|click me&gt;"),
        ("fish & chips", "fish &amp; chips"),
        # X's own entities are unescaped at intake; a literal "&lt;" typed by
        # the author arrives here as text and must still show as typed.
        ("a &lt; b", "a &amp;lt; b"),
        # Formatting characters cannot ping or break the card; they pass as written.
        ("*bold* _it_ ~s~ `code`", "*bold* _it_ ~s~ `code`"),
    ],
)
def test_hostile_text_renders_as_text_and_pings_no_one(text: str, shown: str) -> None:
    blocks = build_mention_card(card(text=text))
    assert body_of(blocks) == shown
    notification = notification_text(card(text=text))
    assert "<!" not in notification and "<@" not in notification


def test_author_name_is_escaped_too() -> None:
    blocks = build_mention_card(card(author_name="<!channel> Jane"))
    assert "*&lt;!channel&gt; Jane*" in "\n".join(texts(blocks))


def test_25000_character_note_tweet_is_cut_with_a_link_to_the_whole() -> None:
    long_text = ("word " * 5000).strip()  # 24,999 characters
    blocks = build_mention_card(card(text=long_text + " <end>"))
    body = body_of(blocks)
    assert len(body) <= SECTION_LIMIT
    url = "https://x.com/jane/status/1860000000000000001"
    assert body.endswith(f"<{url}|Read the whole post on X (25,005 characters)>")
    assert_within_slack_limits(blocks)
    assert len(json.dumps(blocks)) < 40_000


def test_cut_never_splits_an_escape_sequence() -> None:
    blocks = build_mention_card(card(text="<" * 5000))
    body = body_of(blocks).split("…")[0]
    assert body and set(body.replace("&lt;", "")) == set()


def test_deleted_author_is_named_as_such_and_links_to_the_post() -> None:
    blocks = build_mention_card(card(author_username=None, author_name=None, author_followers=None))
    joined = "\n".join(texts(blocks))
    assert "*Unknown author* (the account was deleted or suspended)" in joined
    assert "<https://x.com/i/web/status/1860000000000000001|View on X>" in joined
    assert "from an unknown author" in notification_text(card(author_username=None))


def test_protected_and_verified_authors_are_marked() -> None:
    joined = "\n".join(texts(build_mention_card(card(author_protected=True, author_verified=True))))
    assert "verified" in joined and ":lock: protected account" in joined


def test_media_and_replies_are_noted() -> None:
    media = ({"type": "photo"}, {"type": "photo"}, {"type": "video"})
    joined = "\n".join(texts(build_mention_card(card(media=media, in_reply_to_tweet_id=5))))
    assert ":paperclip: 2 photos, 1 video" in joined
    assert "a reply in a conversation" in joined


def test_card_status_line_counts_the_thread() -> None:
    assert texts(build_mention_card(card()))[-1] == "Open"
    one = texts(build_mention_card(card(thread_count=1)))[-1]
    assert one == "Open · 1 more mention in the thread"
    assert "3 more mentions" in texts(build_mention_card(card(thread_count=3)))[-1]


def test_thread_form_is_compact_without_assign() -> None:
    blocks = build_mention_card(card(), in_thread=True)
    actions = next(b for b in blocks if b["type"] == "actions")
    assert ACTION_ASSIGN not in [e["action_id"] for e in actions["elements"]]
    assert "Mention of" not in "\n".join(texts(blocks))


def test_metadata_names_the_mention() -> None:
    assert card_metadata(card()) == {
        "event_type": "roost_mention",
        "event_payload": {"mention_id": 7},
    }


def test_notification_text_is_short() -> None:
    text = notification_text(card(text="x" * 1000))
    assert text.startswith("Mention of @brand from @jane: ") and text.endswith("…")
    assert len(text) < 250


def outbound(**fields: object) -> CardOutbound:
    values: dict[str, object] = {
        "id": 3,
        "kind": "reply",
        "status": "sent",
        "actor": "U0AGENT",
        "account_handle": "brand",
        "text": "@jane on it ^BK",
    }
    values.update(fields)
    return CardOutbound(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "line", "buttons"),
    [
        (
            outbound(after=timedelta(minutes=12), x_url="https://x.com/brand/status/9"),
            "<@U0AGENT> replied as @brand after 12 min · <https://x.com/brand/status/9|View on X>",
            [],
        ),
        (
            outbound(kind="dm", after=timedelta(hours=3, minutes=5)),
            "sent a DM as @brand after 3 h 5 min",
            [],
        ),
        (outbound(kind="retweet"), "<@U0AGENT> retweeted as @brand", [ACTION_UNDO_RETWEET]),
        (outbound(kind="retweet", undone=True), "retweeted as @brand (since undone)", []),
        (
            outbound(status="awaiting_approval"),
            "<@U0AGENT>'s reply as @brand is awaiting approval",
            [ACTION_APPROVE, ACTION_REJECT],
        ),
        (outbound(status="pending"), "reply as @brand is being sent", []),
        (
            outbound(status="unknown", error="X's answer was lost."),
            "unknown whether X took it. X's answer was lost.",
            [ACTION_CHECK, ACTION_RETRY],
        ),
        (
            outbound(status="failed", error="X refused <the> token"),
            "failed: X refused &lt;the&gt; token",
            [ACTION_RETRY],
        ),
        (outbound(status="rejected"), "reply as @brand was rejected", []),
    ],
)
def test_card_lists_what_was_sent_with_the_buttons_each_state_needs(
    item: CardOutbound, line: str, buttons: list[str]
) -> None:
    blocks = build_mention_card(card(activity=(item,)))
    assert line in "\n".join(texts(blocks))
    shown = [
        e["action_id"]
        for b in blocks
        if b.get("block_id", "").startswith("outbound:")
        for e in b["elements"]
    ]
    assert shown == buttons
    assert_within_slack_limits(blocks)


@pytest.mark.parametrize(
    ("network", "shared", "undone", "button"),
    [
        ("x", "retweeted", "undid the retweet", "Undo retweet"),
        ("bluesky", "reposted", "undid the repost", "Undo repost"),
        ("mastodon", "boosted", "undid the boost", "Undo boost"),
    ],
)
def test_a_repost_is_said_in_its_networks_word(
    network: str, shared: str, undone: str, button: str
) -> None:
    def shown(**fields: object) -> str:
        item = outbound(kind="retweet", network=network, **fields)
        return "\n".join(texts(build_mention_card(card(activity=(item,)))))

    assert f"<@U0AGENT> {shared} as @brand" in shown()
    assert f"{shared} as @brand (since undone)" in shown(undone=True)
    noun = button.removeprefix("Undo ")
    assert f"{noun} as @brand is being sent" in shown(status="pending")
    assert f"{noun} as @brand failed" in shown(status="failed", error="no")
    undo = outbound(kind="unretweet", network=network)
    assert f"{undone} as @brand" in "\n".join(texts(build_mention_card(card(activity=(undo,)))))
    blocks = build_mention_card(card(activity=(outbound(kind="retweet", network=network),)))
    assert button in json.dumps(blocks)


def test_a_resolved_card_offers_reopen_instead_of_resolve_and_ignore() -> None:
    blocks = build_mention_card(card(status="resolved"))
    actions = next(b for b in blocks if b["type"] == "actions")
    ids = [e["action_id"] for e in actions["elements"]]
    assert ACTION_REOPEN in ids and ACTION_RESOLVE not in ids and ACTION_IGNORE not in ids


def test_a_busy_card_shows_only_the_latest_activity_within_slack_limits() -> None:
    items = tuple(outbound(id=n, status="awaiting_approval", text="x" * 3000) for n in range(40))
    blocks = build_mention_card(card(activity=items))
    assert_within_slack_limits(blocks)
    approvals = [b for b in blocks if b.get("block_id", "").startswith("outbound:")]
    assert [b["block_id"] for b in approvals] == [f"outbound:{n}" for n in range(35, 40)]


def test_an_approval_quote_of_many_short_lines_stays_within_a_section() -> None:
    blocks = build_mention_card(
        card(activity=(outbound(status="awaiting_approval", text="a\n" * 2000),))
    )
    assert_within_slack_limits(blocks)

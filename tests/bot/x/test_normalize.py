"""X payloads to mentions: pure tables."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.x.normalize import mentions_from_payload

AUTHOR = {
    "id": "200",
    "name": "Jane Doe",
    "username": "jane",
    "public_metrics": {"followers_count": 42},
    "verified": True,
    "protected": False,
}


def tweet(tweet_id: str, **fields: object) -> dict:
    base = {
        "id": tweet_id,
        "text": "@brand hi",
        "author_id": "200",
        "conversation_id": tweet_id,
        "created_at": "2026-11-26T04:00:00.000Z",
        "lang": "en",
        "edit_history_tweet_ids": [tweet_id],
    }
    base.update(fields)
    return base


def test_timeline_page_becomes_mentions_oldest_first() -> None:
    page = {
        "data": [tweet("12"), tweet("11")],
        "includes": {"users": [AUTHOR]},
        "meta": {"result_count": 2},
    }
    found = mentions_from_payload(page)
    assert [m.tweet_id for m in found] == [11, 12]
    first = found[0]
    assert first.author_username == "jane" and first.author_followers == 42
    assert first.author_verified and not first.author_protected
    assert first.created_at == datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
    assert first.conversation_id == 11 and first.in_reply_to_tweet_id is None


def test_stream_line_has_one_tweet() -> None:
    line = {"data": tweet("5"), "includes": {"users": [AUTHOR]}, "matching_rules": []}
    assert [m.tweet_id for m in mentions_from_payload(line)] == [5]


def test_x_html_entities_are_unescaped() -> None:
    page = {"data": [tweet("1", text="@brand a &lt; b &amp;&amp; c &gt; d")], "includes": {}}
    assert mentions_from_payload(page)[0].text == "@brand a < b && c > d"


def test_note_tweet_gives_the_whole_long_text() -> None:
    long_text = "@brand " + "가" * 24_990
    page = {"data": [tweet("1", text=long_text[:280], note_tweet={"text": long_text})]}
    assert mentions_from_payload(page)[0].text == long_text


def test_deleted_author_leaves_author_fields_empty() -> None:
    page = {
        "data": [tweet("1", author_id="999")],
        "includes": {"users": [AUTHOR]},
        "errors": [{"resource_type": "user", "value": "999", "title": "Not Found Error"}],
    }
    mention = mentions_from_payload(page)[0]
    assert mention.author_id == 999
    assert mention.author_username is None and mention.author_name is None


def test_protected_author_is_flagged() -> None:
    page = {"data": [tweet("1")], "includes": {"users": [{**AUTHOR, "protected": True}]}}
    assert mentions_from_payload(page)[0].author_protected


def test_reply_and_media_are_kept() -> None:
    replying = tweet(
        "3",
        conversation_id="1",
        referenced_tweets=[{"type": "quoted", "id": "2"}, {"type": "replied_to", "id": "1"}],
        attachments={"media_keys": ["3_1", "3_2"]},
    )
    media = [
        {"media_key": "3_1", "type": "photo", "url": "https://pbs.example/1.jpg"},
        {"media_key": "3_2", "type": "video", "preview_image_url": "https://pbs.example/2.jpg"},
    ]
    mention = mentions_from_payload({"data": [replying], "includes": {"media": media}})[0]
    assert mention.conversation_id == 1 and mention.in_reply_to_tweet_id == 1
    assert [m["type"] for m in mention.media] == ["photo", "video"]


def test_the_accounts_own_posts_are_skipped() -> None:
    page = {"data": [tweet("1"), tweet("2", author_id="100")]}
    assert [m.tweet_id for m in mentions_from_payload(page, account_x_id=100)] == [1]


def test_retweets_are_dropped_and_quote_posts_kept() -> None:
    page = {
        "data": [
            tweet(
                "3",
                text="RT @brand: our sale",
                referenced_tweets=[{"type": "retweeted", "id": "1"}],
            ),
            tweet(
                "4", text="@brand is this real?", referenced_tweets=[{"type": "quoted", "id": "1"}]
            ),
        ]
    }
    assert [m.tweet_id for m in mentions_from_payload(page)] == [4]
    line = {"data": tweet("5", referenced_tweets=[{"type": "retweeted", "id": "4"}])}
    assert mentions_from_payload(line) == []


BRAND = 100
BRAND_MENTIONED = {"mentions": [{"start": 0, "end": 6, "username": "brand", "id": "100"}]}


def test_a_post_summons_the_account_when_it_mentions_it_or_quotes_it() -> None:
    quoted = {"id": "1", "text": "Our sale", "author_id": "100"}
    page = {
        "data": [
            tweet("2", entities=BRAND_MENTIONED),
            tweet("3", entities={}, referenced_tweets=[{"type": "quoted", "id": "1"}]),
            tweet("4", entities={"mentions": [{"username": "bob", "id": "7"}]}),
            tweet("5"),  # no entities asked for: nobody can tell
        ],
        "includes": {"tweets": [quoted]},
    }
    found = mentions_from_payload(page, account_x_id=BRAND)
    assert [(m.tweet_id, m.summons) for m in found] == [(2, True), (3, True), (4, False), (5, None)]
    # X's OpenAPI names the referenced posts `includes.posts`: read either.
    page["includes"] = {"posts": [quoted]}
    assert mentions_from_payload(page, account_x_id=BRAND)[1].summons is True


def test_a_long_posts_mention_counts_from_its_note() -> None:
    note = {"text": "x" * 300 + " @brand", "entities": BRAND_MENTIONED}
    (found,) = mentions_from_payload(
        {"data": [tweet("2", entities={}, note_tweet=note)]}, account_x_id=BRAND
    )
    assert found.summons is True and found.text.endswith("@brand")


def test_the_spec_spellings_of_post_fields_are_read_too() -> None:
    """X's OpenAPI (2.167) says note_post, referenced_posts and edit_history_post_ids where
    the live API says tweet; Roost reads both."""
    post = {
        "id": "9",
        "text": "@brand short",
        "author_id": "200",
        "note_post": {"text": "@brand the whole long text"},
        "referenced_posts": [{"type": "replied_to", "id": "8"}],
        "edit_history_post_ids": ["7", "9"],
    }
    (found,) = mentions_from_payload({"data": [post]})
    assert found.text == "@brand the whole long text"
    assert found.in_reply_to_tweet_id == 8
    assert found.edit_history == (7, 9)
    retweet = {**post, "referenced_posts": [{"type": "retweeted", "id": "8"}]}
    assert mentions_from_payload({"data": [retweet]}) == []


def test_an_edited_post_carries_its_history() -> None:
    (found,) = mentions_from_payload({"data": [tweet("12", edit_history_tweet_ids=["11", "12"])]})
    assert found.edit_history == (11, 12)


def test_empty_page() -> None:
    assert mentions_from_payload({"meta": {"result_count": 0}}) == []


def test_text_no_database_can_store_is_made_storable() -> None:
    """PostgreSQL refuses NUL; no database can encode a lone surrogate, which JSON's
    "\\ud800" escape can carry: either would make the post poison for intake."""
    author = {**AUTHOR, "name": "Ja\x00ne \udc00"}
    payload = {
        "data": [tweet("1", text="@brand nul\x00 and \ud800 alone, \ud83d\ude00 paired")],
        "includes": {"users": [author]},
    }
    (found,) = mentions_from_payload(payload)
    assert found.text == "@brand nul and \ufffd alone, \U0001f600 paired"
    assert found.author_name == "Jane \ufffd"
    found.text.encode("utf-8")  # storable

"""Routes: matching tables, then adding, testing and removing them against the fake Slack."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.errors import SlackUnavailable
from bot.inbox import routing
from bot.inbox.intake import Intake
from bot.inbox.routing import RouteError, channel_for, compile_route
from bot.runtime import Runtime
from bot.slack.channels import check_channel
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Event
from storage.routes import append_route
from tests.conftest import BRAND_CHANNEL, OWNER

MOBILE = "C0MOBILE"
BILLING = "C0BILLING"
OUTSIDE = "C0OUTSIDE"  # Roost is not a member
SECRET = "G0SECRET"  # private, Roost is not a member: Slack says it does not exist

# (keywords, text, matches)
KEYWORDS = [
    ("아이폰|iphone", "아이폰이 안 켜져요", True),  # a particle attached
    ("아이폰|iphone", "아이폰13 샀는데 문제가", True),
    ("아이폰|iphone", "@brand my iPhone died", True),
    ("아이폰|iphone", "IPHONE!!!", True),
    ("아이폰|iphone", "(iphone)", True),
    ("아이폰|iphone", "iphones are great", False),  # whole words in spaced scripts
    ("아이폰|iphone", "myiphone", False),
    ("아이폰|iphone", "갤럭시 문의", False),
    ("  아이폰 | | 갤럭시  ", "갤럭시가 멈췄어요", True),  # spaces and empty alternatives
    ("refund", "Refund? please", True),
    ("refund", "refunded yesterday", False),
    ("battery life", "the Battery   life is bad", True),
    ("battery life", "battery, life", False),
    ("배송 지연", "배송  지연이 심해요", True),
    ("Straße", "STRASSE gesperrt", True),  # full case folding
    ("café", "CAFE\u0301 closed", True),  # decomposed é in the post
    ("주문", "", False),
]


@pytest.mark.parametrize(("pattern", "text", "matches"), KEYWORDS)
def test_keyword_routes(pattern: str, text: str, matches: bool) -> None:
    assert compile_route(pattern, is_regex=False).matches(text) is matches


# (regex, text, matches): RE2, case-insensitive, searched anywhere
REGEXES = [
    (r"i-?phone\s*1[0-9]", "my IPHONE 15 broke", True),
    (r"i-?phone\s*1[0-9]", "iphone 9", False),
    (r"^refund", "Refund please", True),
    (r"^refund", "I want a refund", False),
    (r"환불|반품", "반품하고 싶어요", True),
    (r"\border\s*#?\d{6,}", "Order #1234567 is late", True),
    (r"\border\s*#?\d{6,}", "reorder 1234567", False),
    (r"\p{Hangul}{2}폰", "아이폰이요", True),
    (r"café", "CAFE\u0301", True),
    (r"(?-i)iPhone", "iphone", False),  # a route may ask for case to count
    (r"a.c", "a\nc", False),
    ("아이폰|iphone", "iphones are great", True),  # a regex matches anywhere
]


@pytest.mark.parametrize(("pattern", "text", "matches"), REGEXES)
def test_regex_routes(pattern: str, text: str, matches: bool) -> None:
    assert compile_route(pattern, is_regex=True).matches(text) is matches


def test_a_regex_that_backtracks_elsewhere_runs_in_linear_time() -> None:
    # Catastrophic for a backtracking engine; RE2 answers at once. No timing asserted:
    # that it returns at all, within the test timeout, is the point.
    assert not compile_route(r"(a+)+$", is_regex=True).matches("a" * 100_000 + "b")
    assert compile_route(r"(a|aa)+c", is_regex=True).matches("a" * 100_000 + "c")


@pytest.mark.parametrize(
    ("pattern", "is_regex", "says"),
    [
        ("", False, "The route is empty"),
        ("   ", True, "The route is empty"),
        ("| |", False, "no keywords"),
        ("x" * 501, False, "keep it under 500"),
        ("x" * 501, True, "keep it under 500"),
        ("(", True, "does not compile: missing ): ("),
        ("[z-a]", True, "invalid character class range"),
        (r"(a)\1", True, "no backreferences (\\1) or lookarounds"),
        (r"(?P<x>a)(?P=x)", True, "no backreferences"),
        (r"iphone(?=\s*15)", True, "lookarounds"),
        (r"(?<!my )iphone", True, "lookarounds"),
        (r"iphone\Z", True, "write \\z"),
        (r"a{1001}", True, "invalid repetition size"),
        (r"\pL{1000}", True, "too large to match safely"),  # over RE2's memory cap
    ],
)
def test_routes_that_cannot_be_used_say_why(pattern: str, is_regex: bool, says: str) -> None:
    with pytest.raises(RouteError) as caught:
        compile_route(pattern, is_regex=is_regex)
    assert says in str(caught.value)


def test_keywords_are_not_regular_expressions() -> None:
    assert compile_route("c++|(주)", is_regex=False).matches("(주)로스트 c++ 문의")
    assert not compile_route("a.c", is_regex=False).matches("abc")


# --- against the database and the fake Slack ---------------------------------------------


@pytest.fixture
def channels(fake_slack: FakeSlack) -> None:
    fake_slack.add_channel(MOBILE, "cs-mobile")
    fake_slack.add_channel(BILLING, "cs-billing")
    fake_slack.add_channel(OUTSIDE, "outside", bot_is_member=False)
    fake_slack.add_channel(SECRET, "secret", bot_is_member=False, is_private=True)


def events(rt: Runtime, kind: str) -> list[Event]:
    with rt.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def route_to(
    rt: Runtime, brand: Account, pattern: str, channel: str, *, is_regex: bool = False
) -> int:
    return routing.add_route(
        rt,
        account_id=brand.id,
        pattern=pattern,
        is_regex=is_regex,
        channel_id=channel,
        actor=OWNER,
    )


def test_routes_are_tried_in_the_order_they_were_added(
    rt: Runtime, brand: Account, channels: None
) -> None:
    first = route_to(rt, brand, " 아이폰|iphone ", MOBILE)
    second = route_to(rt, brand, r"refund|환불|battery", BILLING, is_regex=True)

    found = routing.routes_of(rt, brand.id)
    assert [(r.id, r.position, r.pattern, r.created_by) for r in found] == [
        (first, 0, "아이폰|iphone", OWNER),
        (second, 1, "refund|환불|battery", OWNER),
    ]
    with rt.sessions() as session:
        assert channel_for(session, brand, "iphone battery is dying") == MOBILE  # first wins
        assert channel_for(session, brand, "battery is dying") == BILLING
        assert channel_for(session, brand, "환불해 주세요") == BILLING
        assert channel_for(session, brand, "hello") == BRAND_CHANNEL
    (added, _) = events(rt, "route.added")
    assert added.actor == OWNER and added.account_id == brand.id
    assert added.detail == {
        "route_id": first,
        "pattern": "아이폰|iphone",
        "is_regex": False,
        "channel": MOBILE,
    }


@pytest.mark.parametrize(
    ("channel", "says"),
    [
        (OUTSIDE, f"Roost is not in <#{OUTSIDE}>: invite it with /invite @Roost in <#{OUTSIDE}>"),
        (SECRET, f"Invite it with /invite @Roost in <#{SECRET}>"),
        ("C0NOWHERE", "Roost cannot find channel <#C0NOWHERE>: it does not exist"),
    ],
)
def test_a_route_to_a_channel_roost_is_not_in_says_how_to_invite_it(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, channels: None, channel: str, says: str
) -> None:
    assert check_channel(rt.slack, channel) is not None
    with pytest.raises(RouteError) as caught:
        route_to(rt, brand, "iphone", channel)
    assert says in str(caught.value)
    assert routing.routes_of(rt, brand.id) == []
    assert events(rt, "route.added") == []

    if channel == OUTSIDE:  # once someone invites Roost, the route goes in
        fake_slack.add_channel(OUTSIDE, "outside")
        route_to(rt, brand, "iphone", channel)
        assert len(routing.routes_of(rt, brand.id)) == 1


def test_a_pattern_is_checked_before_slack_is_asked(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, channels: None
) -> None:
    with pytest.raises(RouteError, match="lookarounds"):
        route_to(rt, brand, r"(?=iphone)", MOBILE, is_regex=True)
    assert fake_slack.calls_to("conversations.info") == []
    assert routing.routes_of(rt, brand.id) == []


def test_slack_failing_while_checking_a_channel_is_not_a_missing_channel(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, channels: None
) -> None:
    fake_slack.fail("conversations.info", status=503)
    with pytest.raises(SlackUnavailable):
        check_channel(rt.slack, MOBILE)


def test_a_removed_route_no_longer_routes(rt: Runtime, brand: Account, channels: None) -> None:
    kept = route_to(rt, brand, "galaxy", BILLING)
    gone = route_to(rt, brand, "iphone", MOBILE)
    routing.remove_route(rt, gone, actor=OWNER)

    assert [r.id for r in routing.routes_of(rt, brand.id)] == [kept]
    assert routing.route(rt, gone) is None
    with rt.sessions() as session:
        assert channel_for(session, brand, "iphone") == BRAND_CHANNEL
    (removed,) = events(rt, "route.removed")
    assert (removed.actor, removed.detail["pattern"], removed.detail["channel"]) == (
        OWNER,
        "iphone",
        MOBILE,
    )
    with pytest.raises(RouteError, match="removed already"):
        routing.remove_route(rt, gone, actor=OWNER)
    # A route added after a removal still goes last.
    last = route_to(rt, brand, "pixel", MOBILE)
    assert [r.id for r in routing.routes_of(rt, brand.id)] == [kept, last]


def test_a_stored_route_that_no_longer_compiles_is_skipped(
    rt: Runtime, brand: Account, channels: None
) -> None:
    with rt.sessions.begin() as session:  # written by hand, past the checks
        append_route(
            session,
            account_id=brand.id,
            pattern=r"(iphone)\1",
            is_regex=True,
            channel_id=MOBILE,
            created_by=None,
            now=rt.clock(),
        )
    route_to(rt, brand, "iphone", BILLING)
    with rt.sessions() as session:
        assert channel_for(session, brand, "iphone iphone") == BILLING


def test_the_default_channel_moves_only_to_a_channel_roost_is_in(
    rt: Runtime, brand: Account, channels: None
) -> None:
    with pytest.raises(RouteError, match="/invite @Roost"):
        routing.set_default_channel(rt, brand.id, OUTSIDE, actor=OWNER)
    routing.set_default_channel(rt, brand.id, MOBILE, actor=OWNER)

    with rt.sessions() as session:
        account = session.get_one(Account, brand.id)
        assert account.channel_id == MOBILE
        assert channel_for(session, account, "anything") == MOBILE
    (moved,) = events(rt, "account.channel")
    assert moved.actor == OWNER
    assert moved.detail == {"previous": BRAND_CHANNEL, "channel": MOBILE}


def test_the_test_button_shows_the_recent_cards_a_route_would_catch(
    rt: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    first = fake_x.post_mention("brand", author="jane", text="@brand my iPhone screen cracked")
    fake_x.post_mention("brand", author="jane", text="@brand 아이폰 배터리가 빨리 닳아요")
    fake_x.post_mention("brand", author="jane", text="@brand iphone again", reply_to=first["id"])
    fake_x.post_mention("brand", author="jane", text="@brand galaxy fold hinge")
    Intake(rt).poll(brand)

    found = routing.preview_route(rt, brand.id, "아이폰|iphone", is_regex=False)
    # Newest first, cards only: the reply follows its card wherever it goes.
    assert [m.text for m in found] == [
        "@brand 아이폰 배터리가 빨리 닳아요",
        "@brand my iPhone screen cracked",
    ]
    assert routing.preview_route(rt, brand.id, "아이폰|iphone", is_regex=False, limit=1) == []
    regex = routing.preview_route(rt, brand.id, r"galaxy\s+(fold|flip)", is_regex=True)
    assert [m.text for m in regex] == ["@brand galaxy fold hinge"]
    with pytest.raises(RouteError):
        routing.preview_route(rt, brand.id, r"(a)\1", is_regex=True)

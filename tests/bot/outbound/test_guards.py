"""Checks before a reply goes out: pure tables."""

from __future__ import annotations

import pytest

from bot.outbound.guards import Finding, Own, check_dm, check_public, find_personal_data, mask

# (text, kind, the value as written): each must be found, once, as that kind.
PERSONAL_DATA = [
    ("전화 010-1234-5678 주세요", "phone", "010-1234-5678"),
    ("01012345678로 연락 주세요", "phone", "01012345678"),
    ("call 010 1234 5678", "phone", "010 1234 5678"),
    ("010.1234.5678", "phone", "010.1234.5678"),
    ("+82 10-1234-5678 (mobile)", "phone", "+82 10-1234-5678"),
    ("+82-2-123-4567", "phone", "+82-2-123-4567"),
    ("본사 02-123-4567", "phone", "02-123-4567"),
    ("(02) 123-4567", "phone", "(02) 123-4567"),
    ("031-123-4567번", "phone", "031-123-4567"),
    ("070-1234-5678", "phone", "070-1234-5678"),
    ("상담 1588-1234", "phone", "1588-1234"),
    ("call +1 415-555-2671 now", "phone", "+1 415-555-2671"),
    ("+1 (415) 555-2671", "phone", "+1 (415) 555-2671"),
    ("+44 20 7946 0958", "phone", "+44 20 7946 0958"),
    ("+81 3-1234-5678", "phone", "+81 3-1234-5678"),
    ("mail jane.doe+cs@example.co.kr please", "email", "jane.doe+cs@example.co.kr"),
    ("jane@example.com으로 보내주세요", "email", "jane@example.com"),
    ("@leo@example.social write to leo@mail.example.com", "email", "leo@mail.example.com"),
    ("card 4111 1111 1111 1111", "card", "4111 1111 1111 1111"),
    ("4111-1111-1111-1111", "card", "4111-1111-1111-1111"),
    ("5555555555554444", "card", "5555555555554444"),
    ("amex 3782 822463 10005", "card", "3782 822463 10005"),
    ("4111 1111 1111 1111 2026", "card", "4111 1111 1111 1111"),
    ("주민번호 900101-1234567입니다", "rrn", "900101-1234567"),
    ("9001011234567", "rrn", "9001011234567"),
    ("000229-3123456", "rrn", "000229-3123456"),
    ("991231-2123456", "rrn", "991231-2123456"),
    ("계좌 110-123-456789로 입금", "account_number", "110-123-456789"),
    ("1002-123-456789", "account_number", "1002-123-456789"),
    ("3333-01-1234567", "account_number", "3333-01-1234567"),
    ("account 1234567890", "account_number", "1234567890"),
]


@pytest.mark.parametrize(("text", "kind", "value"), PERSONAL_DATA)
def test_personal_data_is_found_once(text: str, kind: str, value: str) -> None:
    found = find_personal_data(text)
    assert [f.kind for f in found] == [kind]
    assert found[0].excerpt == mask(value)


@pytest.mark.parametrize(("text", "kind", "value"), PERSONAL_DATA)
def test_a_finding_never_repeats_the_value(text: str, kind: str, value: str) -> None:
    (finding,) = find_personal_data(text)
    for shown in (finding.excerpt, finding.message):
        assert value not in shown
        assert not _digits(value) or _digits(value) not in _digits(shown)
    assert 2 <= sum(c.isalnum() for c in finding.excerpt) <= 4


@pytest.mark.parametrize(
    "text",
    [
        "2026년에 뵙겠습니다",
        "Happy 2026!",
        "가격은 12,000원입니다",
        "총 1,200,000,000원",
        "주문번호 12345678 확인했습니다",
        "order 123456789",
        "2026-01-15 10:30 배송 예정",
        "2026.01.15",
        "https://x.com/a/status/1234567890123456789",
        "x.com/brand/status/1234567890123456789 보세요",
        "https://example.com/track?phone=01012345678",
        "@user1234567890 thanks",
        "@leo@example.social thanks, we are on it",  # someone on Mastodon, not an address
        "@mia＠mastodon.example 감사합니다",
        "#주문1234567890 이벤트",
        "#event2026",
        "order A1234567890",
        "pi is 3.14159265358979",
        "4111 1111 1111 1112",
        "Score 3 2 1",
        "",
    ],
)
def test_not_personal_data(text: str) -> None:
    assert find_personal_data(text) == []


def test_an_impossible_birth_date_is_not_a_resident_number() -> None:
    # Still a long digit run, so it is held back, but not named as an RRN.
    assert [f.kind for f in find_personal_data("901301-1234567")] == ["account_number"]
    assert [f.kind for f in find_personal_data("900230-1234567")] == ["account_number"]
    assert [f.kind for f in find_personal_data("900101-9234567")] == ["account_number"]


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("010-1234-5678 그리고 010-1234-5678", ["phone"]),
        ("010-1234-5678, jane@example.com", ["email", "phone"]),
        ("JANE@example.com jane@EXAMPLE.com", ["email"]),
        ("010 1234 5678 900101-1234567", ["phone", "rrn"]),
        ("010-1234-5678 4111 1111 1111 1111", ["phone", "card"]),
        ("2026 110-123-456789", ["account_number"]),
        ("https://x.com/a/status/1234567890123456789 010-1234-5678", ["phone"]),
    ],
)
def test_several_values_in_one_reply(text: str, kinds: list[str]) -> None:
    assert [f.kind for f in find_personal_data(text)] == kinds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("010-1234-5678", "•••-••••-5678"),
        ("01012345678", "•••••••5678"),
        ("1588-1234", "••••-••34"),
        ("4111 1111 1111 1111", "•••• •••• •••• 1111"),
        ("900101-1234567", "••••••-•••4567"),
        ("jane@example.com", "••••@••••••e.com"),
        ("a@b.co", "•@•.co"),
    ],
)
def test_mask_keeps_only_the_last_few(value: str, expected: str) -> None:
    assert mask(value) == expected


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("", ["empty"]),
        ("  \n\t", ["empty"]),
        ("Thanks for waiting!", []),
        ("환불해 드릴게요", ["banned_word"]),
        ("환불 문의는 010-1234-5678", ["banned_word", "phone"]),
        ("jane@example.com 4111 1111 1111 1111", ["email", "card"]),
        ("900101-1234567", ["rrn"]),
        ("110-123-456789", ["account_number"]),
    ],
)
def test_check_public(text: str, kinds: list[str]) -> None:
    assert [f.kind for f in check_public(text, banned=["환불"])] == kinds


def test_a_banned_word_finding_names_the_word() -> None:
    (finding,) = check_public("환불해 드릴게요", banned=["scam", "환불"])
    assert finding == Finding(
        kind="banned_word",
        excerpt="환불",
        message="“환불” is on the banned-word list; reword the reply.",
    )


@pytest.mark.parametrize(
    ("text", "banned", "kinds"),
    [
        ("", [], ["empty"]),
        (" \n", ["환불"], ["empty"]),
        ("010-1234-5678로 연락 주세요", [], []),
        ("계좌 110-123-456789, 주민번호 900101-1234567", [], []),
        ("jane@example.com 4111 1111 1111 1111", [], []),
        ("환불 계좌 110-123-456789", [], []),
        ("환불 계좌 110-123-456789", ["환불"], ["banned_word"]),
    ],
)
def test_check_dm_allows_personal_data(text: str, banned: list[str], kinds: list[str]) -> None:
    assert [f.kind for f in check_dm(text, banned=banned)] == kinds


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def test_an_accounts_own_numbers_addresses_and_domains_go_through_and_nothing_else() -> None:
    own = Own.of("KR", ["1588 0000", "@brand.example"])
    assert [f.kind for f in find_personal_data("Call our care line 1588-0000")] == ["phone"]
    assert find_personal_data("Call our care line 1588-0000 any time", own) == []
    found = find_personal_data("care@brand.example or jane@gmail.com, 010-1234-5678", own)
    assert [f.kind for f in found] == ["email", "phone"]  # a customer's, still stopped
    assert check_public("Call 1588-0000 or mail care@brand.example", banned=(), own=own) == []


def test_numbers_are_read_in_the_accounts_region() -> None:
    """A US number written without +1 is a phone for a US account, not an account number."""
    assert [f.kind for f in find_personal_data("Call me at 415-555-0132")] == ["account_number"]
    us = find_personal_data("Call me at 415-555-0132", Own.of("US", None))
    assert [f.kind for f in us] == ["phone"]

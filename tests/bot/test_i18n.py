"""Roost speaks English and Korean: every sentence a person reads is in the catalogue,
every catalogue entry has its Korean, the Korean keeps Slack's limits where the English
does, and the charts draw Hangul on a machine with no Korean font of its own."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import i18n
from bot.i18n import LOCALE_DIR, _, speaking
from tests.conftest import REPO_ROOT
from tests.untranslated import untranslated

PLACEHOLDER = re.compile(r"\{[a-z_][a-z0-9_]*(?:![rsa])?(?::[^{}]*)?\}")
SLACK_TOKEN = re.compile(r"<[#@!][^<>]*>|`[^`]*`|:[a-z0-9_+-]+:")


def code_messages() -> set[tuple[str | None, str]]:
    """Every message marked in bot/ and handlers/: (its context, its msgid, a plural's
    singular)."""
    found = set()
    for folder in ("bot", "handlers"):
        for _file, _line, message, _comments, context in extract_from_dir(
            REPO_ROOT / folder, method_map=[("**.py", "python")]
        ):
            found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


def korean() -> dict[tuple[str | None, str], tuple[str, bool]]:
    """The Korean catalogue: (context, msgid) -> (translation, whether it is fuzzy)."""
    with (LOCALE_DIR / "ko" / "LC_MESSAGES" / "roost.po").open("rb") as source:
        catalog = read_po(source, locale="ko")
    return {
        (m.context, m.id[0] if isinstance(m.id, tuple) else m.id): (
            m.string[0] if isinstance(m.string, tuple) else m.string,
            m.fuzzy,
        )
        for m in catalog
        if m.id
    }


def test_no_sentence_a_person_reads_is_written_outside_the_catalogue() -> None:
    left = untranslated()
    assert not left, f"{len(left)} sentences outside the catalogue, the first:\n" + "\n".join(
        str(found) for found in left[:20]
    )


def test_the_korean_catalogue_holds_every_sentence_of_the_code_and_no_other() -> None:
    code, po = set(code_messages()), set(korean())
    assert not code - po, f"not in the catalogue (run `make messages`): {sorted(code - po)[:10]}"
    assert not po - code, f"no longer in the code (run `make messages`): {sorted(po - code)[:10]}"


def test_every_sentence_has_its_korean_with_the_same_placeholders() -> None:
    for (_context, english), (translated, fuzzy) in korean().items():
        assert translated and not fuzzy, f"untranslated: {english!r}"
        assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(translated)), (
            english,
            translated,
        )
        # Slack's mentions, channels, code and emoji stay as they are.
        assert sorted(SLACK_TOKEN.findall(english)) == sorted(SLACK_TOKEN.findall(translated)), (
            english,
            translated,
        )


SPAN = re.compile(r"\*[^*\n]+\*|`[^`\n]+`")
HANGUL_CHAR = re.compile(r"[\uac00-\ud7a3]")


def test_korean_leaves_room_around_bold_and_code_for_slack_to_draw_them() -> None:
    """Slack draws *bold* and `code` only where a space or punctuation is on either side:
    a particle straight after the closing mark (*@brand*의) leaves the marks showing."""
    for (_context, english), (translated, _fuzzy) in korean().items():
        for span in SPAN.finditer(translated):
            before = translated[span.start() - 1 : span.start()]
            after = translated[span.end() : span.end() + 1]
            assert not HANGUL_CHAR.match(before or " "), (english, translated)
            assert not HANGUL_CHAR.match(after or " "), (english, translated)


def test_korean_keeps_slacks_limits_wherever_the_english_does() -> None:
    """A button's text holds 75 characters and a modal's title 24: Korean that fits where
    its English fits keeps every surface within them in both languages."""
    for (_context, english), (translated, _fuzzy) in korean().items():
        shown = PLACEHOLDER.sub("", english)
        for limit in (24, 75):
            if len(shown) <= limit:
                assert len(PLACEHOLDER.sub("", translated)) <= limit, (limit, english, translated)


def test_a_context_speaks_its_language_and_counts_and_dates_as_it_writes_them() -> None:
    sentence = "This channel's cards, digests and notices now speak {language}."
    assert _(sentence) == sentence
    with speaking("ko"):
        assert _(sentence) != sentence and "{language}" in _(sentence)
        moment = datetime(2026, 12, 6, 5, 30, tzinfo=UTC)
        assert i18n.day_and_clock(moment, ZoneInfo("Asia/Seoul")) == "12월 6일 (일) 오후 2:30"
        assert i18n.number(12345) == "12,345"
        with speaking("en"):
            assert _(sentence) == sentence
    assert i18n.day_and_clock(datetime(2026, 12, 6, 5, 30, tzinfo=UTC)) == "Sun 6 Dec 05:30"
    with speaking(lambda: "ko-KR"):  # a person's Slack locale, found when first needed
        assert i18n.language() == "ko"
    with speaking("fr"):  # not spoken: the default
        assert i18n.language() == "en"


@pytest.mark.parametrize("text", ["아이폰 배송 현황", "@acme_kr · 아이폰 배송", "첫 응답 시간"])
def test_charts_draw_hangul_from_the_font_that_installs_with_roost(text: str) -> None:
    """No glyph of a Korean title is the missing-glyph box: each character's pixels differ
    from those of a character no font has, and carry ink."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bot.digest import charts

    assert charts.korean_font_files(), "NanumGothic did not install with Roost"
    charts._ready_fonts()
    families = charts._installed(charts._TITLE_FONTS)
    assert "NanumGothic" in families

    def pixels(char: str) -> bytes:
        figure = Figure(figsize=(0.6, 0.6), dpi=100)
        canvas = FigureCanvasAgg(figure)
        figure.text(0.1, 0.2, char, fontsize=28, fontfamily=families, parse_math=False)
        canvas.draw()
        return bytes(canvas.buffer_rgba())

    blank = pixels(" ")
    with pytest.warns(UserWarning, match="missing from font"):
        missing = pixels("\U000f0000")  # a private-use character: no font draws it
    assert missing != blank
    for char in text:
        if char.isspace():
            continue
        drawn = pixels(char)
        assert drawn != missing, f"{char!r} is drawn as the missing-glyph box"
        assert drawn != blank, f"{char!r} is not drawn at all"
    assert charts._drawable(text, families) == text

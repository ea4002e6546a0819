"""The digest's activity chart and busiest hours: pure tables and decoded PNGs."""

from __future__ import annotations

import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from matplotlib.image import imread

from bot.digest.charts import CHART_HEIGHT_PX, CHART_WIDTH_PX, activity_chart, busiest_hours

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

DAY = [0, 0, 1, 0, 0, 0, 2, 5, 9, 14, 12, 8, 7, 10, 11, 6, 5, 4, 3, 9, 14, 6, 2, 1]
DAY_MINUTES: list[float | None] = [
    *(None, None, 40.0, None, None, None, 120.0, 35.5, 22, 15, 18, 30),
    *(45, 20, 12, 25, 33, 41, 50, 18, 9, 60, 80, None),
]
QUIET: list[int] = [0] * 24
UNTIMED: list[float | None] = [None] * 24

LONG_TITLE = "Mentions of @acme_kr, @acme_help and @acme_jobs on Thursday 26 November 2026, all day"
"""About 1,040 px wide at the usual title size: more than the chart."""

TITLE_ROWS = slice(0, 36)
"""The band of the image the title is drawn in, above the legend."""


def chart(
    hours: list[int] = DAY,
    minutes: list[float | None] = DAY_MINUTES,
    title: str = "@acme_kr · Thu 26 Nov",
) -> bytes:
    return activity_chart(hours, minutes, title=title, zone="Asia/Seoul")


def pixels(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    return imread(io.BytesIO(png), format="png")


def inked_columns(png: bytes, rows: slice, columns: slice = slice(None)) -> list[int]:
    """The columns of that part of the image with dark (text) pixels, left to right."""
    rgb = pixels(png)[rows, columns, :3]
    return np.flatnonzero((rgb.mean(axis=2) < 0.6).any(axis=0)).tolist()


def title_width(png: bytes) -> int:
    inked = inked_columns(png, TITLE_ROWS)
    return inked[-1] - inked[0] + 1


def test_a_day_draws_as_a_png_of_the_chart_size() -> None:
    image = pixels(chart())
    assert image.shape[:2] == (CHART_HEIGHT_PX, CHART_WIDTH_PX)
    assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 10  # not a blank canvas


def test_a_quiet_day_still_draws_and_says_so() -> None:
    quiet = chart(QUIET, UNTIMED)
    assert pixels(quiet).shape[:2] == (CHART_HEIGHT_PX, CHART_WIDTH_PX)
    # "No mentions" sits in the middle of the mentions panel, where a day with
    # one late mention has nothing dark at all.
    middle = (slice(160, 230), slice(400, 660))
    assert len(inked_columns(quiet, *middle)) > 50
    assert inked_columns(chart([*QUIET[:-1], 1], UNTIMED), *middle) == []


def test_the_same_numbers_give_the_same_bytes_from_any_thread() -> None:
    alone = chart()
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda _: chart(), range(4)))
    assert together == [alone] * 4


def test_an_hour_without_replies_is_not_drawn_as_zero_minutes() -> None:
    zeroed = [0.0 if m is None else m for m in DAY_MINUTES]
    assert chart(minutes=DAY_MINUTES) != chart(minutes=zeroed)


@pytest.mark.parametrize(
    "title",
    [
        r"@brand paid $5 for $\undefinedcommand{$",  # mathtext would raise on this
        "$x$ and $y$",
        "^_^ 50% off {today} \\n",
    ],
)
def test_a_title_is_drawn_literally(title: str) -> None:
    assert pixels(chart(title=title)).shape[:2] == (CHART_HEIGHT_PX, CHART_WIDTH_PX)


def test_a_dollar_title_is_text_not_a_formula() -> None:
    # As a formula "$x$" would be one italic x; as text it is two dollars wider.
    assert title_width(chart(title="$x$")) > 2 * title_width(chart(title="x"))


@pytest.mark.parametrize(
    "title",
    ["아크미 커피 @acme_kr", "Acme ☕️🔥 @acme", "👩\u200d💻 team"],
)
def test_characters_no_font_has_draw_as_boxes_without_a_warning(title: str) -> None:
    # The test suite turns warnings into errors: a missing glyph must not warn.
    assert pixels(chart(title=title)).shape[:2] == (CHART_HEIGHT_PX, CHART_WIDTH_PX)


def test_a_long_title_is_drawn_smaller_not_cut() -> None:
    long = chart(title=LONG_TITLE)
    # The title's first and last columns stay blank: nothing runs off either side.
    assert inked_columns(long, TITLE_ROWS, slice(0, 3)) == []
    assert inked_columns(long, TITLE_ROWS, slice(-3, None)) == []
    assert title_width(long) > CHART_WIDTH_PX * 0.9


@pytest.mark.parametrize(
    ("hours", "minutes", "message"),
    [
        (DAY[:-1], DAY_MINUTES, "hours needs 24 counts"),
        ([*DAY, 0], DAY_MINUTES, "hours needs 24 counts"),
        ([], DAY_MINUTES, "got 0"),
        (DAY, DAY_MINUTES[:-1], "response_minutes needs 24 values"),
        ([-1, *DAY[1:]], DAY_MINUTES, r"hours\[0\] is -1"),
        ([*DAY[:5], 2.5, *DAY[6:]], DAY_MINUTES, r"hours\[5\] is 2.5"),
        ([*DAY[:5], True, *DAY[6:]], DAY_MINUTES, r"hours\[5\] is True"),
        ([*DAY[:5], "3", *DAY[6:]], DAY_MINUTES, r"hours\[5\] is '3'"),
        (DAY, [-1.0, *DAY_MINUTES[1:]], r"response_minutes\[0\] is -1.0"),
        (DAY, [float("nan"), *DAY_MINUTES[1:]], r"response_minutes\[0\] is nan"),
        (DAY, [*DAY_MINUTES[:23], "5"], r"response_minutes\[23\] is '5'"),
    ],
)
def test_wrong_numbers_are_refused(hours: list, minutes: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        activity_chart(hours, minutes, title="t", zone="UTC")


@pytest.mark.parametrize(
    ("hours", "top", "expected"),
    [
        (DAY, 3, [9, 20, 10]),  # 14 at 09:00 and 20:00: the earlier first
        (DAY, 1, [9]),
        (DAY, 5, [9, 20, 10, 14, 13]),
        (QUIET, 3, []),
        ([0] * 23 + [1], 3, [23]),  # zero-count hours are never busiest
        ([2] * 24, 3, [0, 1, 2]),
        (DAY, 0, []),
    ],
)
def test_busiest_hours(hours: list[int], top: int, expected: list[int]) -> None:
    assert busiest_hours(hours, top) == expected


def test_busiest_hours_wants_a_whole_day() -> None:
    with pytest.raises(ValueError, match="hours needs 24 counts"):
        busiest_hours([5, 3])


def test_importing_the_module_leaves_matplotlib_unloaded() -> None:
    probe = "import sys, bot.digest.charts; print('matplotlib' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "False"

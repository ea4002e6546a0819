"""The digest's activity chart: mentions and first-response time by hour of day, as a PNG.

Pure: numbers in, PNG bytes out. The chart is drawn on a bare `Figure` with
the Agg canvas, never through pyplot, whose global figure registry is not
safe to share between worker threads. matplotlib is imported on the first
draw, so importing this module stays cheap for processes that never draw.
"""

from __future__ import annotations

import io
import math
import threading
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.i18n import _

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

HOURS_IN_DAY = 24

BUSIEST_SHOWN = 3
"""How many of the busiest hours the chart highlights."""

CHART_WIDTH_PX = 1000
"""Width of the PNG: legible when Slack shrinks it to a thumbnail."""

CHART_HEIGHT_PX = 600
"""Height of the PNG."""

_DPI = 100
_HOUR_LABEL_STEP = 3
_TITLE_SIZE = 16
_SMALLEST_TITLE_SIZE = 9
_MISSING_GLYPH = "\N{WHITE SQUARE}"

_MENTIONS_COLOUR = "#93b4e0"
_BUSIEST_COLOUR = "#1d4e9e"
_RESPONSE_COLOUR = "#c2410c"
_NOTE_COLOUR = "#64748b"

_TITLE_FONTS = (  # not spoken
    "DejaVu Sans",
    "NanumGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Apple SD Gothic Neo",
    "Malgun Gothic",
)
"""Fonts tried in turn for a title's characters: the Korean ones draw Hangul in a
brand's name instead of empty boxes. NanumGothic installs with Roost (_korean_font)."""

KOREAN_FONT_PACKAGE = "koreanize-matplotlib"
"""The package index's distribution that carries NanumGothic (SIL Open Font License):
read as files, never imported (importing it would change matplotlib's settings)."""

_fonts_lock = threading.Lock()
_fonts_ready = False


def korean_font_files() -> list[str]:
    """The NanumGothic files installed with Roost, so a machine without a Korean font of
    its own draws Hangul."""
    from importlib.metadata import PackageNotFoundError, files

    try:
        found = files(KOREAN_FONT_PACKAGE) or []
    except PackageNotFoundError:
        return []
    return [str(f.locate()) for f in found if str(f).endswith(".ttf")]


def _ready_fonts() -> None:
    """Register the Korean font once, and make every text of a chart fall back to it for
    what DejaVu Sans cannot draw (axes, notes and legend speak Korean too)."""
    global _fonts_ready
    with _fonts_lock:
        if _fonts_ready:
            return
        import matplotlib
        from matplotlib.font_manager import fontManager

        for path in korean_font_files():
            fontManager.addfont(path)
        matplotlib.rcParams["font.family"] = _installed(_TITLE_FONTS)
        _fonts_ready = True


def busiest_hours(hours: Sequence[int], top: int = BUSIEST_SHOWN) -> list[int]:
    """The `top` busiest hours of day: most mentions first, earlier hour first on a tie.

    Hours without mentions are never among them, so a quiet day has none.
    """
    counts = _counts(hours)
    active = (hour for hour, count in enumerate(counts) if count > 0)
    return sorted(active, key=lambda hour: (-counts[hour], hour))[: max(top, 0)]


def activity_chart(
    hours: Sequence[int],
    response_minutes: Sequence[float | None],
    *,
    title: str,
    zone: str,
) -> bytes:
    """A PNG of one day's mentions per local hour over the median first response per hour.

    `hours[h]` is how many mentions arrived between h:00 and h+1:00 in `zone`;
    `response_minutes[h]` is the median minutes to a first reply for those
    mentions, or None when there were none to time (drawn as a gap, not a
    zero). `title` and `zone` are drawn literally: a `$` in a brand's name is
    a dollar sign, not the start of a formula.

    Raises ValueError unless both have 24 values, counts are whole numbers of
    0 or more and minutes are numbers of 0 or more or None.
    """
    counts = _counts(hours)
    minutes = _minutes(response_minutes)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _ready_fonts()
    figure = Figure(figsize=(CHART_WIDTH_PX / _DPI, CHART_HEIGHT_PX / _DPI), dpi=_DPI)
    canvas = FigureCanvasAgg(figure)
    # Fixed margins rather than a layout engine: the size never changes, so
    # there is nothing to work out again on every draw.
    figure.subplots_adjust(left=0.08, right=0.98, top=0.89, bottom=0.13, hspace=0.12)
    mentions_axes, response_axes = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 2)}
    )
    _draw_mentions(mentions_axes, counts)
    _draw_response(response_axes, minutes)
    families = _installed(_TITLE_FONTS)
    heading = figure.suptitle(
        _drawable(title, families),
        fontsize=_TITLE_SIZE,
        fontfamily=families,
        usetex=False,
        parse_math=False,
    )
    _fit_width(heading, canvas)
    figure.text(
        0.01,
        0.015,
        _("Hours in {zone}").format(zone=zone),
        fontsize=10,
        color=_NOTE_COLOUR,
        usetex=False,
        parse_math=False,
    )

    buffer = io.BytesIO()
    # No "Software" key naming the matplotlib version: the bytes depend on the numbers.
    figure.savefig(buffer, format="png", metadata={"Software": None})  # not spoken
    return buffer.getvalue()


def _draw_mentions(axes: Axes, counts: list[int]) -> None:
    busiest = set(busiest_hours(counts))
    colours = [_BUSIEST_COLOUR if h in busiest else _MENTIONS_COLOUR for h in range(HOURS_IN_DAY)]
    bars = axes.bar(range(HOURS_IN_DAY), counts, width=0.8, color=colours)
    axes.bar_label(bars, labels=[str(c) if h in busiest else "" for h, c in enumerate(counts)])
    axes.set_ylabel(_("Mentions"))
    _style(axes)
    if busiest:
        from matplotlib.patches import Patch

        axes.set_ylim(0, max(counts) * 1.15)
        axes.legend(
            handles=[Patch(color=_BUSIEST_COLOUR, label=_("Busiest hours"))],
            # Above the panel, so it never hides an hour's bar.
            loc="lower right",  # not spoken
            bbox_to_anchor=(1, 1),
            frameon=False,
        )
    else:
        axes.set_ylim(0, 1)
        axes.set_yticks([0, 1])
        _note(axes, _("No mentions"))


def _draw_response(axes: Axes, minutes: list[float]) -> None:
    # NaN breaks the line, so an hour nobody wrote in is a gap rather than a zero;
    # markers keep an hour between two gaps visible as a point.
    axes.plot(range(HOURS_IN_DAY), minutes, color=_RESPONSE_COLOUR, marker="o", markersize=4)
    axes.set_ylabel(_("Median first\nresponse (min)"))
    axes.set_xlabel(_("Hour of day"))
    ticks = range(0, HOURS_IN_DAY, _HOUR_LABEL_STEP)
    axes.set_xticks(ticks, [f"{hour:02d}" for hour in ticks])
    axes.set_xticks(range(HOURS_IN_DAY), minor=True)
    axes.set_xlim(-0.6, HOURS_IN_DAY - 0.4)
    _style(axes)
    timed = [m for m in minutes if not math.isnan(m)]
    axes.set_ylim(0, max(max(timed, default=0) * 1.15, 1))
    if not timed:
        _note(axes, _("No response times"))


def _style(axes: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    axes.grid(axis="y", color="#e2e8f0")
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)


def _note(axes: Axes, text: str) -> None:
    axes.text(
        0.5,
        0.5,
        text,
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=14,
        color=_NOTE_COLOUR,
    )


def _installed(families: Sequence[str]) -> list[str]:
    """The families matplotlib can find, in order: asking for a missing one logs a warning."""
    from matplotlib.font_manager import fontManager

    found = {font.name for font in fontManager.ttflist}
    return [family for family in families if family in found] or ["DejaVu Sans"]


def _drawable(text: str, families: Sequence[str]) -> str:
    """`text` with what none of `families` can draw shown as a white square, or dropped
    when it is an invisible modifier (an emoji's variation selector or joiner).

    matplotlib would draw the same squares, but with a UserWarning for every
    character: an emoji or Hangul in a brand's name is not a fault to warn about.
    """
    from matplotlib.font_manager import FontProperties, fontManager, get_font

    fonts = [get_font(fontManager.findfont(FontProperties(family=f))) for f in families]
    drawn = []
    for char in text:
        if char.isspace() or any(font.get_char_index(ord(char)) for font in fonts):
            drawn.append(char)
        elif unicodedata.category(char) not in ("Cf", "Mn", "Me"):  # not spoken
            drawn.append(_MISSING_GLYPH)
    return "".join(drawn)


def _fit_width(text: Text, canvas: FigureCanvasAgg) -> None:
    """Shrink a long title until it fits across the chart instead of running off both sides."""
    renderer = canvas.get_renderer()
    room = canvas.figure.bbox.width * 0.98
    width = text.get_window_extent(renderer).width
    if width <= room:
        return
    # Glyphs are laid out at whole half points, so width is not quite
    # proportional to size: guess from the ratio, then step down until it fits.
    size = max(math.floor(2 * _TITLE_SIZE * room / width) / 2, _SMALLEST_TITLE_SIZE)
    text.set_fontsize(size)
    while size > _SMALLEST_TITLE_SIZE and text.get_window_extent(renderer).width > room:
        size -= 0.5
        text.set_fontsize(size)


def _counts(hours: Sequence[int]) -> list[int]:
    if len(hours) != HOURS_IN_DAY:
        raise ValueError(  # not spoken: a caller's mistake, for the log
            f"hours needs {HOURS_IN_DAY} counts, one per hour of day; got {len(hours)}"
        )
    for hour, count in enumerate(hours):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(  # not spoken: a caller's mistake, for the log
                f"hours[{hour}] is {count!r}; a count of mentions is a whole number, 0 or more"
            )
    return list(hours)


def _minutes(response_minutes: Sequence[float | None]) -> list[float]:
    if len(response_minutes) != HOURS_IN_DAY:
        raise ValueError(  # not spoken: a caller's mistake, for the log
            f"response_minutes needs {HOURS_IN_DAY} values, one per hour of day; "
            f"got {len(response_minutes)}"
        )
    minutes = []
    for hour, value in enumerate(response_minutes):
        if value is None:
            minutes.append(math.nan)
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(  # not spoken: a caller's mistake, for the log
                f"response_minutes[{hour}] is {value!r}; expected minutes (0 or more) or None"
            )
        minutes.append(float(value))
    return minutes

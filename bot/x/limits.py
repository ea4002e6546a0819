"""X's rate limits as its answers state them: pure functions. (What each plan allows is
in bot.plans.)

Every answer carries the endpoint's 15-minute window (`x-rate-limit-*`); posts, DMs and
media add 24-hour caps, one per user (`x-user-limit-24hour-*`) and one for the whole app
(`x-app-limit-24hour-*`). A 429 names none of them: the window spent is the one whose
`remaining` is 0, and it is the latest of their resets that says when calls may resume. A
daily cap spent is not over at the next quarter hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.i18n import N_

_WINDOWS = (
    ("x-rate-limit", N_("15-minute")),
    ("x-user-limit-24hour", N_("daily, for this account")),
    ("x-app-limit-24hour", N_("daily, for the whole app")),
)
"""Each limit's headers, and its name: a value code compares ("daily…"), shown to people
translated, `_(window.name)`."""


@dataclass(frozen=True)
class Window:
    """One of X's limits on an endpoint, as its latest answer stated it."""

    name: str  # "15-minute", "daily, for this account", "daily, for the whole app" (N_)
    limit: int | None
    remaining: int | None
    reset_at: datetime | None

    @property
    def daily(self) -> bool:
        return self.name.startswith("daily")

    def spent(self, now: datetime) -> bool:
        return self.remaining == 0 and self.reset_at is not None and self.reset_at > now


def windows(headers: Mapping[str, str]) -> list[Window]:
    """Every limit an answer's headers state."""
    found = []
    for prefix, name in _WINDOWS:
        if f"{prefix}-remaining" in headers:
            found.append(
                Window(
                    name,
                    header_int(headers.get(f"{prefix}-limit")),
                    header_int(headers.get(f"{prefix}-remaining")),
                    _epoch(headers.get(f"{prefix}-reset")),
                )
            )
    return found


def binding(found: list[Window], now: datetime) -> Window | None:
    """Of the spent windows, the one that ends last: until then nothing goes through."""
    spent = [w for w in found if w.spent(now)]
    return max(spent, key=lambda w: w.reset_at or now) if spent else None


def header_int(value: str | None) -> int | None:
    """A header's integer, or None when absent or malformed."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _epoch(value: str | None) -> datetime | None:
    seconds = header_int(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None

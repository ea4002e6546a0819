"""X's plans, and what Roost must do on each: how often it may read an account's mentions,
and whether X's self-serve rules of 2026-02-23 bind it (replies only where summoned, one
cashtag a post). Set by X_PLAN."""

from __future__ import annotations

import math
from typing import Literal

Plan = Literal["pay-per-use", "basic", "pro", "enterprise"]
PLANS: tuple[Plan, ...] = ("pay-per-use", "basic", "pro", "enterprise")

MENTIONS_PER_15_MINUTES: dict[Plan, int] = {
    "pay-per-use": 300,
    "basic": 10,
    "pro": 300,
    "enterprise": 300,
}
"""Reads of one account's mentions timeline X allows each 15 minutes, per plan (X's
rate-limit table; Basic and Pro remain only for their existing subscribers). Enterprise
limits are set per contract: 300 is the self-serve figure, a floor."""

WINDOW_SECONDS = 15 * 60

SELF_SERVE: frozenset[Plan] = frozenset({"pay-per-use", "basic", "pro"})
"""Plans under X's self-serve rules of 2026-02-23: replies only where summoned, one
cashtag a post. Enterprise is exempt."""


def poll_floor(plan: Plan) -> float:
    """The fewest seconds between two reads of one account's mentions on `plan`."""
    return math.ceil(WINDOW_SECONDS / MENTIONS_PER_15_MINUTES[plan])

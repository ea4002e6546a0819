"""Modals opened from a click: at once, then filled.

A click's `trigger_id` works once and only for 3 seconds, and the work that builds a modal
(the database, a look at X) can take longer when Roost is busy: Slack then refuses the
modal with `expired_trigger_id` and the click does nothing. So the modal opens first,
saying it is loading, and is filled in place (views.update) once built; what stops it
being built is said in the modal itself, where the person is looking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import Refused, RoostError
from bot.i18n import N_, _
from bot.slack.blocks import loading_modal, notice_modal
from handlers.ack import FAILED

logger = logging.getLogger(__name__)

LATE = N_(
    "Slack did not open the window in time (a click's chance to open one lasts 3 seconds). "
    "Click again."
)


def open_then_fill(
    client: WebClient, trigger_id: str, title: str, build: Callable[[], dict[str, Any]]
) -> None:
    """Open a modal titled `title` now, while `trigger_id` is fresh; fill it with what
    `build` returns, or with why it could not be built. Refused if Slack would not open
    it; nothing more if the person closed it meanwhile."""
    try:
        opened = client.views_open(trigger_id=trigger_id, view=loading_modal(title))["view"]
    except SlackApiError as exc:
        if exc.response.get("error") in ("expired_trigger_id", "exchanged_trigger_id"):
            raise Refused(_(LATE)) from None
        raise
    try:
        view = build()
    except RoostError as exc:  # a refusal, or X's or Slack's words: the person's answer
        view = notice_modal(title, str(exc))
    except Exception:
        logger.exception("building the %r modal failed", title)
        view = notice_modal(title, _(FAILED))
    try:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)
    except SlackApiError as exc:
        if exc.response.get("error") == "not_found":
            return  # closed meanwhile: nobody is waiting for it
        raise

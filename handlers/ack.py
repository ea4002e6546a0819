"""What every button, command and event shares: the immediate ack, and answering the
person afterwards wherever they clicked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt import Ack, Respond

from bot.errors import Refused, RoostError
from bot.i18n import N_, _
from bot.runtime import Runtime
from bot.slack.client import send_dm
from bot.team.people import Who

logger = logging.getLogger(__name__)

FAILED = N_(
    "Roost could not do that: something went wrong, and it is logged. Try again in a moment."
)


def acknowledge(ack: Ack) -> None:
    ack()


def tell(rt: Runtime, body: dict[str, Any], respond: Respond, text: str) -> None:
    """Answer the person privately: where they clicked, or by DM from the App Home,
    whose buttons come with no response_url."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
        return
    send_dm(rt.slack, body["user"]["id"], text)


@contextmanager
def answering(rt: Runtime, body: dict[str, Any], respond: Respond) -> Iterator[None]:
    """Refusals become the person's answer; anything else is logged with its traceback
    and the person told, rather than lost in a background thread."""
    try:
        yield
    except Refused as exc:
        tell(rt, body, respond, str(exc))
    except RoostError as exc:
        # Roost's own errors say what a person can do: say it to them.
        logger.warning("handling %s: %s", body.get("type"), exc)
        tell(rt, body, respond, str(exc))
    except Exception as exc:  # logged with its traceback, and the person answered
        logger.exception("handling %s failed", body.get("type"), exc_info=exc)
        tell(rt, body, respond, _(FAILED))


def button_value(body: dict[str, Any]) -> int:
    """The id a button is about: its value, else the end of its block id."""
    for action in body.get("actions") or []:
        for candidate in (action.get("value"), str(action.get("block_id", "")).split(":")[-1]):
            if candidate and candidate.isdigit():
                return int(candidate)
    raise Refused(
        _("This button names nothing Roost knows; the message may be from an old version.")
    )


def who_clicked(body: dict[str, Any]) -> Who:
    user = body["user"]
    return Who(
        team_id=(body.get("team") or {}).get("id") or user.get("team_id", ""), user_id=user["id"]
    )

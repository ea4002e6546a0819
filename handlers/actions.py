"""Card buttons. Each answers the person who clicked; none is a silent no-op."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.cards import CARD_ACTIONS
from bot.inbox import mention_url
from bot.replies import coming_soon
from bot.runtime import Runtime


def register(app: App, rt: Runtime) -> None:
    for action_id in CARD_ACTIONS:
        app.action(action_id)(_answer_coming_soon(rt, action_id))


def _answer_coming_soon(rt: Runtime, action_id: str) -> Any:
    def handle(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        mention_id = _mention_id(body)
        url = mention_url(rt, mention_id) if mention_id is not None else None
        respond(text=coming_soon(action_id, url), response_type="ephemeral", replace_original=False)

    return handle


def _mention_id(body: dict[str, Any]) -> int | None:
    """The mention a card action is about: from the button's value or the block id."""
    for action in body.get("actions") or []:
        for candidate in (action.get("value"), str(action.get("block_id", "")).split(":")[-1]):
            if candidate and candidate.isdigit():
                return int(candidate)
    return None

"""Messages in channels: under a card they are notes, and may assign it."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.inbox.assignment import on_thread_message
from bot.runtime import Runtime
from handlers.ack import acknowledge


def register(app: App, rt: Runtime) -> None:
    def thread_message(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        on_thread_message(rt, event, str(body.get("team_id") or ""), context.bot_user_id)

    app.event("message")(ack=acknowledge, lazy=[thread_message])

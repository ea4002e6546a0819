"""The /roost command."""

from __future__ import annotations

from slack_bolt import Ack, App, Respond

from bot.replies import HELP
from bot.runtime import Runtime


def register(app: App, rt: Runtime) -> None:
    @app.command("/roost")
    def roost(ack: Ack, respond: Respond) -> None:
        ack()
        respond(text=HELP, response_type="ephemeral")

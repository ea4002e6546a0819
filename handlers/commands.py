"""The /roost command: `/roost cotag ^BK`, and help for anything else."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.outbox import Who
from bot.replies import HELP
from bot.runtime import Runtime
from bot.team import change_cotag


def register(app: App, rt: Runtime) -> None:
    @app.command("/roost")
    def roost(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        word, _, rest = (command.get("text") or "").strip().partition(" ")
        who = Who(team_id=command["team_id"], user_id=command["user_id"])
        if word.lower() == "cotag":
            respond(text=change_cotag(rt, who, rest), response_type="ephemeral")
        else:
            respond(text=HELP, response_type="ephemeral")

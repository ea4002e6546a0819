"""The /roost command: `/roost cotag ^BK`, and help for anything else."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond

from bot.outbox import Who
from bot.replies import HELP
from bot.runtime import Runtime
from bot.team import change_cotag
from handlers.ack import acknowledge


def register(app: App, rt: Runtime) -> None:
    def roost(command: dict[str, Any], respond: Respond) -> None:
        word, _, rest = (command.get("text") or "").strip().partition(" ")
        who = Who(team_id=command["team_id"], user_id=command["user_id"])
        if word.lower() == "cotag":
            respond(text=change_cotag(rt, who, rest), response_type="ephemeral")
        else:
            respond(text=HELP, response_type="ephemeral")

    app.command("/roost")(ack=acknowledge, lazy=[roost])

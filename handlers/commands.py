"""The /roost command: `cotag`, `mine`, `inbox [@account]`, and help for anything else."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond

from bot.home import LIST_ITEMS, list_text, work_lists
from bot.outbox import Who
from bot.replies import HELP
from bot.runtime import Runtime
from bot.team import change_cotag
from handlers.ack import acknowledge


def register(app: App, rt: Runtime) -> None:
    def roost(command: dict[str, Any], respond: Respond) -> None:
        word, _, rest = (command.get("text") or "").strip().partition(" ")
        who = Who(team_id=command["team_id"], user_id=command["user_id"])
        word = word.lower()
        if word == "cotag":
            answer = change_cotag(rt, who, rest)
        elif word == "mine":
            mine, _ = work_lists(rt, who.team_id, who.user_id, LIST_ITEMS)
            answer = list_text("Assigned to you", mine, "Nothing is assigned to you. :tada:")
        elif word == "inbox":
            handle = rest.strip() or None
            _, open_ = work_lists(rt, who.team_id, who.user_id, LIST_ITEMS, handle=handle)
            title = f"Unassigned, open mentions of {handle}" if handle else "Unassigned, open"
            answer = list_text(title, open_, "Nothing waits without an assignee.")
        else:
            answer = HELP
        respond(text=answer, response_type="ephemeral")

    app.command("/roost")(ack=acknowledge, lazy=[roost])

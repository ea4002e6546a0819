"""The App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.home import publish_home
from bot.inbox.duty import TOGGLE_ACTION, duty_command
from bot.runtime import Runtime
from bot.slack.client import dm_channel
from handlers.ack import acknowledge, answering, who_clicked


def register(app: App, rt: Runtime) -> None:
    def opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab") == "home":
            publish_home(rt, str(body.get("team_id") or ""), event["user"])

    app.event("app_home_opened")(ack=acknowledge, lazy=[opened])

    def toggle(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """The Home's duty button: on or off duty, told by DM (a Home has no thread to
        answer in), with the hand-over buttons there when open items are left."""
        who = who_clicked(body)
        with answering(rt, body, respond):
            text, blocks = duty_command(rt, who, "on" if button_text(body) == "on" else "off")
            client.chat_postMessage(
                channel=dm_channel(client, who.user_id), text=text, blocks=blocks
            )
            publish_home(rt, who.team_id, who.user_id)

    app.action(TOGGLE_ACTION)(ack=acknowledge, lazy=[toggle])


def button_text(body: dict[str, Any]) -> str:
    """The value of the button pressed."""
    return str((body.get("actions") or [{}])[0].get("value") or "")

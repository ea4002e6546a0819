"""The App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.replies import home_view
from bot.runtime import Runtime
from handlers.ack import acknowledge


def register(app: App, rt: Runtime) -> None:
    def publish_home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") == "home":
            client.views_publish(user_id=event["user"], view=home_view())

    app.event("app_home_opened")(ack=acknowledge, lazy=[publish_home])

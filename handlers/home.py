"""The App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.home import publish_home
from bot.runtime import Runtime
from handlers.ack import acknowledge


def register(app: App, rt: Runtime) -> None:
    def opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab") == "home":
            publish_home(rt, str(body.get("team_id") or ""), event["user"])

    app.event("app_home_opened")(ack=acknowledge, lazy=[opened])

"""Slack surfaces, one module each; every module exposes `register(app, rt)`."""

from __future__ import annotations

from slack_bolt import App

from bot.runtime import Runtime
from handlers import actions, admin, commands, events, home, posts, views


def register(app: App, rt: Runtime) -> None:
    actions.register(app, rt)
    admin.register(app, rt)
    commands.register(app, rt)
    events.register(app, rt)
    home.register(app, rt)
    posts.register(app, rt)
    views.register(app, rt)

"""Signed Slack requests through the real Bolt app: clicks, modal submissions, commands."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse

from bot.app import create_app
from bot.runtime import Runtime
from sandbox.slack_api import FakeSlack, action_body, command_body, signed_headers
from tests.conftest import AGENT, BRAND_CHANNEL, SIGNING_SECRET

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Listeners(ThreadPoolExecutor):
    """Bolt's background pool, with a way to wait until every listener has finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=5)
        self.running: list[Future[Any]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        self.running.append(future)
        return future

    def drain(self) -> None:
        while self.running:
            self.running.pop().result(timeout=30)


def make_app(rt: Runtime) -> App:
    """The real app; `dispatch` returns once its listeners are done, as a person would wait."""
    listeners = Listeners()
    app = create_app(rt, listener_executor=listeners)
    app.roost_listeners = listeners  # type: ignore[attr-defined]
    return app


def dispatch(app: App, body: str, content_type: str = FORM["Content-Type"]) -> BoltResponse:
    headers = {**signed_headers(SIGNING_SECRET, body), "Content-Type": content_type}
    response = app.dispatch(BoltRequest(body=body, headers=headers))
    listeners = getattr(app, "roost_listeners", None)
    if listeners is not None:
        listeners.drain()
    return response


def card_click(fake_slack: FakeSlack, action: dict[str, Any], *, user: str = AGENT) -> str:
    return action_body(
        {
            "type": "block_actions",
            "team": {"id": fake_slack.team_id},
            "user": {"id": user, "team_id": fake_slack.team_id},
            "api_app_id": "AROOST",
            "channel": {"id": BRAND_CHANNEL},
            "container": {"type": "message", "channel_id": BRAND_CHANNEL},
            "response_url": fake_slack.response_url(),
            "trigger_id": fake_slack.issue_trigger(),
            "actions": [action],
        }
    )


def button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    """The action payload Slack sends when this message's button is pressed."""
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return {
                    "action_id": action_id,
                    "block_id": block["block_id"],
                    "type": element["type"],
                    "value": element.get("value"),
                }
    raise AssertionError(f"no {action_id} button in {json.dumps(message['blocks'])[:500]}")


def press(
    app: App, fake_slack: FakeSlack, message: dict[str, Any], action_id: str, *, user: str = AGENT
) -> BoltResponse:
    return dispatch(app, card_click(fake_slack, button(message, action_id), user=user))


def submit(
    app: App,
    fake_slack: FakeSlack,
    view: dict[str, Any],
    values: dict[str, Any] | None = None,
    *,
    user: str = AGENT,
    view_id: str = "V0MODAL",
) -> dict[str, Any]:
    """Submit a modal as Slack does; the JSON the app answered with ({} for a bare ack).
    `view_id`: the open view's, for an app that updates it after answering."""
    payload = {
        "type": "view_submission",
        "team": {"id": fake_slack.team_id},
        "user": {"id": user, "team_id": fake_slack.team_id},
        "api_app_id": "AROOST",
        "trigger_id": fake_slack.issue_trigger(),
        "view": {
            "id": view_id,
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view.get("private_metadata", ""),
            "state": {"values": values or {}},
            "hash": "1.abc",
        },
    }
    response = dispatch(app, action_body(payload))
    assert response.status == 200, response.body
    return json.loads(response.body) if response.body else {}


def command(app: App, fake_slack: FakeSlack, text: str, *, user: str = AGENT) -> BoltResponse:
    body = command_body(
        "/roost",
        text,
        user_id=user,
        channel_id=BRAND_CHANNEL,
        team_id=fake_slack.team_id,
        response_url=fake_slack.response_url(),
        trigger_id=fake_slack.issue_trigger(),
    )
    return dispatch(app, body)


def opened_modal(fake_slack: FakeSlack, before: int) -> dict[str, Any]:
    """The modal a click opened after the first `before` views, once filled: Roost opens
    it at once, loading, while the click's trigger_id is fresh, then fills it in place."""
    views = fake_slack.wait_for(
        lambda: len(fake_slack.views[before:]) >= 2 and fake_slack.views[before:]
    )
    assert [v["method"] for v in views[:2]] == ["views.open", "views.update"], views
    filled: dict[str, Any] = views[1]["view"]
    return filled

"""Roost's flows over Socket Mode, as teams behind a firewall run it: slack-bolt's own
SocketModeHandler connected to the fake Slack's WebSocket, a click, a command and an event
delivered in Slack's envelopes, each acknowledged, and a refreshed connection picked up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy import select

from bot.app import create_app
from bot.inbox.cards import ACTION_REPLY
from bot.runtime import Runtime
from sandbox.slack_api import APP_ID, FakeSlack
from storage.models import Note
from tests.conftest import AGENT, BRAND_CHANNEL, wait_for
from tests.handlers.signed import button


@pytest.fixture
def socket_mode(rt: Runtime, fake_slack: FakeSlack) -> Iterator[SocketModeHandler]:
    """The app as `web` runs it with SLACK_APP_TOKEN set, connected to the fake."""
    rt.settings = rt.settings.model_copy(
        update={"slack_app_token": SecretStr(fake_slack.app_token)}
    )
    handler = SocketModeHandler(create_app(rt), fake_slack.app_token)
    handler.connect()
    wait_for(lambda: fake_slack.socket_mode.connections == 1, timeout=10)
    yield handler
    handler.close()


def click(fake_slack: FakeSlack, card: dict[str, Any], action_id: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": fake_slack.team_id},
        "user": {"id": AGENT, "team_id": fake_slack.team_id},
        "api_app_id": APP_ID,
        "channel": {"id": BRAND_CHANNEL},
        "container": {"type": "message", "channel_id": BRAND_CHANNEL},
        "response_url": fake_slack.response_url(),
        "trigger_id": fake_slack.issue_trigger(),
        "actions": [button(card, action_id)],
    }


def test_a_click_a_command_and_an_event_over_socket_mode(
    rt: Runtime, fake_slack: FakeSlack, jane_card: dict[str, Any], socket_mode: SocketModeHandler
) -> None:
    sm = fake_slack.socket_mode
    clicked = sm.deliver("interactive", click(fake_slack, jane_card, ACTION_REPLY))
    assert sm.wait_for_ack(clicked)["envelope_id"] == clicked
    opened = fake_slack.wait_for(lambda: len(fake_slack.views) >= 2 and fake_slack.views)
    assert [v["method"] for v in opened[:2]] == ["views.open", "views.update"]
    assert opened[1]["view"]["callback_id"]  # the reply modal, filled

    command = {
        "command": "/roost",
        "text": "help",
        "team_id": fake_slack.team_id,
        "channel_id": BRAND_CHANNEL,
        "user_id": AGENT,
        "api_app_id": APP_ID,
        "response_url": fake_slack.response_url(),
        "trigger_id": fake_slack.issue_trigger(),
    }
    commanded = sm.deliver("slash_commands", command)
    assert sm.wait_for_ack(commanded)["envelope_id"] == commanded
    answered = fake_slack.wait_for(lambda: fake_slack.responses)
    assert "/roost" in json.dumps(answered[-1])

    note = {
        "type": "event_callback",
        "team_id": fake_slack.team_id,
        "api_app_id": APP_ID,
        "event_id": "Ev0SOCKET",
        "event_time": 1,
        "event": fake_slack.user_message_event(
            BRAND_CHANNEL, AGENT, "asked her for the order number", thread_ts=jane_card["ts"]
        ),
    }
    evented = sm.deliver("events_api", note)
    assert sm.wait_for_ack(evented) == {"envelope_id": evented}

    def notes() -> list[str]:
        with rt.sessions() as session:
            return list(session.scalars(select(Note.text)))

    wait_for(lambda: notes() == ["asked her for the order number"], timeout=10)


def test_a_refreshed_connection_is_picked_up_and_keeps_delivering(
    fake_slack: FakeSlack, jane_card: dict[str, Any], socket_mode: SocketModeHandler
) -> None:
    sm = fake_slack.socket_mode
    sm.refresh()
    wait_for(lambda: sm.opened == 2, timeout=15)
    clicked = sm.deliver("interactive", click(fake_slack, jane_card, ACTION_REPLY))
    assert sm.wait_for_ack(clicked, timeout=15)["envelope_id"] == clicked
    fake_slack.wait_for(lambda: len(fake_slack.views) >= 2 and fake_slack.views)
    assert len(fake_slack.calls_to("apps.connections.open")) == 2
    wait_for(lambda: sm.connections == 1, timeout=5)  # the old one closed

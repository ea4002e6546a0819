"""The acknowledgement every button, command and event gets at once, before its work."""

from __future__ import annotations

from slack_bolt import Ack


def acknowledge(ack: Ack) -> None:
    ack()

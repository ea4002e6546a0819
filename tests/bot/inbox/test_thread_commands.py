"""Thread messages: which ones assign, and to whom."""

from __future__ import annotations

import pytest

from bot.inbox.thread_commands import ThreadCommand, parse

BOT = "U0ROOST"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U0BOB> can you take this?", ThreadCommand("assign", ("U0BOB",))),
        ("<@U0BOB|bob>: yours", ThreadCommand("assign", ("U0BOB",))),
        ("  <@U0BOB>", ThreadCommand("assign", ("U0BOB",))),
        ("assign <@U0BOB>", ThreadCommand("assign", ("U0BOB",))),
        ("Assign: <@U0BOB> please", ThreadCommand("assign", ("U0BOB",))),
        (f"<@{BOT}> assign <@U0BOB>", ThreadCommand("assign", ("U0BOB",))),
        (f"<@{BOT}> <@U0BOB> this one", ThreadCommand("assign", ("U0BOB",))),
        (f"<@{BOT}>: take", ThreadCommand("take")),
        ("take", ThreadCommand("take")),
        ("Take it!", ThreadCommand("take")),
        ("unassign", ThreadCommand("unassign")),
        ("<@U0BOB> <@U0CAROL> who has time?", ThreadCommand("ambiguous", ("U0BOB", "U0CAROL"))),
        ("<@U0BOB> and <@U0CAROL>", ThreadCommand("ambiguous", ("U0BOB", "U0CAROL"))),
        ("<@U0BOB>, <@U0BOB> yours", ThreadCommand("assign", ("U0BOB",))),
        ("assign <@U0BOB> <@U0CAROL>", ThreadCommand("ambiguous", ("U0BOB", "U0CAROL"))),
        # Notes, not instructions:
        ("thanks <@U0BOB>, fixed", None),
        ("I asked <@U0BOB> about it", None),
        ("take care, the customer is upset about the refund delay", None),
        ("take <@U0BOB> off this", None),
        ("assign", None),
        ("assign it to bob", None),
        ("", None),
        ("   ", None),
        (f"<@{BOT}> hello", None),
        ("<!channel> look", None),
    ],
)
def test_only_a_message_that_starts_with_an_instruction_assigns(
    text: str, expected: ThreadCommand | None
) -> None:
    assert parse(text, BOT) == expected

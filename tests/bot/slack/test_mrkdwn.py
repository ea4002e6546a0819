"""People's text in and out of Slack's mrkdwn: escaped on the way in, read as typed on
the way back."""

from __future__ import annotations

import pytest

from bot.slack.mrkdwn import escape, unescape
from sandbox.slack_api import slack_escaped


@pytest.mark.parametrize(
    "typed",
    [
        "AT&T <배송> 5 > 3",
        "see https://acme.example/help?a=1&b=2 now",
        "write to help@acme.example",
        "<!channel> &amp; literally",
    ],
)
def test_what_slack_sends_reads_back_as_typed(typed: str) -> None:
    assert unescape(slack_escaped(typed)) == typed


def test_slacks_own_mentions_and_links_are_kept_or_read_as_their_text() -> None:
    sent = "<@U123> in <#C0BRAND|x-brand> see <https://acme.example|acme.example> &lt;3"
    assert unescape(sent) == "<@U123> in <#C0BRAND|x-brand> see acme.example <3"
    assert unescape("<mailto:help@acme.example|help@acme.example>") == "help@acme.example"
    assert escape(unescape("&lt;!channel&gt;")) == "&lt;!channel&gt;"

"""Whether Roost can post in a channel, and if not, what a person should do about it."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import SlackError
from bot.i18n import _
from bot.slack.client import translate_errors


def check_channel(slack: WebClient, channel_id: str) -> str | None:
    """None if Roost can post in the channel; otherwise what a person should do about it.

    Other Slack failures (rate limits, outages) raise SlackError.
    """
    with translate_errors(channel_id):
        try:
            found = slack.conversations_info(channel=channel_id)["channel"]
        except SlackApiError as exc:
            if exc.response.get("error") != "channel_not_found":
                raise
            return _(
                "Roost cannot find channel <#{channel}>: it does not exist, or it is private "
                "and Roost is not in it. Invite it with /invite @Roost in <#{channel}>."
            ).format(channel=channel_id)
    if found.get("is_archived"):
        return _("<#{channel}> is archived: unarchive it, or pick another channel.").format(
            channel=channel_id
        )
    if not found.get("is_member"):
        return _(
            "Roost is not in <#{channel}>: invite it with /invite @Roost in <#{channel}>, "
            "then try again."
        ).format(channel=channel_id)
    return None


def usable_channel(slack: WebClient, channel_id: str | None) -> str | None:
    """`channel_id` if it is a channel Roost can post cards in, else None (a DM, a channel
    Roost is not in, or Slack not saying)."""
    if not channel_id or channel_id[:1] not in ("C", "G"):
        return None
    try:
        return channel_id if check_channel(slack, channel_id) is None else None
    except SlackError:
        return None

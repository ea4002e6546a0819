"""What Roost answers people in Slack, as text: pure functions the handlers render."""

from __future__ import annotations

from bot.mrkdwn import escape

HELP = """*Roost* brings every @mention of your X accounts into Slack as cards.
• New mentions appear in each account's channel; follow-ups from the same conversation land in the card's thread.
• Reply, DM and Retweet on a card act as the account: a preview shows exactly what goes out, signed with your CoTag. Resolve, Ignore and Reopen keep the inbox honest.
• `/roost cotag ^BK` sets your CoTag (^ and 1 to 4 letters, unique in the team).
• Assign with the card's picker, or write `@someone` at the start of a reply in the card's thread (`take`, `unassign` work too); anything else written there stays an internal note.
• `/roost mine` lists what is assigned to you; `/roost inbox [@account]` what waits without an assignee. Your App Home shows both.
• On the server: `roost accounts add --handle NAME --channel CHANNEL_ID ...` adds an X account; `roost grants add --account NAME --user SLACK_USER_ID --role agent` lets someone act as it."""  # noqa: E501


def intake_stopped(handle: str, channel: str, error: str | None) -> str:
    """The one notice a channel gets when X refuses its account's token or plan."""
    return (
        f":warning: Roost stopped reading mentions of *@{escape(handle)}*: "
        f"{escape(error or 'unknown error')}\nMentions will flow again once the account is "
        f"reconnected: `roost accounts add --handle {escape(handle)} --channel {channel} ...` "
        "with fresh tokens."
    )

"""What Roost answers people in Slack, as text: pure functions the handlers render."""

from __future__ import annotations

from bot.cards import ACTION_ASSIGN, ACTION_DM, ACTION_REPLY, ACTION_RESOLVE, ACTION_RETWEET
from bot.mrkdwn import escape

_ACTION_NAMES = {
    ACTION_REPLY: "Replying",
    ACTION_DM: "Sending a DM",
    ACTION_RETWEET: "Retweeting",
    ACTION_ASSIGN: "Assigning",
    ACTION_RESOLVE: "Resolving",
}


def coming_soon(action_id: str, tweet_url: str | None) -> str:
    """The honest answer to a card button whose behaviour is not built yet."""
    what = _ACTION_NAMES.get(action_id, "This button")
    answer = f"{what} from Slack is coming soon in Roost; nothing was sent to X."
    if tweet_url:
        answer += f" Meanwhile you can act on the post on X: <{tweet_url}|open it>."
    return answer


HELP = """*Roost* brings every @mention of your X accounts into Slack as cards.
• New mentions appear in each account's channel; follow-ups from the same conversation land in the card's thread.
• Reply, DM and Retweet on a card act as the account: a preview shows exactly what goes out, signed with your CoTag. Resolve, Ignore and Reopen keep the inbox honest.
• `/roost cotag ^BK` sets your CoTag (^ and 1 to 4 letters, unique in the team).
• Assigning from the card is coming soon.
• On the server: `roost accounts add --handle NAME --channel CHANNEL_ID ...` adds an X account; `roost grants add --account NAME --user SLACK_USER_ID --role agent` lets someone act as it."""  # noqa: E501


def home_view() -> dict[str, object]:
    """The App Home tab until assignments give it a list of its own."""
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Roost"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": HELP}},
        ],
    }


def intake_stopped(handle: str, channel: str, error: str | None) -> str:
    """The one notice a channel gets when X refuses its account's token or plan."""
    return (
        f":warning: Roost stopped reading mentions of *@{escape(handle)}*: "
        f"{escape(error or 'unknown error')}\nMentions will flow again once the account is "
        f"reconnected: `roost accounts add --handle {escape(handle)} --channel {channel} ...` "
        "with fresh tokens."
    )

"""Edited posts: X makes an edit a new post (a new id, the whole edit history), and intake
applies it to the mention it replaces. The card shows the new text, marked edited; its
thread keeps the text the team saw before, once however often the job runs."""

from __future__ import annotations

from bot import runtime
from bot.i18n import _
from bot.inbox.delivery import card_thread, refresh_card
from bot.slack.blocks import SECTION_LIMIT, context, quote, section
from bot.slack.mrkdwn import escape, escape_within
from bot.slack.notices import post_notice
from bot.team.language import in_channel
from storage.models import Mention


def show_edit(mention_id: int, version_id: int, old_text: str) -> None:
    """RQ job: the card shows the edited text; its thread, what the post said before."""
    rt = runtime.current()
    refresh_card(rt, mention_id)
    thread = card_thread(rt, mention_id)
    if thread is None:
        return  # not carded yet: the card, when it comes, has the new text
    with rt.sessions() as session:
        author = session.get_one(Mention, mention_id).author_username
    channel, thread_ts = thread
    before, _cut = escape_within(old_text, SECTION_LIMIT - 50)
    with in_channel(rt, channel):
        if author:
            line = _(":pencil2: @{author} edited the post. Before the edit it said:").format(
                author=escape(author)
            )
        else:
            line = _(":pencil2: The author edited the post. Before the edit it said:")
        post_notice(
            rt,
            f"edit:{mention_id}:{version_id}",
            channel,
            f"{line} {before}",
            thread_ts=thread_ts,
            blocks=[context(line), section(quote(before or _("_(no text)_")))],
        )

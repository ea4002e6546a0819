"""What Roost says about itself: `/roost help` and the foot of the App Home."""

from __future__ import annotations

from bot.i18n import N_

HELP = N_(
    """*Roost* brings every @mention of your X accounts into Slack as cards.
• New mentions appear in each account's channel; follow-ups from the same conversation land in the card's thread.
• Reply, DM and Retweet on a card act as the account: a preview shows exactly what goes out, signed with your CoTag. Resolve, Ignore and Reopen keep the inbox honest.
• `/roost cotag ^BK` sets your CoTag (^ and 1 to 4 letters, unique in the team).
• Assign with the card's picker, or write `@someone` at the start of a reply in the card's thread (`take`, `unassign` work too); anything else written there stays an internal note.
• `/roost post` (or the shortcut *New post*) posts to one or several accounts, now or at a time, with images or a video; `/roost queue` lists what is scheduled, with Edit and Cancel.
• `/roost replies` lists the saved replies the reply and DM windows offer; `/roost replies add [@account] "Name" text` saves one (owners for their account, admins for every account), with {name}, {handle} and {agent} filled when used; `edit` and `retire` likewise.
• A card whose author wrote before says what the team knows of them (earlier conversations, who answered, notes, a mark), with *History*; `/roost note @handle …` adds a note that follows them (so does a thread note that names them), `/roost flag @handle vip|press|blocked|off` marks them (owners and admins).
• `/roost allow @account 1588-0000` lets the account's own number, address or domain through the personal-data guard; `/roost region @account US` reads its numbers as that region's (owners and admins).
• `/roost holidays @account KR` closes its business hours (and SLA clocks) on that country's public holidays; `/roost holidays @account off 2026-12-31` adds a day off.
• `/roost duty on|off` puts you on or off duty; `/roost autoassign @account on 5` gives its new cards to those on duty in turn, and `/roost rota @account @person Mon-Fri 09:00-18:00` puts people on duty by the week (owners and admins). Off duty, SLA reminders do not ping you.
• `/roost watch @account "아이폰 배송" -from:brand` watches X for posts with those words that do not mention the account, into this channel (`in #channel` for another), as cards marked as not addressed to it, each watch within its monthly budget (`budget $20`; $10 unless given); `/roost watch` lists them with what each cost this month, `stop N` and `budget N $20` change one (owners and admins).
• `/roost mine` lists what is assigned to you; `/roost inbox [@account]` what waits without an assignee. Your App Home shows both.
• `/roost accounts` lists the X accounts, connects one, and opens each one's settings and routes; `/roost team` shows who holds which role, and grants, revokes and sets CoTags.
• `/roost route @account 아이폰|iphone #channel` sends matching mentions to a department's channel; `/roost routes @account` lists them with a Test button.
• Every morning each channel gets a digest: what came in, what is open and for whom, what is overdue, response times against the week before, and today's scheduled posts; people with assigned items get a short DM. `/roost digest` shows it now; `/roost digest at 08:30 weekdays Asia/Seoul` or `off` changes it.
• `/roost stats [7d|30d] [@account]` shows the figures, and sends you the chart.
• `/roost spend [@account] [YYYY-MM]` shows what X bills for each account: yesterday, this month, where the month is heading.
• `/roost surge` shows each account's pace against its usual; `/roost surge on|off @account` switches surge mode on or off (owners and admins).
• `/roost group @account 배송|delivery "Delivery delays"` names a group by its words: in a surge, mentions with them go to it first; `/roost group @account` lists them.
• In a surge, each group's card has *Reply to all* (one reply, signed, to everyone not answered yet, paced under X's limits, with Pause and Cancel), *Send to customer service* (the DM `/roost care @account <message>` sets) and *Post a status update* (“As of 14:30 KST…”, kept as the group's timeline).
• `/roost audit [@account] [days]` sends you the audit log as a CSV file."""  # noqa: E501
)
"""Shown with _(HELP): it mentions {name}, {handle} and {agent} as text, never formatted."""

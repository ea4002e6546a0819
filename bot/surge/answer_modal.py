"""The modal behind "Reply to all" and "Send to customer service": before anything goes
out, how many get it and who is left out and why, what X will bill, and how long X's
limits make it take; then the text, written once."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from bot.errors import Refused
from bot.i18n import N_, _
from bot.outbound.acting import cotag_for
from bot.runtime import Runtime
from bot.slack.blocks import context, notice_modal, section
from bot.slack.mrkdwn import escape
from bot.surge import batches
from bot.surge.batches import KINDS, LEFT_OUT, LIMITS, Plan, plan
from bot.surge.groups import lasting
from bot.surge.updates import latest_link
from bot.team.budget import budget_of
from bot.team.people import Who
from bot.x.prices import send_kind
from storage.models import Account, Mention

ANSWER_CALLBACK = "surge.answer"
TEXT_BLOCK = "text"
TEXT_INPUT = "text_input"
LINK_BLOCK = "link"
LINK_INPUT = "link_input"
TITLES = {"reply": N_("Reply to all"), "dm": N_("Send to customer service")}
"""The modal's title by kind (shown with _())."""


@dataclass(frozen=True, slots=True)
class Opened:
    """What the modal carries to its submission, in private_metadata."""

    group_id: int
    kind: str
    upto: int  # the group's last mention when it opened: the batch covers no later one
    nonce: str

    def dump(self) -> str:
        return json.dumps([self.group_id, self.kind, self.upto, self.nonce])

    @classmethod
    def load(cls, raw: str) -> Opened:
        group_id, kind, upto, nonce = json.loads(raw)
        if kind not in KINDS:
            raise ValueError(kind)
        return cls(int(group_id), kind, int(upto), str(nonce))


def answer_modal(rt: Runtime, who: Who, group_id: int, kind: str) -> dict[str, Any]:
    """The modal for answering the group, as it stands now."""
    now = rt.clock()
    with rt.sessions() as session:
        group, scene = batches.group_scene(session, who, group_id, now)
        batches.require_sender(scene, kind)
        account = scene.account
        cotag = cotag_for(scene, kind)  # refused if they need one and have none
        upto = int(
            session.scalar(select(func.max(Mention.id)).where(Mention.surge_group_id == group.id))
            or 0
        )
        found = plan(rt, session, group, kind, upto)
        link = latest_link(session, group, account.handle) if kind == "reply" else None
    name = escape(group.name or ", ".join(group.label) or _("this group"))
    title = _(TITLES[kind])
    if not found.targets:
        nobody = (
            _("Nobody in “{name}” is left to reply to.")
            if kind == "reply"
            else _("Nobody in “{name}” is left to DM.")
        )
        return notice_modal(title, nobody.format(name=name) + _left_out(found))
    opened = Opened(group.id, kind, upto, secrets.token_hex(8))
    blocks = [
        section(_whom(kind, len(found.targets), group.size, name, cotag)),
        *([context(_left_out(found).strip())] if found.left_out else []),
        section(_cost(rt, account, kind, len(found.targets), link)),
        section(_time(found, account)),
        _text_input(kind, account),
    ]
    if link is not None:
        blocks.append(_link_choice(link))
    blocks.append(
        context(_("Pause and Cancel are on the group's card while it goes out. Each gets it once."))
    )
    return {
        "type": "modal",
        "callback_id": ANSWER_CALLBACK,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": _("Send to {n:,}").format(n=len(found.targets))},
        "close": {"type": "plain_text", "text": _("Cancel")},
        "private_metadata": opened.dump(),
        "blocks": blocks,
    }


def _whom(kind: str, count: int, size: int, name: str, cotag: str | None) -> str:
    """Who gets it, signed how, about what: one sentence for each kind, signed or not."""
    if kind == "reply" and cotag:
        said = _(
            "*{n:,}* of the group's {size:,} mentions get this reply, each starting with @their "
            "name, signed {cotag}. About: *{name}*."
        )
    elif kind == "reply":
        said = _(
            "*{n:,}* of the group's {size:,} mentions get this reply, each starting with @their "
            "name. About: *{name}*."
        )
    elif cotag:
        said = _(
            "*{n:,}* people who wrote in “{name}” get this DM, signed {cotag}. About: *{name}*."
        )
    else:
        said = _("*{n:,}* people who wrote in “{name}” get this DM. About: *{name}*.")
    return said.format(n=count, size=size, name=name, cotag=escape(cotag or ""))


def _left_out(found: Plan) -> str:
    if not found.left_out:
        return ""
    reasons = "; ".join(_(LEFT_OUT[why]).format(n=n) for why, n in found.left_out.most_common())
    return " " + _("Left out: {reasons}.").format(reasons=reasons)


def _cost(rt: Runtime, account: Account, kind: str, count: int, link: str | None) -> str:
    """What X bills for them all, as written and with a link (the status update's, or one
    in the text: X bills a reply with a link as a post with one), against the budget."""
    each = batches.price(rt, kind, "text")
    bills = (
        _("X bills ${each} a reply: *${total}* for all {count}.")
        if kind == "reply"
        else _("X bills ${each} a DM: *${total}* for all {count}.")
    )
    lines = [bills.format(each=f"{each:.3f}", total=f"{each * count:,.2f}", count=f"{count:,}")]
    linked = batches.price(rt, kind, "text https://x.com")  # not spoken: a text to price
    if linked != each:
        if kind == "reply" and link:
            with_link = _(
                "With the status update's link, or any link, ${each} a reply: *${total}* for all."
            )
        elif kind == "reply":
            with_link = _("With a link in it, ${each} a reply: *${total}* for all.")
        elif link:
            with_link = _(
                "With the status update's link, or any link, ${each} a DM: *${total}* for all."
            )
        else:
            with_link = _("With a link in it, ${each} a DM: *${total}* for all.")
        lines.append(with_link.format(each=f"{linked:.3f}", total=f"{linked * count:,.2f}"))
    budget = budget_of(rt, account)
    if budget is not None and budget.refuses({send_kind(kind, "text"): count}):
        lines.append(
            _(
                ":warning: @{handle}'s budget does not cover them all: what it does not cover "
                "waits, paused, until an owner raises it. {why}"
            ).format(handle=account.handle, why=budget.why())
        )
    return "\n".join(lines)


def _time(found: Plan, account: Account) -> str:
    """How long X's limits make it take."""
    limit = LIMITS[found.kind]
    minutes = int(found.window.total_seconds() // 60)
    per = (
        _("{minutes} minutes").format(minutes=minutes)
        if minutes >= 1
        else _("{seconds} s").format(seconds=int(found.window.total_seconds()))
    )
    lets = (
        _(
            "X lets @{handle} send {n} posts and replies each {per}; Roost uses {used} of them "
            "and keeps the rest for the team's own."
        )
        if found.kind == "reply"
        else _(
            "X lets @{handle} send {n} DMs each {per}; Roost uses {used} of them and keeps the "
            "rest for the team's own."
        )
    )
    pace = lets.format(handle=account.handle, n=limit.per_window, per=per, used=limit.for_batches)
    takes = found.takes()
    if not takes:
        return pace + " " + _("All go out now.")
    last = (
        lasting(takes)
        if takes.total_seconds() >= 60
        else _("{seconds} s").format(seconds=takes.seconds)
    )
    return (
        pace
        + " "
        + _("{n:,} go out now, the last in about *{time}*.").format(
            n=min(found.room, len(found.targets)), time=last
        )
    )


def _text_input(kind: str, account: Account) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": TEXT_INPUT,
        "multiline": True,
        "max_length": 3000,
    }
    hint = _("Written once; each reply starts with the name of the person it answers.")
    if kind == "dm":
        if account.care_dm:
            element["initial_value"] = account.care_dm
        hint = _(
            "@{handle}'s customer-service message; an owner sets it with "
            "`/roost care @{handle} <message>`. Edits here are for this send only."
        ).format(handle=account.handle)
    return {
        "type": "input",
        "block_id": TEXT_BLOCK,
        "label": {"type": "plain_text", "text": _("Reply") if kind == "reply" else _("DM")},
        "element": element,
        "hint": {"type": "plain_text", "text": hint},
    }


def _link_choice(link: str) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": LINK_BLOCK,
        "optional": True,
        "label": {"type": "plain_text", "text": _("Status update")},
        "element": {
            "type": "checkboxes",
            "action_id": LINK_INPUT,
            "options": [
                {
                    "text": {
                        "type": "mrkdwn",
                        "text": _("Add the link to the latest: {link}").format(link=link),
                    },
                    "value": "link",
                }
            ],
        },
    }


def submitted(values: dict[str, Any]) -> tuple[str, bool]:
    """The text written and whether the status update's link is ticked."""
    text = values.get(TEXT_BLOCK, {}).get(TEXT_INPUT, {}).get("value") or ""
    ticked = values.get(LINK_BLOCK, {}).get(LINK_INPUT, {}).get("selected_options") or []
    return text, any(option.get("value") == "link" for option in ticked)


def submit(rt: Runtime, who: Who, raw: str, values: dict[str, Any]) -> dict[str, str]:
    """Start the batch the modal describes; the errors to show in it, if any."""
    opened = Opened.load(raw)
    text, with_link = submitted(values)
    try:
        problems = batches.start(
            rt,
            who,
            key=f"{opened.kind}:{opened.group_id}:{opened.nonce}",
            group_id=opened.group_id,
            kind=opened.kind,
            upto=opened.upto,
            text=text,
            with_link=with_link,
        )
    except Refused as exc:
        problems = [str(exc)]
    return {TEXT_BLOCK: " ".join(problems)[:2000]} if problems else {}

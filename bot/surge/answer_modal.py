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
TITLES = {"reply": "Reply to all", "dm": "Send to customer service"}


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
    name = escape(group.name or ", ".join(group.label) or "this group")
    if not found.targets:
        return notice_modal(
            TITLES[kind],
            f"Nobody in “{name}” is left to {'reply to' if kind == 'reply' else 'DM'}."
            + _left_out(found),
        )
    opened = Opened(group.id, kind, upto, secrets.token_hex(8))
    whom = (
        f"*{len(found.targets):,}* of the group's {group.size:,} mentions get this reply, "
        f"each starting with @their name"
        if kind == "reply"
        else f"*{len(found.targets):,}* people who wrote in “{name}” get this DM"
    )
    signed = f", signed {escape(cotag)}" if cotag else ""
    blocks = [
        section(f"{whom}{signed}. About: *{name}*."),
        *([context(_left_out(found).strip())] if found.left_out else []),
        section(_cost(rt, account, kind, len(found.targets), link)),
        section(_time(found, account)),
        _text_input(kind, account),
    ]
    if link is not None:
        blocks.append(_link_choice(link))
    blocks.append(
        context("Pause and Cancel are on the group's card while it goes out. Each gets it once.")
    )
    return {
        "type": "modal",
        "callback_id": ANSWER_CALLBACK,
        "title": {"type": "plain_text", "text": TITLES[kind]},
        "submit": {"type": "plain_text", "text": f"Send to {len(found.targets):,}"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": opened.dump(),
        "blocks": blocks,
    }


def _left_out(found: Plan) -> str:
    if not found.left_out:
        return ""
    return (
        " Left out: "
        + "; ".join(f"{n:,} {LEFT_OUT[why]}" for why, n in found.left_out.most_common())
        + "."
    )


def _cost(rt: Runtime, account: Account, kind: str, count: int, link: str | None) -> str:
    """What X bills for them all, as written and with a link (the status update's, or one
    in the text: X bills a reply with a link as a post with one), against the budget."""
    each = batches.price(rt, kind, "text")
    what = "reply" if kind == "reply" else "DM"
    lines = [f"X bills ${each:.3f} a {what}: *${each * count:,.2f}* for all {count:,}."]
    linked = batches.price(rt, kind, "text https://x.com")
    if linked != each:
        with_what = "the status update's link, or any link" if link else "a link in it"
        lines.append(f"With {with_what}, ${linked:.3f} a {what}: *${linked * count:,.2f}* for all.")
    budget = budget_of(rt, account)
    if budget is not None and budget.refuses({send_kind(kind, "text"): count}):
        lines.append(
            f":warning: @{account.handle}'s budget does not cover them all: what it does not "
            f"cover waits, paused, until an owner raises it. {budget.why()}"
        )
    return "\n".join(lines)


def _time(found: Plan, account: Account) -> str:
    """How long X's limits make it take."""
    limit = LIMITS[found.kind]
    minutes = int(found.window.total_seconds() // 60)
    per = f"{minutes} minutes" if minutes >= 1 else f"{int(found.window.total_seconds())} s"
    pace = (
        f"X lets @{account.handle} send {limit.per_window} {limit.what} each {per}; Roost uses "
        f"{limit.for_batches} of them and keeps the rest for the team's own."
    )
    takes = found.takes()
    if not takes:
        return f"{pace} All go out now."
    return (
        f"{pace} {min(found.room, len(found.targets)):,} go out now, the last in about "
        f"*{lasting(takes) if takes.total_seconds() >= 60 else f'{takes.seconds} s'}*."
    )


def _text_input(kind: str, account: Account) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": TEXT_INPUT,
        "multiline": True,
        "max_length": 3000,
    }
    hint = "Written once; each reply starts with the name of the person it answers."
    if kind == "dm":
        if account.care_dm:
            element["initial_value"] = account.care_dm
        hint = (
            f"@{account.handle}'s customer-service message; an owner sets it with "
            f"`/roost care @{account.handle} <message>`. Edits here are for this send only."
        )
    return {
        "type": "input",
        "block_id": TEXT_BLOCK,
        "label": {"type": "plain_text", "text": "Reply" if kind == "reply" else "DM"},
        "element": element,
        "hint": {"type": "plain_text", "text": hint},
    }


def _link_choice(link: str) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": LINK_BLOCK,
        "optional": True,
        "label": {"type": "plain_text", "text": "Status update"},
        "element": {
            "type": "checkboxes",
            "action_id": LINK_INPUT,
            "options": [
                {
                    "text": {"type": "mrkdwn", "text": f"Add the link to the latest: {link}"},
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

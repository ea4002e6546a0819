"""Status updates in a surge: a post as the account that starts with the time ("As of
14:30 KST: ..." or "14:30 현재 ..."), links the team's notice, and is kept with the surge
so the group cards show the latest, "Reply to all" can link it, the group's thread
keeps the timeline (bot.surge.updates), and the summary says how soon the first came.

It is composed and sent as any post is (bot.posts.compose): checked per account, signed
with the author's CoTag, one outbound row sent exactly once.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.errors import Refused
from bot.i18n import _
from bot.posts.compose import Compose, preview, submit
from bot.runtime import Runtime
from bot.slack.blocks import context, section
from bot.slack.mrkdwn import escape
from bot.surge.batches import group_scene
from bot.team.people import Who, time_zone
from storage.db import insert_into
from storage.events import record_event
from storage.models import Post, StatusUpdate, Surge, SurgeGroup

STATUS_CALLBACK = "surge.status"
TEXT_BLOCK = "text"
TEXT_INPUT = "text_input"
LINK_BLOCK = "notice"
LINK_INPUT = "notice_input"
WHOLE_BLOCK = "whole"
WHOLE_INPUT = "whole_input"

_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def as_of(now: datetime, zone: str, text: str) -> str:
    """The update's opening, in the language it is written in: "As of 14:30 KST:" or
    "14:30 현재"; the zone's abbreviation, or its offset where it has none. It goes to X
    with the update, so it follows the update's language, not the reader's."""
    local = now.astimezone(ZoneInfo(zone))
    name = local.tzname() or "UTC"
    if name[:1] in "+-":
        name = f"UTC{name}"
    if _HANGUL.search(text):  # Korean readers take a bare time for Korea's
        return f"{local:%H:%M} 현재" if name == "KST" else f"{local:%H:%M}({name}) 현재"
    return f"As of {local:%H:%M} {name}:"  # not spoken: posted to X, in the update's language


def status_modal(rt: Runtime, who: Who, group_id: int) -> dict[str, Any]:
    """The modal for a status update from a group's card."""
    with rt.sessions() as session:
        group, scene = group_scene(session, who, group_id, rt.clock())
        name = escape(group.name or ", ".join(group.label) or _("this group"))
        handle = scene.account.handle
    if scene.role not in ("owner", "agent"):
        raise Refused(
            _(
                "A status update is a post as *@{handle}*, which your role on it does not allow."
            ).format(handle=handle)
        )
    blocks = [
        section(
            _(
                "A post as *@{handle}* that starts with the time it goes out (“As of 14:30 KST:”, "
                "or “14:30 현재” when written in Korean) and is signed with your CoTag. The cards "
                "of “{name}” show it, *Reply to all* can link it, and the group's thread keeps "
                "each one."
            ).format(handle=handle, name=name)
        ),
        {
            "type": "input",
            "block_id": TEXT_BLOCK,
            "label": {"type": "plain_text", "text": _("Where things stand, and what comes next")},
            "element": {
                "type": "plain_text_input",
                "action_id": TEXT_INPUT,
                "multiline": True,
                "max_length": 1000,
            },
        },
        {
            "type": "input",
            "block_id": LINK_BLOCK,
            "optional": True,
            "label": {"type": "plain_text", "text": _("Link to the notice")},
            "element": {"type": "url_text_input", "action_id": LINK_INPUT},
            "hint": {"type": "plain_text", "text": _("X bills a post with a link $0.20.")},
        },
        {
            "type": "input",
            "block_id": WHOLE_BLOCK,
            "optional": True,
            "label": {"type": "plain_text", "text": _("About")},
            "element": {
                "type": "checkboxes",
                "action_id": WHOLE_INPUT,
                "options": [
                    {
                        "text": {"type": "plain_text", "text": _("The whole surge, every group")},
                        "value": "whole",
                    }
                ],
            },
        },
        context(_("It goes out at once, as the account's post.")),
    ]
    return {
        "type": "modal",
        "callback_id": STATUS_CALLBACK,
        "title": {"type": "plain_text", "text": _("Status update")},
        "submit": {"type": "plain_text", "text": _("Post")},
        "close": {"type": "plain_text", "text": _("Cancel")},
        "private_metadata": json.dumps([group_id, secrets.token_hex(8)]),
        "blocks": blocks,
    }


def submitted(values: dict[str, Any]) -> tuple[str, str | None, bool]:
    text = values.get(TEXT_BLOCK, {}).get(TEXT_INPUT, {}).get("value") or ""
    link = values.get(LINK_BLOCK, {}).get(LINK_INPUT, {}).get("value") or None
    ticked = values.get(WHOLE_BLOCK, {}).get(WHOLE_INPUT, {}).get("selected_options") or []
    return text, link, any(option.get("value") == "whole" for option in ticked)


def post_status(rt: Runtime, who: Who, raw: str, values: dict[str, Any]) -> dict[str, str]:
    """Post the update the modal describes; the errors to show in it, if any."""
    group_id, nonce = json.loads(raw)
    text, link, whole = submitted(values)
    if not text.strip():
        return {TEXT_BLOCK: _("Say where things stand.")}
    if link is not None and not re.fullmatch(r"https?://\S+", link):
        return {LINK_BLOCK: _("A link starts with https:// and has no spaces.")}
    now = rt.clock()
    with rt.sessions() as session:
        group, scene = group_scene(session, who, int(group_id), now)
        surge = session.get_one(Surge, group.surge_id)
    opening = as_of(now, time_zone(rt, who.user_id) or "UTC", text)
    body = f"{opening} {text.strip()}" + (f" {link}" if link else "")
    compose = Compose(text=body, account_ids=[scene.account.id], run_at=None)
    checked = preview(rt, who, compose)
    if not checked.ok:
        problems = [p for a in checked.accounts for p in a.problems]
        problems += [p for found in checked.problems.values() for p in found]
        if not all(a.allowed for a in checked.accounts):
            problems.append(
                _("Your role on *@{handle}* does not let you post as it.").format(
                    handle=scene.account.handle
                )
            )
        return {TEXT_BLOCK: " ".join(problems)[:2000] or _("It cannot be posted.")}
    key = f"status:{group_id}:{nonce}"
    post_id = submit(rt, who, compose, key)
    with rt.sessions.begin() as session:
        if post_id is None:  # this modal's post was stored already (Slack resent it)
            post_id = session.scalar(select(Post.id).where(Post.key == key))
            if post_id is None or session.scalar(
                select(StatusUpdate.id).where(StatusUpdate.post_id == post_id)
            ):
                return {}
        (signed,) = checked.accounts[0].parts
        kept = session.scalar(
            insert_into(session, StatusUpdate.__table__)
            .values(
                surge_id=surge.id,
                group_id=None if whole else group.id,
                post_id=post_id,
                text=signed,
                created_by=who.user_id,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["post_id"])
            .returning(StatusUpdate.__table__.c.id)
        )
        if kept is None:
            return {}  # Slack resent the submission, and its twin kept it
        record_event(
            session,
            "surge.status_update",
            now,
            actor=who.user_id,
            account_id=scene.account.id,
            post_id=post_id,
            group_id=None if whole else group.id,
        )
        about = SurgeGroup.surge_id == surge.id if whole else SurgeGroup.id == group.id
        session.execute(update(SurgeGroup).where(about).values(shown=None))
    return {}

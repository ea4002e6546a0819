"""Block Kit for composing posts, their preview, and the queue: pure builders."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.i18n import _
from bot.networks import links
from bot.posts.compose import Preview
from bot.slack.blocks import button, confirm, context, input_block, option, quote, section
from bot.slack.mrkdwn import escape, escape_within
from bot.x.text import describe_length
from storage.models import Post

COMPOSE_CALLBACK = "post.compose"
PUBLISH_CALLBACK = "post.publish"
SHORTCUT = "roost.new_post"
ACTION_EDIT = "post.edit"
ACTION_CANCEL = "post.cancel"

FILE_TYPES = ["jpg", "jpeg", "png", "gif", "webp", "mp4", "mov"]


def compose_modal(
    accounts: list[tuple[int, str]],
    *,
    meta: dict[str, Any],
    text: str = "",
    chosen: list[int] | None = None,
    day: str | None = None,
    at: str | None = None,
    as_thread: bool = False,
) -> dict[str, Any]:
    """The post modal: text, From, When, a thread option and media."""
    options = [option(f"@{handle}", str(id_)) for id_, handle in accounts[:100]]
    picked = [o for o in options if chosen and int(o["value"]) in chosen]
    from_: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": "value",
        "options": options,
        "placeholder": {"type": "plain_text", "text": _("Accounts")},
    }
    if picked:
        from_["initial_options"] = picked
    later = day is not None
    now_option = option(_("Now"), "now")
    later_option = option(_("At a date and time (your time zone)"), "later")
    when: dict[str, Any] = {
        "type": "radio_buttons",
        "action_id": "value",
        "options": [now_option, later_option],
        "initial_option": later_option if later else now_option,
    }
    date_picker: dict[str, Any] = {"type": "datepicker", "action_id": "value"}
    time_picker: dict[str, Any] = {"type": "timepicker", "action_id": "value"}
    if day:
        date_picker["initial_date"] = day
    if at:
        time_picker["initial_time"] = at
    thread: dict[str, Any] = {
        "type": "checkboxes",
        "action_id": "value",
        "options": [option(_("Post as a numbered thread if it is too long"), "thread")],
    }
    if as_thread:
        thread["initial_options"] = thread["options"]
    text_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
        "max_length": 3000,
    }
    if text:
        text_input["initial_value"] = text
    return {
        "type": "modal",
        "callback_id": COMPOSE_CALLBACK,
        "private_metadata": json.dumps(meta),
        "title": {
            "type": "plain_text",
            "text": _("New post") if "post_id" not in meta else _("Edit post"),
        },
        "submit": {"type": "plain_text", "text": _("Preview")},
        "close": {"type": "plain_text", "text": _("Cancel")},
        "blocks": [
            input_block("text", _("Post"), text_input),
            input_block("accounts", _("From"), from_),
            input_block("when", _("When"), when),
            input_block("date", _("Date"), date_picker, optional=True),
            input_block("time", _("Time"), time_picker, optional=True),
            input_block("thread", _("Long text"), thread, optional=True),
            input_block(
                "media",
                _("Images (up to 4) or one video"),
                {
                    "type": "file_input",
                    "action_id": "value",
                    "filetypes": FILE_TYPES,
                    "max_files": 4,
                },
                optional=True,
            ),
        ],
    }


def read_compose(values: dict[str, Any]) -> dict[str, Any]:
    """The compose modal's submitted values."""

    def element(block: str) -> dict[str, Any]:
        found: dict[str, Any] = values.get(block, {}).get("value", {})
        return found

    when = (element("when").get("selected_option") or {}).get("value", "now")
    return {
        "text": element("text").get("value") or "",
        "account_ids": [int(o["value"]) for o in element("accounts").get("selected_options") or []],
        "later": when == "later",
        "day": element("date").get("selected_date"),
        "at": element("time").get("selected_time"),
        "as_thread": bool(element("thread").get("selected_options")),
        "media": [
            {
                k: f.get(k)
                for k in (
                    "id",
                    "name",
                    "mimetype",
                    "filetype",
                    "size",
                    "url_private",
                    "url_private_download",
                )
            }
            for f in element("media").get("files") or []
        ],
    }


def preview_modal(
    preview: Preview, run_at: datetime | None, meta: dict[str, Any]
) -> dict[str, Any]:
    """Exactly what each account will post, its length as X counts it, and any warning."""
    blocks: list[dict[str, Any]] = []
    if run_at:
        # Slack writes the date in each reader's time zone; the words around it are Roost's.
        shown = _("{date_long_pretty} at {time}")
        date = f"<!date^{int(run_at.timestamp())}^{shown}|{run_at:%Y-%m-%d %H:%M} UTC>"
        when = _("Goes out {date} (in your time zone).").format(date=date)
    else:
        when = _("Goes out as soon as you publish.")
    blocks.append(section(when))
    blocks.extend(context(":information_source: " + escape(note)) for note in preview.notes)
    for account in preview.accounts[:10]:
        blocks.append(section(f"*@{escape(account.handle)}*"))
        for text, measured in list(zip(account.parts, account.lengths, strict=False))[:8]:
            blocks.append(section(quote(escape_within(text, 2800)[0])))
            blocks.append(
                context(
                    _("Length as {network} counts it: {length}").format(
                        network=links.label(account.network), length=describe_length(measured)
                    )
                )
            )
        if len(account.parts) > 8:
            blocks.append(
                context(_("… and {count} more parts.").format(count=len(account.parts) - 8))
            )
    return {
        "type": "modal",
        "callback_id": PUBLISH_CALLBACK,
        "private_metadata": json.dumps(meta),
        "title": {"type": "plain_text", "text": _("Preview")},
        "submit": {"type": "plain_text", "text": _("Schedule") if run_at else _("Publish")},
        "close": {"type": "plain_text", "text": _("Back")},
        "blocks": blocks[:100],
    }


def problems_text(problems: list[str]) -> str:
    return "\n".join(f"• {p}" for p in problems)[:1900]


def preview_errors(preview: Preview) -> dict[str, str]:
    """The preview's problems as `response_action: errors`, each under its field."""
    errors: dict[str, list[str]] = {k: list(v) for k, v in preview.problems.items()}
    for account in preview.accounts:
        if account.refusal:
            errors.setdefault("accounts", []).append(f"@{account.handle}: {account.refusal}")
        for problem in account.problems:
            errors.setdefault("text", []).append(f"@{account.handle}: {problem}")
    return {block: problems_text(found) for block, found in errors.items()}


def problem_modal(text: str) -> dict[str, Any]:
    """What replaces the preview when publishing is refused: why, and nothing posted."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": _("Not posted")},
        "close": {"type": "plain_text", "text": _("Back")},
        "blocks": [section(text[:2900])],  # Roost's own words, mentions and all
    }


def queue_blocks(posts: list[tuple[Post, list[str]]], user_id: str) -> list[dict[str, Any]]:
    """`/roost queue`: scheduled posts, soonest first, with Edit and Cancel for their authors."""
    if not posts:
        return [section(_("Nothing is scheduled."))]
    blocks: list[dict[str, Any]] = []
    for post, handles in posts[:20]:
        shown, cut = escape_within(" ".join(post.text.split()), 200)
        assert post.run_at is not None
        later = _("later")
        when = f"<!date^{int(post.run_at.timestamp())}^{{date_short_pretty}} {{time}}|{later}>"
        accounts = ", ".join(f"@{escape(h)}" for h in handles)
        blocks.append(section(f"{when} · {accounts}\n{shown}{'…' if cut else ''}"))
        blocks.append(
            {
                "type": "actions",
                "block_id": f"post:{post.id}",
                "elements": [
                    button(_("Edit"), ACTION_EDIT, str(post.id)),
                    button(
                        _("Cancel"),
                        ACTION_CANCEL,
                        str(post.id),
                        style="danger",
                        confirm=confirm(
                            _("Cancel this post?"),
                            _("Nothing of it will be posted."),
                            _("Cancel it"),
                            _("Keep it"),
                        ),
                    ),
                ],
            }
        )
    if len(posts) > 20:
        blocks.append(context(_("… and {count} more.").format(count=len(posts) - 20)))
    return blocks

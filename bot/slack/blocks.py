"""The few Block Kit elements every builder uses."""

from __future__ import annotations

from typing import Any

from bot.i18n import _


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


SECTION_LIMIT = 3000
"""Slack's limit on a section's text."""


def quote(text: str, limit: int = SECTION_LIMIT) -> str:
    """Already-escaped mrkdwn as a block quote, every line of it, within `limit` characters.

    Quoting adds two characters a line, so a text with many short lines is cut
    after quoting. A cut never makes markup: escaping left no `<` to cut into.
    """
    quoted = "> " + text.replace("\n", "\n> ")
    return quoted if len(quoted) <= limit else quoted[: limit - 1] + "…"


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        found["style"] = style
    if confirm:
        found["confirm"] = confirm
    return found


def confirm(title: str, text: str, yes: str, no: str | None = None) -> dict[str, Any]:
    """A confirmation dialog for a button; `no` is "Cancel" unless given."""
    return {
        "title": {"type": "plain_text", "text": title},
        "text": {"type": "mrkdwn", "text": text},
        "confirm": {"type": "plain_text", "text": yes},
        "deny": {"type": "plain_text", "text": _("Cancel") if no is None else no},
    }


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def option(text: str, value: str) -> dict[str, Any]:
    """A select, radio or checkbox option; Slack cuts option text at 75 characters."""
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value}


def input_block(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False
) -> dict[str, Any]:
    """A modal input; its element's action_id is the caller's."""
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


MODAL_TITLE_LIMIT = 24
"""Slack's limit on a modal's title."""


def loading_modal(title: str) -> dict[str, Any]:
    """A modal opened at once, while the click's trigger is fresh, and filled after."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:MODAL_TITLE_LIMIT]},
        "close": {"type": "plain_text", "text": _("Close")},
        "blocks": [context(_(":hourglass_flowing_sand: Loading…"))],
    }


def notice_modal(title: str, text: str) -> dict[str, Any]:
    """Roost's own words (a refusal names people as <@U…>) in place of a modal's form."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:MODAL_TITLE_LIMIT]},
        "close": {"type": "plain_text", "text": _("Close")},
        "blocks": [section(text[: SECTION_LIMIT - 100])],
    }

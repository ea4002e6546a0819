"""The reply and DM modals: pure Block Kit builders and the draft they carry.

Two steps, so nothing public goes out by accident: the compose view takes
the text, its submission answers with a pushed preview of exactly what X
will get, and only the preview's Publish creates the outbound row. The
draft's nonce, made when the modal opened, is the row's idempotency key: a
double click on Publish or Slack resending the submission finds the row
already there.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from bot.i18n import _
from bot.networks import links
from bot.outbound.guards import Finding
from bot.slack.blocks import context, quote, section
from bot.slack.mrkdwn import escape, escape_within
from bot.x.text import Measured, describe_length

REPLY_COMPOSE_CALLBACK = "outbound.compose"
REPLY_PUBLISH_CALLBACK = "outbound.publish"

TEXT_BLOCK = "text"
TEXT_INPUT = "text_input"
SAVED_BLOCK = "saved"
SAVED_ACTION = "outbound.saved_reply"
"""The compose view's select of saved replies: picking one fills the text box."""
AS_DM_BLOCK = "as_dm"
AS_DM_INPUT = "as_dm_input"

INPUT_MAX = 3000
"""Slack's limit on a plain-text input; X's own limit is checked on the counted text."""

METADATA_LIMIT = 3000
"""Slack's limit on a view's private_metadata."""

QUOTE_LIMIT = 600
"""Characters of the mention quoted in the modal."""


@dataclass(frozen=True, slots=True)
class Draft:
    """What a modal carries between its steps, in private_metadata."""

    mention_id: int
    kind: str  # reply or dm
    nonce: str
    text: str = ""
    saved: int | None = None  # the saved reply picked, if one was
    fills: int = 0  # how many times a saved reply filled the text box

    @classmethod
    def new(cls, mention_id: int, kind: str) -> Draft:
        return cls(mention_id, kind, secrets.token_hex(8))

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.mention_id}:{self.nonce}"

    def dump(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def load(cls, raw: str) -> Draft:
        values = json.loads(raw)
        saved = values.get("saved")
        return cls(
            int(values["mention_id"]),
            str(values["kind"]),
            str(values["nonce"]),
            values["text"],
            int(saved) if saved is not None else None,
            int(values.get("fills", 0)),
        )


def text_block(draft: Draft) -> str:
    """The text box's block id: a new one each time a saved reply fills it, as Slack keeps
    what was typed in a block it has seen and shows no new initial value there."""
    return TEXT_BLOCK if not draft.fills else f"{TEXT_BLOCK}-{draft.fills}"


@dataclass(frozen=True, slots=True)
class ComposeContext:
    """What the compose view shows around the text box."""

    handle: str
    author_username: str | None
    mention_text: str
    cotag: str | None  # the CoTag that will be appended, if any
    needs_approval: bool = False
    saved: tuple[tuple[int, str], ...] = ()  # (id, name) of the saved replies offered


def reply_view(
    draft: Draft, around: ComposeContext, *, initial: str | None = None
) -> dict[str, Any]:
    """The first step: the text box, prefilled with `@author ` for a reply."""
    handle = escape(around.handle)
    author = escape(f"@{around.author_username}") if around.author_username else None
    if draft.kind == "reply":
        title, label = _("Reply"), _("Your reply")
        if author:
            doing = _("Replying publicly as *@{handle}* to {author}").format(
                handle=handle, author=author
            )
        else:
            doing = _("Replying publicly as *@{handle}* to the author").format(handle=handle)
        prefill = f"@{around.author_username} " if around.author_username else ""
    else:
        title, label = _("DM"), _("Your DM")
        if author:
            doing = _("Sending a DM as *@{handle}* to {author}").format(
                handle=handle, author=author
            )
        else:
            doing = _("Sending a DM as *@{handle}* to the author").format(handle=handle)
        prefill = ""
    if around.cotag:
        signed = _("signed *{cotag}*").format(cotag=escape(around.cotag))
    else:
        signed = _("no CoTag")
    shown, cut = escape_within(around.mention_text, QUOTE_LIMIT)
    blocks: list[dict[str, Any]] = [
        context(f"{doing} · {signed}"),
        section(quote(shown + ("…" if cut else ""))),
        *_saved_select(draft, around),
        {
            "type": "input",
            "block_id": text_block(draft),
            "label": {"type": "plain_text", "text": label},
            "element": {
                "type": "plain_text_input",
                "action_id": TEXT_INPUT,
                "multiline": True,
                "max_length": INPUT_MAX,
                "initial_value": prefill if initial is None else initial,
            },
        },
    ]
    if draft.kind == "reply":
        blocks.append(
            {
                "type": "input",
                "block_id": AS_DM_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": _("Private?")},
                "element": {
                    "type": "checkboxes",
                    "action_id": AS_DM_INPUT,
                    "options": [
                        {
                            "text": {"type": "plain_text", "text": _("Send as a DM instead")},
                            "value": "dm",
                        }
                    ],
                },
            }
        )
    if around.needs_approval:
        blocks.append(context(_(":hourglass: An owner approves this before it goes out.")))
    return _modal(REPLY_COMPOSE_CALLBACK, title, _("Preview"), draft, blocks)


def _saved_select(draft: Draft, around: ComposeContext) -> list[dict[str, Any]]:
    """The saved replies to fill the text box with, if the account has any."""
    if not around.saved:
        return []
    options = [
        {"text": {"type": "plain_text", "text": name[:75]}, "value": str(saved_id)}
        for saved_id, name in around.saved
    ]
    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": SAVED_ACTION,
        "placeholder": {"type": "plain_text", "text": _("Start from a saved reply…")},
        "options": options,
    }
    chosen = [o for o in options if o["value"] == str(draft.saved)]
    if chosen:
        select["initial_option"] = chosen[0]
    return [
        {
            "type": "section",
            "block_id": SAVED_BLOCK,
            "text": {"type": "mrkdwn", "text": _("Saved replies")},
            "accessory": select,
        }
    ]


def preview_view(
    draft: Draft,
    handle: str,
    measured: Measured,
    warnings: list[str],
    *,
    needs_approval: bool,
    network: str = "x",
) -> dict[str, Any]:
    """The second step: exactly what the network will get, its length as the network
    counts it, any warning."""
    if draft.kind == "reply":
        goes = _("This goes out publicly, as a reply from *@{handle}*:")
    else:
        goes = _("This goes out as a DM from *@{handle}*:")
    body = escape_within(measured.text, 2900)[0]
    blocks: list[dict[str, Any]] = [
        section(goes.format(handle=escape(handle))),
        section(quote(body)),
        context(
            _("Length as {network} counts it: {length}").format(
                network=links.label(network), length=describe_length(measured)
            )
        ),
    ]
    blocks.extend(context(":warning: " + warning) for warning in warnings)
    if needs_approval:
        blocks.append(context(_(":hourglass: It goes to an owner for approval first.")))
        submit = _("Send for approval")
    else:
        submit = _("Publish") if draft.kind == "reply" else _("Send")
    view = _modal(REPLY_PUBLISH_CALLBACK, _("Preview"), submit, draft, blocks)
    view["close"] = {"type": "plain_text", "text": _("Back")}
    return view


def problem_view(draft: Draft, problems: list[str]) -> dict[str, Any]:
    """What replaces the preview when publishing is refused: why, and nothing sent."""
    blocks = [section(_(":no_entry: Nothing was sent."))]
    blocks.extend(section(escape(problem)) for problem in problems)
    view = _modal(REPLY_PUBLISH_CALLBACK, _("Not sent"), _("Publish"), draft, blocks)
    del view["submit"]
    view["close"] = {"type": "plain_text", "text": _("Back")}
    return view


def input_errors(
    findings: list[Finding], measured: Measured | None, block: str = TEXT_BLOCK
) -> dict[str, str]:
    """Errors for the text box (`block`), as Slack's `response_action: errors` wants them."""
    problems = [finding.message for finding in findings]
    if measured is not None and not measured.fits:
        problems.append(
            _("Too long: {length}. Shorten it by {overflow}.").format(
                length=describe_length(measured), overflow=measured.overflow
            )
        )
    return {block: " ".join(problems)[:1900]} if problems else {}


def submitted_text(values: dict[str, Any]) -> tuple[str, bool]:
    """The text typed into the compose view and whether "send as a DM" is ticked."""
    boxes = [b for b in values if b == TEXT_BLOCK or b.startswith(f"{TEXT_BLOCK}-")]
    text = values.get(boxes[-1] if boxes else TEXT_BLOCK, {}).get(TEXT_INPUT, {}).get("value")
    text = text or ""
    ticked = values.get(AS_DM_BLOCK, {}).get(AS_DM_INPUT, {}).get("selected_options") or []
    return text, any(option.get("value") == "dm" for option in ticked)


def _modal(
    callback_id: str, title: str, submit: str, draft: Draft, blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": _("Cancel")},
        "private_metadata": draft.dump(),
        "blocks": blocks,
    }

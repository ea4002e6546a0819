"""The modals' submissions: reply and DM (compose → preview → publish), the answers to
a whole surge group, and status updates."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.errors import Refused
from bot.i18n import _
from bot.outbound import acting
from bot.outbound.reply_modal import (
    METADATA_LIMIT,
    REPLY_COMPOSE_CALLBACK,
    REPLY_PUBLISH_CALLBACK,
    Draft,
    input_errors,
    preview_view,
    problem_view,
    submitted_text,
    text_block,
)
from bot.posts.status import STATUS_CALLBACK, post_status
from bot.runtime import Runtime
from bot.surge.answer_modal import ANSWER_CALLBACK
from bot.surge.answer_modal import submit as answer_group
from handlers.ack import who_clicked


def register(app: App, rt: Runtime) -> None:
    @app.view(ANSWER_CALLBACK)
    def answer(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Reply to all, or Send to customer service: started, or why not, in the modal."""
        _close_or_say(ack, lambda: answer_group(rt, who_clicked(body), *_form(view)))

    @app.view(STATUS_CALLBACK)
    def status_update(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        _close_or_say(ack, lambda: post_status(rt, who_clicked(body), *_form(view)))

    @app.view(REPLY_COMPOSE_CALLBACK)
    def preview(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        text, as_dm = submitted_text(view["state"]["values"])
        draft = Draft.load(view["private_metadata"])
        draft = dataclasses.replace(draft, text=text, kind="dm" if as_dm else draft.kind)
        try:
            checked = acting.check(rt, who_clicked(body), draft)
        except Refused as exc:
            ack(response_action="errors", errors={text_block(draft): str(exc)})
            return
        errors = input_errors(checked.problems, checked.measured, text_block(draft))
        if not errors and len(draft.dump()) > METADATA_LIMIT:
            errors = {text_block(draft): _("This is too long to preview; shorten it.")}
        if errors:
            ack(response_action="errors", errors=errors)
            return
        view = preview_view(
            draft,
            checked.handle,
            checked.measured,
            checked.warnings,
            needs_approval=checked.needs_approval,
            network=checked.network,
        )
        ack(response_action="push", view=view)

    @app.view(REPLY_PUBLISH_CALLBACK)
    def publish(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        draft = Draft.load(view["private_metadata"])
        try:
            checked = acting.publish(rt, who_clicked(body), draft)
        except Refused as exc:
            ack(response_action="update", view=problem_view(draft, [str(exc)]))
            return
        if not checked.ok:
            problems = [finding.message for finding in checked.problems]
            ack(response_action="update", view=problem_view(draft, problems or [_("Too long.")]))
            return
        ack(response_action="clear")


def _form(view: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return view["private_metadata"], view["state"]["values"]


def _close_or_say(ack: Ack, submit: Callable[[], dict[str, str]]) -> None:
    """Close the modal once `submit` did its work, or show what stops it, by its field
    (a refusal under the text)."""
    try:
        errors = submit()
    except Refused as exc:
        errors = {"text": str(exc)}
    if errors:
        ack(response_action="errors", errors=errors)
    else:
        ack(response_action="clear")

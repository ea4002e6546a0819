"""The reply and DM modals: compose → preview → publish."""

from __future__ import annotations

import dataclasses
from typing import Any

from slack_bolt import Ack, App

from bot.errors import Refused
from bot.outbound import acting
from bot.outbound.reply_modal import (
    METADATA_LIMIT,
    REPLY_COMPOSE_CALLBACK,
    REPLY_PUBLISH_CALLBACK,
    TEXT_BLOCK,
    Draft,
    input_errors,
    preview_view,
    problem_view,
    submitted_text,
)
from bot.runtime import Runtime
from handlers.ack import who_clicked


def register(app: App, rt: Runtime) -> None:
    @app.view(REPLY_COMPOSE_CALLBACK)
    def preview(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        text, as_dm = submitted_text(view["state"]["values"])
        draft = Draft.load(view["private_metadata"])
        draft = dataclasses.replace(draft, text=text, kind="dm" if as_dm else draft.kind)
        try:
            checked = acting.check(rt, who_clicked(body), draft)
        except Refused as exc:
            ack(response_action="errors", errors={TEXT_BLOCK: str(exc)})
            return
        errors = input_errors(checked.problems, checked.measured)
        if not errors and len(draft.dump()) > METADATA_LIMIT:
            errors = {TEXT_BLOCK: "This is too long to preview; shorten it."}
        if errors:
            ack(response_action="errors", errors=errors)
            return
        view = preview_view(
            draft,
            checked.handle,
            checked.measured,
            checked.warnings,
            needs_approval=checked.needs_approval,
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
            ack(response_action="update", view=problem_view(draft, problems or ["Too long."]))
            return
        ack(response_action="clear")

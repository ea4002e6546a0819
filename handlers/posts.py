"""Composing posts: `/roost post`, the "New post" shortcut, the preview, Edit and Cancel."""

from __future__ import annotations

import json
import secrets
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.errors import Refused
from bot.i18n import _
from bot.posts import compose as posts
from bot.posts.views import (
    ACTION_CANCEL,
    ACTION_EDIT,
    COMPOSE_CALLBACK,
    PUBLISH_CALLBACK,
    SHORTCUT,
    compose_modal,
    preview_errors,
    preview_modal,
    problem_modal,
    read_compose,
)
from bot.posts.when import WhenError
from bot.runtime import Runtime
from bot.team.people import Who
from handlers.ack import acknowledge, answering, button_value, tell, who_clicked
from handlers.modals import open_then_fill


def register(app: App, rt: Runtime) -> None:
    def shortcut(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        with answering(rt, body, respond):
            open_composer(rt, client, body["trigger_id"], who_clicked(body))

    app.shortcut(SHORTCUT)(ack=acknowledge, lazy=[shortcut])

    @app.view(COMPOSE_CALLBACK)
    def preview(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view["private_metadata"])
        who = who_clicked(body)
        form = read_compose(view["state"]["values"])
        try:
            compose = posts.compose_from(rt, who, form)
        except WhenError as exc:
            ack(response_action="errors", errors={"time": str(exc)})
            return
        checked = posts.preview(rt, who, compose)
        if not checked.ok:
            ack(response_action="errors", errors=preview_errors(checked))
            return
        posts.save_draft(rt, meta["nonce"], form)
        ack(response_action="push", view=preview_modal(checked, compose.run_at, meta))

    @app.view(PUBLISH_CALLBACK)
    def publish(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view["private_metadata"])
        who = who_clicked(body)
        try:
            compose = posts.compose_from(rt, who, posts.load_draft(rt, meta["nonce"]))
            if meta.get("post_id"):
                posts.edit(rt, who, int(meta["post_id"]), compose)
            else:
                posts.submit(rt, who, compose, key=meta["nonce"])
        except (Refused, WhenError) as exc:
            ack(response_action="update", view=problem_modal(str(exc)))
            return
        ack(response_action="clear")

    def edit(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        def build() -> dict[str, Any]:
            who = who_clicked(body)
            post = posts.own_post(rt, who, button_value(body))
            day, at = posts.local_time_of(rt, who, post)
            return compose_modal(
                posts.postable_accounts(rt, who),
                meta={"nonce": secrets.token_hex(8), "post_id": post.id},
                text=post.text,
                chosen=posts.accounts_of(rt, post.id),
                day=day,
                at=at,
                as_thread=post.as_thread,
            )

        with answering(rt, body, respond):
            open_then_fill(client, body["trigger_id"], _("Edit the post"), build)

    def cancel(body: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            tell(rt, body, respond, posts.cancel(rt, who_clicked(body), button_value(body)))

    app.action(ACTION_EDIT)(ack=acknowledge, lazy=[edit])
    app.action(ACTION_CANCEL)(ack=acknowledge, lazy=[cancel])


def open_composer(rt: Runtime, client: WebClient, trigger_id: str, who: Who) -> None:
    """The post modal, with the accounts the person may post as."""

    def build() -> dict[str, Any]:
        accounts = posts.postable_accounts(rt, who)
        if not accounts:
            raise Refused(_("You may post as no account: an owner can make you an agent of one."))
        return compose_modal(accounts, meta={"nonce": secrets.token_hex(8)})

    open_then_fill(client, trigger_id, _("Post"), build)

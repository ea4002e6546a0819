"""Composing posts: `/roost post`, the "New post" shortcut, the preview, Edit and Cancel."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import posts
from bot.outbox import Refused, Who
from bot.people import time_zone
from bot.post_views import (
    ACTION_CANCEL,
    ACTION_EDIT,
    COMPOSE_CALLBACK,
    PUBLISH_CALLBACK,
    SHORTCUT,
    compose_modal,
    preview_modal,
    problems_text,
    read_compose,
)
from bot.runtime import Runtime
from bot.when import WhenError, local_to_utc
from handlers.ack import acknowledge, answering, tell
from handlers.actions import who_clicked

DRAFT_SECONDS = 3600
"""How long a previewed post waits for Publish (it is kept in Redis, not the modal)."""


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
            compose = _compose(rt, who, form)
        except WhenError as exc:
            ack(response_action="errors", errors={"time": str(exc)})
            return
        checked = posts.preview(rt, who, compose)
        if not checked.ok:
            ack(response_action="errors", errors=_errors(checked))
            return
        rt.redis.set(_draft_key(meta["nonce"]), json.dumps(form), ex=DRAFT_SECONDS)
        ack(response_action="push", view=preview_modal(checked, compose.run_at, meta))

    @app.view(PUBLISH_CALLBACK)
    def publish(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view["private_metadata"])
        who = who_clicked(body)
        saved = rt.redis.get(_draft_key(meta["nonce"]))
        try:
            if saved is None:
                raise Refused("This preview has expired: close it and compose again.")
            compose = _compose(rt, who, json.loads(saved))
            if meta.get("post_id"):
                posts.edit(rt, who, int(meta["post_id"]), compose)
            else:
                posts.submit(rt, who, compose, key=meta["nonce"])
        except (Refused, WhenError) as exc:
            ack(response_action="update", view=_problem_view(str(exc)))
            return
        ack(response_action="clear")

    def edit(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        with answering(rt, body, respond):
            who = who_clicked(body)
            post = posts.own_post(rt, who, _value(body))
            day = at = None
            if post.run_at is not None:
                local = post.run_at.astimezone(_zone(time_zone(rt, who.user_id) or "UTC"))
                day, at = local.strftime("%Y-%m-%d"), local.strftime("%H:%M")
            view = compose_modal(
                posts.postable_accounts(rt, who),
                meta={"nonce": secrets.token_hex(8), "post_id": post.id},
                text=post.text,
                chosen=posts.accounts_of(rt, post.id),
                day=day,
                at=at,
                as_thread=post.as_thread,
            )
            client.views_open(trigger_id=body["trigger_id"], view=view)

    def cancel(body: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            tell(rt, body, respond, posts.cancel(rt, who_clicked(body), _value(body)))

    app.action(ACTION_EDIT)(ack=acknowledge, lazy=[edit])
    app.action(ACTION_CANCEL)(ack=acknowledge, lazy=[cancel])


def open_composer(rt: Runtime, client: WebClient, trigger_id: str, who: Who) -> None:
    """The post modal, with the accounts the person may post as."""
    accounts = posts.postable_accounts(rt, who)
    if not accounts:
        raise Refused("You may post as no account: an owner can make you an agent of one.")
    meta = {"nonce": secrets.token_hex(8)}
    client.views_open(trigger_id=trigger_id, view=compose_modal(accounts, meta=meta))


def _compose(rt: Runtime, who: Who, form: dict[str, Any]) -> posts.Compose:
    run_at: datetime | None = None
    note = None
    if form["later"]:
        if not form["day"] or not form["at"]:
            raise WhenError("Pick a date and a time, or choose Now.")
        zone = time_zone(rt, who.user_id)
        if zone is None:
            raise WhenError("Slack did not say what your time zone is; try again in a moment.")
        run_at, note = local_to_utc(form["day"], form["at"], zone)
    return posts.Compose(
        text=form["text"],
        account_ids=form["account_ids"],
        run_at=run_at,
        media=form["media"],
        as_thread=form["as_thread"],
        when_note=note,
    )


def _errors(checked: posts.Preview) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    for problem in checked.problems:
        block = "time" if ("time" in problem or "days ahead" in problem) else "media"
        if "account" in problem:
            block = "accounts"
        errors.setdefault(block, []).append(problem)
    for account in checked.accounts:
        for problem in account.problems:
            block = "accounts" if "may not post" in problem else "text"
            errors.setdefault(block, []).append(f"@{account.handle}: {problem}")
    return {block: problems_text(found) for block, found in errors.items()}


def _problem_view(text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Not posted"},
        "close": {"type": "plain_text", "text": "Back"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}],
    }


def _draft_key(nonce: str) -> str:
    return f"roost:post-draft:{nonce}"


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _value(body: dict[str, Any]) -> int:
    for action in body.get("actions") or []:
        if str(action.get("value", "")).isdigit():
            return int(action["value"])
    raise Refused("This button names nothing Roost knows.")

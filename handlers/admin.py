"""Managing accounts, the team and routes: the buttons and modals of `/roost accounts`,
`/roost team` and `/roost routes`."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.errors import Refused, RoostError
from bot.i18n import _
from bot.inbox import routing
from bot.inbox.route_views import (
    ACTION_ROUTE_REMOVE,
    ACTION_ROUTE_TEST,
    matches_text,
    routes_blocks,
)
from bot.runtime import Runtime
from bot.slack.blocks import loading_modal, notice_modal
from bot.slack.mrkdwn import escape
from bot.team import admin, connect
from bot.team.budget import allowance_of
from bot.team.networks import connect_channel, connect_from_slack, form_errors
from bot.team.views import (
    ACTION_CONNECT,
    ACTION_CONNECT_NETWORK,
    ACTION_DISCONNECT,
    ACTION_GRANT,
    ACTION_ROUTES,
    ACTION_SETTINGS,
    CONNECT_NETWORK_CALLBACK,
    GRANT_CALLBACK,
    SETTINGS_CALLBACK,
    connect_network_form,
    connect_network_modal,
    connect_title,
    grant_form,
    grant_modal,
    settings_form,
    settings_modal,
    team_done_view,
)
from handlers.ack import FAILED, acknowledge, answering, button_value, who_clicked
from handlers.modals import open_then_fill

logger = logging.getLogger(__name__)


def register(app: App, rt: Runtime) -> None:
    app.action(ACTION_CONNECT)(acknowledge)  # a link button: the browser goes to X

    def answer(respond: Respond, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    def settings(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        def build() -> dict[str, Any]:
            subscription = allowance_of(rt)
            return settings_modal(
                admin.summary(rt, who_clicked(body), button_value(body)),
                plan=subscription.plan if subscription is not None else None,
            )

        with answering(rt, body, respond):
            open_then_fill(client, body["trigger_id"], _("Account settings"), build)

    def disconnect(body: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            who = who_clicked(body)
            account = admin.require_manager_of(rt, who, button_value(body))
            connect.disconnect(rt, account.id, actor=who.user_id)
            answer(
                respond,
                _(
                    "Disconnected *@{handle}*: Roost forgot its tokens (revoking them at X where "
                    "X allows) and stopped reading its mentions."
                ).format(handle=account.handle),
            )

    def routes(body: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            account, found = routing.routes_for(rt, who_clicked(body), button_value(body))
            blocks = routes_blocks(account.handle, account.channel_id, found)
            answer(respond, _("Routes of @{handle}").format(handle=account.handle), blocks)

    def route_test(body: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            route, found = routing.test_saved_route(rt, who_clicked(body), button_value(body))
            answer(respond, matches_text(route.pattern, found, routing.PREVIEW_MENTIONS))

    def route_remove(body: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            route = routing.remove_saved_route(rt, who_clicked(body), button_value(body))
            answer(respond, _("Removed the route `{pattern}`.").format(pattern=route.pattern))

    def open_grant(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        def build() -> dict[str, Any]:
            accounts = admin.manageable_accounts(rt, who_clicked(body))
            if not accounts:
                raise Refused(_("You manage no account, so you cannot grant roles on one."))
            return grant_modal(accounts)

        with answering(rt, body, respond):
            open_then_fill(client, body["trigger_id"], _("Grant a role"), build)

    def open_connect_network(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        network = "bluesky" if body["actions"][0].get("value") == "bluesky" else "mastodon"
        title = connect_title(network)

        def build() -> dict[str, Any]:
            where = (body.get("channel") or {}).get("id")
            return connect_network_modal(network, connect_channel(rt, who_clicked(body), where))

        with answering(rt, body, respond):
            open_then_fill(client, body["trigger_id"], title, build)

    for action_id, work in (
        (ACTION_CONNECT_NETWORK, open_connect_network),
        (ACTION_SETTINGS, settings),
        (ACTION_DISCONNECT, disconnect),
        (ACTION_ROUTES, routes),
        (ACTION_ROUTE_TEST, route_test),
        (ACTION_ROUTE_REMOVE, route_remove),
        (ACTION_GRANT, open_grant),
    ):
        app.action(action_id)(ack=acknowledge, lazy=[work])

    @app.view(CONNECT_NETWORK_CALLBACK)
    def connect_network(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        network, channel, service, secrets = connect_network_form(view)
        title = connect_title(network)
        errors = form_errors(service, secrets)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        # Signing in takes a call to the network: the form says so while it does.
        ack(response_action="update", view=loading_modal(title))
        try:
            account = connect_from_slack(rt, who_clicked(body), network, channel, service, secrets)
            said = _("Connected *@{handle}*: its mentions come to <#{channel}>.").format(
                handle=escape(account.handle), channel=account.channel_id
            )
        except RoostError as exc:
            said = str(exc) + " " + _("Nothing was connected: try again from `/roost accounts`.")
        except Exception:  # logged with its traceback; the form must not stay loading
            logger.exception("connecting a %s account failed", network)
            said = _(FAILED)
        client.views_update(view_id=view["id"], view=notice_modal(title, said))

    @app.view(SETTINGS_CALLBACK)
    def save_settings(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        account_id = int(json.loads(view["private_metadata"])["account_id"])
        form = settings_form(view["state"]["values"])
        try:
            errors = admin.save_settings(rt, who_clicked(body), account_id, form)
        except Refused as exc:
            errors = {"sla_minutes": str(exc)}
        if errors:
            ack(response_action="errors", errors=errors)
        else:
            ack()

    @app.view(GRANT_CALLBACK)
    def save_grant(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            done = admin.apply_team_form(rt, who_clicked(body), grant_form(view["state"]["values"]))
        except admin.FieldRefused as exc:
            ack(response_action="errors", errors={exc.field: str(exc)[:1900]})
            return
        ack(response_action="update", view=team_done_view(done))

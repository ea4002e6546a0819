"""Card buttons. Each answers the person who clicked; none is a silent no-op."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.errors import Refused
from bot.i18n import _
from bot.inbox import assignment, duty, triage
from bot.inbox.assignment import ACTION_UNDO_ASSIGN
from bot.inbox.cards import (
    ACTION_APPROVE,
    ACTION_ASSIGN,
    ACTION_CHECK,
    ACTION_DM,
    ACTION_HISTORY,
    ACTION_IGNORE,
    ACTION_REJECT,
    ACTION_REOPEN,
    ACTION_REPLY,
    ACTION_RESOLVE,
    ACTION_RETRY,
    ACTION_RETWEET,
    ACTION_UNDO_RETWEET,
)
from bot.inbox.people import history_view
from bot.outbound import acting
from bot.outbound.reply_modal import SAVED_ACTION, Draft, reply_view
from bot.posts.status import status_modal
from bot.runtime import Runtime
from bot.surge import batches, cards
from bot.surge.answer_modal import TITLES, answer_modal
from bot.surge.cards import (
    ASSIGN_ACTION,
    CANCEL_ACTION,
    CARE_ACTION,
    OPEN_ACTION,
    PAUSE_ACTION,
    REPLY_ALL_ACTION,
    RESOLVE_ACTION,
    RESUME_ACTION,
    STATUS_ACTION,
)
from bot.team.people import Who
from handlers.ack import acknowledge, answering, button_value, who_clicked
from handlers.modals import open_then_fill

Act = Callable[[Runtime, Who, int], object]

_BY_BUTTON: dict[str, Act] = {
    ACTION_RETWEET: acting.retweet,
    ACTION_RESOLVE: lambda rt, who, id_: triage.change_status(rt, who, id_, "resolve"),
    ACTION_REOPEN: lambda rt, who, id_: triage.change_status(rt, who, id_, "reopen"),
    ACTION_IGNORE: lambda rt, who, id_: triage.change_status(rt, who, id_, "ignore"),
    ACTION_APPROVE: lambda rt, who, id_: acting.decide(rt, who, id_, approve=True),
    ACTION_REJECT: lambda rt, who, id_: acting.decide(rt, who, id_, approve=False),
    ACTION_CHECK: acting.check_again,
    ACTION_RETRY: acting.retry,
    ACTION_UNDO_RETWEET: acting.undo_retweet,
    OPEN_ACTION: cards.open_mention,
}
"""Buttons that act at once; the card and its thread show the result."""


def _resolve_group(rt: Runtime) -> Any:
    def handle(body: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            done = cards.resolve_group(rt, who_clicked(body), button_value(body))
            respond(text=done, response_type="ephemeral", replace_original=False)

    return handle


def _assign_group(rt: Runtime) -> Any:
    def handle(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            group_id = int(str(action.get("block_id", "")).rpartition(":")[2] or 0)
            target = action.get("selected_user")
            done = cards.assign_group(rt, who_clicked(body), group_id, target)
            respond(text=done, response_type="ephemeral", replace_original=False)

    return handle


def _answer_group(rt: Runtime, kind: str) -> Any:
    """Reply to all, or Send to customer service: the modal that says what it would do."""

    def handle(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        def build() -> dict[str, Any]:
            return answer_modal(rt, who_clicked(body), button_value(body), kind)

        with answering(rt, body, respond):
            open_then_fill(client, body["trigger_id"], _(TITLES[kind]), build)

    return handle


def _status_update(rt: Runtime) -> Any:
    def handle(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        def build() -> dict[str, Any]:
            return status_modal(rt, who_clicked(body), button_value(body))

        with answering(rt, body, respond):
            open_then_fill(client, body["trigger_id"], _("Status update"), build)

    return handle


def _history(rt: Runtime) -> Any:
    """A card's History: what Roost knows of its author, in a modal."""

    def handle(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        def build() -> dict[str, Any]:
            return history_view(rt, who_clicked(body), button_value(body))

        with answering(rt, body, respond):
            open_then_fill(client, body["trigger_id"], _("History"), build)

    return handle


def _hand_over(rt: Runtime, *, to_inbox: bool) -> Any:
    """Going off duty: one's open items back to the inbox, or to the person picked."""

    def handle(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            target = None if to_inbox else action.get("selected_user")
            if not to_inbox and not target:
                raise Refused(_("Pick the person to hand them to."))
            done = duty.hand_over(rt, who_clicked(body), target)
            respond(text=done, response_type="ephemeral", replace_original=True)

    return handle


def _fill_saved(rt: Runtime) -> Any:
    """A saved reply picked in the reply or DM modal: the text box filled with it."""

    def handle(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        view = body["view"]
        with answering(rt, body, respond):
            draft = Draft.load(view["private_metadata"])
            try:
                chosen = int((action.get("selected_option") or {}).get("value", ""))
            except ValueError:
                raise Refused(_("Pick a saved reply from the list.")) from None
            filled = acting.fill_saved(rt, who_clicked(body), draft, chosen)
            client.views_update(view_id=view["id"], hash=view["hash"], view=filled)

    return handle


def _change_batch(rt: Runtime, to: str) -> Any:
    """Pause, Resume or Cancel an answer to a whole group under way."""

    def handle(body: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            done = batches.change(rt, who_clicked(body), button_value(body), to)
            respond(text=done, response_type="ephemeral", replace_original=False)

    return handle


def register(app: App, rt: Runtime) -> None:
    # Each button is acknowledged at once, in the request; its work runs after,
    # so a slow database or a busy moment never holds up Slack's 3 seconds.
    for action_id in (ACTION_REPLY, ACTION_DM):
        kind = "reply" if action_id == ACTION_REPLY else "dm"
        app.action(action_id)(ack=acknowledge, lazy=[_open_composer(rt, kind)])
    for action_id, act in _BY_BUTTON.items():
        app.action(action_id)(ack=acknowledge, lazy=[_act(rt, act)])
    app.action(ACTION_ASSIGN)(ack=acknowledge, lazy=[_assign_from_picker(rt)])
    app.action(ACTION_UNDO_ASSIGN)(ack=acknowledge, lazy=[_act(rt, assignment.undo)])
    app.action(RESOLVE_ACTION)(ack=acknowledge, lazy=[_resolve_group(rt)])
    app.action(ASSIGN_ACTION)(ack=acknowledge, lazy=[_assign_group(rt)])
    app.action(REPLY_ALL_ACTION)(ack=acknowledge, lazy=[_answer_group(rt, "reply")])
    app.action(CARE_ACTION)(ack=acknowledge, lazy=[_answer_group(rt, "dm")])
    app.action(STATUS_ACTION)(ack=acknowledge, lazy=[_status_update(rt)])
    app.action(SAVED_ACTION)(ack=acknowledge, lazy=[_fill_saved(rt)])
    app.action(ACTION_HISTORY)(ack=acknowledge, lazy=[_history(rt)])
    app.action(duty.RETURN_ACTION)(ack=acknowledge, lazy=[_hand_over(rt, to_inbox=True)])
    app.action(duty.GIVE_ACTION)(ack=acknowledge, lazy=[_hand_over(rt, to_inbox=False)])
    for action_id, to in (
        (PAUSE_ACTION, batches.PAUSED),
        (RESUME_ACTION, batches.RUNNING),
        (CANCEL_ACTION, batches.CANCELLED),
    ):
        app.action(action_id)(ack=acknowledge, lazy=[_change_batch(rt, to)])


def _open_composer(rt: Runtime, kind: str) -> Any:
    def handle(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        def build() -> dict[str, Any]:
            draft, around = acting.start(rt, who_clicked(body), button_value(body), kind)
            return reply_view(draft, around)

        with answering(rt, body, respond):
            title = _("Reply") if kind == "reply" else _("Send a DM")
            open_then_fill(client, body["trigger_id"], title, build)

    return handle


def _act(rt: Runtime, act: Act) -> Any:
    def handle(body: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            act(rt, who_clicked(body), button_value(body))

    return handle


def _assign_from_picker(rt: Runtime) -> Any:
    def handle(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        with answering(rt, body, respond):
            target = action.get("selected_user")
            assignment.assign(rt, who_clicked(body), button_value(body), target, via="picker")

    return handle

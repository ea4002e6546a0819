"""The Bolt app, built from a Runtime; nothing is built or connected at import."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any

from slack_bolt import App, BoltResponse

import handlers
from bot.runtime import Runtime

logger = logging.getLogger(__name__)


def create_app(
    rt: Runtime, *, verify_token: bool = True, listener_executor: Executor | None = None
) -> App:
    """A Bolt app on the runtime's Slack client, with every handler registered.

    Requests are answered as soon as their listener acks (process_before_response):
    buttons and commands ack at once and do their work in lazy listeners on
    `listener_executor` (Bolt's thread pool by default; tests pass one they can
    wait on); modal submissions answer with what their validation decided.
    """
    settings = rt.settings
    app = App(
        client=rt.slack,
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        ),
        token_verification_enabled=verify_token,
        process_before_response=True,
        listener_executor=listener_executor,
    )

    @app.error
    def log_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        logger.exception("handler failed for %s", body.get("type"), exc_info=error)
        return BoltResponse(status=500, body="")

    handlers.register(app, rt)
    return app

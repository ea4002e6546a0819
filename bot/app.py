"""The Bolt app, built from a Runtime; nothing is built or connected at import."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse

import handlers
from bot.runtime import Runtime

logger = logging.getLogger(__name__)

LAZY_THREADS = 10
"""Threads doing acknowledged work (Bolt's lazy listeners): Bolt's own default."""


class LazyWork(ThreadPoolExecutor):
    """Bolt's pool for the work done after a click or command was acknowledged, able to
    tell when all of it is done: the web process drains it before it exits, so what Slack
    was told is being handled is handled."""

    def __init__(self, max_workers: int = LAZY_THREADS) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="lazy")
        self._pending = 0
        self._changed = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._changed:
            self._pending += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any] | None) -> None:
        with self._changed:
            self._pending -= 1
            self._changed.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every submitted task to end; whether they did."""
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)


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

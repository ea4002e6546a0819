"""The Bolt app, built from a Runtime; nothing is built or connected at import."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse

import handlers
from bot.i18n import speak
from bot.runtime import Runtime
from bot.team.language import as_person

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


class InContext(Executor):
    """Runs each task in a copy of the context it was submitted from: a lazy listener
    speaks the language the request was set to (bot.i18n), in Bolt's other thread."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.inner.submit(contextvars.copy_context().run, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def person_of(body: dict[str, Any]) -> str | None:
    """The Slack user a request comes from: who clicked, typed or wrote."""
    user = body.get("user")
    if isinstance(user, dict):
        return user.get("id")
    if isinstance(user, str):
        return user
    if body.get("user_id"):  # a slash command
        return str(body["user_id"])
    event = body.get("event") or {}
    found = event.get("user")
    return found.get("id") if isinstance(found, dict) else found


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
        listener_executor=InContext(listener_executor or LazyWork()),
    )

    @app.middleware
    def speak_their_language(body: dict[str, Any], next: Callable[[], Any]) -> Any:
        # What only the person sees speaks their Slack language; what goes to a channel
        # speaks the channel's, where it is said (bot.team.language.in_channel). Bolt runs
        # the listeners after every middleware has returned, in this thread's context
        # (the ack) and in copies of it (InContext): so it is set, not wrapped.
        user = person_of(body)
        speak(as_person(rt, user) if user else None)
        return next()

    @app.error
    def log_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        logger.exception("handler failed for %s", body.get("type"), exc_info=error)
        return BoltResponse(status=500, body="")

    handlers.register(app, rt)
    return app

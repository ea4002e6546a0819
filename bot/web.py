"""The `web` process: Slack's HTTP endpoint and /healthz, as one WSGI app."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from bot.runtime import Runtime
from storage.db import ping

logger = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def health(rt: Runtime) -> dict[str, str]:
    """Each dependency's state: "ok" or why not."""
    checks: dict[str, str] = {}
    try:
        ping(rt.engine)
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except RedisError as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    return checks


def wsgi_app(rt: Runtime, app: App) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """Routes /healthz here and /slack/events to Bolt (which verifies Slack's signature).

    In Socket Mode Slack's requests come over the socket, there is no signing
    secret to check HTTP ones against, so /slack/events is not served at all.
    """
    slack = SlackRequestHandler(app, path=SLACK_PATH)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            checks = health(rt)
            healthy = all(state == "ok" for state in checks.values())
            body = json.dumps(checks).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [body]
        if rt.settings.socket_mode:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found: this Roost takes Slack's requests over Socket Mode"]
        return slack(environ, start_response)  # type: ignore[arg-type]

    return application


WEB_THREADS = 24
"""waitress threads: enough that a burst of clicks is read at once rather than queued,
since each request only verifies, acks and hands its work to Bolt's pool."""


def serve(rt: Runtime, app: App) -> None:
    """Serve HTTP on PORT; in Socket Mode, Slack's requests come over the socket instead."""
    from waitress import serve as waitress_serve

    if rt.settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(app, rt.settings.slack_app_token.get_secret_value()).connect()
        logger.info("Socket Mode connected; HTTP serves /healthz only")
    logger.info("web listening on port %s", rt.settings.port)
    waitress_serve(wsgi_app(rt, app), host="0.0.0.0", port=rt.settings.port, threads=WEB_THREADS)

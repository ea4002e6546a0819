"""The `web` process: Slack's HTTP endpoint, X's OAuth callback, /healthz and /metrics, as one
WSGI app."""

from __future__ import annotations

import html
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from redis.exceptions import RedisError
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from bot.app import LazyWork
from bot.errors import RoostError, XError
from bot.i18n import _, language, speak
from bot.metrics import authorized, metrics_registry, render
from bot.runtime import Runtime
from bot.team.connect import CALLBACK_PATH, ConnectRefused, complete
from storage.db import ping

logger = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"

MAX_BODY_BYTES = 2 * 1024 * 1024
"""The largest request body read. Slack's biggest payloads (a modal's state) are tens of
KB; anything larger is answered 413 before it is read, so no one can fill memory."""

DRAIN_SECONDS = 6.0
"""On SIGTERM, how long work already acknowledged to Slack may take to finish."""

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


PAGE = """<!doctype html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Roost</title>
<style>
body {{ font: 17px/1.5 system-ui, sans-serif; max-width: 34rem; margin: 4rem auto;
  padding: 0 1rem; color: #1d1c1d; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{message}</p>
</body>
</html>
"""  # not spoken: HTTP's words
"""The callback's whole page: no script, no outside resources."""

PAGE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    # The callback's address holds the authorization code: send it nowhere else.
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
]


def oauth_callback(rt: Runtime, query_string: str) -> tuple[str, str, str]:
    """X's redirect after consent: (status, title, message) for the page the person sees."""
    query = parse_qs(query_string)

    def first(name: str) -> str | None:
        return query.get(name, [None])[0]

    # The page speaks the workspace's language (ROOST_LANGUAGE): the browser is no one's
    # in Slack until the state is checked.
    try:
        account = complete(rt, state=first("state"), code=first("code"), error=first("error"))
    except ConnectRefused as exc:
        logger.info("OAuth callback refused: %s", exc)
        return "400 Bad Request", _("Not connected"), str(exc)  # not spoken: the status
    except XError as exc:
        logger.warning("OAuth callback failed: %s", exc)
        return "502 Bad Gateway", _("Not connected"), str(exc)  # not spoken: the status
    except RoostError as exc:
        logger.error("OAuth callback failed: %s", exc)
        return "500 Internal Server Error", _("Not connected"), str(exc)  # not spoken: status
    message = _("Connected @{handle}. You can close this tab and go back to Slack.").format(
        handle=account.handle
    )
    return "200 OK", _("Connected"), message


def page(start_response: StartResponse, status: str, title: str, message: str) -> list[bytes]:
    body = PAGE.format(
        language=language(), title=html.escape(title), message=html.escape(message)
    ).encode()
    start_response(status, [*PAGE_HEADERS, ("Content-Length", str(len(body)))])
    return [body]


def metrics(
    rt: Runtime,
    registry: CollectorRegistry,
    environ: dict[str, Any],
    start_response: StartResponse,
    *,
    public: bool = False,
) -> list[bytes]:
    """Prometheus's scrape: behind `Authorization: Bearer ROOST_METRICS_TOKEN` when set.

    On the `public` port, which Slack must reach, only with the token: without one the
    metrics are served on ROOST_METRICS_PORT alone, bound to loopback by default.
    """
    if public and rt.settings.roost_metrics_token is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])  # not spoken
        return [
            b"Not Found: /metrics is served here only with ROOST_METRICS_TOKEN set; "
            b"without it, on ROOST_METRICS_PORT"
        ]
    method = environ.get("REQUEST_METHOD")
    if method not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])  # not spoken
        return [b""]
    if not authorized(rt.settings.roost_metrics_token, environ.get("HTTP_AUTHORIZATION")):
        start_response(  # not spoken: HTTP's words
            "401 Unauthorized",
            [("WWW-Authenticate", 'Bearer realm="roost-metrics"'), ("Content-Type", "text/plain")],
        )
        return [b"Unauthorized: send Authorization: Bearer ROOST_METRICS_TOKEN"]
    body = render(registry)
    start_response(
        "200 OK",
        [
            ("Content-Type", CONTENT_TYPE_LATEST),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [b""] if method == "HEAD" else [body]


def wsgi_app(rt: Runtime, app: App) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """Routes /healthz, /metrics and X's OAuth callback here, /slack/events to Bolt (which
    verifies Slack's signature).

    In Socket Mode Slack's requests come over the socket, there is no signing
    secret to check HTTP ones against, so /slack/events is not served at all;
    the OAuth callback is, since browsers come back from X over HTTP.
    """
    slack = SlackRequestHandler(app, path=SLACK_PATH)
    registry = metrics_registry(rt)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # A server thread serves one request after another: none speaks the last one's
        # person's language (Bolt's middleware sets each Slack request's own).
        speak(None)
        if too_large(environ):
            return refuse_too_large(start_response)
        if environ.get("PATH_INFO") == CALLBACK_PATH:
            if environ.get("REQUEST_METHOD") != "GET":
                start_response("405 Method Not Allowed", [("Allow", "GET")])  # not spoken
                return [b""]
            return page(start_response, *oauth_callback(rt, environ.get("QUERY_STRING", "")))
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return healthz(rt, start_response)
        if environ.get("PATH_INFO") == METRICS_PATH:
            return metrics(rt, registry, environ, start_response, public=True)
        if rt.settings.socket_mode:
            start_response("404 Not Found", [("Content-Type", "text/plain")])  # not spoken
            return [b"Not Found: this Roost takes Slack's requests over Socket Mode"]
        return slack(environ, start_response)  # type: ignore[arg-type]

    return application


def metrics_app(rt: Runtime) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The private port's app (ROOST_METRICS_PORT): /metrics and /healthz, nothing else."""
    registry = metrics_registry(rt)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if too_large(environ):
            return refuse_too_large(start_response)
        if environ.get("PATH_INFO") == METRICS_PATH:
            return metrics(rt, registry, environ, start_response)
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return healthz(rt, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])  # not spoken
        return [b"Not Found: this port serves /metrics and /healthz"]

    return application


def healthz(rt: Runtime, start_response: StartResponse) -> list[bytes]:
    """200 when the database and Redis answer, else 503 naming which does not."""
    checks = health(rt)
    healthy = all(state == "ok" for state in checks.values())
    status = "200 OK" if healthy else "503 Service Unavailable"  # not spoken: HTTP's words
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(checks).encode()]


def too_large(environ: dict[str, Any]) -> bool:
    """Whether the request says its body is over MAX_BODY_BYTES (waitress refuses those
    itself; this holds under any other WSGI server too)."""
    length = str(environ.get("CONTENT_LENGTH") or "0")
    return length.isdigit() and int(length) > MAX_BODY_BYTES


def refuse_too_large(start_response: StartResponse) -> list[bytes]:
    start_response("413 Request Entity Too Large", [("Content-Type", "text/plain")])  # not spoken
    return [f"Request body over {MAX_BODY_BYTES // 1024 // 1024} MB".encode()]  # not spoken


WEB_THREADS = 24
"""waitress threads: enough that a burst of clicks is read at once rather than queued,
since each request only verifies, acks and hands its work to Bolt's pool."""


def serve(rt: Runtime, app: App, lazy: LazyWork) -> None:
    """Serve HTTP on PORT (and the metrics on ROOST_METRICS_PORT if set); in Socket Mode,
    Slack's requests come over the socket instead. Returns on SIGTERM or SIGINT once the
    requests in hand are answered and the work they acknowledged is done, within
    DRAIN_SECONDS."""
    from waitress.server import create_server

    socket_mode = None
    if rt.settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_mode = SocketModeHandler(app, rt.settings.slack_app_token.get_secret_value())
        socket_mode.connect()
        logger.info(
            "Socket Mode connected; HTTP serves /healthz, %s and %s only",
            METRICS_PATH,
            CALLBACK_PATH,
        )
    server = create_server(
        wsgi_app(rt, app),
        host="0.0.0.0",
        port=rt.settings.port,
        threads=WEB_THREADS,
        max_request_body_size=MAX_BODY_BYTES,
    )
    private = None
    if rt.settings.roost_metrics_port is not None:
        private = create_server(
            metrics_app(rt),
            host=rt.settings.roost_metrics_host,
            port=rt.settings.roost_metrics_port,
            threads=2,
            max_request_body_size=MAX_BODY_BYTES,
        )
        threading.Thread(target=private.run, name="metrics", daemon=True).start()
        logger.info(
            "metrics on %s:%s", rt.settings.roost_metrics_host, rt.settings.roost_metrics_port
        )
    logger.info("web listening on port %s", rt.settings.port)
    stopping = _exit_on_signals()
    try:
        server.run()  # SystemExit ends it; waitress then finishes the requests in hand
    finally:
        if socket_mode is not None:
            socket_mode.close()
        if private is not None:
            private.close()
        left = DRAIN_SECONDS - (time.monotonic() - stopping.get("at", time.monotonic()))
        if lazy.drain(max(0.0, left)):
            logger.info("web stopped; all acknowledged work done")
        else:
            logger.error(
                "web stopped with acknowledged work unfinished after %.0f s", DRAIN_SECONDS
            )


def _exit_on_signals() -> dict[str, float]:
    """SIGTERM and SIGINT end waitress's loop (it catches SystemExit); when, is noted."""
    stopping: dict[str, float] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        if "at" in stopping:
            return  # already stopping: waitress and the drain have their deadlines
        stopping["at"] = time.monotonic()
        logger.info("stopping (signal %s)", signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stopping

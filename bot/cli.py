"""The `roost` command: the processes, migrations, account set-up and key rotation."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import RoostError, SettingsError
from bot.logs import configure_logging, remember_secret
from bot.settings import Process, Settings, load_settings

if TYPE_CHECKING:
    from bot.runtime import Runtime

logger = logging.getLogger("roost")

PROCESSES = ("web", "worker", "listen")
"""What `roost run` starts, each as `roost NAME`."""

RESTART_WAIT = 1.0
"""Seconds before a worker whose loop ended on an error starts again."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("ROOST_LOG_LEVEL", "INFO"))
    try:
        settings = load_settings()
        result: int = args.run(args, settings)
        return result
    except SettingsError as exc:
        print(f"roost: cannot start.\n{exc}", file=sys.stderr)
        return 2
    except RoostError as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, RedisError) as exc:
        print(f"roost: {_explain_outage(exc)}", file=sys.stderr)
        return 1


def _explain_outage(exc: SQLAlchemyError | RedisError) -> str:
    if isinstance(exc, RedisError):
        return f"Redis did not answer ({exc}). Is REDIS_URL right, and the server up?"
    detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    if "no such table" in detail or "does not exist" in detail:
        return f"the database has no tables yet ({detail}): run `roost db upgrade` first."
    return f"the database did not answer ({detail}). Is DATABASE_URL right, and the server up?"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roost", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    for name, run, text in (
        ("web", _web, "Slack's HTTP endpoint (or Socket Mode) and /healthz"),
        ("worker", _worker, "the RQ worker with its scheduler: every call that can wait"),
        ("listen", _listen, "mention intake from X (poll or stream)"),
        ("run", _run_all, "web, worker and listener together, for one machine"),
    ):
        commands.add_parser(name, help=text).set_defaults(run=run)

    db = commands.add_parser("db", help="the database schema").add_subparsers(required=True)
    db.add_parser("upgrade", help="apply every migration").set_defaults(run=_db_upgrade)

    accounts = commands.add_parser("accounts", help="the brand's X, Bluesky and Mastodon accounts")
    account_commands = accounts.add_subparsers(required=True)
    add = account_commands.add_parser("add", help="add an account, or update its tokens")
    add.add_argument(
        "--network", choices=("x", "bluesky", "mastodon"), default="x", help="its network (x)"
    )
    add.add_argument("--handle", help="the account's handle (X: acme; Bluesky: acme.bsky.social)")
    add.add_argument("--channel", help="Slack channel id for its cards (ROOST_DEFAULT_CHANNEL)")
    stdin = " ('-' reads it from standard input)"
    add.add_argument(
        "--service-url",
        help="Mastodon: the instance (mastodon.social); Bluesky: its server (bsky.social)",
    )
    add.add_argument("--app-password", help="Bluesky: an app password made for Roost" + stdin)
    add.add_argument("--oauth2-access-token", help="OAuth 2.0 user access token" + stdin)
    add.add_argument("--oauth2-refresh-token", help="OAuth 2.0 refresh token" + stdin)
    for key in ("consumer-key", "consumer-secret", "access-token", "access-token-secret"):
        add.add_argument(f"--{key}", help=f"OAuth 1.0a {key.replace('-', ' ')}" + stdin)
    add.set_defaults(run=_accounts_add)
    account_commands.add_parser("list", help="the connected accounts").set_defaults(
        run=_accounts_list
    )

    grants = commands.add_parser("grants", help="who may act as which account")
    grant_add = grants.add_subparsers(required=True).add_parser(
        "add", help="give a Slack user a role on an account (replacing any they had)"
    )
    grant_add.add_argument("--account", required=True, help="the account's @handle")
    grant_add.add_argument("--user", required=True, help="the Slack user id (U…)")
    grant_add.add_argument(
        "--role", required=True, choices=["owner", "agent", "needs-approval", "viewer"]
    )
    grant_add.add_argument("--team", help="the Slack workspace id (T…); asked of Slack if unset")
    grant_add.set_defaults(run=_grants_add)

    keys = commands.add_parser("keys", help="ROOST_SECRET_KEY, which seals the accounts' tokens")
    keys.add_subparsers(required=True).add_parser(
        "rotate", help="re-encrypt every account's tokens with the newest (first) key"
    ).set_defaults(run=_keys_rotate)
    return parser


def _runtime(settings: Settings, process: Process) -> Runtime:
    from bot.runtime import install
    from bot.team.keys import check_key
    from bot.wiring import runtime_from

    settings.require(process)
    check_key(settings)
    return install(runtime_from(settings, worker=process == "worker"))


def _web(args: argparse.Namespace, settings: Settings) -> int:
    rt = _runtime(settings, "web")
    # Imported once the settings are known good: a refusal need not load Bolt first.
    from bot.app import LazyWork, create_app
    from bot.web import serve

    lazy = LazyWork()
    serve(rt, create_app(rt, listener_executor=lazy), lazy)
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from redis.exceptions import RedisError
    from rq.exceptions import StopRequested

    from bot.sweep import recurring
    from bot.worker import RoostWorker

    rt = _runtime(settings, "worker")
    level = os.environ.get("ROOST_LOG_LEVEL", "INFO")
    while True:
        worker = RoostWorker(rt.queues, connection=rt.redis, recurring=recurring(settings))
        try:
            # RQ sets its own loggers' level unless told: ROOST_LOG_LEVEL holds for them
            # too. Its scheduler runs in the worker's ticker thread (bot.worker).
            worker.work(logging_level=level)
        except RedisError as exc:
            logger.error("worker stopped: Redis failed (%s)", exc)
        if worker.asked_to_stop:
            return 0
        # RQ quits its loop on errors it does not expect (Redis restarting mid-job, among
        # them): a worker nobody asked to stop starts again rather than leaving jobs be.
        try:
            logger.warning("worker loop ended unasked; starting again in %.0f s", RESTART_WAIT)
            time.sleep(RESTART_WAIT)
        except StopRequested:
            return 0


def _listen(args: argparse.Namespace, settings: Settings) -> int:
    from bot.inbox.intake import Listener
    from bot.inbox.stream import StreamListener
    from bot.inbox.watch_reader import WatchReader
    from bot.networks.links import OTHER_NETWORKS
    from bot.supervisor import LISTENER_DEADLINE, Signals, exit_at_deadline

    rt = _runtime(settings, "listener")
    signals = Signals()
    exit_at_deadline(signals.stop, LISTENER_DEADLINE, "the listener")
    retry = settings.x_stream_retry_seconds
    listener = (
        StreamListener(rt, retry_seconds=retry, rules_retry_seconds=retry)
        if settings.x_intake == "stream"
        else Listener(rt)
    )
    # Watched words are read beside the mentions, in their own thread, either way.
    watches = threading.Thread(
        target=WatchReader(rt).run, args=(signals.stop,), name="watches", daemon=True
    )
    watches.start()
    # Beside X's stream, accounts on the other networks are polled, in their own thread.
    others = threading.Thread(
        target=Listener(rt, networks=OTHER_NETWORKS).run,
        args=(signals.stop,),
        name="networks",
        daemon=True,
    )
    if settings.x_intake == "stream":
        others.start()
    logger.info("listening for mentions (%s)", settings.x_intake)
    listener.run(signals.stop)
    watches.join(timeout=LISTENER_DEADLINE)
    if others.is_alive():
        others.join(timeout=LISTENER_DEADLINE)
    logger.info("listener stopped")
    return 0


def _run_all(args: argparse.Namespace, settings: Settings) -> int:
    from bot.crypto import token_box
    from bot.queue import socket_url, start_embedded, stop_embedded
    from bot.supervisor import Signals, supervise
    from bot.team.keys import check_key

    signals = Signals()  # from here on a signal stops everything started, Redis included
    settings.require("run")
    token_box(settings)  # a local key, if one is needed, is made once, before the children start
    _db_upgrade(args, settings)
    # Once here rather than three times in the children's dying words.
    check_key(settings)
    env = dict(os.environ)
    embedded = None
    try:
        if not settings.redis_url:
            embedded = start_embedded(settings.roost_var_dir)
            env["REDIS_URL"] = socket_url(embedded)
        commands = {name: [sys.executable, "-m", "bot.cli", name] for name in PROCESSES}
        code = supervise(commands, env, signals) if not signals.stop.is_set() else 0
    finally:
        if embedded is not None:
            stop_embedded(embedded)
    logger.info("roost stopped")
    return code


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import database_url, upgrade

    upgrade(database_url(settings.database_url, settings.roost_var_dir))
    logger.info("database is up to date")
    return 0


def _accounts_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.team.setup import add_account, credentials_from

    options = {name: _read_if_dash(name, value) for name, value in vars(args).items()}
    if args.network == "x":
        if not args.handle:
            raise SettingsError("--handle is missing: the account's @handle on X.")
        auth_kind, credentials = credentials_from(options)
        for value in credentials.values():
            remember_secret(value)
    channel = args.channel or settings.roost_default_channel
    if not channel:
        raise SettingsError(
            "--channel is missing and ROOST_DEFAULT_CHANNEL is not set: give the Slack channel "
            "id (C…) where this account's cards go (channel details > About, at the bottom)."
        )
    if args.network != "x":
        return _network_account_add(args.network, options, channel, settings)
    account, created = add_account(settings, args.handle, channel, auth_kind, credentials)
    verb = "added" if created else "updated"
    print(f"@{account.handle} (X id {account.x_user_id}) {verb}; its mentions go to {channel}.")
    return 0


def _network_account_add(
    network: str, options: dict[str, object], channel: str, settings: Settings
) -> int:
    from bot.networks.services import BLUESKY_SERVICE
    from bot.team.setup import add_network_account

    if network == "bluesky":
        secrets = {
            "handle": str(options["handle"] or ""),
            "app_password": str(options["app_password"] or ""),
        }
        service = str(options["service_url"] or BLUESKY_SERVICE)
    else:
        secrets = {"access_token": str(options["access_token"] or "")}
        if not options["service_url"]:
            raise SettingsError(
                "--service-url is missing: the Mastodon instance (mastodon.social)."
            )
        service = str(options["service_url"])
    account, created = add_network_account(settings, network, service, secrets, channel)
    verb = "added" if created else "updated"
    print(f"@{account.handle} on {network} {verb}; its mentions go to {channel}.")
    return 0


def _read_if_dash(name: str, value: object) -> object:
    """A credential given as "-" is read from standard input, out of `ps` and shell history."""
    if value != "-":
        return value
    if sys.stdin.isatty():
        return getpass.getpass(f"{name.replace('_', ' ')}: ")
    return sys.stdin.readline().strip()


def _accounts_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.team.setup import list_accounts

    for line in list_accounts(settings):
        print(line)
    return 0


def _grants_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.team.setup import grant_role

    print(grant_role(settings, args.account, args.user, args.role, args.team))
    return 0


def _keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.team.keys import rotate_all

    count = rotate_all(settings)
    whose = "1 account's" if count == 1 else f"{count} accounts'"
    print(f"re-encrypted {whose} tokens with the newest key")
    return 0


if __name__ == "__main__":
    sys.exit(main())

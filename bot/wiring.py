"""A process's runtime, put together from settings: the connections, and the functions
one domain hands another through it (see bot.runtime).

Every entry point (the `roost` processes, the benchmarks, a test's child process)
builds its runtime here, so none is missing a piece.
"""

from __future__ import annotations

from functools import partial

from redis import Redis

from bot.crypto import token_box
from bot.errors import SettingsError
from bot.home import publish_home
from bot.i18n import set_default
from bot.logs import remember_secret
from bot.queue import connect
from bot.rate_limits import count_rate_limit
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.client import WORKER_MAX_WAIT, make_client
from bot.slack.pace import Pace, paces
from bot.x.prices import load_prices
from storage.db import database_url, make_engine


def runtime_from(
    settings: Settings, *, redis: Redis | None = None, worker: bool = False
) -> Runtime:
    """Connect everything the settings describe (nothing is called yet). A `worker`'s
    Slack client waits out only Slack's short 429s; its jobs queue themselves again for
    longer ones."""
    for secret in (
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.x_bearer_token,
        settings.x_client_secret,
        settings.roost_metrics_token,
    ):
        if secret is not None:
            remember_secret(secret.get_secret_value())
    try:
        load_prices(settings.x_prices_file)  # read once, and a wrong file named at start
    except ValueError as exc:
        raise SettingsError(f"X_PRICES_FILE is not valid: {exc}") from None
    set_default(settings.roost_language)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    redis = redis or connect(settings.redis_url, settings.roost_var_dir)
    return Runtime(
        settings=settings,
        engine=make_engine(database_url(settings.database_url, settings.roost_var_dir)),
        redis=redis,
        slack=make_client(
            token,
            settings.slack_api_url,
            on_rate_limit=partial(count_rate_limit, redis, "slack"),
            max_wait=WORKER_MAX_WAIT if worker else None,
            pace=Pace(redis, paces(settings.roost_slack_pace)),
        ),
        box=token_box(settings),
        publish_home=publish_home,
    )

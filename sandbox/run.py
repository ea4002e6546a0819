"""The sandbox (`python -m sandbox` without Slack settings): Roost's real web, worker and
listener against the fake Slack, X, Bluesky and Mastodon in this process, with a workspace
already set up and a page to drive it from.

The sandbox keeps its database and embedded Redis under ROOST_VAR_DIR/sandbox and wipes
them at each start: the fakes keep their state in memory, so yesterday's rows would point
at messages that are gone. It sets DATABASE_URL and REDIS_URL itself, so a deployment's
own (in the environment or .env) are never touched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.error import URLError

from cryptography.fernet import Fernet

from bot import cli
from bot.clock import now
from bot.crypto import TokenBox
from bot.logs import configure_logging
from bot.queue import socket_url, start_embedded, stop_embedded
from bot.supervisor import Signals, supervise
from bot.team.networks import connect_account
from sandbox.bluesky_api import FakeBluesky
from sandbox.mastodon_api import FakeMastodon
from sandbox.page import Elsewhere, attach
from sandbox.scenario import load_scenarios
from sandbox.slack_api import FakeSlack
from sandbox.x_api import AUTHORIZE_PATH, FakeX
from storage.accounts import upsert_account
from storage.db import make_engine, session_factory, upgrade
from storage.languages import set_channel_language
from storage.team import grant, member, set_cotag

logger = logging.getLogger(__name__)

NOTICE = "No Slack settings: starting the sandbox; nothing reaches Slack or X."

FOLDER = "sandbox"
"""The sandbox's own folder under ROOST_VAR_DIR, apart from a real run's files."""

LOG_FILE = "roost.log"
"""Where Roost's processes log, in the sandbox's folder: in the terminal their routine
lines would bury the page's address."""

KEY_FILE = "secret.key"
"""The sandbox's ROOST_SECRET_KEY, kept across starts (it seals only the fake X's tokens)."""

DEFAULT_PAGE_PORT = 8000
"""The page's port unless ROOST_SANDBOX_PORT says; a free one if it is taken."""

POLL_SECONDS = 3
"""Intake's period: a customer's mention shows within seconds, and it is the fastest the
default X plan allows, so Roost does not warn of X's limits."""

SWEEP_SECONDS = 5
"""The worker's sweep, shortened so what a stopped process left moves on while one watches."""

SURGE_FLOOR = 30
"""Mentions in ten minutes that make a surge: low enough that the launch-weekend scenario
becomes one at 1×, high enough that an ordinary weekday does not."""

READY_SECONDS = 120.0
"""How long the web process may take to answer /healthz before the sandbox logs that it
did not, and stops waiting to print the page's address."""

CARDS_SINCE = timedelta(minutes=10)
"""How long before the start the brand accounts were connected: the mentions seeded
since then are new to Roost, and arrive as the first cards."""


PKG_RESOURCES_WARNING = "ignore:pkg_resources is deprecated as an API:UserWarning"
"""twitter-text-parser's warning at import (see pyproject's pins): nothing a person trying
Roost can act on."""


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    real_name: str
    cotag: str
    role: str  # on every brand account
    locale: str = "en-US"


@dataclass(frozen=True)
class Brand:
    handle: str
    name: str
    channel_id: str
    channel_name: str
    language: str


PEOPLE = (
    Person("U0TRAINEE", "you", "You (trainee)", "^YOU", "agent"),
    Person("U0OWNER", "sora", "Sora Lee (이소라)", "^SL", "owner", "ko-KR"),
    Person("U0MINJI", "minji", "Minji Park (박민지)", "^MJ", "agent", "ko-KR"),
    Person("U0BEN", "ben", "Ben Kim", "^BK", "agent"),
)
"""The workspace's people, the trainee first: the page acts as any of them."""

OWNER = PEOPLE[1]

BRANDS = (
    Brand("acme", "ACME", "C0ACME", "x-acme", "en"),
    Brand("acme_kr", "ACME 코리아", "C0ACMEKR", "x-acme-kr", "ko"),
)

SOCIAL = Brand("acme", "ACME", "C0SOCIAL", "social-acme", "en")
"""Where ACME's Bluesky and Mastodon mentions arrive, as the same cards as X's."""

BLUESKY_HANDLE = "acme.bsky.social"
BLUESKY_PASSWORD = "sandbox-app-password"  # not spoken: the fake Bluesky's, for ACME

WAITING_ELSEWHERE = (
    ("bluesky", "mia.example", "Mia Chen", "is the Gangnam store open on Sunday?"),
    ("mastodon", "leo@mastodon.example", "Leo", "my new case arrived cracked. Swap it in store?"),
)
"""The mentions waiting on Bluesky and Mastodon at the start (network, customer, display
name, text), so that a trainee meets a card from each network beside X's. The customers'
names are under the reserved `.example`: their profile links lead nowhere real."""

WAITING = (
    ("jane_doe", "Jane Doe", "acme", "@acme my order #4417 says delivered; nothing is here."),
    ("minsu_kim", "김민수", "acme_kr", "@acme_kr 사전예약했는데 오늘 온다던 배송이 소식이 없어요."),
    ("techdad", "Chris Park", "acme", "@acme love the new case colours! A green one, maybe?"),
)
"""The mentions waiting at the start (customer, display name, account, text), so the first
screen is not empty."""


def run_sandbox(var_dir: Path) -> int:
    """Start the fakes and Roost's processes on a fresh workspace under `var_dir`; return
    once a signal (or a process's exit) has stopped them all."""
    configure_logging(os.environ.get("ROOST_LOG_LEVEL", "INFO"))
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a fresh database every time
    print(NOTICE, flush=True)
    folder = var_dir / FOLDER
    signals = Signals()  # from here on a signal stops everything, the fakes included
    key = _fresh_folder(folder)
    slack = _start_slack(int(os.environ.get("ROOST_SANDBOX_PORT", DEFAULT_PAGE_PORT)))
    redis = page = None
    x = bluesky = mastodon = None
    try:
        x = FakeX()
        x.consent_choices = [brand.handle for brand in BRANDS]  # reconnecting, by hand
        x.loopback_only = True
        x.start()
        bluesky, mastodon = FakeBluesky().start(), FakeMastodon().start()
        logger.info(
            "fake Slack on %s; fake X on %s, Bluesky on %s, Mastodon on %s",
            slack.base_url,
            x.url,
            bluesky.url,
            mastodon.url,
        )
        web_port = _free_port()
        database = f"sqlite:///{(folder / 'roost.db').resolve()}"
        upgrade(database)
        box = TokenBox([key.encode()])
        _seed(database, box, slack, x)
        _seed_elsewhere(database, box, slack, bluesky, mastodon)
        redis = start_embedded(folder)
        env = _environment(folder, key, database, socket_url(redis), slack, x, web_port)
        page = attach(
            slack,
            x,
            events_url=f"http://127.0.0.1:{web_port}/slack/events",
            people=[person.user_id for person in PEOPLE],
            brands=[brand.handle for brand in BRANDS],
            scenarios=load_scenarios(),
            elsewhere=_elsewhere(bluesky, mastodon),
        )
        announcer = threading.Thread(
            target=_announce_when_ready,
            args=(f"http://127.0.0.1:{web_port}/healthz", slack.base_url, signals.stop),
            name="announce",
            daemon=True,
        )
        announcer.start()
        commands = {name: [sys.executable, "-m", "bot.cli", name] for name in cli.PROCESSES}
        if signals.stop.is_set():
            return 0
        with (folder / LOG_FILE).open("ab") as log:
            logger.info("Roost's processes log to %s", folder / LOG_FILE)
            return supervise(commands, env, signals, output=log)
    finally:
        if page is not None:
            page.stop()
        if redis is not None:
            stop_embedded(redis)
        for fake in (x, bluesky, mastodon):
            if fake is not None:
                fake.stop()
        slack.stop()
        logger.info("sandbox stopped")


def _fresh_folder(folder: Path) -> str:
    """Empty the folder but for the sandbox's key; returns the key, made on first use."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.name == KEY_FILE:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    key_file = folder / KEY_FILE
    if not key_file.exists():
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(Fernet.generate_key())
    return key_file.read_text().strip()


def _start_slack(port: int) -> FakeSlack:
    """The fake Slack, which also serves the page, on `port` if it is free."""
    try:
        slack = FakeSlack(port=port).start()
    except OSError:
        logger.info("port %s is taken: the page goes on another", port)
        slack = FakeSlack().start()
    for brand in (*BRANDS, SOCIAL):
        slack.add_channel(brand.channel_id, brand.channel_name)
    for person in PEOPLE:
        slack.add_user(
            person.user_id, person.name, real_name=person.real_name, locale=person.locale
        )
    return slack


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(database: str, box: TokenBox, slack: FakeSlack, x: FakeX) -> None:
    """The brand accounts on X and connected in Roost, the team's roles and CoTags, the
    Korean channel's language, and a few customers' mentions waiting."""
    engine = make_engine(database)
    started = now()
    connected = started - CARDS_SINCE
    with session_factory(engine).begin() as session:
        accounts = []
        for brand in BRANDS:
            user = x.add_user(brand.handle, name=brand.name, followers=12_000, verified=True)
            account, _ = upsert_account(
                session,
                x_user_id=int(user["id"]),
                handle=brand.handle,
                name=brand.name,
                channel_id=brand.channel_id,
                auth_kind="oauth2",
                sealed_credentials=box.seal({"access_token": x.issue_token(user["id"])}),
                now=connected,
            )
            accounts.append(account)
            set_channel_language(
                session, brand.channel_id, brand.language, OWNER.user_id, connected
            )
        for person in PEOPLE:
            someone = member(session, slack.team_id, person.user_id, connected)
            set_cotag(session, someone, person.cotag, connected)
            for account in accounts:
                grant(session, account, someone, person.role, connected)
    engine.dispose()
    for position, (handle, name, brand_handle, text) in enumerate(WAITING):
        x.add_user(handle, name=name)
        x.post_mention(
            brand_handle,
            author=handle,
            text=text,
            lang="ko" if brand_handle == "acme_kr" else "en",
            created_at=started - timedelta(minutes=len(WAITING) - position),
        )


def _seed_elsewhere(
    database: str, box: TokenBox, slack: FakeSlack, bluesky: FakeBluesky, mastodon: FakeMastodon
) -> None:
    """ACME on Bluesky and on Mastodon, connected in Roost as an owner would (its app
    password, its access token), carding to #social-acme with the team's roles there, and
    a customer's mention waiting on each."""
    engine = make_engine(database)
    sessions = session_factory(engine)
    connected = now() - CARDS_SINCE
    bluesky.add_account(BLUESKY_HANDLE, BLUESKY_PASSWORD, display_name=SOCIAL.name)
    _, token = mastodon.add_account(SOCIAL.handle, display_name=SOCIAL.name)
    secrets = {
        "bluesky": {"handle": BLUESKY_HANDLE, "app_password": BLUESKY_PASSWORD},
        "mastodon": {"access_token": token},
    }
    for network, fake in (("bluesky", bluesky), ("mastodon", mastodon)):
        account, _ = connect_account(
            sessions,
            box,
            connected,
            network=network,
            service=fake.url,
            secrets=secrets[network],
            channel=SOCIAL.channel_id,
            by=OWNER.user_id,
        )
        with sessions.begin() as session:
            for person in PEOPLE:
                someone = member(session, slack.team_id, person.user_id, connected)
                grant(session, account, someone, person.role, connected)
    engine.dispose()
    for network, author, name, text in WAITING_ELSEWHERE:
        if network == "bluesky":
            bluesky.add_account(author, "customer-password", display_name=name)
            bluesky.post_mention(author, f"@{BLUESKY_HANDLE} {text}")
        else:
            mastodon.add_remote(author, display_name=name)
            mastodon.post_mention(author, text, to=SOCIAL.handle)


def _elsewhere(bluesky: FakeBluesky, mastodon: FakeMastodon) -> list[Elsewhere]:
    """ACME's Bluesky and Mastodon accounts, for the page's form to mention: a customer
    named `author` there is `author.example` on Bluesky and `author@mastodon.example`."""

    def on_bluesky(author: str, name: str | None, text: str) -> str:
        handle = (re.sub(r"[^a-z0-9]", "", author.lower()) or "customer") + ".example"
        try:
            bluesky.add_account(handle, "customer-password", display_name=name)
        except ValueError:
            pass  # a customer already
        named = text if f"@{BLUESKY_HANDLE}" in text else f"@{BLUESKY_HANDLE} {text}"
        return str(bluesky.post_mention(handle, named)["uri"])

    def on_mastodon(author: str, name: str | None, text: str) -> str:
        acct = f"{author}@mastodon.example"
        mastodon.add_remote(acct, display_name=name)
        return str(mastodon.post_mention(acct, text, to=SOCIAL.handle)["id"])

    return [
        Elsewhere(f"bluesky:{BLUESKY_HANDLE}", f"@{BLUESKY_HANDLE} · Bluesky", on_bluesky),
        Elsewhere(f"mastodon:{SOCIAL.handle}", f"@{SOCIAL.handle} · Mastodon", on_mastodon),
    ]


def _environment(
    folder: Path,
    key: str,
    database: str,
    redis_url: str,
    slack: FakeSlack,
    x: FakeX,
    web_port: int,
) -> dict[str, str]:
    """Roost's settings for its processes: the fakes', and the sandbox's own storage, over
    whatever the environment says (.env is read after the environment, so each is set)."""
    public_url = f"http://127.0.0.1:{web_port}"
    client_id, client_secret = x.register_client(
        f"{public_url}/x/oauth/callback", confidential=True
    )
    assert client_secret is not None
    kept = {name: value for name, value in os.environ.items() if not name.startswith("SLACK_")}
    return {
        **kept,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "ROOST_VAR_DIR": str(folder),
        "ROOST_SECRET_KEY": key,
        "SLACK_API_URL": slack.url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "X_API_URL": x.url,
        "X_BEARER_TOKEN": x.app_bearer,
        "X_CLIENT_ID": client_id,
        "X_CLIENT_SECRET": client_secret,
        "X_AUTHORIZE_URL": x.url + AUTHORIZE_PATH,
        "X_INTAKE": "poll",
        "X_PLAN": "pay-per-use",
        "X_POLL_SECONDS": str(POLL_SECONDS),
        "ROOST_PUBLIC_URL": public_url,
        "ROOST_ADMINS": OWNER.user_id,
        "ROOST_SWEEP_SECONDS": str(SWEEP_SECONDS),
        "ROOST_SURGE_FLOOR": str(SURGE_FLOOR),
        "PORT": str(web_port),
        "PYTHONWARNINGS": PKG_RESOURCES_WARNING,
        # The worker's every routine job is an INFO line: warnings and worse, unless asked.
        "ROOST_LOG_LEVEL": os.environ.get("ROOST_LOG_LEVEL", "WARNING"),
    }


def _announce_when_ready(health_url: str, base_url: str, stop: threading.Event) -> None:
    """Print the page's address on a line of its own once Roost's web answers."""
    deadline = time.monotonic() + READY_SECONDS
    while not stop.wait(0.2):
        try:
            with urllib.request.urlopen(health_url, timeout=1) as answer:
                if answer.status == 200:
                    print(f"{base_url}/sandbox/", flush=True)
                    return
        except (URLError, OSError):
            pass
        if time.monotonic() > deadline:
            logger.error("Roost's web did not answer %s within %.0f s", health_url, READY_SECONDS)
            return

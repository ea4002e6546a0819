"""Accounts on their networks: connecting one on Bluesky or Mastodon (its secrets checked
with the network, then sealed; X's accounts connect by OAuth, bot.team.connect), and the
adapter every account acts through, built from its sealed credentials.

A Bluesky session is refreshed by whichever process meets its expiry; the new one is
sealed into the account's row at once, so the others start from it. The app password
is kept too, sealed: a session every process lost is made again from it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from functools import partial

from rq import Retry
from sqlalchemy.orm import Session, sessionmaker

from bot.crypto import TokenBox
from bot.errors import Refused, RoostError
from bot.i18n import _
from bot.logs import remember_secret
from bot.networks.base import Author, Network
from bot.networks.services import check_public, service_url
from bot.networks.x import XNetwork
from bot.runtime import Runtime
from bot.slack.channels import usable_channel
from bot.team.admin import may_connect
from bot.team.budget import budget_now
from bot.team.connect import announce_connected
from bot.team.credentials import NOT_SECRET, open_credentials, x_client
from bot.team.people import Who
from storage.accounts import upsert_account
from storage.models import Account
from storage.refs import number

ANNOUNCE_RETRY = Retry(max=3, interval=[5, 30, 120])
"""Saying an account is connected waits out a Slack that does not answer, three times."""

Connector = Callable[[str, dict[str, str]], tuple[Author, dict[str, str], int | None]]
"""Checks an account's secrets on its network: who it is, the credentials to seal, and
its server's limit on a post (None: the network's own)."""


def connect_account(
    sessions: sessionmaker[Session],
    box: TokenBox,
    now: datetime,
    *,
    network: str,
    service: str,
    secrets: dict[str, str],
    channel: str,
    by: str | None = None,
) -> tuple[Account, bool]:
    """Sign in to the account on `network` at `service` with `secrets` (Bluesky: handle and
    app_password; Mastodon: access_token), then store it sealed, its cards going to
    `channel`. The account and whether it is new; Refused, or the network's error, with a
    sentence to act on when it cannot be."""
    connect = _CONNECTORS.get(network)
    if connect is None:
        raise Refused(
            _("Roost connects X, Bluesky and Mastodon accounts, not {network}.").format(
                network=network
            )
        )
    for key, value in secrets.items():
        if key not in NOT_SECRET:
            remember_secret(value)
    url = service_url(service)
    check_public(url)
    me, credentials, post_limit = connect(url, secrets)
    with sessions.begin() as session:
        account, created = upsert_account(
            session,
            x_user_id=number(session, network, me.ref),
            handle=me.handle,
            name=me.name or "",
            channel_id=channel,
            auth_kind=network,
            sealed_credentials=box.seal(credentials),
            now=now,
            network=network,
            service_url=url,
            post_limit=post_limit,
        )
        account.connected_by = by or account.connected_by
        session.expunge(account)
    return account, created


def connect_channel(rt: Runtime, who: Who, channel_id: str | None) -> str:
    """Where a Bluesky or Mastodon account this person connects from `channel_id` sends
    its cards: that channel if Roost can post there, else ROOST_DEFAULT_CHANNEL. Refused
    if they may not connect an account, or there is nowhere to send its cards."""
    if not may_connect(rt, who):
        raise Refused(_("Only Slack admins and owners of an account may connect one."))
    channel = usable_channel(rt.slack, channel_id) or rt.settings.roost_default_channel
    if not channel:
        raise Refused(
            _(
                "Roost cannot post in this conversation: run `/roost accounts` in the channel "
                "the account's cards belong in (with Roost invited) to connect it there."
            )
        )
    return channel


def form_errors(service: str, secrets: dict[str, str]) -> dict[str, str]:
    """What the connect form must have said otherwise, by its block: each field filled, the
    server an address Roost sends secrets to. Checked before anything is sent."""
    typed = {"service": service, "handle": secrets.get("handle", "-")}
    typed["secret"] = secrets.get("app_password") or secrets.get("access_token") or ""
    errors = {block: _("Fill this in.") for block, value in typed.items() if not value}
    if "service" not in errors:
        try:
            service_url(service)
        except Refused as exc:
            errors["service"] = str(exc)
    return errors


def connect_from_slack(
    rt: Runtime, who: Who, network: str, channel: str, service: str, secrets: dict[str, str]
) -> Account:
    """Connect the account a person's form describes (their right to checked again), and
    say so in its channel."""
    connect_channel(rt, who, channel)
    account, _created = connect_account(
        rt.sessions,
        rt.box,
        rt.clock(),
        network=network,
        service=service,
        secrets=secrets,
        channel=channel,
        by=who.user_id,
    )
    rt.queue.enqueue(announce_connected, account.id, who.user_id, retry=ANNOUNCE_RETRY)
    return account


def _connect_bluesky(url: str, secrets: dict[str, str]) -> tuple[Author, dict[str, str], None]:
    from bot.networks import bluesky

    handle = secrets.get("handle", "").strip().lstrip("@")
    password = secrets.get("app_password", "").strip()
    if not handle or not password:
        raise Refused(_("Give the account's handle and an app password made for Roost."))
    network, session = bluesky.connect(url, handle, password)
    with closing(network):
        me = network.me()
    return me, {"handle": me.handle, "app_password": password, "session": session}, None


def _connect_mastodon(url: str, secrets: dict[str, str]) -> tuple[Author, dict[str, str], int]:
    from bot.networks import mastodon

    token = secrets.get("access_token", "").strip()
    if not token:
        raise Refused(_("Give an access token from the instance's Development settings."))
    with closing(mastodon.connect(url, token)) as network:
        return network.me(), {"access_token": token}, network.limits().max_length


_CONNECTORS: dict[str, Connector] = {"bluesky": _connect_bluesky, "mastodon": _connect_mastodon}


def network_for(rt: Runtime, account: Account) -> Network:
    """The adapter acting as `account` on its network, with its credentials (an X OAuth 2.0
    token about to expire refreshed first)."""
    build = _BUILDERS.get(account.network)
    if build is None:
        raise _unreachable(account)
    return build(rt, account)


def _unreachable(account: Account) -> RoostError:
    return RoostError(
        _("@{handle} is on {network}, which Roost cannot reach.").format(
            handle=account.handle, network=account.network
        )
    )


def _server(account: Account) -> str:
    """The account's server, on a network of many (Bluesky's, Mastodon's)."""
    if not account.service_url:
        raise _unreachable(account)
    return account.service_url


def keep_session(rt: Runtime, account_id: int, session: str) -> None:
    """Seal a Bluesky session the SDK made or refreshed into the account's credentials."""
    with rt.sessions.begin() as db:
        account = db.get(Account, account_id, with_for_update=True)
        if account is None:
            return
        credentials = rt.box.open(account.credentials)
        if not credentials:
            return  # disconnected meanwhile: nothing to keep it for
        credentials["session"] = session
        account.credentials = rt.box.seal(credentials)


# The adapters are imported where they are built: their SDKs take a second or more to
# import, which no process should pay for before it has an account on that network.


def _x(rt: Runtime, account: Account) -> Network:
    return XNetwork(
        x_client(rt, account),
        user_id=account.x_user_id,
        handle=account.handle,
        name=account.name or None,
        budget=partial(budget_now, rt, account.id),
    )


def _bluesky(rt: Runtime, account: Account) -> Network:
    from bot.networks.bluesky import BlueskyNetwork

    credentials = open_credentials(rt, account)
    return BlueskyNetwork(
        _server(account),
        session=credentials.get("session"),
        handle=credentials.get("handle") or account.handle,
        app_password=credentials.get("app_password"),
        on_session=partial(keep_session, rt, account.id),
    )


def _mastodon(rt: Runtime, account: Account) -> Network:
    from bot.networks.mastodon import MastodonNetwork

    return MastodonNetwork(_server(account), open_credentials(rt, account)["access_token"])


_BUILDERS: dict[str, Callable[[Runtime, Account], Network]] = {
    "x": _x,
    "bluesky": _bluesky,
    "mastodon": _mastodon,
}

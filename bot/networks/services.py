"""Where a Bluesky service or a Mastodon instance is, as a person types it: checked before
Roost sends an account's password or token there."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bot.errors import Refused
from bot.i18n import _

BLUESKY_SERVICE = "https://bsky.social"
"""Where Bluesky accounts sign in unless their own server is given."""

_LOOPBACK_NAMES = frozenset({"localhost"})


def service_url(typed: str) -> str:
    """`typed` as the base URL Roost calls ("mastodon.social" → "https://mastodon.social").

    Only https, except to this computer (a fake or a server on loopback, plain http); no
    user name, password, query or fragment, and no path: an instance is its origin.
    Refused with a sentence saying what to type otherwise.
    """
    text = typed.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        host, port = None, None
        parts = None
    if parts is None or not host or parts.username or parts.password:
        raise _refused(typed)
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise _refused(typed)
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not _loopback(host)):
        raise Refused(
            _(
                "{url} is not an https address: Roost sends the account's secrets only over https."
            ).format(url=typed.strip())
        )
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown.lower()}" + (f":{port}" if port else "")


def _loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refused(typed: str) -> Refused:
    return Refused(
        _("{url} is not a server's address: type its name, like mastodon.social.").format(
            url=typed.strip()
        )
    )

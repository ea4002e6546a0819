"""Where a Bluesky service or a Mastodon instance is, as a person types it: checked before
Roost sends an account's password or token there.

Only https, to a public address: a private, link-local or unspecified one (a cloud's
metadata service, an office's intranet) is refused, by its address when one is typed and
by what the name resolves to before Roost connects. This computer (loopback) is the one
exception, with plain http too: a server of one's own, and the fakes.
"""

from __future__ import annotations

import ipaddress
import socket
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
    if _inward(host):
        raise _private(typed)
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown.lower()}" + (f":{port}" if port else "")


def check_public(url: str) -> None:
    """Refused if the name in `url` resolves to a private, link-local or unspecified
    address (a name that does not resolve is the network's to fail on)."""
    host = urlsplit(url).hostname or ""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return
    if any(_inward(str(address[4][0])) for address in found):
        raise _private(url)


def _inward(host: str) -> bool:
    """Whether `host` is an address inside a network rather than on the internet (and not
    this computer's own)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if address.is_loopback:
        return False
    return (
        address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


def _private(typed: str) -> Refused:
    return Refused(
        _(
            "{url} is an address inside a private network: Roost sends the account's secrets "
            "only to a server on the internet."
        ).format(url=typed.strip())
    )


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

"""What each network is called and where a person opens a post or a profile on it, from
what Roost keeps: the network's name, a handle, a post's id or its stored link."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from bot.i18n import N_

LABELS = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon"}  # not spoken: names
"""Each network as a person reads its name (a proper noun in every language)."""

NETWORKS = tuple(LABELS)

OTHER_NETWORKS = tuple(name for name in NETWORKS if name != "x")
"""The networks beside X, read by polling their adapters (bot.networks)."""

REPOST = {"x": N_("Retweet"), "bluesky": N_("Repost"), "mastodon": N_("Boost")}
"""What each network calls sharing a post with the account's followers (a button)."""

UNDO_REPOST = {
    "x": N_("Undo retweet"),
    "bluesky": N_("Undo repost"),
    "mastodon": N_("Undo boost"),
}

SHARED = {  # not spoken: the words a card's lines are keyed by (bot.inbox.cards)
    "bluesky": {"retweet": "repost", "unretweet": "unrepost"},
    "mastodon": {"retweet": "boost", "unretweet": "unboost"},
}
"""Roost's outbound kinds "retweet" and "unretweet" in each network's own word, where it
is not X's."""

REPOST_ASKED = {
    "x": N_("Retweet this post?"),
    "bluesky": N_("Repost this post?"),
    "mastodon": N_("Boost this post?"),
}


def label(network: str) -> str:
    """The network's name as a person reads it."""
    return LABELS.get(network, network)


MADE_POST_URLS = {  # not spoken: addresses
    "x": ("https://x.com/{handle}/status/{id}", "https://x.com/i/web/status/{id}"),
}
"""Where a post is, made from its id (with its author's handle, and without one), on the
networks whose links can be made so; the others' links are kept as their network gave
them."""


def post_url(
    network: str, handle: str | None, post_id: int | str, *, stored: str | None = None
) -> str:
    """Where a person opens a post: the link its network gave (`stored`), else one made
    from its id (X redirects the generic form when the author is unknown)."""
    if stored:
        return stored
    forms = MADE_POST_URLS.get(network)
    if forms is None:
        raise ValueError(f"a {network} post's link is kept, not made")  # not spoken
    with_handle, without = forms
    return (with_handle if handle else without).format(handle=handle, id=post_id)


def profile_url(network: str, handle: str, *, service_url: str | None = None) -> str:
    """Where a person opens someone's profile. A Mastodon handle without its instance
    (someone on the account's own) is on `service_url`."""
    if network == "bluesky":
        return f"https://bsky.app/profile/{quote(handle)}"
    if network == "mastodon":
        user, _at, instance = handle.partition("@")
        host = instance or urlsplit(service_url or "").netloc
        if not host:
            raise ValueError(f"no instance for @{handle}")  # not spoken
        return f"https://{host}/@{quote(user)}"
    return f"https://x.com/{quote(handle)}"

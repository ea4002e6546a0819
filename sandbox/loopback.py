"""Whether a request names this computer: what the sandbox's fakes check of every request
once a browser may reach them (a page elsewhere could rebind a name of its own to their
ports and read or change the workspace)."""

from __future__ import annotations


def is_loopback_host(host: str) -> bool:
    """Whether a Host header names this computer (any port): 127.0.0.1, localhost, [::1]."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[: name.find("]") + 1]
    else:
        name = name.partition(":")[0]
    return name in ("127.0.0.1", "localhost", "[::1]")

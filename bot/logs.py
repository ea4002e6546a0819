"""Logging set-up for the entry points, with secrets scrubbed from every record.

tweepy logs request headers (bearer tokens included) at DEBUG, and an
exception message may quote a URL with a token in it. A filter on the root
handler replaces anything that looks like a credential before it is written.
"""

from __future__ import annotations

import logging
import re
from typing import TextIO

REDACTED = "[redacted]"

_PATTERNS = [
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=%-]+", re.IGNORECASE),
    re.compile(r"(oauth_(?:token|signature|consumer_key)=\"?)[^\",&\s]+", re.IGNORECASE),
    re.compile(r"()xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"()xapp-[A-Za-z0-9-]+"),
    re.compile(r"((?:access_token|refresh_token|token)[\"']?\s*[:=]\s*[\"']?)[^\"',&\s}]+"),
]


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace credential-shaped substrings, and the given secrets, in text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with `scrub`; registered secrets too."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, tuple(self.secrets))
        record.msg = scrub(message, tuple(self.secrets))
        record.args = None
        return True


redacting_filter = RedactingFilter()
"""The one filter the entry points install; `remember_secret` feeds it."""


def remember_secret(value: str | None) -> None:
    """Make sure this exact value never reaches a log line."""
    if value and len(value) >= 8:
        redacting_filter.secrets.add(value)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Called once by an entry point; libraries never configure logging."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redacting_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # These log whole requests at DEBUG; keep them quiet even when we are not.
    for noisy in ("tweepy", "urllib3", "requests_oauthlib", "oauthlib"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
    # Alembic announces each of its plugins whenever it is imported.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

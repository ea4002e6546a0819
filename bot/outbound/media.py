"""Media for posts: files people attach in Slack, checked and fetched for a network.

A modal's `file_input` hands over Slack file objects (name, mimetype, size,
url_private...). `check_files` says what is wrong with them in words a person
can act on before anything is fetched; `download` fetches one with the bot
token, for the account's network to upload (`Network.upload`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import requests

from bot.errors import RoostError, SlackError, SlackUnavailable
from bot.i18n import _
from bot.x.media import ACCEPTED, IMAGE_TYPES, VIDEO_TYPES

if TYPE_CHECKING:
    from bot.runtime import Runtime

logger = logging.getLogger(__name__)

MB = 1024 * 1024

MAX_IMAGE_BYTES = 5 * MB
"""X's limit for an image."""

MAX_GIF_BYTES = 15 * MB
"""X's limit for an animated GIF."""

MAX_VIDEO_BYTES = 512 * MB
"""X's limit for a video."""

MAX_IMAGES = 4
"""Images one post can carry; a video goes alone."""

DOWNLOAD_TIMEOUT = (5.0, 60.0)
"""(connect, read) seconds for fetching a file from Slack."""

DOWNLOAD_CHUNK_BYTES = 64 * 1024


def limit_for(mime: str) -> int | None:
    """X's size limit in bytes for a file of this type; None if X does not take the type."""
    if mime == "image/gif":
        return MAX_GIF_BYTES
    if mime in IMAGE_TYPES:
        return MAX_IMAGE_BYTES
    if mime in VIDEO_TYPES:
        return MAX_VIDEO_BYTES
    return None


def check_files(files: list[dict[str, Any]]) -> list[str]:
    """What stops these Slack files from going on one post, one sentence each; empty if
    nothing does."""
    problems = []
    images = videos = 0
    for file in files:
        name = _name(file)
        mime = str(file.get("mimetype") or "")
        limit = limit_for(mime)
        if limit is None:
            kind = file.get("filetype") or mime or _("unknown type")
            problems.append(
                _("{name} ({kind}) is not a type X takes: attach {accepted}.").format(
                    name=name, kind=kind, accepted=_(ACCEPTED)
                )
            )
            continue
        size = int(file.get("size") or 0)
        if size > limit:
            if mime == "image/gif":
                too_big = _("{name} is {size}; X takes a GIF of up to {limit}.")
            elif mime in VIDEO_TYPES:
                too_big = _("{name} is {size}; X takes a video of up to {limit}.")
            else:
                too_big = _("{name} is {size}; X takes an image of up to {limit}.")
            problems.append(
                too_big.format(name=name, size=human_size(size), limit=human_size(limit))
            )
        if mime in VIDEO_TYPES:
            videos += 1
        else:
            images += 1
    if videos and images:
        problems.append(
            _(
                "A post can carry one video or up to 4 images, not both: remove the video or "
                "the images."
            )
        )
    elif videos > 1:
        problems.append(
            _("A post can carry one video; {videos} are attached.").format(videos=videos)
        )
    if images > MAX_IMAGES:
        problems.append(
            _(
                "A post can carry up to {most} images; {images} are attached. Remove {extra}."
            ).format(most=MAX_IMAGES, images=images, extra=images - MAX_IMAGES)
        )
    return problems


def download(rt: Runtime, file: dict[str, Any]) -> bytes:
    """The file's bytes, fetched from Slack with the bot token.

    Stops reading past X's limit for the file's type, so a file larger than Slack said
    cannot fill memory. Raises SlackError (refused, gone, too big) or SlackUnavailable.
    """
    name = _name(file)
    mime = str(file.get("mimetype") or "")
    limit = limit_for(mime)
    if limit is None:
        raise RoostError(
            _("{name} is not a type X takes: attach {accepted}.").format(
                name=name, accepted=_(ACCEPTED)
            )
        )
    url = file.get("url_private_download") or file.get("url_private")
    if not url:
        raise SlackError(_("Slack gave no address for {name}: attach it again.").format(name=name))
    token = rt.settings.slack_bot_token
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
    try:
        with requests.get(url, headers=headers, stream=True, timeout=DOWNLOAD_TIMEOUT) as answer:
            _check_answer(answer, name, mime)
            return _read_up_to(answer.iter_content(DOWNLOAD_CHUNK_BYTES), limit, name)
    except requests.RequestException as exc:
        raise SlackUnavailable(
            _("Slack could not be reached to fetch {name} ({error}). Try again.").format(
                name=name, error=type(exc).__name__
            )
        ) from None


def human_size(size: int) -> str:
    """Bytes as a person reads them: 840 KB, 5 MB, 12.3 MB."""
    if size >= MB:
        return f"{size / MB:.1f}".removesuffix(".0") + " MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return _("{size} bytes").format(size=size)


def _name(file: dict[str, Any]) -> str:
    named = file.get("name") or file.get("title") or file.get("id")
    return f"“{named}”" if named else _("“the file”")


def _check_answer(answer: requests.Response, name: str, mime: str) -> None:
    """Raise unless Slack answered with the file itself."""
    if answer.status_code in (404, 410):
        raise SlackError(
            _("{name} is gone from Slack (deleted?): attach it again.").format(name=name)
        )
    if answer.status_code >= 500:
        raise SlackUnavailable(
            _("Slack is failing ({status}) to serve {name}.").format(
                status=answer.status_code, name=name
            )
        )
    refused = SlackError(
        _(
            "Slack refused Roost the file {name}: the app needs the files:read scope. Ask a "
            "workspace admin to reinstall Roost, then attach it again."
        ).format(name=name)
    )
    if answer.status_code != 200:
        raise refused
    # Without a valid token Slack redirects to its sign-in page and serves that instead.
    served = answer.headers.get("Content-Type", "").partition(";")[0].strip()
    if served == "text/html" and mime != "text/html":
        raise refused


def _read_up_to(chunks: Iterator[bytes], limit: int, name: str) -> bytes:
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise SlackError(
                _("{name} is over {limit}, more than X takes: attach a smaller one.").format(
                    name=name, limit=human_size(limit)
                )
            )
    return bytes(data)

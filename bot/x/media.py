"""The files X takes on a post, and their upload by type (an image in one request, a GIF
or a video in chunks, then processed)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.errors import RoostError
from bot.i18n import N_, _
from bot.x.client import XClient

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
"""Image types X takes (as Slack names them in a file's `mimetype`)."""

VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime"})
"""Video types X takes: MP4 and MOV."""

ACCEPTED = N_("JPEG, PNG, GIF or WebP images, or one MP4 or MOV video")


def upload(
    client: XClient, data: bytes, mime: str, *, poll: Callable[[float], None] = time.sleep
) -> str:
    """Upload the file to X as an image, an animated GIF or a video by its type; the
    media id.

    `poll` sleeps between a GIF's or a video's processing checks.
    """
    if mime == "image/gif":  # X takes animated GIFs only chunked, and processes them
        return client.upload_gif(data, poll=poll)
    if mime in IMAGE_TYPES:
        return client.upload_image(data, mime)
    if mime in VIDEO_TYPES:
        return client.upload_video(data, mime, poll=poll)
    if mime:
        refused = _("X does not take {mime} files: attach {accepted}.").format(
            mime=mime, accepted=_(ACCEPTED)
        )
    else:
        refused = _("X does not take this type of files: attach {accepted}.").format(
            accepted=_(ACCEPTED)
        )
    raise RoostError(refused)

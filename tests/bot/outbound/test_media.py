"""Media from Slack to X: the checks, the download with the bot token, the upload and post."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import RoostError, SlackError, XError
from bot.outbound import media
from bot.outbound.media import MB, check_files, download, human_size
from bot.runtime import Runtime
from bot.x.client import XClient
from bot.x.media import upload as upload_to_x
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def slack_file(name: str, mimetype: str, size: int, filetype: str = "") -> dict[str, Any]:
    """A file as a view submission's file_input gives it (only what the checks read)."""
    return {"id": "F1", "name": name, "mimetype": mimetype, "filetype": filetype, "size": size}


PHOTO = slack_file("photo.jpg", "image/jpeg", 2 * MB, "jpg")
CLIP = slack_file("clip.mp4", "video/mp4", 40 * MB, "mp4")


# --- the checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ([], []),
        ([PHOTO] * 4, []),
        ([CLIP], []),
        ([slack_file("loop.gif", "image/gif", 12 * MB, "gif")], []),
        (
            [slack_file("menu.pdf", "application/pdf", 1000, "pdf")],
            [
                "“menu.pdf” (pdf) is not a type X takes: attach JPEG, PNG, GIF or WebP "
                "images, or one MP4 or MOV video."
            ],
        ),
        (
            [slack_file("launch.mov", "video/quicktime", 600 * MB, "mov")],
            ["“launch.mov” is 600 MB; X takes a video of up to 512 MB."],
        ),
        (
            [slack_file("big.png", "image/png", 5 * MB + 300 * 1024, "png")],
            ["“big.png” is 5.3 MB; X takes an image of up to 5 MB."],
        ),
        (
            [slack_file("huge.gif", "image/gif", 16 * MB, "gif")],
            ["“huge.gif” is 16 MB; X takes a GIF of up to 15 MB."],
        ),
        (
            [PHOTO] * 5,
            ["A post can carry up to 4 images; 5 are attached. Remove 1."],
        ),
        (
            [PHOTO, CLIP],
            [
                "A post can carry one video or up to 4 images, not both: remove the video or "
                "the images."
            ],
        ),
        ([CLIP, CLIP], ["A post can carry one video; 2 are attached."]),
    ],
    ids=[
        "none",
        "four-images",
        "one-video",
        "gif-under-15mb",
        "unsupported-type",
        "video-over-the-limit",
        "image-over-the-limit",
        "gif-over-the-limit",
        "five-images",
        "image-and-video",
        "two-videos",
    ],
)
def test_check_files(files: list[dict[str, Any]], expected: list[str]) -> None:
    assert check_files(files) == expected


def test_check_files_with_a_nameless_file_of_no_known_type() -> None:
    (problem,) = check_files([{"id": "F9", "mimetype": "", "size": 3}])
    assert problem.startswith("“F9” (unknown type) is not a type X takes: attach JPEG")


@pytest.mark.parametrize(
    ("size", "text"),
    [(500, "500 bytes"), (840 * 1024, "840 KB"), (5 * MB, "5 MB"), (12 * MB + MB // 3, "12.3 MB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


# --- the download ----------------------------------------------------------------------------


def test_download_uses_the_bot_token(rt: Runtime, fake_slack: FakeSlack) -> None:
    file = fake_slack.add_file("photo.png", "image/png", PNG)
    assert download(rt, file) == PNG
    (fetch,) = fake_slack.downloads
    assert fetch["authorized"] and fetch["path"].endswith("/download/photo.png")


def test_download_refused_by_slack(rt: Runtime, fake_slack: FakeSlack) -> None:
    file = fake_slack.add_file("photo.png", "image/png", PNG)
    fake_slack.revoke(fake_slack.bot_token)
    with pytest.raises(SlackError, match="Slack refused Roost the file “photo.png”"):
        download(rt, file)


def test_download_of_a_deleted_file(rt: Runtime, fake_slack: FakeSlack) -> None:
    file = fake_slack.add_file("photo.png", "image/png", PNG)
    fake_slack.delete_file(file["id"])
    with pytest.raises(SlackError, match="“photo.png” is gone from Slack"):
        download(rt, file)


def test_download_stops_past_the_limit(
    rt: Runtime, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media, "MAX_IMAGE_BYTES", 1000)
    file = fake_slack.add_file("photo.png", "image/png", PNG)
    with pytest.raises(SlackError, match="over 1000 bytes, more than X takes"):
        download(rt, {**file, "size": 10})


def test_download_of_an_unsupported_type(rt: Runtime, fake_slack: FakeSlack) -> None:
    file = fake_slack.add_file("menu.pdf", "application/pdf", b"%PDF-1.7")
    with pytest.raises(RoostError, match="not a type X takes"):
        download(rt, file)
    assert fake_slack.downloads == []


# --- the upload ------------------------------------------------------------------------------


@pytest.fixture
def x_client(fake_x: FakeX) -> XClient:
    user = fake_x.add_user("brand")
    token = fake_x.issue_token(user["id"])
    return XClient("oauth2", {"access_token": token}, base_url=fake_x.url)


def test_images_and_a_video_go_up_and_onto_posts(fake_x: FakeX, x_client: XClient) -> None:
    fake_x.video_polls = 1
    waits: list[float] = []
    images = [upload_to_x(x_client, data, mime) for data, mime in [(PNG, "image/png")] * 3]
    images.append(upload_to_x(x_client, JPEG, "image/jpeg"))
    video = upload_to_x(x_client, MP4, "video/mp4", poll=waits.append)
    assert waits == [1.0]

    x_client.post_tweet("Four looks", media_ids=images)
    x_client.post_tweet("And the film", media_ids=[video])
    assert [post["media_ids"] for post in fake_x.posts_by("brand")] == [[video], images]
    kinds = {upload["id"]: upload["type"] for upload in fake_x.uploads_by("brand")}
    assert [kinds[media_id] for media_id in [*images, video]] == ["photo"] * 4 + ["video"]


def test_video_processing_failure_message(fake_x: FakeX, x_client: XClient) -> None:
    with pytest.raises(XError) as raised:
        upload_to_x(x_client, b"this is no video", "video/mp4", poll=lambda seconds: None)
    assert str(raised.value) == (
        "X could not process the video (Invalid or Unsupported media, Reason: "
        "UnsupportedMedia). Check that it is an MP4 or MOV with H.264 video and AAC audio, "
        "or attach another."
    )


def test_posting_an_unknown_media_id(fake_x: FakeX, x_client: XClient) -> None:
    with pytest.raises(XError, match="Your media IDs are invalid"):
        x_client.post_tweet("look", media_ids=["1865000000000000000"])
    assert fake_x.posts_by("brand") == []


def test_upload_of_an_unsupported_type(x_client: XClient) -> None:
    with pytest.raises(RoostError, match="X does not take application/pdf files"):
        upload_to_x(x_client, b"%PDF-1.7", "application/pdf")

"""Tests of the fake Mastodon instance, driven through Mastodon.py wherever it has the call,
and through raw requests for Mastodon's error bodies and headers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonUnauthorizedError,
)

from sandbox.mastodon_api import (
    INVALID_TOKEN,
    MEDIA_PROCESSING,
    NOT_FOUND,
    REPLY_NOT_FOUND,
    REVOKED_TOKEN,
    TOO_MANY_REQUESTS,
    FakeMastodon,
    status_length,
)
from tests.conftest import REPO_ROOT, wait_for

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    server = FakeMastodon().start()
    yield server
    server.stop()


@pytest.fixture
def brand(fake: FakeMastodon) -> Mastodon:
    """Mastodon.py signed in as @brand, the first account (the one mentions go to)."""
    _, token = fake.add_account("brand")
    return client(fake, token)


def client(fake: FakeMastodon, token: str | None) -> Mastodon:
    return Mastodon(
        api_base_url=fake.url,
        access_token=token,
        ratelimit_method="throw",
        request_timeout=5,
        version_check_mode="none",
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the instance and accounts -----------------------------------------------------------------


def test_instance_says_its_version_and_limits(fake: FakeMastodon, brand: Mastodon) -> None:
    fake.max_characters = 1000
    info = brand.instance_v2()
    assert info.version == "4.3.0"
    assert info.api_versions["mastodon"] == 2
    statuses = info.configuration.statuses
    assert statuses.max_characters == 1000
    assert statuses.characters_reserved_per_url == 23
    assert statuses.max_media_attachments == 4
    assert info.configuration.media_attachments.image_size_limit == 16 * 1024 * 1024
    assert brand.instance_v1().configuration.statuses.max_characters == 1000
    # Mastodon.py reads both to learn the version, without a warning (pytest makes it an error).
    assert brand.retrieve_mastodon_version(fail_hard=True) == "4.3.0"


def test_verify_credentials_and_lookup(fake: FakeMastodon, brand: Mastodon) -> None:
    fake.add_remote("alice@example.org", display_name="Alice")
    me = brand.account_verify_credentials()
    assert (me.username, me.acct) == ("brand", "brand")
    assert me.url == f"{fake.url}/@brand"
    assert me.source.privacy == "public"
    alice = brand.account_lookup("alice@example.org")
    assert (alice.acct, alice.display_name) == ("alice@example.org", "Alice")
    assert alice.url == "https://example.org/@alice"
    with pytest.raises(MastodonNotFoundError):
        brand.account_lookup("nobody@example.org")


def test_tokens_are_checked_as_mastodon_checks_them(fake: FakeMastodon) -> None:
    _, token = fake.add_account("brand")
    missing = requests.get(f"{fake.url}/api/v1/accounts/verify_credentials", timeout=5)
    assert (missing.status_code, missing.json()) == (401, {"error": INVALID_TOKEN})
    wrong = requests.get(
        f"{fake.url}/api/v1/notifications", headers=bearer("not-a-token"), timeout=5
    )
    assert (wrong.status_code, wrong.json()) == (401, {"error": INVALID_TOKEN})
    fake.revoke(token)
    revoked = requests.get(
        f"{fake.url}/api/v1/accounts/verify_credentials", headers=bearer(token), timeout=5
    )
    assert (revoked.status_code, revoked.json()) == (401, {"error": REVOKED_TOKEN})
    with pytest.raises(MastodonUnauthorizedError) as caught:
        client(fake, token).account_verify_credentials()
    assert caught.value.args[1] == 401
    assert caught.value.args[3] == REVOKED_TOKEN
    # The instance's description needs no token.
    assert requests.get(f"{fake.url}/api/v2/instance", timeout=5).status_code == 200


def test_other_hosts_are_refused(fake: FakeMastodon) -> None:
    answer = requests.get(
        f"{fake.url}/api/v2/instance", headers={"Host": "mastodon.evil.example"}, timeout=5
    )
    assert answer.status_code == 403
    assert fake.calls == []
    local = requests.get(
        f"{fake.url}/api/v2/instance",
        headers={"Host": f"localhost:{fake.url.rsplit(':')[-1]}"},
        timeout=5,
    )
    assert local.status_code == 200


# --- statuses ----------------------------------------------------------------------------------


def test_post_mention_reaches_the_brand_as_a_notification(
    fake: FakeMastodon, brand: Mastodon
) -> None:
    status = fake.post_mention("alice@example.org", "is this thing on?")
    assert status["content"].startswith('<p><span class="h-card" translate="no">')
    notifications = brand.notifications(types=["mention"])
    assert [n.type for n in notifications] == ["mention"]
    mention = notifications[0]
    assert mention.account.acct == "alice@example.org"
    assert str(mention.status.id) == status["id"]
    assert mention.status.url == f"https://example.org/@alice/{status['id']}"
    assert [m.acct for m in mention.status.mentions] == ["brand"]
    assert mention.status.created_at.tzinfo is not None


def test_status_ids_are_snowflakes_of_their_time(fake: FakeMastodon, brand: Mastodon) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    first = brand.status_post("one")
    second = brand.status_post("two")
    assert int(second.id) > int(first.id)
    assert datetime.fromtimestamp((int(first.id) >> 16) / 1000, UTC) >= before
    me = brand.account_verify_credentials()
    # Mastodon.py turns a datetime bound into a snowflake: both are after `before`.
    assert [s.id for s in brand.account_statuses(me.id, since_id=before)] == [second.id, first.id]
    assert brand.account_statuses(me.id, since_id=datetime.now(UTC) + timedelta(seconds=2)) == []


def test_content_is_html_as_mastodon_writes_it(fake: FakeMastodon, brand: Mastodon) -> None:
    text = "a <b> & c\nsee https://example.com/a/long/path/that/goes/on/and/on\n\n@brand hi"
    status = fake.post_status("alice", text)
    content = status["content"]
    assert content.startswith("<p>a &lt;b&gt; &amp; c<br />see <a href=")
    assert '<span class="invisible">https://</span>' in content
    assert '<span class="ellipsis">example.com/a/long/path/that/g</span>' in content
    assert "</p><p>" in content
    assert 'class="u-url mention">@<span>brand</span></a>' in content


def test_lengths_are_counted_as_mastodon_counts_them() -> None:
    assert status_length("hello") == 5
    assert status_length("https://example.com/" + "a" * 100) == 23
    assert status_length("@alice@mastodon.example.org hi") == len("@alice hi")
    assert status_length("👩‍👩‍👧‍👦") == 1  # one grapheme cluster
    assert status_length("한국어") == 3
    assert status_length("abc", spoiler_text="cw!") == 6
    assert status_length("   ") == 0
    # No scheme, no URL; an address is not a mention.
    assert status_length("example.com") == len("example.com")
    assert status_length("me@alice@example.org") == len("me@alice@example.org")


def test_too_long_is_refused_with_mastodons_words(fake: FakeMastodon, brand: Mastodon) -> None:
    fake.max_characters = 30
    brand.status_post("x" * 6 + " https://example.com/" + "p" * 200)  # 6 + 1 + 23 = 30
    with pytest.raises(MastodonAPIError) as caught:
        brand.status_post("y" * 31)
    assert caught.value.args[1] == 422
    assert caught.value.args[3] == "Validation failed: Text character limit of 30 exceeded"
    with pytest.raises(MastodonAPIError):
        brand.status_post("z" * 20, spoiler_text="w" * 11)


def test_idempotency_key_answers_a_repeat_with_the_first_status(
    fake: FakeMastodon, brand: Mastodon
) -> None:
    first = brand.status_post("once", idempotency_key="roost-1")
    again = brand.status_post("once", idempotency_key="roost-1")
    other = brand.status_post("once", idempotency_key="roost-2")
    assert first.id == again.id != other.id
    assert [s["id"] for s in fake.statuses_by("brand")] == [str(first.id), str(other.id)]
    assert fake.calls_to("/api/v1/statuses", "POST")[0].headers["Idempotency-Key"] == "roost-1"


def test_direct_status_reaches_only_the_mentioned(fake: FakeMastodon, brand: Mastodon) -> None:
    _, carol_token = fake.add_account("carol")
    fake.add_remote("alice@example.org")
    dm = brand.status_post("@alice@example.org a word in private", visibility="direct")
    assert dm.visibility == "direct"
    carol = client(fake, carol_token)
    with pytest.raises(MastodonNotFoundError):
        carol.status(dm.id)
    anyone = requests.get(f"{fake.url}/api/v1/statuses/{dm.id}", timeout=5)
    assert (anyone.status_code, anyone.json()) == (404, {"error": NOT_FOUND})
    to_carol = brand.status_post("@carol psst", visibility="direct")
    assert [n.type for n in carol.notifications()] == ["mention"]
    assert carol.status(to_carol.id).visibility == "direct"


def test_private_status_is_for_followers_and_the_mentioned(
    fake: FakeMastodon, brand: Mastodon
) -> None:
    _, dave_token = fake.add_account("dave")
    dave = client(fake, dave_token)
    private = fake.post_status("eve", "followers only", visibility="private")
    with pytest.raises(MastodonNotFoundError):
        dave.status(private["id"])
    fake.follow("dave", "eve")
    assert dave.status(private["id"]).visibility == "private"
    to_brand = fake.post_mention("eve", "and you", visibility="private")
    assert brand.status(to_brand["id"]).visibility == "private"


def test_reply_threads_and_context(fake: FakeMastodon, brand: Mastodon) -> None:
    root = fake.post_mention("alice@example.org", "root")
    middle = fake.post_status("alice@example.org", "middle", in_reply_to=root["id"])
    answer = brand.status_post("@alice@example.org thanks", in_reply_to_id=middle["id"])
    assert str(answer.in_reply_to_id) == middle["id"]
    context = brand.status_context(answer.id)
    assert [str(s.id) for s in context.ancestors] == [root["id"], middle["id"]]
    assert [str(s.id) for s in brand.status_context(root["id"]).descendants] == [
        middle["id"],
        str(answer.id),
    ]
    gone = requests.post(
        f"{fake.url}/api/v1/statuses",
        data={"status": "hm", "in_reply_to_id": "1"},
        headers=bearer(fake_token(fake)),
        timeout=5,
    )
    assert (gone.status_code, gone.json()) == (404, {"error": REPLY_NOT_FOUND})


def fake_token(fake: FakeMastodon) -> str:
    return fake.add_account("brand")[1]


def test_delete_status_takes_its_notifications(fake: FakeMastodon, brand: Mastodon) -> None:
    status = fake.post_mention("alice", "soon gone")
    assert len(brand.notifications()) == 1
    fake.delete_status(status["id"])
    assert brand.notifications() == []
    own = brand.status_post("mine")
    deleted = brand.status_delete(own.id)
    assert deleted.text == "mine"
    with pytest.raises(MastodonNotFoundError):
        brand.status(own.id)


def test_reblog_and_unreblog(fake: FakeMastodon, brand: Mastodon) -> None:
    fake.add_account("alice")
    original = fake.post_status("alice", "boost me")
    boost = brand.status_reblog(original["id"])
    assert str(boost.reblog.id) == original["id"] and boost.id != boost.reblog.id
    assert brand.status_reblog(original["id"]).id == boost.id  # a second boost is the first
    assert fake.reblogs_of(original["id"]) == ["brand"]
    assert brand.status(original["id"]).reblogged is True
    assert [n["type"] for n in fake.notifications_of("alice")] == ["reblog"]
    back = brand.status_unreblog(original["id"])
    assert str(back.id) == original["id"] and back.reblogged is False
    assert fake.reblogs_of(original["id"]) == []
    brand.status_unreblog(original["id"])  # nothing to undo: still fine
    private = fake.post_mention("alice", "no boosts", visibility="private")
    with pytest.raises(MastodonAPIError) as caught:
        brand.status_reblog(private["id"])
    assert caught.value.args[1] == 403


# --- notifications and paging ------------------------------------------------------------------


def test_notifications_page_as_mastodon_pages(fake: FakeMastodon, brand: Mastodon) -> None:
    for n in range(5):
        fake.post_mention("alice@example.org", f"mention {n}")
    fake.add_account("carol")
    fake.post_status("carol", "nothing to do with the brand")
    ids = [int(n.id) for n in brand.notifications(types=["mention"])]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5
    newest_two = brand.notifications(types=["mention"], limit=2)
    assert [int(n.id) for n in newest_two] == ids[:2]
    older = brand.fetch_next(newest_two)
    assert older is not None
    assert [int(n.id) for n in older] == ids[2:4]
    # since_id: the newest above it; min_id: the page right after it (both newest first).
    assert [int(n.id) for n in brand.notifications(since_id=ids[4], limit=2)] == ids[:2]
    assert [int(n.id) for n in brand.notifications(min_id=ids[4], limit=2)] == ids[2:4]
    assert brand.notifications(min_id=ids[0]) == []
    assert [int(n.id) for n in brand.notifications(max_id=ids[3])] == ids[4:]
    answer = requests.get(
        f"{fake.url}/api/v1/notifications",
        params={"types[]": "mention", "limit": "2"},
        headers=bearer(fake_token(fake)),
        timeout=5,
    )
    link = answer.headers["Link"]
    assert f"max_id={ids[1]}" in link and 'rel="next"' in link
    assert f"min_id={ids[0]}" in link and 'rel="prev"' in link
    assert "types%5B%5D=mention" in link


def test_notification_types_filter(fake: FakeMastodon, brand: Mastodon) -> None:
    fake.add_account("alice")
    own = brand.status_post("hello")
    fake.post_mention("alice", "hi")
    client(fake, fake.add_account("alice")[1]).status_reblog(own.id)
    assert [n.type for n in brand.notifications()] == ["reblog", "mention"]
    assert [n.type for n in brand.notifications(types=["mention"])] == ["mention"]
    assert [n.type for n in brand.notifications(exclude_types=["mention"])] == ["reblog"]


# --- media -------------------------------------------------------------------------------------


def test_image_upload_and_attach(fake: FakeMastodon, brand: Mastodon) -> None:
    brand.retrieve_mastodon_version(fail_hard=True)
    image = brand.media_post(PNG, mime_type="image/png", description="a bird on a roof")
    assert image.type == "image" and image.url is not None
    assert fake.calls_to("/api/v2/media", "POST")
    status = brand.status_post("look", media_ids=[image])
    assert [m.description for m in status.media_attachments] == ["a bird on a roof"]
    fake.image_size_limit = 10
    with pytest.raises(MastodonAPIError) as caught:
        brand.media_post(PNG, mime_type="image/png")
    assert caught.value.args[1] == 422
    with pytest.raises(MastodonAPIError):
        brand.media_post(b"MZ", mime_type="application/x-msdownload")


def test_gif_is_processed_after_the_upload(fake: FakeMastodon, brand: Mastodon) -> None:
    brand.retrieve_mastodon_version(fail_hard=True)
    gif = brand.media_post(b"GIF89a" + b"\x00" * 16, mime_type="image/gif")
    assert gif.type == "gifv" and gif.url is None
    with pytest.raises(MastodonAPIError) as caught:
        brand.status_post("too soon", media_ids=[gif])
    assert caught.value.args[3] == MEDIA_PROCESSING
    assert brand.media(gif).url is None  # 206: still processing
    assert brand.media(gif).url is not None
    assert brand.status_post("now", media_ids=[gif]).media_attachments[0].type == "gifv"


# --- rate limits and faults --------------------------------------------------------------------


def test_rate_limit_headers_and_429(fake: FakeMastodon) -> None:
    _, token = fake.add_account("brand")
    fake.set_rate_limit("api", 2, 3600)
    url = f"{fake.url}/api/v1/accounts/verify_credentials"
    first = requests.get(url, headers=bearer(token), timeout=5)
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    reset = datetime.fromisoformat(first.headers["X-RateLimit-Reset"])
    assert reset > datetime.now(UTC) and reset.tzinfo is not None
    requests.get(url, headers=bearer(token), timeout=5)
    limited = requests.get(url, headers=bearer(token), timeout=5)
    assert (limited.status_code, limited.json()) == (429, {"error": TOO_MANY_REQUESTS})
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    with pytest.raises(MastodonRatelimitError):
        client(fake, token).account_verify_credentials()
    # Another account has a window of its own.
    _, other = fake.add_account("other")
    assert requests.get(url, headers=bearer(other), timeout=5).status_code == 200


def test_rate_limit_window_passes(fake: FakeMastodon) -> None:
    _, token = fake.add_account("brand")
    # A window long enough that the second call lands in it on a loaded machine (half a
    # second was not, once, in CI), short enough to see it pass.
    fake.set_rate_limit("api", 1, 2.0)
    url = f"{fake.url}/api/v1/accounts/verify_credentials"

    def answered() -> bool:
        return requests.get(url, headers=bearer(token), timeout=5).status_code == 200

    wait_for(answered)
    assert requests.get(url, headers=bearer(token), timeout=5).status_code == 429
    wait_for(answered, timeout=6)


def test_media_uploads_have_their_own_tighter_limit(fake: FakeMastodon, brand: Mastodon) -> None:
    brand.retrieve_mastodon_version(fail_hard=True)
    fake.set_rate_limit("media", 1, 3600)
    brand.media_post(PNG, mime_type="image/png")
    with pytest.raises(MastodonRatelimitError):
        brand.media_post(PNG, mime_type="image/png")
    assert brand.status_post("text is fine").content == "<p>text is fine</p>"


def test_faults_slow_and_lost_answers(fake: FakeMastodon, brand: Mastodon) -> None:
    fake.fail("/api/v1/statuses", 503, method="POST")
    with pytest.raises(MastodonAPIError) as caught:
        brand.status_post("not now")
    assert caught.value.args[1] == 503
    assert fake.statuses_by("brand") == []
    fake.lose_answer("/api/v1/statuses")
    with pytest.raises(MastodonNetworkError):
        brand.status_post("made, unanswered")
    assert [s["content"] for s in fake.statuses_by("brand")] == ["<p>made, unanswered</p>"]
    fake.slow("/api/v1/statuses", 1.0)
    impatient = Mastodon(
        api_base_url=fake.url,
        access_token=fake_token(fake),
        ratelimit_method="throw",
        request_timeout=0.2,
    )
    with pytest.raises(MastodonNetworkError):
        impatient.status_post("late")
    assert len(fake.statuses_by("brand")) == 2
    assert [c.method for c in fake.calls_to("/api/v1/statuses")] == ["POST"] * 3


def test_control_endpoints(fake: FakeMastodon) -> None:
    def control(path: str, **payload: object) -> requests.Response:
        return requests.post(f"{fake.url}/_control/{path}", json=payload, timeout=5)

    made = control("accounts", username="brand").json()
    brand = client(fake, made["token"])
    assert str(brand.account_verify_credentials().id) == made["id"]
    status = control("mentions", author="alice@example.org", text="over HTTP").json()
    assert str(brand.notifications()[0].status.id) == status["id"]
    assert control("instance", max_characters=1000).ok
    assert brand.instance_v2().configuration.statuses.max_characters == 1000
    assert control("faults", path_prefix="/api/v1/notifications", status=500).ok
    with pytest.raises(MastodonAPIError):
        brand.notifications()
    listed = requests.get(f"{fake.url}/_control/statuses/alice@example.org", timeout=5).json()
    assert [s["id"] for s in listed] == [status["id"]]
    assert control("revoke", token=made["token"]).ok
    with pytest.raises(MastodonUnauthorizedError):
        brand.notifications()
    assert control("nothing").status_code == 404
    assert control("accounts").status_code == 400


def test_standalone_prints_url_and_token() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "sandbox.mastodon_api", "--port", "0", "--quiet"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split()[-1]
            process.stdout.readline()
            token = process.stdout.readline().split()[-1]
            assert client_at(url, token).account_verify_credentials().acct == "brand"
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)


def client_at(url: str, token: str) -> Mastodon:
    return Mastodon(api_base_url=url, access_token=token, request_timeout=5)

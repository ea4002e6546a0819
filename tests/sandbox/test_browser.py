"""The sandbox in a real browser: `python -m sandbox` as `make run` starts it with no
settings, and headless Chromium driven through the page as a new agent would use it — a
customer's mention arrives, Reply, type, Preview, Publish, the reply on the brand's X
signed with the CoTag, Assign from the picker, a command answered — with HTML in a post, a
name and a reply shown as text, and not one console error.

Chromium and ChromeDriver are the operating system's (Debian's chromium and
chromium-driver). `.ci/run` installs them and sets ROOST_BROWSER_TESTS=required, so there a
missing browser fails; elsewhere these tests say why they skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sandbox.browser import (
    Sandbox,
    assign_to,
    browser_missing,
    card_saying,
    card_text,
    choose,
    chrome,
    console_errors,
    css,
    open_channel,
    post_mention,
    press,
    running_sandbox,
    texts,
    type_into,
)
from tests.sandbox.browser import wait_until as until

missing = browser_missing()
if missing and os.environ.get("ROOST_BROWSER_TESTS") == "required":
    raise RuntimeError(f"the browser tests are required here, but {missing}")
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

XSS_NAME = '<img src=x onerror="window.pwned=1"> Dana'
XSS_TEXT = "<script>window.pwned=2</script> my parcel is lost <b>again</b>"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox() as started:
        yield started


@pytest.fixture(scope="module")
def browser(sandbox: Sandbox) -> Iterator[Any]:
    with chrome() as driver:
        driver.get(sandbox.url)
        until(lambda: css(driver, "[data-test=message]"), 30, "the seeded cards")
        yield driver


@pytest.fixture(autouse=True)
def no_console_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every browser test fails on any console error the page logged meanwhile."""
    yield
    if "browser" in request.fixturenames:
        errors = console_errors(request.getfixturevalue("browser"))
        assert not errors, errors


def test_a_mention_is_answered_assigned_and_a_command_answered_all_from_the_page(
    browser: Any,
) -> None:
    author = "dana" + uuid.uuid4().hex[:6]
    open_channel(browser, "C0ACME")
    post_mention(browser, author=author, name=XSS_NAME, text=f"@acme {XSS_TEXT}")

    # The mention arrives as a card, through Roost's real listener and worker; the HTML in
    # the post and in the name is text on the page, and ran nowhere.
    card = card_saying(browser, "my parcel is lost", "the customer's card")
    assert XSS_TEXT in card and XSS_NAME in card
    assert not css(browser, "[data-test=messages] script, [data-test=messages] img[src=x]")
    assert browser.execute_script("return window.pwned === undefined")

    # Reply: the modal opens, the text is typed, Preview shows it signed, Publish sends it.
    press(browser, '[data-action-id="mention.reply"]', "Reply", within="my parcel is lost")
    until(lambda: "Reply" in texts(browser, "[data-test=modal-title]")[0], 15, "the modal")
    type_into(
        browser,
        '[data-test=input][data-action-id="text_input"]',
        " Sorry! A new one ships today <i>by courier</i>.",
        "the reply box",
    )
    press(browser, "[data-test=modal-submit]", "Preview")

    def preview() -> str | None:
        if texts(browser, "[data-test=modal-submit]") != ["Publish"]:
            return None
        return texts(browser, "[data-test=modal]")[0]

    shown = until(preview, 20, "the preview's Publish")
    assert "by courier</i>. ^YOU" in shown, shown
    press(browser, "[data-test=modal-submit]", "Publish")
    until(lambda: not css(browser, "[data-test=modal]"), 20, "the modal to close")

    # The reply is on the brand's X, once, with its CoTag, as text.
    def replies_on_x() -> list[str]:
        posts = texts(browser, '[data-test=x-post][data-kind="reply"]')
        return [post for post in posts if "by courier" in post]

    replies = until(replies_on_x, 30, "the reply on the brand's X")
    assert len(replies) == 1, replies
    assert "<i>by courier</i>" in replies[0] and "^YOU" in replies[0]
    until(
        lambda: "replied as @acme" in card_text(browser, "my parcel is lost"),
        30,
        "the card to say who replied",
    )

    # Assign from the card's picker: the card says whose it is, and said no one's before
    # (read without the picker, whose options name everyone).
    unassigned = card_text(browser, "my parcel is lost", pickers=False)
    assert unassigned and "@ben" not in unassigned, unassigned
    assign_to(browser, "my parcel is lost", "Ben Kim")
    until(
        lambda: "@ben" in card_text(browser, "my parcel is lost", pickers=False),
        30,
        "the card to name its assignee, as Slack shows <@U0BEN>",
    )

    # A command answers, to the person only.
    before = len(texts(browser, "[data-test=ephemeral]"))
    type_into(browser, "[data-test=command-box]", "/roost help", "the command box")
    press(browser, "[data-test=command-send]", "Send")
    answer = until(
        lambda: texts(browser, "[data-test=ephemeral]")[before:],
        20,
        "the answer to /roost help",
    )
    assert "/roost" in answer[-1], answer


def test_the_page_has_its_banner_and_x_switches_and_stays_free_of_errors(browser: Any) -> None:
    banner = until(lambda: texts(browser, "[data-test=banner]"), 15, "the banner")
    assert "Sandbox: nothing reaches Slack or X" in banner[0], banner
    switches = set(
        browser.execute_script(
            "return Array.from(document.querySelectorAll('[data-test=switch]'),"
            " (s) => s.dataset.switch)"
        )
    )
    assert switches == {"rate_limit", "revoked", "outage"}


def test_a_practice_day_replays_from_the_page_and_its_cards_arrive(browser: Any) -> None:
    """The ordinary weekday at 60×: its first mentions are posted on the brand's X and come
    in as cards, its progress counts up, and Stop stops it."""
    weekday = '[data-test=scenario][data-name="weekday"]'
    choose(browser, f"{weekday} [data-test=scenario-speed]", "60", "the speed")
    press(browser, f"{weekday} [data-test=scenario-start]", "Start")

    def progress() -> str:
        return texts(browser, f"{weekday} [data-test=scenario-progress]")[0]

    def posted(line: str) -> int:
        return int(line.split(" of ")[0])

    until(lambda: posted(progress()) >= 2, 30, "the scenario's first mentions")
    press(browser, f"{weekday} [data-test=scenario-stop]", "Stop")

    def done() -> str | None:
        line = progress()
        return line if "done" in line else None

    stopped = until(done, 15, "the scenario to stop")
    mentions = texts(browser, '[data-test=x-post][data-kind="mention"]')
    assert len(mentions) >= posted(stopped)  # on the brand's X, as the customers posted them
    open_channel(browser, "C0ACME")
    card_saying(browser, "Do you ship the Acme One to Canada", "the scenario's first card")


def test_the_x_switches_hold_their_state_across_the_page(browser: Any) -> None:
    outage = '[data-test=switch][data-switch="outage"]'
    press(browser, outage, "the outage switch")
    until(lambda: css(browser, outage)[0].is_selected(), 15, "the outage switch on")
    browser.refresh()  # the switch's state is the fake X's, not the page's
    until(lambda: css(browser, outage)[0].is_selected(), 15, "the outage switch still on")
    press(browser, outage, "the outage switch")
    until(lambda: not css(browser, outage)[0].is_selected(), 15, "the outage switch off")


def test_the_app_home_opens_with_what_waits_for_each_person(browser: Any) -> None:
    """Opening the Home sends Slack's app_home_opened; Roost publishes that person's Home."""
    press(browser, "[data-test=nav-home]", "the App Home")
    until(lambda: "Assigned to me" in " ".join(texts(browser, "[data-test=home]")), 30, "Home")
    until(lambda: "Unassigned in your accounts" in " ".join(texts(browser, "[data-test=home]")))


def test_a_customer_mentions_the_brand_on_bluesky_and_on_mastodon_from_the_page(
    browser: Any,
) -> None:
    """The form mentions ACME's Bluesky and Mastodon accounts too: each post is read by the
    running listener through that network's adapter, and carded in #social-acme."""
    asked = uuid.uuid4().hex[:6]
    open_channel(browser, "C0SOCIAL")
    for brand, network in (("bluesky:acme.bsky.social", "Bluesky"), ("mastodon:acme", "Mastodon")):
        post_mention(browser, author="ravi", text=f"does it ship to Busan? {asked}", brand=brand)
        card = card_saying(browser, f"{asked}", f"the {network} card")
        assert f"on {network}" in card
        asked = uuid.uuid4().hex[:6]

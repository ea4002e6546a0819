"""The README's screenshots, made from the sandbox as a person would see it: `make
screenshots` starts `python -m sandbox`, drives headless Chromium through a morning on
@acme and a launch-weekend surge on @acme_kr, and writes the pictures to docs/screenshots/.

Emoji need an emoji font on the machine that takes the pictures (Debian's
fonts-noto-color-emoji); Hangul needs none, the page brings its own.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tests.conftest import REPO_ROOT
from tests.sandbox.browser import (
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

FOLDER = REPO_ROOT / "docs" / "screenshots"

MORNING = (
    ("mia_chen", "Mia Chen", "@acme my Acme One shows error E-203 when I activate it. Help?"),
    ("dev_patel", "Dev Patel", "@acme is the blue case back in stock anywhere in Seattle?"),
    ("jules_r", "Jules R.", "@acme thank you for the quick replacement, it arrived today!"),
)


def main() -> int:
    missing = browser_missing()
    if missing:
        print(f"screenshots: {missing}", file=sys.stderr)
        return 1
    FOLDER.mkdir(parents=True, exist_ok=True)
    with running_sandbox() as sandbox, chrome(width=1440, height=900) as driver:
        driver.get(sandbox.url)
        until(lambda: css(driver, "[data-test=message]"), 30, "the seeded cards")
        morning(driver)
        surge(driver)
        errors = console_errors(driver)
        if errors:
            print("screenshots: the page logged errors:", *errors, sep="\n", file=sys.stderr)
            return 1
    for picture in sorted(FOLDER.glob("*.png")):
        print(picture.relative_to(REPO_ROOT))
    return 0


def shot(driver: Any, name: str) -> None:
    time.sleep(0.5)  # the last long-poll's redraw
    driver.save_screenshot(str(FOLDER / f"{name}.png"))


def morning(driver: Any) -> None:
    """Cards on #x-acme; a reply previewed with its CoTag, published; one assigned; the
    week's figures, and their chart in the DM with Roost."""
    open_channel(driver, "C0ACME")
    for author, name, text in MORNING:
        post_mention(driver, author=author, name=name, text=text)
        card_saying(driver, text.removeprefix("@acme "), "the mention's card")
    press(driver, '[data-action-id="mention.reply"]', "Reply", within="error E-203")
    type_into(
        driver,
        '[data-test=input][data-action-id="text_input"]',
        "Sorry about that! Restart it once with Wi-Fi on; if E-203 stays, DM us.",
        "the reply box",
    )
    press(driver, "[data-test=modal-submit]", "Preview")
    until(lambda: "Publish" in texts(driver, "[data-test=modal-submit]"), 20, "the preview")
    shot(driver, "reply-preview")
    press(driver, "[data-test=modal-submit]", "Publish")
    until(lambda: "replied as @acme" in card_text(driver, "error E-203"), 30, "the reply")
    assign_to(driver, "blue case", "Minji Park (박민지)")
    until(lambda: "@minji" in card_text(driver, "blue case", pickers=False), 30, "the assignee")
    driver.execute_script(
        "document.querySelector('[data-test=x-brand]').scrollIntoView({block: 'start'})"
    )
    shot(driver, "cards")
    command(driver, "/roost stats")
    until(lambda: css(driver, "[data-test=ephemeral]"), 30, "the figures")
    shot(driver, "stats")
    press(driver, "[data-test=nav-dm]", "the DM with Roost")
    until(lambda: css(driver, "img.file-image"), 30, "the chart")
    until(lambda: images_loaded(driver, "img.file-image"), 15, "the chart drawn")
    driver.execute_script("document.querySelector('[data-test=messages]').scrollTop = 1e9")
    shot(driver, "chart")


def surge(driver: Any) -> None:
    """The launch-weekend scenario at 60× on #x-acme-kr, until Roost groups the surge."""
    open_channel(driver, "C0ACMEKR")
    launch = '[data-test=scenario][data-name="launch-weekend"]'
    choose(driver, f"{launch} [data-test=scenario-speed]", "60", "the speed")
    press(driver, f"{launch} [data-test=scenario-start]", "Start")
    until(lambda: "done" in texts(driver, f"{launch} [data-test=scenario-progress]")[0], 60)
    until(lambda: len(group_cards(driver)) >= 3, 60, "the surge's group cards")
    shot(driver, "surge")


def group_cards(driver: Any) -> list[str]:
    """A surge's group cards in the open channel, each headed by :rotating_light:."""
    return [t for t in texts(driver, "[data-test=messages] [data-test=message]") if "🚨" in t]


def command(driver: Any, text: str) -> None:
    type_into(driver, "[data-test=command-box]", text, "the command box")
    press(driver, "[data-test=command-send]", "Send")


def images_loaded(driver: Any, selector: str) -> bool:
    """Whether every image `selector` finds has loaded, and there is one."""
    return bool(
        driver.execute_script(
            "const images = Array.from(document.querySelectorAll(arguments[0]));"
            "return images.length > 0 && images.every((i) => i.complete);",
            selector,
        )
    )


if __name__ == "__main__":
    sys.exit(main())

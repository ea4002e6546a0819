"""The sandbox as a person meets it: `python -m sandbox` started as `make run` starts it,
and headless Chromium (the operating system's, with its ChromeDriver) driven through the
page by Selenium. Used by the browser tests and by the script that makes the README's
screenshots."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT
from tests.processes import free_port, working_in

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

PAGE_LINE = re.compile(r"^http://127\.0\.0\.1:\d+/sandbox/$")
"""The line `make run` prints the page's address on, and nothing else."""

START_SECONDS = 90
"""How long the sandbox may take to answer: the database's migrations, three processes and
the seeding, on a loaded two-core machine."""

IGNORED_CONSOLE = ("favicon.ico",)
"""Console lines that are the browser's own, not the page's: none but a missing icon."""


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing: Debian's chromium, chromium-driver (.ci/run installs)"
    return None


class Sandbox:
    """`python -m sandbox` in a folder of its own, with no Slack settings, and its output."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lines: list[str] = []
        self.url = ""
        self._found = threading.Event()
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("SLACK_", "X_", "ROOST_", "DATABASE_URL", "REDIS_URL"))
        }
        env["ROOST_SANDBOX_PORT"] = str(free_port())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox"],
            env={**env, "PYTHONPATH": str(REPO_ROOT)},
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )
        threading.Thread(target=self._read, name="sandbox-output", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if PAGE_LINE.match(line.strip()) and not self.url:
                self.url = line.strip()
                self._found.set()

    def wait_for_page(self) -> str:
        if not self._found.wait(START_SECONDS):
            raise AssertionError("the sandbox printed no page address:\n" + self.output())
        return self.url

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        """SIGTERM as Ctrl-C would, then whatever is left: the group, the embedded Redis."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for pid in working_in(self.folder / "var" / "sandbox"):
            os.kill(pid, signal.SIGKILL)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def running_sandbox() -> Iterator[Sandbox]:
    folder = Path(tempfile.mkdtemp(prefix="roost-sandbox-"))
    sandbox = Sandbox(folder)
    try:
        sandbox.wait_for_page()
        yield sandbox
    finally:
        sandbox.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def chrome(*, width: int = 1440, height: int = 960) -> Iterator[Any]:
    """Headless Chromium as the machine has it, every console line kept for the tests; quit,
    and its profile folder removed, when the block ends."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="roost-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        # The machine has no internet: Chromium's own calls home would fail, many at a time.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--lang=en-US",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            driver.set_page_load_timeout(30)
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any) -> list[str]:
    """The page's console errors since the last call (Chromium hands each line out once)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and not any(i in entry["message"] for i in IGNORED_CONSOLE)
    ]


def wait_until(predicate: Any, timeout: float = 15.0, what: str = "the page") -> Any:
    """Poll until `predicate()` is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = predicate()
        except Exception:  # an element not there yet, or gone stale as the page redrew
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


# --- reading the page ---------------------------------------------------------------
#
# The page redraws its DOM whenever Roost's state changes, so an element found a moment ago
# may be gone. What the tests read, they read in one script in the page (no redraw can come
# between), and they hold on to text, never to elements.

CARDS = "[data-test=messages] [data-test=message]"

_NEWEST_CARD = """
const [selector, needle] = arguments;
const cards = Array.from(document.querySelectorAll(selector)).reverse();
const card = cards.find((c) => c.innerText.includes(needle)) || null;
"""
"""Finds `card`, the newest of the open channel's cards whose text holds `needle`."""


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def texts(driver: Any, selector: str) -> list[str]:
    """The text of everything `selector` finds, as it reads on the page now."""
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0]), (e) => e.innerText)",
            selector,
        )
    )


def card_text(driver: Any, needle: str, *, pickers: bool = True) -> str | None:
    """The text of the newest card in the open channel holding `needle`, or None. Without
    `pickers`, the card's text leaves out its <select>s, whose options name everyone."""
    script = _NEWEST_CARD + (
        "if (!card) return null;"
        "if (arguments[2]) return card.innerText;"
        "const copy = card.cloneNode(true);"
        "for (const select of copy.querySelectorAll('select')) select.remove();"
        "return copy.textContent;"
    )
    return driver.execute_script(script, CARDS, needle, pickers)


def card_saying(driver: Any, needle: str, what: str, *, timeout: float = 30) -> str:
    """The text of the card in the open channel holding `needle`, once it has arrived."""
    return wait_until(lambda: card_text(driver, needle), timeout, what)


def find_card(driver: Any, needle: str) -> Any:
    """The newest card in the open channel holding `needle`, to act on at once, or None."""
    return driver.execute_script(_NEWEST_CARD + "return card;", CARDS, needle)


# --- acting on the page, as a person would ---------------------------------------------


def press(driver: Any, selector: str, what: str, *, within: str | None = None) -> None:
    """Click what `selector` finds (in the card holding the text `within`, if given), found
    afresh until the click lands: the page redraws as Roost's answers come in."""

    def clicked() -> bool:
        where = find_card(driver, within) if within else driver
        where.find_element("css selector", selector).click()
        return True

    wait_until(clicked, 15, what)


def type_into(driver: Any, selector: str, text: str, what: str, *, clear: bool = False) -> None:
    """Type `text` into what `selector` finds, found afresh until the keys land."""

    def typed() -> bool:
        box = driver.find_element("css selector", selector)
        if clear:
            box.clear()
        box.send_keys(text)
        return True

    wait_until(typed, 15, what)


def choose(driver: Any, selector: str, value: str, what: str) -> None:
    """Pick the option `value` in the <select> `selector` finds, found afresh until it lands."""
    from selenium.webdriver.support.ui import Select

    def chosen() -> bool:
        Select(driver.find_element("css selector", selector)).select_by_value(value)
        return True

    wait_until(chosen, 15, what)


def open_channel(driver: Any, channel_id: str) -> None:
    press(driver, f'[data-test=nav-channel][data-id="{channel_id}"]', "the channel")
    wait_until(
        lambda: (
            driver.execute_script(
                "const nav = document.querySelector('.nav.active'); return nav && nav.dataset.id",
            )
            == channel_id
        ),
        15,
        f"{channel_id} to open",
    )


def post_mention(
    driver: Any, *, author: str, text: str, name: str = "", brand: str = "acme"
) -> None:
    choose(driver, "[data-test=mention-brand]", brand, "the brand picker")
    for field, value in (
        ("mention-author", author),
        ("mention-name", name),
        ("mention-text", text),
    ):
        type_into(driver, f"[data-test={field}]", value, field, clear=True)
    press(driver, "[data-test=mention-send]", "Post mention")


def assign_to(driver: Any, needle: str, person: str) -> None:
    """Pick `person` in the Assign picker (a users_select) of the card holding `needle`."""
    from selenium.webdriver.support.ui import Select

    picker = '[data-action-id="mention.assign"] select'

    def picked() -> bool:
        card = find_card(driver, needle)
        Select(card.find_element("css selector", picker)).select_by_visible_text(person)
        return True

    wait_until(picked, 30, f"{person} picked on the card")

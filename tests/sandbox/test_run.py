"""`python -m sandbox`, as `make run` starts it: without Slack settings the sandbox, Roost's
real processes on the fakes with a seeded workspace, period after period of intake, and
everything stopped by SIGTERM; with them, `roost run` unchanged."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.inbox.cards import METADATA_EVENT as CARD_EVENT
from sandbox.run import NOTICE, POLL_SECONDS
from tests.conftest import wait_for
from tests.processes import descendants, free_port, running, working_in

PAGE_LINE = re.compile(r"http://127\.0\.0\.1:(\d+)/sandbox/")
FAKE_X_LOGGED = re.compile(r"fake X on (http://127\.0\.0\.1:\d+)")
START_SECONDS = 90
"""How long the sandbox may take to migrate, seed and start three processes on a loaded
machine."""

STOP_SECONDS = 12
"""Roost's processes get STOP_DEADLINE (7 s), the embedded Redis 2.5 s more; the fakes stop
at once."""


class Sandbox:
    """`python -m sandbox` in a folder of its own, its stdout read line by line."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.folder = folder
        self.log = folder / "sandbox.log"
        self.lines: list[str] = []
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sandbox"],
                # Nothing of the machine's Slack, database or Redis settings: only these.
                env={"PATH": os.environ.get("PATH", ""), "ROOST_VAR_DIR": "var", **env},
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def page_url(self) -> str:
        found: str = wait_for(
            lambda: (
                next((line for line in self.lines if PAGE_LINE.fullmatch(line)), None)
                or self._failed()
            ),
            timeout=START_SECONDS,
            interval=0.1,
        )
        return found

    def _failed(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"the sandbox exited: {self.log.read_text()}")

    def fake_x_url(self) -> str:
        found = FAKE_X_LOGGED.search(self.log.read_text())
        assert found, self.log.read_text()
        return found[1]

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self._reader.join()
        assert self.process.stdout is not None
        self.process.stdout.close()
        for pid in working_in(self.folder / "var" / "sandbox"):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    started = Sandbox(tmp_path, ROOST_SANDBOX_PORT=str(free_port()))
    yield started
    started.kill()


def cards(base_url: str, channel: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{base_url}/_control/messages", params={"channel": channel}, timeout=5)
    answer.raise_for_status()
    return [
        message
        for message in answer.json()["messages"]
        if (message.get("metadata") or {}).get("event_type") == CARD_EVENT
    ]


def carded(base_url: str, channel: str, text: str) -> bool:
    return any(text in str(card["blocks"]) for card in cards(base_url, channel))


def test_without_slack_settings_the_sandbox_runs_roost_on_the_fakes_until_sigterm(
    sandbox: Sandbox,
) -> None:
    url = sandbox.page_url()
    base = url.removesuffix("/sandbox/")
    assert sandbox.lines[0] == NOTICE
    # The seeded mentions arrive as cards, in each brand's channel.
    wait_for(lambda: carded(base, "C0ACME", "order #4417"), timeout=30)
    wait_for(lambda: carded(base, "C0ACME", "green one"), timeout=30)
    wait_for(lambda: carded(base, "C0ACMEKR", "사전예약"), timeout=30)
    # #x-acme-kr speaks Korean (`/roost language ko`), #x-acme the default, English.
    assert cards(base, "C0ACMEKR")[0]["text"].startswith("@acme_kr 멘션")
    assert cards(base, "C0ACME")[0]["text"].startswith("Mention of @acme")
    # ACME's Bluesky and Mastodon mentions, as the same cards, in #social-acme.
    wait_for(lambda: carded(base, "C0SOCIAL", "Gangnam store"), timeout=30)
    wait_for(lambda: carded(base, "C0SOCIAL", "arrived cracked"), timeout=30)
    shown = str([card["blocks"] for card in cards(base, "C0SOCIAL")])
    assert "on Bluesky" in shown and "on Mastodon" in shown
    # The page is served for the seeded people, the trainee first.
    state = requests.get(f"{url}api/state", timeout=10).json()
    assert state["people"] == ["U0TRAINEE", "U0OWNER", "U0MINJI", "U0BEN"]
    # A customer's mention posted now is read by the running listener, period after period.
    x_url = sandbox.fake_x_url()
    for number in (1, 2):
        posted = requests.post(
            f"{x_url}/_control/mentions",
            json={"to": "acme", "author": "late_customer", "text": f"@acme question {number}"},
            timeout=5,
        )
        posted.raise_for_status()
        wait_for(partial(carded, base, "C0ACME", f"question {number}"), timeout=4 * POLL_SECONDS)
    children = descendants(sandbox.process.pid)
    assert len(children) == 3  # web, worker and listener
    redis = working_in(sandbox.folder / "var" / "sandbox")  # it detaches from its parent
    assert len(redis) == 1

    stopping = time.monotonic()
    sandbox.process.send_signal(signal.SIGTERM)
    assert sandbox.process.wait(timeout=20) == 0, sandbox.log.read_text()
    assert time.monotonic() - stopping < STOP_SECONDS
    assert not [pid for pid in children + redis if running(pid)]
    assert not working_in(sandbox.folder / "var" / "sandbox")
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_each_start_is_a_fresh_workspace_with_the_same_key(tmp_path: Path) -> None:
    """Yesterday's rows would point at messages the fakes no longer hold."""
    keys = []
    for _ in range(2):
        started = Sandbox(tmp_path, ROOST_SANDBOX_PORT=str(free_port()))
        try:
            base = started.page_url().removesuffix("/sandbox/")
            wait_for(partial(_two_cards, base), timeout=30)
            keys.append((tmp_path / "var" / "sandbox" / "secret.key").read_bytes())
            started.process.send_signal(signal.SIGTERM)
            assert started.process.wait(timeout=20) == 0
        finally:
            started.kill()
    assert keys[0] == keys[1]


def _two_cards(base_url: str) -> bool:
    return len(cards(base_url, "C0ACME")) == 2


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_with_slack_settings_it_is_roost_run_unchanged(tmp_path: Path, where: str) -> None:
    """`roost run` refuses without SLACK_SIGNING_SECRET: `make run` refuses the same way."""
    env = {"PATH": os.environ.get("PATH", ""), "ROOST_VAR_DIR": str(tmp_path / "var")}
    if where == ".env":
        (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-a-real-looking-token\n")
    else:
        env["SLACK_BOT_TOKEN"] = "xoxb-a-real-looking-token"

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *command],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made, roost = run("sandbox"), run("bot.cli", "run")
    assert made.returncode == roost.returncode == 2
    assert made.stdout == roost.stdout == ""
    assert made.stderr == roost.stderr
    assert "SLACK_SIGNING_SECRET is not set" in made.stderr
    assert not (tmp_path / "var" / "sandbox").exists()

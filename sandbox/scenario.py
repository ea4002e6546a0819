"""Practice scenarios: a day or a crisis of customers' posts, replayed into the fake X at a
chosen speed so a team can rehearse it in the sandbox.

A scenario is a TOML file in `sandbox/scenarios/`: a title, a description, and its
mentions in time order, each with when it comes (minutes:seconds from the start, at 1×),
who writes it (an X handle and display name), which brand account it mentions, its text,
and optionally an `id` that a later mention replies to (`reply_to`) or quotes (`quote`).
"""

from __future__ import annotations

import re
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.x_api import FakeX

SHIPPED = Path(__file__).with_name("scenarios")
"""The scenarios that come with Roost."""

_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
_OFFSET = re.compile(r"(\d+):([0-5]\d)")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_SCENARIO_KEYS = frozenset({"title", "description", "mentions"})
_ENTRY_KEYS = frozenset({"id", "at", "author", "name", "to", "text", "reply_to", "quote", "lang"})


class ScenarioError(ValueError):
    """A scenario file that cannot be replayed; the message names the file and entry."""


@dataclass(frozen=True)
class Entry:
    """One customer's post mentioning a brand account."""

    at: float  # seconds from the start, at 1×
    author: str  # X handle
    author_name: str
    account: str  # the brand account's handle
    text: str
    lang: str
    key: str | None = None  # what later entries call it in reply_to and quote
    reply_to: str | None = None
    quoting: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    entries: tuple[Entry, ...]


def load_scenarios(folder: Path | None = None) -> list[Scenario]:
    """Every `*.toml` scenario in `folder` (the shipped ones by default), by name; raises
    ScenarioError naming the file and entry at the first thing wrong."""
    return [load_scenario(path) for path in sorted((folder or SHIPPED).glob("*.toml"))]


def load_scenario(path: Path) -> Scenario:
    """One scenario file, checked whole before anything is replayed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid TOML ({exc})") from None
    unknown = set(data) - _SCENARIO_KEYS
    if unknown:
        raise ScenarioError(f"{path.name}: unknown keys {sorted(unknown)}")
    for key in ("title", "description"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ScenarioError(f"{path.name}: `{key}` is missing or empty")
    mentions = data.get("mentions")
    if not isinstance(mentions, list) or not mentions:
        raise ScenarioError(f"{path.name}: no [[mentions]]")
    entries: list[Entry] = []
    for number, raw in enumerate(mentions, start=1):
        try:
            entries.append(_entry(raw, entries))
        except ScenarioError as exc:
            raise ScenarioError(f"{path.name}, mention {number}: {exc}") from None
    return Scenario(path.stem, data["title"].strip(), data["description"].strip(), tuple(entries))


def _entry(raw: Any, earlier: list[Entry]) -> Entry:
    if not isinstance(raw, dict):
        raise ScenarioError("not a table")
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise ScenarioError(f"unknown keys {sorted(unknown)}")
    at = _offset(raw.get("at"))
    if earlier and at < earlier[-1].at:
        raise ScenarioError(f"at {raw['at']} comes before the mention above it")
    author, account = _handle(raw, "author"), _handle(raw, "to")
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ScenarioError("`text` is missing or empty")
    known = {entry.key for entry in earlier if entry.key}
    key = raw.get("id")
    if key is not None and (not isinstance(key, str) or key in known):
        raise ScenarioError(f"`id` {key!r} is not a new name")
    for reference in ("reply_to", "quote"):
        if reference in raw and raw[reference] not in known:
            raise ScenarioError(f"`{reference}` {raw[reference]!r} names no mention above it")
    return Entry(
        at=at,
        author=author,
        author_name=str(raw.get("name") or author),
        account=account,
        text=text.strip(),
        lang=str(raw.get("lang") or ("ko" if _HANGUL.search(text) else "en")),
        key=key,
        reply_to=raw.get("reply_to"),
        quoting=raw.get("quote"),
    )


def _offset(value: Any) -> float:
    found = _OFFSET.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise ScenarioError(f'`at` must be minutes:seconds such as "2:05", not {value!r}')
    return int(found[1]) * 60.0 + int(found[2])


def _handle(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not _HANDLE.fullmatch(value.lstrip("@")):
        raise ScenarioError(f"`{key}` must be an X handle, not {value!r}")
    return value.lstrip("@")


class Replay:
    """Posts a scenario's mentions into a FakeX from a thread of its own, each at its offset
    divided by `speed`; `sent` of `total` so far, `done` once nothing more will be (all are
    sent, or it was stopped)."""

    def __init__(self, x: FakeX, scenario: Scenario, *, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be above 0, not {speed}")
        self.x = x
        self.scenario = scenario
        self.speed = speed
        self.sent = 0
        self.total = len(scenario.entries)
        self.done = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this replay has started already")
        self._thread = threading.Thread(
            target=self._run, name=f"replay-{self.scenario.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Post nothing more; returns once the thread has ended."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self.done = True

    def _run(self) -> None:
        started = time.monotonic()
        tweet_ids: dict[str, str] = {}  # entry key -> the post it became
        for entry in self.scenario.entries:
            due = started + entry.at / self.speed
            if self._stopping.wait(max(0.0, due - time.monotonic())):
                return
            self._ensure_author(entry)
            tweet = self.x.post_mention(
                entry.account,
                author=entry.author,
                text=entry.text,
                lang=entry.lang,
                reply_to=tweet_ids.get(entry.reply_to or ""),
                quote_of=tweet_ids.get(entry.quoting or ""),
            )
            if entry.key:
                tweet_ids[entry.key] = tweet["id"]
            self.sent += 1
        self.done = True

    def _ensure_author(self, entry: Entry) -> None:
        try:
            self.x.user_id(entry.author)
        except ValueError:
            try:
                self.x.add_user(entry.author, name=entry.author_name)
            except ValueError:
                pass  # another replay added them just now

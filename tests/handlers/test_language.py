"""Roost speaks the team's language, through Slack: a channel set to Korean gets its cards,
notices and digest in Korean whoever clicks; each person's own views (answers, modals,
the App Home) speak their Slack language; a Korean workspace draws its chart in Hangul."""

from __future__ import annotations

import gettext
import json
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from slack_bolt import App

from bot import i18n
from bot.digest.daily import METADATA_EVENT as DIGEST_EVENT
from bot.digest.daily import send_digest, slot_key
from bot.inbox.cards import ACTION_REPLY, ACTION_RESOLVE
from bot.inbox.intake import Intake
from bot.runtime import Runtime
from bot.team import language
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, run_jobs
from tests.handlers.signed import command, make_app, press

HANGUL = re.compile(r"[\uac00-\ud7a3]")


class Missing(gettext.NullTranslations):
    """The Korean catalogue's fallback while these tests run: a sentence looked up that
    the catalogue lacks (a `_(variable)` never marked, say) is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()

    def gettext(self, message: str) -> str:
        self.found.add(message)
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        self.found.add(singular)
        return singular if n == 1 else plural

    def pgettext(self, context: str, message: str) -> str:
        self.found.add(f"{context}|{message}")
        return message


@pytest.fixture(autouse=True)
def forget_languages() -> Any:
    """Each test starts with no one's language known, and English as the default; and
    fails if Korean was asked for a sentence its catalogue does not have."""
    language._people.clear()
    language._channels.clear()
    korean_catalogue = i18n._translations("ko")
    missing = Missing()
    korean_catalogue.add_fallback(missing)
    yield
    korean_catalogue._fallback = None  # type: ignore[attr-defined]
    i18n.set_default("en")
    language._people.clear()
    language._channels.clear()
    assert not missing.found, f"not in the Korean catalogue: {sorted(missing.found)}"


def korean(text: str) -> bool:
    return bool(HANGUL.search(text))


def roost(app: App, fake_slack: FakeSlack, text: str, user: str) -> dict[str, Any]:
    assert command(app, fake_slack, text, user=user).status == 200
    return dict(fake_slack.responses[-1])


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        element["text"]["text"]
        for block in message.get("blocks") or []
        for element in block.get("elements") or []
        if element.get("type") == "button"
    ]


def latest_card(fake_slack: FakeSlack) -> dict[str, Any]:
    return [m for m in fake_slack.messages(BRAND_CHANNEL) if "thread_ts" not in m][-1]


def test_a_korean_channel_and_each_persons_own_language(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    fake_slack.add_user(OWNER, "owner", locale="ko-KR")
    fake_slack.add_user(AGENT, "agent", locale="en-US")
    app = make_app(rt)
    assert not any(korean(text) for text in buttons(jane_card))  # English until told

    refused = roost(app, fake_slack, "language ko", AGENT)["text"]
    assert "Only owners" in refused  # the agent's own language: English
    said = roost(app, fake_slack, "language ko", OWNER)["text"]
    assert korean(said) and "한국어" in said

    fake_x.post_mention("brand", author="jane", text="@brand 배송이 안 와요")
    Intake(rt).poll(brand)
    run_jobs(rt)
    card = latest_card(fake_slack)
    labels = buttons(card)
    assert labels and all(korean(label) for label in labels), labels
    assert korean(json.dumps(card["blocks"], ensure_ascii=False))

    # Each person's answers speak their own language; the channel's card stays Korean.
    assert not korean(roost(app, fake_slack, "mine", AGENT)["text"])
    assert korean(roost(app, fake_slack, "mine", OWNER)["text"])
    press(app, fake_slack, card, ACTION_RESOLVE, user=AGENT)
    run_jobs(rt)
    refreshed = latest_card(fake_slack)
    assert all(korean(label) for label in buttons(refreshed)), buttons(refreshed)

    before = len(fake_slack.views)
    press(app, fake_slack, jane_card, ACTION_REPLY, user=OWNER)
    opened = fake_slack.wait_for(lambda: fake_slack.views[before:][1:] and fake_slack.views)
    assert korean(opened[-1]["view"]["title"]["text"])
    before = len(fake_slack.views)
    press(app, fake_slack, jane_card, ACTION_REPLY, user=AGENT)
    opened = fake_slack.wait_for(lambda: fake_slack.views[before:][1:] and fake_slack.views)
    assert not korean(opened[-1]["view"]["title"]["text"])

    said = roost(app, fake_slack, "language 영어", OWNER)["text"]
    assert "English" in said and not korean(said)
    assert "is none of them" in roost(app, fake_slack, "language fr", AGENT)["text"]


def test_a_korean_workspace_gets_its_digest_and_chart_in_korean(
    rt: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    rt.settings = rt.settings.model_copy(update={"roost_language": "ko"})
    i18n.set_default("ko")
    nine = (rt.clock() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    rt.clock = lambda: nine  # the next morning's digest, covering jane's mention
    assert send_digest(BRAND_CHANNEL, slot_key(nine)) == "posted"
    run_jobs(rt)
    (digest,) = [
        m
        for m in fake_slack.messages(BRAND_CHANNEL)
        if (m.get("metadata") or {}).get("event_type") == DIGEST_EVENT
    ]
    shown = json.dumps(digest["blocks"], ensure_ascii=False)
    assert korean(shown) and "new mention" not in shown
    charts = [f for f in fake_slack.files if f["channel"] == BRAND_CHANNEL]
    assert charts and korean(charts[-1]["title"])


def test_a_slow_slack_costs_no_one_their_modal_and_a_failed_lookup_is_asked_again(
    rt: Runtime, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    """The locale lookup waits a second at most and never retries: a click's modal opens
    within its trigger's 3 seconds, in the default language; a lookup that failed is not
    taken as the answer for an hour."""
    fake_slack.add_user(OWNER, "owner", locale="ko-KR")
    app = make_app(rt)
    fake_slack.slow("users.info", 2.5, times=1)
    before = len(fake_slack.views)
    press(app, fake_slack, jane_card, ACTION_REPLY, user=OWNER)
    opened = fake_slack.wait_for(lambda: fake_slack.views[before:][1:] and fake_slack.views)
    assert [v["method"] for v in opened[before:]][:1] == ["views.open"]
    assert not korean(opened[-1]["view"]["title"]["text"])  # Slack was too slow to say
    key = (rt.settings.slack_api_url, OWNER)
    deadline, known = language._people[key]
    assert known is None and deadline - time.monotonic() <= language.FAILED_CACHE_SECONDS
    language._people[key] = (0.0, None)  # a minute later
    assert language.person_language(rt, OWNER) == "ko"

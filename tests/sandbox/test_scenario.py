"""Practice scenarios: the shipped files load and say what they promise, a broken file is
named with its entry, and a replay posts each mention once, in order, into the fake X."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from bot.outbound.guards import has_personal_data
from sandbox.scenario import Entry, Replay, Scenario, ScenarioError, load_scenarios
from sandbox.x_api import FakeX
from tests.conftest import wait_for


def shipped() -> dict[str, Scenario]:
    return {scenario.name: scenario for scenario in load_scenarios()}


def test_both_shipped_scenarios_load() -> None:
    scenarios = shipped()
    assert set(scenarios) == {"launch-weekend", "weekday"}
    for scenario in scenarios.values():
        assert scenario.title and scenario.description
        offsets = [entry.at for entry in scenario.entries]
        assert offsets == sorted(offsets)


def test_the_launch_weekend_is_a_korean_flood_on_one_account_in_twenty_minutes() -> None:
    launch = shipped()["launch-weekend"].entries
    assert 100 <= len(launch) <= 160
    assert 15 * 60 <= launch[-1].at <= 20 * 60
    assert {entry.account for entry in launch} == {"acme_kr"}
    korean = [entry for entry in launch if entry.lang == "ko"]
    assert len(korean) >= 0.95 * len(launch)
    # The same few things, asked by many.
    for topic in ("배송", "E-203", "재고"):
        assert sum(topic in entry.text for entry in launch) >= 10, topic
    assert any(entry.reply_to for entry in launch) and any(entry.quoting for entry in launch)


def test_the_weekday_has_both_accounts_both_languages_and_a_phone_number_in_public() -> None:
    weekday = shipped()["weekday"].entries
    assert {entry.account for entry in weekday} == {"acme", "acme_kr"}
    assert {entry.lang for entry in weekday} == {"en", "ko"}
    given = [entry for entry in weekday if has_personal_data(entry.text)]
    assert len(given) == 1
    # A reply that repeats it is what the guard must stop: the number belongs in a DM.
    number = "010-4821-7735"
    assert number in given[0].text
    assert has_personal_data(f"@{given[0].author} our driver will call you on {number} ^BK")


@pytest.mark.parametrize(
    ("second", "complaint"),
    [
        ('at = "0:05"\nauthor = "sam"\nto = "brand"\ntext = "hi"', "comes before the mention"),
        ('at = "1:70"\nauthor = "sam"\nto = "brand"\ntext = "hi"', "minutes:seconds"),
        ('at = "2:00"\nauthor = "sam!"\nto = "brand"\ntext = "hi"', "`author` must be an X"),
        ('at = "2:00"\nauthor = "sam"\nto = "brand"\ntext = " "', "`text` is missing"),
        ('at = "2:00"\nauthor = "sam"\nto = "brand"\ntext = "hi"\nreply_to = "x"', "reply_to"),
        ('at = "2:00"\nauthor = "sam"\nto = "brand"\ntext = "hi"\nquote = "x"', "`quote`"),
        ('at = "2:00"\nauthor = "sam"\nto = "brand"\ntext = "hi"\nid = "first"', "not a new"),
        ('at = "2:00"\nauthor = "sam"\nto = "brand"\ntext = "hi"\nlikes = 3', "unknown keys"),
    ],
)
def test_a_bad_scenario_is_named_with_its_file_and_mention(
    tmp_path: Path, second: str, complaint: str
) -> None:
    first = 'id = "first"\nat = "1:00"\nauthor = "ann"\nto = "brand"\ntext = "@brand hello"'
    (tmp_path / "broken.toml").write_text(
        f'title = "Broken"\ndescription = "For the test"\n\n'
        f"[[mentions]]\n{first}\n\n[[mentions]]\n{second}\n"
    )
    with pytest.raises(ScenarioError, match="broken.toml, mention 2: ") as raised:
        load_scenarios(tmp_path)
    assert complaint in str(raised.value)


def test_a_file_that_is_not_toml_is_named(tmp_path: Path) -> None:
    (tmp_path / "garbled.toml").write_text("title = \n")
    with pytest.raises(ScenarioError, match="garbled.toml: not valid TOML"):
        load_scenarios(tmp_path)


def scenario(*entries: Entry) -> Scenario:
    return Scenario("test", "Test", "For the test", entries)


def test_a_replay_posts_every_mention_once_in_order_adding_its_authors(fake_x: FakeX) -> None:
    fake_x.add_user("brand")
    fake_x.add_user("ann", name="Ann Already")
    replay = Replay(
        fake_x,
        scenario(
            Entry(0, "ann", "Ann", "brand", "@brand first", "en", key="first"),
            Entry(30, "bo_kim", "김보", "brand", "배송 언제 오나요?", "ko"),
            Entry(60, "ann", "Ann", "brand", "@brand still nothing", "en", reply_to="first"),
            Entry(90, "cy", "Cy", "brand", "@brand same here", "en", quoting="first"),
        ),
        speed=600,  # 90 s in 0.15 s
    )
    replay.start()
    wait_for(lambda: replay.done, timeout=5)
    replay.stop()
    posted = list(reversed(fake_x.mentions_of("brand")))  # oldest first
    assert [tweet["text"] for tweet in posted] == [
        "@brand first",
        "@brand 배송 언제 오나요?",
        "@brand still nothing",
        "@brand same here",
    ]
    assert (replay.sent, replay.total) == (4, 4)
    first = posted[0]["id"]
    assert posted[1]["lang"] == "ko"
    assert {"type": "replied_to", "id": first} in posted[2]["referenced_tweets"]
    assert {"type": "quoted", "id": first} in posted[3]["referenced_tweets"]
    assert _name_of(fake_x, "ann") == "Ann Already"  # an existing author is left as is
    assert _name_of(fake_x, "bo_kim") == "김보"


def _name_of(fake_x: FakeX, handle: str) -> str:
    """The display name X shows for the user, asked of the fake's API as an app would."""
    answer = requests.get(
        f"{fake_x.url}/2/users/{fake_x.user_id(handle)}",
        headers={"Authorization": f"Bearer {fake_x.app_bearer}"},
        timeout=5,
    )
    return str(answer.json()["data"]["name"])


def test_a_shipped_scenario_replays_whole_at_high_speed(fake_x: FakeX) -> None:
    weekday = shipped()["weekday"]
    replay = Replay(fake_x, weekday, speed=1000)
    replay.start()
    wait_for(lambda: replay.done, timeout=10)
    posted = sorted(fake_x.mentions_of("acme") + fake_x.mentions_of("acme_kr"), key=_id)
    unique = list({tweet["id"]: tweet for tweet in posted}.values())  # one mentioning both
    assert len(unique) == len(weekday.entries) == replay.sent
    for tweet, entry in zip(unique, weekday.entries, strict=True):
        assert tweet["text"].endswith(entry.text)


def _id(tweet: dict[str, str]) -> int:
    return int(tweet["id"])


def test_a_replay_stops_when_told_within_a_fraction_of_a_second(fake_x: FakeX) -> None:
    replay = Replay(
        fake_x,
        scenario(
            *(
                Entry(minute * 60, "ann", "Ann", "brand", f"@brand {minute}", "en")
                for minute in range(5)
            )
        ),
        speed=1,
    )
    replay.start()
    wait_for(lambda: replay.sent == 1)
    started = time.monotonic()
    replay.stop()
    assert time.monotonic() - started < 0.5
    assert replay.done and replay.sent == 1
    assert len(fake_x.mentions_of("brand")) == 1


def test_a_replay_needs_a_speed_above_zero(fake_x: FakeX) -> None:
    with pytest.raises(ValueError, match="speed"):
        Replay(fake_x, scenario(), speed=0)

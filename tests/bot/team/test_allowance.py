"""A legacy X subscription (X_PLAN basic or pro): its monthly allowances, shared by every
account, hold the month instead of dollar budgets: told at 80% and 100%, and once one is
used, what it pays for stops, with the reason, nothing lost."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from bot.digest.spend import digest_line, spend
from bot.inbox.intake import Intake, Listener
from bot.outbound import acting
from bot.outbound.reply_modal import Draft
from bot.runtime import Runtime
from bot.team.budget import AllowanceUse, budget_of, tell_budgets
from bot.team.people import Who
from bot.x.prices import SHIPPED, load_prices
from sandbox.slack_api import FakeSlack
from sandbox.x_api import FakeX
from storage.models import Account, Mention
from tests.conftest import AGENT, BRAND_CHANNEL, OWNER, give, run_jobs


@pytest.fixture
def basic(rt: Runtime, tmp_path: Path) -> Runtime:
    """The app on X's Basic plan, with allowances small enough to use up in a test: ten
    post reads and two posts a month."""
    raw = json.loads(SHIPPED.read_text(encoding="utf-8"))
    raw["subscriptions"]["basic"] = {"usd_per_month": 200, "post_reads": 10, "posts": 2}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    rt.settings = rt.settings.model_copy(update={"x_plan": "basic", "x_prices_file": path})
    return rt


def test_the_shipped_price_list_holds_basic_and_pro_as_x_last_published_them() -> None:
    subscriptions = load_prices().subscriptions
    assert subscriptions["basic"].limits == {"post_reads": 15_000, "posts": 50_000}
    assert subscriptions["pro"].limits == {"post_reads": 1_000_000, "posts": 300_000}
    assert "enterprise" not in subscriptions and "pay-per-use" not in subscriptions


def test_every_account_channel_is_told_at_80_and_100_percent_of_the_allowance_once(
    basic: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_x.add_user("jane")
    for n in range(8):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    Intake(basic).poll(brand)  # 8 post reads of 10
    tell_budgets(basic)
    tell_budgets(basic)
    (at_80,) = told(fake_slack)
    assert "80% of an allowance of X's Basic plan" in at_80
    assert "8 of 10 post reads (80%)" in at_80
    for n in range(2):
        fake_x.post_mention("brand", author="jane", text=f"@brand more {n}")
    Intake(basic).poll(brand)
    tell_budgets(basic)
    tell_budgets(basic)
    assert len(told(fake_slack)) == 2
    assert "allows 10 post reads a month for all of Roost's accounts" in told(fake_slack)[1]


def test_a_used_read_allowance_pauses_intake_and_loses_nothing(
    basic: Runtime, fake_x: FakeX, brand: Account
) -> None:
    fake_x.add_user("jane")
    for n in range(10):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    Intake(basic).poll(brand)  # all ten post reads
    use = budget_of(basic, brand)
    assert isinstance(use, AllowanceUse) and use.reached(100)
    waiting = fake_x.post_mention("brand", author="jane", text="@brand still there?")
    reads = len(fake_x.calls_to(f"/2/users/{brand.x_user_id}/mentions"))
    listener = Listener(basic)
    listener.cycle()
    listener.release_all()
    assert len(fake_x.calls_to(f"/2/users/{brand.x_user_id}/mentions")) == reads
    # The plan's allowance as X_PRICES_FILE says it is raised (or a new month): it resumes.
    raised = json.loads(basic.settings.x_prices_file.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    raised["subscriptions"]["basic"]["post_reads"] = 1000
    basic.settings.x_prices_file.write_text(json.dumps(raised), encoding="utf-8")  # type: ignore[union-attr]
    load_prices.cache_clear()
    Intake(basic).poll(brand)
    with basic.sessions() as session:
        assert session.query(Mention).filter_by(tweet_id=int(waiting["id"])).count() == 1


def test_a_used_post_allowance_refuses_a_reply_before_it_is_sent_and_says_why(
    basic: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account, jane_card: dict[str, Any]
) -> None:
    who = Who(fake_slack.team_id, AGENT)
    with basic.sessions() as session:
        mention = session.query(Mention).one()
    for text in ("@jane one", "@jane two"):  # the month's two posts
        draft = dataclasses.replace(Draft.new(mention.id, "reply"), text=text)
        assert acting.publish(basic, who, draft).ok
        run_jobs(basic)
    draft = dataclasses.replace(Draft.new(mention.id, "reply"), text="@jane three")

    checked = acting.publish(basic, who, draft)

    assert not checked.ok
    (problem,) = [p.message for p in checked.problems if p.kind == "budget"]
    assert "allows 2 posts a month" in problem and "X refuses more until" in problem
    run_jobs(basic)
    assert len(fake_x.posts_by("brand")) == 2


def test_spend_and_the_digest_show_the_plan_s_allowances(
    basic: Runtime, fake_x: FakeX, fake_slack: FakeSlack, brand: Account
) -> None:
    fake_x.add_user("jane")
    for n in range(4):
        fake_x.post_mention("brand", author="jane", text=f"@brand {n}")
    Intake(basic).poll(brand)
    give(basic, fake_slack, OWNER, "owner", None)
    text, _ = spend(basic, Who(fake_slack.team_id, OWNER), "")
    assert "X's Basic plan* ($200 a month, shared by all of Roost's accounts)" in text
    assert "4 of 10 post reads (40%) and 0 of 2 posts (0%) this month" in text
    line = digest_line(basic, brand.id, brand.handle, None)
    assert line == (
        "@brand — X: 4 post reads this month (Basic plan, all accounts: 40% of post reads, "
        "0% of posts)"
    )


def told(fake_slack: FakeSlack) -> list[str]:
    return [m["text"] for m in fake_slack.messages(BRAND_CHANNEL) if "Basic plan" in m["text"]]

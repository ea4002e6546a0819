"""The reply and DM modals: pure builders, Slack's limits, the draft they carry."""

from __future__ import annotations

import json

import pytest

from bot.outbound.guards import check_public
from bot.outbound.reply_modal import (
    AS_DM_BLOCK,
    METADATA_LIMIT,
    REPLY_COMPOSE_CALLBACK,
    REPLY_PUBLISH_CALLBACK,
    TEXT_BLOCK,
    ComposeContext,
    Draft,
    input_errors,
    preview_view,
    reply_view,
    submitted_text,
)
from bot.x.text import measure

AROUND = ComposeContext(
    handle="brand", author_username="jane", mention_text="@brand <!here> help", cotag="^BK"
)


def sections(view: dict) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]


def test_a_draft_survives_private_metadata_and_keeps_its_key() -> None:
    draft = Draft.new(7, "reply")
    again = Draft.load(draft.dump())
    assert again == draft and again.key == f"reply:7:{draft.nonce}"
    assert Draft.new(7, "reply").key != draft.key  # each modal its own key


@pytest.mark.parametrize(
    ("kind", "prefill", "has_dm_box"), [("reply", "@jane ", True), ("dm", "", False)]
)
def test_compose_view_prefills_and_escapes(kind: str, prefill: str, has_dm_box: bool) -> None:
    view = reply_view(Draft.new(7, kind), AROUND)
    assert view["callback_id"] == REPLY_COMPOSE_CALLBACK
    text_input = next(b for b in view["blocks"] if b.get("block_id") == TEXT_BLOCK)
    assert text_input["element"]["initial_value"] == prefill
    assert any(b.get("block_id") == AS_DM_BLOCK for b in view["blocks"]) is has_dm_box
    assert "&lt;!here&gt;" in sections(view)[0] and "<!here>" not in json.dumps(view)
    assert len(view["private_metadata"]) <= METADATA_LIMIT


def test_preview_shows_the_signed_text_within_slack_limits() -> None:
    draft = Draft(7, "reply", "abc", "line\n" * 1000)
    view = preview_view(draft, "brand", measure(draft.text, "^BK"), ["late"], needs_approval=True)
    assert view["callback_id"] == REPLY_PUBLISH_CALLBACK
    assert view["submit"]["text"] == "Send for approval"
    assert all(len(text) <= 3000 for text in sections(view))


def test_input_errors_name_every_problem() -> None:
    measured = measure("a" * 290, "^BK")
    errors = input_errors(check_public("", banned=[]), measured)
    assert "empty" in errors[TEXT_BLOCK] and "294/280" in errors[TEXT_BLOCK]
    assert input_errors([], measure("fine", None)) == {}


def test_submitted_text_reads_the_box_and_the_dm_tick() -> None:
    values = {
        TEXT_BLOCK: {"text_input": {"value": "hi"}},
        AS_DM_BLOCK: {"as_dm_input": {"selected_options": [{"value": "dm"}]}},
    }
    assert submitted_text(values) == ("hi", True)
    assert submitted_text({}) == ("", False)

"""The tables. Alembic migrations in storage/migrations create them; never create_all.

Times are stored as UTC and come back timezone-aware on both SQLite and
PostgreSQL. Tweet ids are 64-bit integers, so they order and compare as X's
`since_id` does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC and always returned aware in UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    """A brand's account on X, Bluesky or Mastodon that Roost reads mentions for and acts
    as."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The account's id on its network: X's user id, or elsewhere Roost's number for the
    # network's id (storage.refs: a Bluesky DID, a Mastodon account id).
    x_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    # "x", "bluesky" or "mastodon"; and where the network is reached for it (its Bluesky
    # service, its Mastodon instance; None for X, which is X_API_URL).
    network: Mapped[str] = mapped_column(String(16), default="x", server_default="x")
    service_url: Mapped[str | None] = mapped_column(String(200))
    # How long a post may be where each server sets it (a Mastodon instance's limit, read
    # when the account was connected; None: the network's own).
    post_limit: Mapped[int | None] = mapped_column(Integer)
    handle: Mapped[str] = mapped_column(String(300))
    name: Mapped[str] = mapped_column(String(640), default="")
    channel_id: Mapped[str] = mapped_column(String(32))
    auth_kind: Mapped[str] = mapped_column(String(10))  # "oauth2" or "oauth1"
    credentials: Mapped[str] = mapped_column(Text)  # Fernet-sealed JSON; see bot.crypto
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cotags_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # DMs are private, so they carry no CoTag unless the account asks for one.
    dm_cotags: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    banned_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    sla_minutes: Mapped[int] = mapped_column(Integer, default=60)
    # {"tz": "Asia/Seoul", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}, or
    # None: the SLA clock runs around the clock.
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    connected_by: Mapped[str | None] = mapped_column(String(32))  # Slack user id
    intake_status: Mapped[str] = mapped_column(String(16), default="active")
    intake_error: Mapped[str | None] = mapped_column(Text)
    intake_stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest of X's limits this account spent, and when it ends (a 15-minute window or
    # a daily cap): `roost accounts list` and /metrics show it while it lasts.
    x_limit: Mapped[str | None] = mapped_column(String(200))
    x_limited_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What X may bill for the account's calls each month, in cents (None: no budget); with
    # the hard cap, Roost makes no call of its own past it and pauses intake.
    x_budget_cents: Mapped[int | None] = mapped_column(Integer)
    x_budget_hard: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What "Send to customer service" DMs the authors of a surge's group: the team's
    # contact, in the team's words (None: the button asks for it first).
    care_dm: Mapped[str | None] = mapped_column(Text)
    # Numbers without a country code are read in this region (None: Korea's), and these
    # numbers, e-mail addresses and domains are the account's own, not personal data.
    phone_region: Mapped[str | None] = mapped_column(String(2))
    own_data: Mapped[list[str] | None] = mapped_column(JSON)
    # Auto-assign: each new card goes to the next person on duty with a role on the
    # account and fewer than this many open items (None: cards wait in the inbox).
    auto_assign_max: Mapped[int | None] = mapped_column(Integer)
    # The weekly rota: [{"user": a Slack user, "hours": business hours}], in the
    # workspace's time zone; whoever's hours it is counts as on duty for the account.
    rota: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        # Never the credentials, sealed or not.
        return f"Account(id={self.id!r}, handle={self.handle!r}, x_user_id={self.x_user_id!r})"


class Member(Base):
    """A Slack user of the team."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("team_id", "user_id"),
        UniqueConstraint("team_id", "cotag", name="uq_members_team_cotag"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    cotag: Mapped[str | None] = mapped_column(String(8))
    tz: Mapped[str | None] = mapped_column(String(64))
    # On duty: new cards of auto-assigning accounts come to them, in turn (the one given
    # a card longest ago first); off duty, no SLA reminder pings them.
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    duty_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    auto_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Grant(Base):
    """A member's role on an account: owner, agent, needs-approval or viewer."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("member_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Mention(Base):
    """One inbox item: a post that mentions one of the brand's accounts."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("account_id", "tweet_id"),
        Index("ix_mentions_conversation", "account_id", "conversation_id"),
        Index("ix_mentions_uncarded", "card_posted_at", "received_at"),
        Index("ix_mentions_assignee", "assignee_id", "status"),
        Index("ix_mentions_sla", "sla_reminded_at", "sla_due_at"),
        Index("ix_mentions_slack", "slack_channel", "slack_ts"),
        Index("ix_mentions_account_created", "account_id", "created_at"),
        Index("ix_mentions_status", "status", "account_id"),
        Index("ix_mentions_author", "author_id", "id"),  # a person's history
        Index("ix_mentions_surge_held", "surge_held_at"),
        Index("ix_mentions_account_received", "account_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    tweet_id: Mapped[int] = mapped_column(BigInteger)
    conversation_id: Mapped[int] = mapped_column(BigInteger)
    # The tweet id of the conversation's first mention for this account: its
    # card is the thread this mention goes into. Equal to tweet_id for a card.
    root_tweet_id: Mapped[int] = mapped_column(BigInteger)
    in_reply_to_tweet_id: Mapped[int | None] = mapped_column(BigInteger)
    author_id: Mapped[int] = mapped_column(BigInteger)
    author_username: Mapped[str | None] = mapped_column(String(300))
    author_name: Mapped[str | None] = mapped_column(String(640))
    author_followers: Mapped[int | None] = mapped_column(Integer)
    author_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    author_protected: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text)  # the newest version's, once edited
    # Where a person opens the post (None: X's, made from its id and author).
    url: Mapped[str | None] = mapped_column(String(400))
    lang: Mapped[str | None] = mapped_column(String(16))
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Whether the post summons the account (mentions it, or quotes one of its posts): X
    # refuses a reply from a self-serve app otherwise. None: stored before Roost knew.
    summons: Mapped[bool | None] = mapped_column(Boolean)
    # An edited post: its newest version's id (tweet_id stays the first's) and when the
    # edit was stored.
    version_id: Mapped[int | None] = mapped_column(BigInteger)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when X says it was posted
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when intake stored it
    status: Mapped[str] = mapped_column(String(16), default="open")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first-response target: set when the card is posted; one reminder when it passes.
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The group of a surge this mention was put in, if it came during one.
    surge_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("surge_groups.id", ondelete="SET NULL"), index=True
    )
    # In a surge a new mention gets no card of its own: it is held for its group's card
    # and listed in that card's thread, where a person may open it as a card.
    surge_held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    surge_listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A post a watch found (bot.inbox.watch): it did not address the account, which X
    # does not let Roost answer in public. None: a mention.
    watch_id: Mapped[int | None] = mapped_column(
        ForeignKey("watches.id", ondelete="SET NULL"), index=True
    )
    # Who sent that first reply or DM, for the per-person figures.
    first_responder_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolver_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    # The Slack message for this mention: the card, or its reply in a card's thread.
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32))
    # When its delivery job was last queued: a mention stored but never queued (the
    # listener died in between) is queued again by the sweep at once.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    card_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker holding the claim (None: unknown, so only its age can end it): a claim
    # whose worker died is released at once.
    card_claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Claims so far: past the first, an earlier try may have posted before dying.
    card_attempts: Mapped[int] = mapped_column(Integer, default=0)
    card_posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    card_error: Mapped[str | None] = mapped_column(Text)

    @property
    def is_card(self) -> bool:
        """A conversation's first mention gets the card; later ones its thread."""
        return self.root_tweet_id == self.tweet_id


class Outbound(Base):
    """Every post, reply, DM and retweet the team sends; a row before any call to X.

    The row is the guard that makes sending exactly once: its unique key stops a
    second row for the same click, and its status moves awaiting_approval →
    pending → sending → sent | failed | unknown, never back to pending once X
    may have acted, except by a person's explicit retry.
    """

    __tablename__ = "outbound"
    __table_args__ = (
        Index("ix_outbound_mention", "mention_id"),
        Index("ix_outbound_status", "status", "started_at"),
        Index("ix_outbound_post", "post_id", "part"),
        # A surge group's answers: has a batch taken this mention, was this person DMed.
        Index("ix_outbound_mention_batch", "mention_id", "batch_id"),
        Index("ix_outbound_recipient", "recipient_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # reply, dm, retweet, unretweet
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text, default="")  # final, CoTag included
    cotag: Mapped[str | None] = mapped_column(String(8))
    # The post replied to or retweeted; the user a DM goes to.
    target_tweet_id: Mapped[int | None] = mapped_column(BigInteger)
    recipient_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its latest call
    # The worker making that call: a row `sending` whose worker died is reconciled at once.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # What the network calls what was sent (an X id, a Bluesky at:// URI, a Mastodon id),
    # and where a person opens it (None: made from the id, bot.networks.links).
    x_id: Mapped[str | None] = mapped_column(String(400))
    url: Mapped[str | None] = mapped_column(String(400))
    error: Mapped[str | None] = mapped_column(Text)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the result was logged in the card's thread: logged once, even if the job runs again.
    logged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A composed post's row: which post, which part of its thread (0 for the first), and
    # what its network named the media uploaded as this account (X's and Mastodon's media
    # ids, Bluesky's blob references).
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    media_ids: Mapped[list[str] | None] = mapped_column(JSON)
    # One of the replies or DMs of an answer to a whole surge group (a Batch).
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("batches.id", ondelete="SET NULL"), index=True
    )
    # The saved reply its text began as, if it did: how often each is used.
    saved_reply_id: Mapped[int | None] = mapped_column(
        ForeignKey("saved_replies.id", ondelete="SET NULL"), index=True
    )


class Note(Base):
    """A message people wrote in a card's thread: internal, never sent to X."""

    __tablename__ = "notes"
    __table_args__ = (
        # Slack may deliver a message event twice; its ts keeps one note.
        UniqueConstraint("slack_channel", "slack_ts"),
        Index("ix_notes_mention", "mention_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(32))  # Slack user id
    slack_channel: Mapped[str] = mapped_column(String(32))
    slack_ts: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Post(Base):
    """A post composed in Slack for one or several accounts, now or at a time."""

    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_author", "team_id", "author_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # the modal's nonce
    team_id: Mapped[str] = mapped_column(String(32))
    author_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)  # as written, before CoTags and thread numbering
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # Slack files
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: at once
    as_thread: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """The audit log: who did what, as which account, when."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(32))  # Slack user id, or None for Roost
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OAuthState(Base):
    """One "Connect an account" in flight: X sends its `state` back to the callback."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    code_verifier: Mapped[str] = mapped_column(String(128))
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))  # who started it, in Slack
    channel_id: Mapped[str | None] = mapped_column(String(32))  # where the account's cards go
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Route(Base):
    """Mentions of an account whose text matches go to another channel than its default."""

    __tablename__ = "routes"
    __table_args__ = (Index("ix_routes_account", "account_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    pattern: Mapped[str] = mapped_column(Text)  # keywords a|b|c, or a regular expression
    is_regex: Mapped[bool] = mapped_column(Boolean, default=False)
    channel_id: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)  # first match wins
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IntakeCursor(Base):
    """Where intake for an account stands, in its network's words: the newest X post id
    read, a Bluesky notification's time and URI, a Mastodon notification id."""

    __tablename__ = "intake_cursors"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[str | None] = mapped_column(String(400))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DigestSchedule(Base):
    """When a channel's daily digest runs. A channel with none runs at the defaults."""

    __tablename__ = "digest_schedules"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at_minute: Mapped[int] = mapped_column(Integer)  # minutes after local midnight
    tz: Mapped[str | None] = mapped_column(String(64))  # None: the workspace's zone
    weekdays_only: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    set_by: Mapped[str | None] = mapped_column(String(32))  # Slack user id: told of failures
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Digest(Base):
    """One digest for one channel (or one person's DM): the claim that makes it exactly one,
    however many workers reach the minute, and what became of it."""

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("target", "slot", name="uq_digests_target_slot"),
        Index("ix_digests_target_claimed", "target", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(32))  # a channel id, or a person's user id
    # A channel's: the instant it was scheduled for, in UTC (2026-11-26T00:00Z), so a change
    # of time zone can neither repeat a day nor skip one. A person's: their local date.
    slot: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))  # "channel" or "person"
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Claims so far: past the first, an earlier try may have posted before dying.
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    chart_posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)  # why it was given up for the day


class SetAside(Base):
    """Input that failed the same way every time, kept out of the way with its reason: a
    post the database refuses, a job that keeps failing. It never holds back anything
    else; `roost accounts list` and /metrics show it, for a person to look at."""

    __tablename__ = "set_aside"
    __table_args__ = (UniqueConstraint("kind", "ref", name="uq_set_aside_kind_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "mention", "job"
    ref: Mapped[str] = mapped_column(String(128))  # e.g. "account 3, tweet 17…"
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    times: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notice(Base):
    """One of Roost's own Slack messages that must appear once however often the job that
    posts it runs (a reminder, an assignment's answer): claimed before posting, its ts
    recorded after; past the first try, the next one looks for it before posting."""

    __tablename__ = "notices"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))


class XSpendDay(Base):
    """What Roost counted of an account's X calls on one UTC day, by kind of call: a copy
    the sweep keeps of Redis's running count (bot.x.meter), so a Redis that lost its data
    loses at most one sweep period of it, and months stay readable after Redis lets them
    go."""

    __tablename__ = "x_spend_days"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)  # "read:post", ...
    units: Mapped[int] = mapped_column(BigInteger)
    micros: Mapped[int] = mapped_column(BigInteger)  # millionths of a dollar


class Surge(Base):
    """A stretch of time an account's mentions came far faster than usual, or a team said
    they did (`/roost surge on`): while it lasts its mentions are grouped by what they are
    about. At most one is open (no `ended_at`) per account."""

    __tablename__ = "surges"
    __table_args__ = (
        Index(
            "uq_surges_open",
            "account_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[str | None] = mapped_column(String(32))  # a Slack user; None: Roost
    ended_by: Mapped[str | None] = mapped_column(String(32))
    rate: Mapped[int] = mapped_column(Integer)  # mentions a window when it started
    usual: Mapped[float] = mapped_column(Float)  # the usual a window, for that hour
    peak: Mapped[int] = mapped_column(Integer)  # the most a window while it lasted
    # What its board (the start notice, kept up to date) last showed, as a key, and when.
    board_shown: Mapped[str | None] = mapped_column(String(64))
    board_shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SurgeGroup(Base):
    """Mentions of one surge about one thing (bot.surge.grouping): how many, since and
    until when, the words that label it, and a few of them to read."""

    __tablename__ = "surge_groups"
    __table_args__ = (UniqueConstraint("surge_id", "key", name="uq_surge_groups_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    surge_id: Mapped[int] = mapped_column(ForeignKey("surges.id", ondelete="CASCADE"))
    key: Mapped[int] = mapped_column(Integer)  # the grouper's own number for it
    name: Mapped[str | None] = mapped_column(String(80))  # a team's name, if it has one
    label: Mapped[list[str]] = mapped_column(JSON, default=list)  # its top words
    size: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    samples: Mapped[list[int]] = mapped_column(JSON, default=list)  # up to 3 mention ids
    # Its card in Slack, once posted, and what it last showed.
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shown: Mapped[str | None] = mapped_column(String(64))  # what it showed, as a key


class GroupName(Base):
    """A group a team named for an account by its keywords (`/roost group`): in a surge,
    every mention using one of them goes to it, before any grouping by likeness."""

    __tablename__ = "group_names"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_group_names_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    keywords: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Batch(Base):
    """One answer to many: "Reply to all" of a surge group, or "Send to customer service"
    (a DM to each of its authors). It names the group's mentions up to the last one the
    person saw; bot.surge.batches releases them to X a few at a time, as X's limits allow,
    each as an outbound row of its own (Outbound.batch_id) and so sent exactly once."""

    __tablename__ = "batches"
    __table_args__ = (
        # One of each kind under way on a group at a time, however many submit at once.
        Index(
            "uq_batches_under_way",
            "group_id",
            "kind",
            unique=True,
            sqlite_where=text("status IN ('running', 'paused')"),
            postgresql_where=text("status IN ('running', 'paused')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # the modal's nonce
    group_id: Mapped[int] = mapped_column(ForeignKey("surge_groups.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # reply, dm
    text: Mapped[str] = mapped_column(Text)  # as written, before the name and the CoTag
    cotag: Mapped[str | None] = mapped_column(String(8))
    upto_mention_id: Mapped[int] = mapped_column(Integer)  # the last mention it covers
    planned: Mapped[int] = mapped_column(Integer)  # how many it was to send, when started
    status: Mapped[str] = mapped_column(String(12))  # running, paused, cancelled, done
    why: Mapped[str | None] = mapped_column(Text)  # why Roost paused it, if it did
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatusUpdate(Base):
    """A time-stamped status update ("As of 14:30 KST, ...") posted as an account during a
    surge, for one group or for the whole account: the group cards show the latest, and
    "Reply to all" may link it."""

    __tablename__ = "status_updates"
    __table_args__ = (Index("ix_status_updates_surge", "surge_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    surge_id: Mapped[int] = mapped_column(ForeignKey("surges.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("surge_groups.id", ondelete="CASCADE")
    )  # None: about the whole surge
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), unique=True)
    text: Mapped[str] = mapped_column(Text)  # as posted, the time first, the CoTag last
    created_by: Mapped[str] = mapped_column(String(32))  # a Slack user
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SavedReply(Base):
    """A reply the team answers with again and again, for one account or for every one,
    with placeholders ({name}, {handle}, {agent}) filled when it is used."""

    __tablename__ = "saved_replies"
    __table_args__ = (Index("ix_saved_replies_team", "team_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE")
    )  # None: every account's
    name: Mapped[str] = mapped_column(String(75))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PersonNote(Base):
    """What the team knows about a person on X (`/roost note @handle …`, or a card's
    thread note that names them): it follows them to every later card."""

    __tablename__ = "person_notes"
    __table_args__ = (Index("ix_person_notes_author", "author_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(BigInteger)  # their X user id
    username: Mapped[str | None] = mapped_column(String(300))  # their @handle when noted
    text: Mapped[str] = mapped_column(Text)
    written_by: Mapped[str] = mapped_column(String(32))  # a Slack user
    mention_id: Mapped[int | None] = mapped_column(
        ForeignKey("mentions.id", ondelete="SET NULL")
    )  # the card whose thread it was written in, if it was
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PersonFlag(Base):
    """A person on X the team marked: a VIP, the press, or blocked for abuse; shown on
    every card of theirs."""

    __tablename__ = "person_flags"

    author_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    flag: Mapped[str] = mapped_column(String(16))  # vip, press, blocked
    set_by: Mapped[str] = mapped_column(String(32))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Watch(Base):
    """Words an account's owners watch on X beyond its @mentions: X's recent search for
    `query` read every period, its posts brought into `channel_id` as cards marked as not
    addressing the account, until this month's spend reaches `budget_micros`."""

    __tablename__ = "watches"
    __table_args__ = (Index("ix_watches_account", "account_id", "stopped_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    query: Mapped[str] = mapped_column(String(512))  # as the owner wrote it
    channel_id: Mapped[str] = mapped_column(String(32))
    budget_micros: Mapped[int] = mapped_column(BigInteger)  # a month's, in micro-dollars
    created_by: Mapped[str] = mapped_column(String(32))  # a Slack user
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The newest post read, once a whole read succeeded: the next starts after it. X
    # refuses a since_id older than its reach (7 days), so when it was posted is kept too.
    since_id: Mapped[int | None] = mapped_column(BigInteger)
    since_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A read cut short (the budget, X's limit, X failing): where it goes on from, as X's
    # next_token wants it (the same span), and the newest post it had read.
    resume: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # What its reads cost in `month` (YYYY-MM, UTC): posts and micro-dollars, before X's
    # once-a-day deduplication, so never below what X bills for them.
    month: Mapped[str | None] = mapped_column(String(7))
    month_posts: Mapped[int] = mapped_column(Integer, default=0)
    month_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    # The month whose budget it reached: it reads again from the next, or a higher budget.
    capped_month: Mapped[str | None] = mapped_column(String(7))
    # X refused its query (X's words): it reads no more until changed.
    refused: Mapped[str | None] = mapped_column(Text)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_by: Mapped[str | None] = mapped_column(String(32))


class ChannelLanguage(Base):
    """The language a channel's cards, digests and notices speak (`/roost language`)."""

    __tablename__ = "channel_languages"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    set_by: Mapped[str] = mapped_column(String(32))  # a Slack user
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NetworkRef(Base):
    """A post or person on a network whose ids are not X's numbers (a Bluesky at:// URI or
    DID, a Mastodon status or account id), numbered for Roost: the mention, outbound and
    person tables keep numbers, and storage.refs turns one into the other."""

    __tablename__ = "network_refs"
    __table_args__ = (UniqueConstraint("network", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(400))

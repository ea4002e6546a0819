"""Settings, read once at start from the environment and `.env`.

The variable names are Roost's public interface. A missing or malformed
value stops the process with a message that names the variable and says
where to get it, rather than failing later in some distant call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import SettingsError
from bot.i18n import N_
from bot.plans import MENTIONS_PER_15_MINUTES, SELF_SERVE, Plan, poll_floor

SLACK_API_URL = "https://slack.com/api/"
"""Slack's Web API base; the tests point it at the fake Slack."""

X_API_URL = "https://api.twitter.com"
"""X's API base as tweepy knows it; the tests point it at the fake X."""

X_AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
"""X's OAuth 2.0 consent page, where "Connect an account" sends the lead."""

DEFAULT_POLL_SECONDS = 10.0
"""Mentions-timeline poll interval: well inside X's per-user read limits."""

DEFAULT_SWEEP_SECONDS = 15.0
"""The worker's sweep: often enough that a dead worker's work moves on within seconds,
rarely enough to cost a few indexed queries per account."""

WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": N_(
        "the Bot User OAuth Token (xoxb-...) on your Slack app's "
        "'OAuth & Permissions' page, after installing the app from manifest.json"
    ),
    "SLACK_SIGNING_SECRET": N_("the Signing Secret on your Slack app's 'Basic Information' page"),
    "SLACK_APP_TOKEN": N_(
        "an app-level token (xapp-...) with connections:write, created under "
        "'Basic Information' > 'App-Level Tokens' (only for Socket Mode)"
    ),
    "X_BEARER_TOKEN": N_(
        "the app-only Bearer Token of your X app, in the X developer portal "
        "under 'Keys and tokens' (needed for X_INTAKE=stream)"
    ),
    "ROOST_SECRET_KEY": N_(
        "a Fernet key: python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'"
    ),
    "X_INTAKE": N_("'poll' (default, works on every X plan) or 'stream' (the filtered stream)"),
    "X_POLL_SECONDS": N_(
        "a number of seconds between mention polls, at least 1, and at least what X_PLAN allows"
    ),
    "X_STREAM_RETRY_SECONDS": N_("a number of seconds, at least 1"),
    "X_PRICES_FILE": N_("a JSON file shaped like bot/x/prices.json"),
    "X_PLAN": N_("the X API plan of your app: pay-per-use (default), basic, pro or enterprise"),
    "PORT": N_("a TCP port number for the web process"),
    "X_CLIENT_ID": N_(
        "the OAuth 2.0 Client ID of your X app, in the X developer portal under "
        "'Keys and tokens' > 'OAuth 2.0 Client ID and Client Secret'"
    ),
    "ROOST_PUBLIC_URL": N_(
        "the https address Slack and browsers reach the web process at, e.g. "
        "https://roost.example.com (X sends people back to ROOST_PUBLIC_URL/x/oauth/callback)"
    ),
    "ROOST_ADMINS": N_("comma-separated Slack user ids (U…) who manage every account in Roost"),
    "DATABASE_URL": N_(
        "a URL such as postgresql://user@host:5432/roost (unset: SQLite under var/)"
    ),
    "REDIS_URL": N_(
        "a URL such as redis://host:6379/0 or unix:///path/redis.sock "
        "(unset: an embedded Redis under var/)"
    ),
}

Process = Literal["web", "worker", "listener", "run"]


class Settings(BaseSettings):
    """Everything Roost reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = SLACK_API_URL
    x_api_url: str = X_API_URL
    x_bearer_token: SecretStr | None = None
    x_intake: Literal["poll", "stream"] = "poll"
    # The X plan the app is on: how often its mentions may be read, and whether X's
    # self-serve rules (summoned replies, one cashtag) apply. See bot.x.limits.
    x_plan: Plan = "pay-per-use"
    # Unset: DEFAULT_POLL_SECONDS, or the plan's floor if that is longer.
    x_poll_seconds: float | None = Field(default=None, ge=1)
    # X's prices: a file like bot/x/prices.json replacing the shipped list (prices change).
    x_prices_file: Path | None = None
    # The account (handle) that owns the X developer app: its reads of its own posts and
    # mentions are X's cheaper "owned reads".
    x_app_owner: str | None = None
    # With the stream up: how often a failed back-fill or a stream rule X refused is tried
    # again (and an account without a rule has its timeline read meanwhile).
    x_stream_retry_seconds: float = Field(default=60.0, ge=1)
    x_client_id: str | None = None
    x_client_secret: SecretStr | None = None
    x_authorize_url: str = X_AUTHORIZE_URL
    database_url: str | None = None
    redis_url: str | None = None
    roost_secret_key: SecretStr | None = None
    roost_default_channel: str | None = None
    roost_var_dir: Path = Path("var")
    roost_public_url: str | None = None
    roost_admins: str = ""
    roost_max_schedule_days: int = Field(default=365, ge=1, le=3660)
    # The workspace's zone: digests run at their local time in it unless a channel names another.
    roost_time_zone: str = "UTC"
    # What Roost speaks where no one chose: a channel sets its own (`/roost language`), and
    # each person's own views follow their Slack language. en or ko.
    roost_language: str = "en"
    # When set, /metrics answers only `Authorization: Bearer <this>`, and is served on PORT too.
    roost_metrics_token: SecretStr | None = None
    # A private port for /metrics (and /healthz), on ROOST_METRICS_HOST (loopback by default).
    roost_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    roost_metrics_host: str = "127.0.0.1"
    # How often the worker's sweep looks for what a crash or a lost job left behind.
    roost_sweep_seconds: float = Field(default=DEFAULT_SWEEP_SECONDS, ge=1)
    # A surge: at least ROOST_SURGE_FLOOR mentions in ROOST_SURGE_WINDOW_SECONDS, and
    # ROOST_SURGE_FACTOR times the account's usual for that hour of the day.
    roost_surge_window_seconds: float = Field(default=600, ge=1)
    roost_surge_floor: int = Field(default=100, ge=1)
    roost_surge_factor: float = Field(default=4.0, gt=1)
    # How often a surge's group cards are brought up to date.
    roost_surge_publish_seconds: float = Field(default=2.0, ge=0.5)
    # Roost's pace for Slack's messages, as a multiple of Slack's own (about one a second a
    # channel): 1 against the real Slack; raised only against a fake that does not limit.
    roost_slack_pace: float = Field(default=1.0, gt=0)
    # How often each watch (`/roost watch`) reads X's recent search for new posts.
    roost_watch_seconds: float = Field(default=60.0, ge=1)
    # How far behind now a watch reads: X takes a search's end at least 10 s before the
    # request, and indexes a post a few seconds after it is posted. Shortened only beside
    # a fake X whose rule is shortened too, by tests that cannot wait.
    x_search_lag_seconds: float = Field(default=15.0, ge=0)
    # How often a Reply to all (or Send to customer service) releases what X allows.
    roost_batch_seconds: float = Field(default=5.0, ge=0.5)
    # X's rate-limit window (15 minutes). Shortened only beside a fake X whose window is
    # shortened the same, by tests and benchmarks that cannot wait for real ones.
    x_rate_window_seconds: float = Field(default=900, ge=1)
    port: int = Field(default=3000, ge=1, le=65535)

    @field_validator("slack_api_url")
    @classmethod
    def _slack_base_ends_with_slash(cls, value: str) -> str:
        # slack_sdk joins method names onto the base with plain concatenation.
        return value if value.endswith("/") else value + "/"

    @field_validator("x_app_owner")
    @classmethod
    def _owner_as_handle(cls, value: str | None) -> str | None:
        return value.strip().lstrip("@").lower() or None if value else None

    @field_validator("x_plan", mode="before")
    @classmethod
    def _plan_in_any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def poll_seconds(self) -> float:
        """Seconds between two reads of an account's mentions: X_POLL_SECONDS, else the
        default, lengthened to what X_PLAN allows."""
        if self.x_poll_seconds is not None:
            return self.x_poll_seconds
        return max(DEFAULT_POLL_SECONDS, poll_floor(self.x_plan))

    def poll_warning(self) -> str | None:
        """What to say when X_POLL_SECONDS reads mentions faster than X_PLAN allows: it is
        used as given (a fake X, a contract with more), and X's 429s are waited out."""
        floor = poll_floor(self.x_plan)
        if self.poll_seconds >= floor:
            return None
        return (
            f"X_POLL_SECONDS={self.poll_seconds:g} reads each account's mentions "
            f"{900 / self.poll_seconds:.0f} times in 15 minutes, and X_PLAN={self.x_plan} "
            f"allows {MENTIONS_PER_15_MINUTES[self.x_plan]} (one every {floor:.0f} s): X will "
            "answer 429 and intake will wait for its reset. Unset X_POLL_SECONDS to follow "
            "the plan."
        )

    @property
    def self_serve(self) -> bool:
        """Whether X's self-serve rules bind the app: replies only where summoned, one
        cashtag a post (Enterprise is exempt)."""
        return self.x_plan in SELF_SERVE

    @field_validator("x_api_url")
    @classmethod
    def _x_base_without_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str | None) -> str | None:
        if value:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                make_url(value)
            except ArgumentError:
                raise ValueError("not a database URL") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_has_a_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("not a Redis URL")
        return value

    @field_validator("roost_language")
    @classmethod
    def _language_spoken(cls, value: str) -> str:
        from bot.i18n import LANGUAGES, supported

        found = supported(value)
        if found is None:
            raise ValueError(f"not a language Roost speaks: {', '.join(LANGUAGES)}")
        return found

    @field_validator("roost_time_zone")
    @classmethod
    def _time_zone_exists(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones
            raise ValueError("not a time zone name such as Asia/Seoul or UTC") from None
        return value

    @field_validator("roost_metrics_token")
    @classmethod
    def _metrics_token_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("empty: set a long random token, or leave it unset")
        return value

    @field_validator("roost_public_url")
    @classmethod
    def _public_url_is_http(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("not an http(s) URL")
        return value.rstrip("/") if value else value

    @property
    def has_slack(self) -> bool:
        """Whether any of the Slack app's own settings is given: without one, `make run`
        starts the sandbox instead (sandbox.run)."""
        return any((self.slack_bot_token, self.slack_signing_secret, self.slack_app_token))

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def admins(self) -> frozenset[str]:
        """The bootstrap admins: Slack user ids who manage every account."""
        return frozenset(u.strip() for u in self.roost_admins.split(",") if u.strip())

    def missing_for(self, process: Process) -> list[str]:
        """The required variables this process cannot run without, by name."""
        required: list[tuple[str, object]] = []
        if process in ("web", "run"):
            required.append(("SLACK_BOT_TOKEN", self.slack_bot_token))
            if not self.socket_mode:
                required.append(("SLACK_SIGNING_SECRET", self.slack_signing_secret))
        if process in ("worker", "run"):
            required.append(("SLACK_BOT_TOKEN", self.slack_bot_token))
        if process in ("listener", "run") and self.x_intake == "stream":
            required.append(("X_BEARER_TOKEN", self.x_bearer_token))
        missing = [name for name, value in required if not value]
        return list(dict.fromkeys(missing))

    def require(self, process: Process) -> Settings:
        """Return self, or raise SettingsError naming each missing variable."""
        missing = self.missing_for(process)
        if missing:
            lines = [f"{name} is not set: it is {WHERE_TO_GET[name]}." for name in missing]
            if process == "run" and not self.has_slack:
                lines.append(SANDBOX_HINT)
            raise SettingsError("\n".join(lines))
        return self


SANDBOX_HINT = (
    "To try Roost with no Slack and no X first, `make run` with none of the SLACK_ settings "
    "starts the sandbox: Roost's real processes on loopback fakes of both, in the browser."
)


def load_settings(**overrides: object) -> Settings:
    """Read settings once; a malformed value raises SettingsError naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error["loc"] else "a setting"
        hint = WHERE_TO_GET.get(name)
        got = _shown(name, error.get("input"))
        line = f"{name} is not valid ({error['msg']}; got {got})."
        if hint:
            line += f" Expected {hint}."
        lines.append(line)
    return "\n".join(lines)


def _shown(name: str, value: object) -> str:
    """A refused value as the error may show it: never a secret, nor what comes before
    a URL's @ (a user and password, however malformed the URL around them)."""
    if any(word in name for word in ("TOKEN", "SECRET", "KEY")):
        return "a value (not shown)"
    if isinstance(value, str) and "@" in value:
        userinfo, _, rest = value.rpartition("@")
        scheme = userinfo[: userinfo.find("//") + 2] if "//" in userinfo else ""
        return repr(f"{scheme}…@{rest}")
    return repr(value)

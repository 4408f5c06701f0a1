"""Settings: every name, format and default of docs/configuration.md, read from the environment and `.env`.

A malformed value stops start-up with one line naming the setting and what it expects
(`SettingsError`); `missing_for_serve()` names the required settings that are absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")

# What each setting expects, in the words of docs/configuration.md, for one-line errors.
EXPECTED = {
    "SLACK_BOT_TOKEN": "a bot token starting with xoxb-",
    "SLACK_APP_TOKEN": "an app-level token starting with xapp-",
    "SLACK_API_URL": "the Slack Web API base URL, e.g. https://slack.com/api/",
    "SLACK_TEAM_ID": "a workspace ID starting with T",
    "PLATFORM_API_URL": "the platform's base URL without /v1, e.g. https://platform.example.com",
    "PLATFORM_WEBHOOK_SECRET": "whsec_ followed by base64, or two such secrets separated by a space",
    "ALERT_CHANNEL": "a Slack channel ID such as C0123ABCD",
    "APPROVAL_CHANNEL": "a Slack channel ID such as C0123ABCD",
    "OPERATORS": "comma-separated Slack user IDs (U..., W...) and user-group IDs (S...)",
    "APPROVERS": "comma-separated Slack user IDs (U..., W...) and user-group IDs (S...)",
    "WORKFLOW_OWNERS": "workflow_id=U1,S2;workflow_id2=U3",
    "APPROVALS_REQUIRED_BY": "rules like kind:spend=2;workflow:wf_payouts=2",
    "APPROVAL_ESCALATION_GROUP": "a Slack user-group ID starting with S",
    "DIGEST_HOUR": "an hour from 0 to 23 (UTC), or empty for off",
    "BUDGET_RUN_USD": "an amount of US dollars above 0 such as 0.50, or empty for off",
    "BUDGET_WORKFLOW_DAILY_USD": "an amount of US dollars above 0 such as 25, or empty for off",
    "LOG_LEVEL": "one of DEBUG, INFO, WARNING, ERROR",
    "LOG_FORMAT": "text or json",
    "DATABASE_URL": "a SQLAlchemy async URL such as sqlite+aiosqlite:///./runbot.db or postgresql+asyncpg://user@host/db",
    "PORT": "a port number from 1 to 65535",
}


class SettingsError(Exception):
    """A setting is missing or malformed; str() is one line per setting."""


def _split_csv(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


@dataclass(frozen=True)
class QuorumRule:
    kind: str  # "kind" or "workflow"
    match: str
    required: int


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True, populate_by_name=True)

    # Slack
    SLACK_BOT_TOKEN: str | None = None
    SLACK_SIGNING_SECRET: str | None = None
    SLACK_APP_TOKEN: str | None = None
    SLACK_API_URL: str = "https://slack.com/api/"
    SLACK_TEAM_ID: str | None = None
    PUBLIC_URL: str | None = None

    # Platform
    PLATFORM_API_URL: str | None = None
    PLATFORM_API_TOKEN: str | None = None
    PLATFORM_WEBHOOK_SECRET: str | None = None
    PLATFORM_UI_URL: str | None = None
    PLATFORM_WORKSPACE: str = "default"

    # Channels and people
    ALERT_CHANNEL: str | None = None
    APPROVAL_CHANNEL: str | None = None
    OPERATORS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    APPROVERS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    WORKFLOW_OWNERS: Annotated[dict[str, list[str]], NoDecode] = Field(default_factory=dict)

    # Behaviour
    TRACK_INTERVAL_SECONDS: float = Field(10.0, gt=0)
    STORM_THRESHOLD: int = Field(5, ge=1)
    STORM_WINDOW_SECONDS: float = Field(120.0, gt=0)
    APPROVALS_REQUIRED: int = Field(1, ge=1)
    APPROVALS_REQUIRED_BY: Annotated[list[QuorumRule], NoDecode] = Field(default_factory=list)
    APPROVAL_CONFIRM_KINDS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    APPROVAL_CONSOLE_ONLY_KINDS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ALLOW_SELF_APPROVAL: bool = False
    REJECT_REASON_REQUIRED: bool = False
    APPROVAL_REMINDER_SECONDS: float = Field(900.0, ge=0)
    APPROVAL_ESCALATION_GROUP: str | None = None
    # A reaction's claim on an approval older than this outlived its holder: released so the task can be decided.
    APPROVAL_CLAIM_STALE_SECONDS: float = Field(120.0, gt=0)
    LEASE_SECONDS: float = Field(30.0, gt=0)
    RETENTION_DAYS: int = Field(30, ge=1)
    DIGEST_HOUR: int | None = Field(None, ge=0, le=23)
    WEBHOOK_MAX_BYTES: int = Field(1_048_576, ge=1024)
    OUTBOX_BACKOFF_MAX_SECONDS: float = Field(300.0, gt=0)
    TRACK_BACKOFF_MAX_SECONDS: float = Field(300.0, gt=0)
    # The tracker asks for runs updated since its last cycle minus this margin (clock skew, in-flight writes).
    TRACK_UPDATED_AFTER_MARGIN_SECONDS: float = Field(5.0, ge=0)
    # `runbot check`: how long each of its probes (Slack, the platform, the database) may take.
    CHECK_TIMEOUT_SECONDS: float = Field(10.0, gt=0)
    USERGROUP_CACHE_SECONDS: float = Field(300.0, ge=0)
    MESSAGE_EDIT_INTERVAL_SECONDS: float = Field(2.0, ge=0)
    # Added by the project (docs/configuration.md)
    HOUSEKEEPING_INTERVAL_SECONDS: float = Field(3600.0, gt=0)
    OUTBOX_CLAIM_SECONDS: float = Field(30.0, gt=0)
    # Pacing within Slack's limits (issue 14): posts per channel, edits per workspace (Tier 3).
    OUTBOX_CHANNEL_RATE_PER_SECOND: float = Field(1.0, gt=0)
    OUTBOX_CHANNEL_BURST: int = Field(3, ge=1)
    OUTBOX_UPDATE_RATE_PER_MINUTE: float = Field(50.0, gt=0)
    OUTBOX_UPDATE_BURST: int = Field(8, ge=1)
    OUTBOX_EPHEMERAL_RATE_PER_MINUTE: float = Field(100.0, gt=0)  # chat.postEphemeral, Tier 4
    OUTBOX_EPHEMERAL_BURST: int = Field(20, ge=1)
    # The listeners' own calls after a 429: tries and the longest Retry-After waited for (bot/slack_retry.py).
    SLACK_RATE_LIMIT_RETRIES: int = Field(2, ge=0)
    SLACK_RETRY_AFTER_MAX_SECONDS: float = Field(30.0, ge=0)
    # Deduplication of Slack requests (issue: untrusted requests).
    DEDUPE_WINDOW_SECONDS: float = Field(3600.0, gt=0)
    DEDUPE_REPLAY_WINDOW_SECONDS: float = Field(60.0, ge=0)
    DEDUPE_LOG_INTERVAL_SECONDS: float = Field(60.0, ge=0)
    # Slack's rules for response_url: 5 uses within 30 minutes of the request.
    SLACK_RESPONSE_URL_MAX_USES: int = Field(5, ge=0)
    SLACK_RESPONSE_URL_SECONDS: float = Field(1800.0, gt=0)
    # Run links unfurl (issue 18): the same link in one conversation once per window; at most N per message.
    UNFURL_DEDUPE_SECONDS: float = Field(1800.0, ge=0)
    UNFURL_MAX_PER_MESSAGE: int = Field(3, ge=0, le=10)
    # App Home dashboard (issue 18): how far back failures are listed, and runs listed per section.
    HOME_FAILURE_HOURS: float = Field(24.0, gt=0)
    HOME_LIST_LIMIT: int = Field(8, ge=1, le=15)
    # Cost (issue 17): daily rollups outlive RETENTION_DAYS so a period can be compared with the one before.
    COST_ROLLUP_RETENTION_DAYS: int = Field(400, ge=1)
    COST_DEFAULT_SINCE_DAYS: int = Field(7, ge=1)
    COST_TOP_ROWS: int = Field(10, ge=1, le=40)
    # A UTC day counts as closed for `/runs cost` this long after its end (a write begun before midnight has committed).
    COST_CLOSING_GRACE_SECONDS: float = Field(300.0, ge=0)
    # Budgets (issue 17), in US dollars; unset = off.
    BUDGET_RUN_USD: float | None = Field(None, gt=0)
    BUDGET_WORKFLOW_DAILY_USD: float | None = Field(None, gt=0)
    # Live log tails (issue 17): their own job, interval, time limit and cap.
    TAIL_INTERVAL_SECONDS: float = Field(5.0, gt=0)
    TAIL_MAX_SECONDS: float = Field(1800.0, gt=0)
    TAIL_MAX_ACTIVE: int = Field(20, ge=1)
    TAIL_LINES: int = Field(15, ge=1, le=60)
    # Alerts a team can work from (issue 16; docs/configuration.md).
    ALERT_CONTEXT_LINE: bool = True  # off only to measure what the line costs (make bench)
    ALERT_CONTEXT_NEW_DAYS: float = Field(7.0, gt=0)
    ALERT_CONTEXT_RECURRING_HOURS: float = Field(24.0, gt=0)
    ALERT_CONTEXT_RATE_RUNS: int = Field(50, ge=1)
    ALERT_CONTEXT_RATE_MIN_RUNS: int = Field(10, ge=1)
    INCIDENT_WORKFLOWS: int = Field(3, ge=1)
    INCIDENT_WINDOW_SECONDS: float = Field(600.0, gt=0)
    INCIDENT_RECOVERY_SUCCESSES: int = Field(3, ge=1)
    INCIDENT_QUIET_SECONDS: float = Field(600.0, gt=0)
    INCIDENT_CHECK_INTERVAL_SECONDS: float = Field(30.0, gt=0)
    INCIDENT_REPLAY_INTERVAL_SECONDS: float = Field(2.0, ge=0)
    MUTE_DURATIONS_SECONDS: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [3600, 4 * 3600, 24 * 3600])
    # Channels the bot cannot reach: how often held channels and a refused token are probed again (bot/reach.py).
    SLACK_REACH_PROBE_SECONDS: float = Field(300.0, gt=0)
    # Performance under load (issue 20, docs/configuration.md "Performance").
    PERF_RECEIPT_BATCH: int = Field(500, ge=1, le=5000)
    PERF_INLINE_COMMANDS: int = Field(16, ge=0)
    PERF_DEFERRED_COMMANDS: int = Field(4, ge=1)
    # How long the event processor may hold the store (SQLite) while webhooks wait to be stored.
    PERF_INGEST_YIELD_SECONDS: float = Field(0.005, gt=0)

    # Server and storage
    DATABASE_URL: str = "sqlite+aiosqlite:///./runbot.db"
    HOST: str = "0.0.0.0"
    PORT: int = Field(3000, ge=1, le=65535)
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    LOG_FORMAT: Literal["text", "json"] = "text"

    @field_validator("OPERATORS", "APPROVERS", mode="before")
    @classmethod
    def _people(cls, value: object) -> list[str]:
        ids = _split_csv(value)
        bad = [i for i in ids if not SLACK_ID.match(i)]
        if bad:
            short = [i for i in bad if len(i) < 3 and i[:1] in ("U", "W", "S")]
            hint = " (too short: Slack IDs are a letter and at least two more, e.g. U012AB3CD)" if short else ""
            raise ValueError(f"not a Slack user or group ID: {', '.join(bad)}{hint}")
        return ids

    @field_validator("MUTE_DURATIONS_SECONDS", mode="before")
    @classmethod
    def _durations(cls, value: object) -> list[int]:
        seconds = [int(float(v)) for v in _split_csv(value)]
        if not seconds or any(s <= 0 for s in seconds) or len(seconds) > 10:
            raise ValueError("expected 1 to 10 comma-separated positive numbers of seconds, e.g. 3600,14400,86400")
        return seconds

    @field_validator("APPROVAL_CONFIRM_KINDS", "APPROVAL_CONSOLE_ONLY_KINDS", mode="before")
    @classmethod
    def _kinds(cls, value: object) -> list[str]:
        return _split_csv(value)

    @field_validator("WORKFLOW_OWNERS", mode="before")
    @classmethod
    def _owners(cls, value: object) -> dict[str, list[str]]:
        if isinstance(value, dict):
            return value
        owners: dict[str, list[str]] = {}
        for rule in str(value or "").split(";"):
            if not rule.strip():
                continue
            workflow, sep, people = rule.partition("=")
            ids = _split_csv(people)
            if not sep or not workflow.strip() or not ids or any(not SLACK_ID.match(i) for i in ids):
                raise ValueError(f"cannot read {rule.strip()!r}")
            owners[workflow.strip()] = ids
        return owners

    @field_validator("APPROVALS_REQUIRED_BY", mode="before")
    @classmethod
    def _quorum(cls, value: object) -> list[QuorumRule]:
        if isinstance(value, list):
            return value
        rules = []
        for rule in str(value or "").split(";"):
            if not rule.strip():
                continue
            m = re.fullmatch(r"\s*(kind|workflow):([^=\s]+)\s*=\s*(\d+)\s*", rule)
            if not m or int(m.group(3)) < 1:
                raise ValueError(f"cannot read {rule.strip()!r}")
            rules.append(QuorumRule(m.group(1), m.group(2), int(m.group(3))))
        return rules

    @field_validator("DIGEST_HOUR", "BUDGET_RUN_USD", "BUDGET_WORKFLOW_DAILY_USD", mode="before")
    @classmethod
    def _digest(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator(
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "SLACK_TEAM_ID",
        "PUBLIC_URL",
        "PLATFORM_API_URL",
        "PLATFORM_API_TOKEN",
        "PLATFORM_WEBHOOK_SECRET",
        "PLATFORM_UI_URL",
        "ALERT_CHANNEL",
        "APPROVAL_CHANNEL",
        "APPROVAL_ESCALATION_GROUP",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _formats(self) -> "Settings":
        checks = [
            ("SLACK_BOT_TOKEN", self.SLACK_BOT_TOKEN, lambda v: v.startswith("xoxb-")),
            ("SLACK_APP_TOKEN", self.SLACK_APP_TOKEN, lambda v: v.startswith("xapp-")),
            ("SLACK_API_URL", self.SLACK_API_URL, lambda v: v.startswith(("http://", "https://"))),
            ("SLACK_TEAM_ID", self.SLACK_TEAM_ID, lambda v: re.fullmatch(r"T[A-Z0-9]+", v) is not None),
            ("PLATFORM_API_URL", self.PLATFORM_API_URL, lambda v: v.startswith(("http://", "https://"))),
            (
                "PLATFORM_WEBHOOK_SECRET",
                self.PLATFORM_WEBHOOK_SECRET,
                lambda v: 1 <= len(v.split()) <= 2 and all(s.startswith("whsec_") for s in v.split()),
            ),
            ("ALERT_CHANNEL", self.ALERT_CHANNEL, lambda v: CHANNEL_ID.match(v) is not None),
            ("APPROVAL_CHANNEL", self.APPROVAL_CHANNEL, lambda v: CHANNEL_ID.match(v) is not None),
            ("APPROVAL_ESCALATION_GROUP", self.APPROVAL_ESCALATION_GROUP, lambda v: v.startswith("S")),
            ("DATABASE_URL", self.DATABASE_URL, lambda v: "+aiosqlite" in v or "+asyncpg" in v),
        ]
        bad = [
            f"{name}: expected {EXPECTED[name]}" for name, value, ok in checks if value is not None and not ok(value)
        ]
        if bad:
            raise ValueError("\n".join(bad))
        return self

    # Derived values

    @property
    def mode(self) -> str:
        if not self.SLACK_BOT_TOKEN:
            return "demo"
        return "socket" if self.SLACK_APP_TOKEN else "http"

    @property
    def slack_api_url(self) -> str:
        return self.SLACK_API_URL if self.SLACK_API_URL.endswith("/") else self.SLACK_API_URL + "/"

    @property
    def public_url(self) -> str:
        return (self.PUBLIC_URL or f"http://localhost:{self.PORT}").rstrip("/")

    @property
    def ui_url(self) -> str:
        return (self.PLATFORM_UI_URL or self.PLATFORM_API_URL or "").rstrip("/")

    @property
    def webhook_secrets(self) -> list[str]:
        return (self.PLATFORM_WEBHOOK_SECRET or "").split()

    def run_url(self, run_id: str, step_id: str | None = None) -> str:
        url = f"{self.ui_url}/{self.PLATFORM_WORKSPACE}/monitoring/workflow-runs/{run_id}"
        return f"{url}#step-{step_id}" if step_id else url

    def approvals_required(self, kind: str, workflow_id: str) -> int:
        needed = [self.APPROVALS_REQUIRED]
        for rule in self.APPROVALS_REQUIRED_BY:
            if (rule.kind == "kind" and rule.match == kind) or (rule.kind == "workflow" and rule.match == workflow_id):
                needed.append(rule.required)
        return max(needed) if len(needed) > 1 else self.APPROVALS_REQUIRED

    def missing_for_serve(self) -> list[str]:
        """Required settings that are absent for `runbot serve` in the chosen mode."""
        required = ["SLACK_BOT_TOKEN", "PLATFORM_API_URL", "PLATFORM_API_TOKEN", "PLATFORM_WEBHOOK_SECRET"]
        if not self.SLACK_APP_TOKEN:
            required.insert(1, "SLACK_SIGNING_SECRET")
        return [name for name in required if not getattr(self, name)]

    def warnings_by_setting(self) -> list[tuple[str, str]]:
        """(setting, note) for each setting that is valid but probably not what was meant."""
        notes = []
        if not self.OPERATORS:
            notes.append(("OPERATORS", "is empty: nobody may pause, resume, cancel, replay or subscribe"))
        if not self.APPROVERS:
            notes.append(("APPROVERS", "is empty: nobody may decide approval tasks"))
        if not self.ALERT_CHANNEL:
            notes.append(
                ("ALERT_CHANNEL", "is not set: failure alerts go only to channels subscribed with /runs subscribe")
            )
        if not self.APPROVAL_CHANNEL:
            notes.append(
                ("APPROVAL_CHANNEL", "is not set: approval cards go only to channels subscribed with /runs subscribe")
            )
        if self.DATABASE_URL.startswith("sqlite"):
            notes.append(("DATABASE_URL", "is SQLite, which supports one bot process; use PostgreSQL for replicas"))
        return notes

    def warnings(self) -> list[str]:
        return [f"{name} {note}" for name, note in self.warnings_by_setting()]


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's errors into one line per setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err.get("loc", ()) if not isinstance(p, int)) or ""
            message = str(err.get("msg", "")).removeprefix("Value error, ")
            if not name:
                lines.extend(message.splitlines())
                continue
            expected = EXPECTED.get(name)
            lines.append(
                f"{name}: {message}" + (f" (expected {expected})" if expected and expected not in message else "")
            )
        raise SettingsError("\n".join(lines)) from None

"""Logging: text or JSON lines, with every configured secret masked wherever it would appear, control
characters in messages escaped (a value from a request cannot forge a log line), and repeated refusals summed
into one line per interval."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

SECRET_SETTINGS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "PLATFORM_API_TOKEN",
    "PLATFORM_WEBHOOK_SECRET",
)


# C0 and C1 controls, DEL, and the bidi overrides/isolates that can reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`text` with every control character shown as an escape (`\\n`, `\\x1b`, `\\u202e`), so it stays on one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = escape_controls(message)
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.exc_text = text  # the formatter appends it, once
            record.exc_info = None
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry)


class Summarized:
    """Logs the first occurrence of a repeated event (a refused request, say) at once, then at most one line
    per `interval` seconds for each key, with how many were left out in between."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0, clock=time.monotonic):
        # The interval is set from DEDUPE_LOG_INTERVAL_SECONDS where the app is built.
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._seen: dict[str, tuple[float, int]] = {}  # key -> (when last logged, left out since)

    def warning(self, key: str, message: str, *args) -> None:
        now = self.clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.interval:
            self._seen[key] = (last[0], last[1] + 1)
            return
        left_out = last[1] if last else 0
        if left_out:
            message += " (and %d more like it in the last %.0fs)"
            args = (*args, left_out, now - last[0])
        self._seen[key] = (now, 0)
        if len(self._seen) > 1000:  # keys come from requests: keep the table bounded
            self._seen = {key: self._seen[key]}
        self.logger.warning(message, *args)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    secrets_filter = RedactSecrets([part for s in (secrets or []) for part in [s, *s.split()]])
    handler.addFilter(secrets_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "apscheduler", "slack_bolt", "slack_sdk", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))


def secrets_of(settings) -> list[str]:
    return [getattr(settings, name) for name in SECRET_SETTINGS if getattr(settings, name, None)]

"""Logging: text or JSON lines, with every configured secret masked wherever it would appear."""

from __future__ import annotations

import json
import logging
import sys

SECRET_SETTINGS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "PLATFORM_API_TOKEN",
                   "PLATFORM_WEBHOOK_SECRET")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.exc_text = text
            record.exc_info = None
            masked = f"{masked}\n{text}"
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    secrets_filter = RedactSecrets([part for s in (secrets or []) for part in [s, *s.split()]])
    handler.addFilter(secrets_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "apscheduler", "slack_bolt", "slack_sdk"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))


def secrets_of(settings) -> list[str]:
    return [getattr(settings, name) for name in SECRET_SETTINGS if getattr(settings, name, None)]

"""The reference platform's data: run, step and approval records, their JSON, and the API's small helpers."""

from __future__ import annotations

import base64
import json
import string
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from reference.platform.usage import run_usage, step_usage

RUN_STATUSES = ("pending", "running", "waiting", "paused", "completed", "failed", "cancelled")
TERMINAL = frozenset({"completed", "failed", "cancelled"})
APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired")
SEVERITIES = {"debug": 0, "info": 1, "warn": 2, "error": 3}
LOG_EVENT_TYPES = (
    "run.created",
    "run.started",
    "run.step.started",
    "run.step.completed",
    "run.step.failed",
    "run.paused",
    "run.resumed",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "approval.requested",
    "approval.decided",
    "approval.expired",
)
WEBHOOK_MODES = ("suppress", "duplicate", "delay", "reorder")
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ONE_MS = timedelta(milliseconds=1)

# ----------------------------------------------------------------------------- helpers


def now_ms() -> datetime:
    t = datetime.now(timezone.utc)
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


def fmt_ts(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> datetime:
    """Parse RFC 3339 (accepts ``Z``, offsets, and a ``+`` that a query string turned into a space)."""
    s = value.strip()
    if "T" in s and " " in s:
        s = s.replace(" ", "+")
    if s.endswith(("z", "Z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def unb64(s: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))


def multi_param(query, name: str) -> list[str]:
    out: list[str] = []
    for v in query.getall(name, []):
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, **self.extra)


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


def bad_filter(param: str, message: str) -> ApiError:
    return ApiError(400, "bad_filter", f"{param}: {message}", param=param)


# ----------------------------------------------------------------------------- model


class Step:
    __slots__ = ("id", "index", "name", "type", "provider", "status", "started_at", "completed_at", "error", "gate")

    def __init__(self, index: int, spec: dict[str, Any]) -> None:
        self.id = f"step_{index + 1}"
        self.index = index
        self.name = spec["name"]
        self.type = spec["type"]
        self.provider = spec.get("provider")
        self.gate = spec.get("gate")
        self.status = "pending"
        self.started_at: datetime | None = None
        self.completed_at: datetime | None = None
        self.error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "started_at": fmt_ts(self.started_at),
            "completed_at": fmt_ts(self.completed_at),
            "error": dict(self.error) if self.error else None,
        }


class Run:
    __slots__ = (
        "id",
        "workflow",
        "status",
        "created_at",
        "started_at",
        "completed_at",
        "updated_at",
        "trigger",
        "model",
        "prompt",
        "failed_step_id",
        "replay_of",
        "steps",
        "frozen",
        "step_seconds",
        "outcome",
        "fail_index",
        "error_code",
        "then",
        "gate_index",
        "gate_enabled",
        "gate_passed",
        "approval_kind",
        "approval_action",
        "approval_ttl",
        "paused_from",
        "gen",
        "due",
        "remaining",
        "replay_outcome",
        "approval_id",
        "key",
    )

    def __init__(self) -> None:
        self.started_at = self.completed_at = None
        self.failed_step_id = self.replay_of = None
        self.paused_from = None
        self.gen = 0
        self.due = None
        self.remaining = None
        self.approval_id = None
        self.gate_passed = False

    @property
    def wf_ref(self) -> dict[str, str]:
        return {"id": self.workflow["id"], "name": self.workflow["name"]}

    def current_step(self) -> Step | None:
        for s in self.steps:
            if s.status in ("running", "waiting"):
                return s
        return None

    def next_pending(self) -> Step | None:
        for s in self.steps:
            if s.status == "pending":
                return s
        return None

    def step(self, step_id: str) -> Step | None:
        for s in self.steps:
            if s.id == step_id:
                return s
        return None

    def to_json(self, steps: bool = True) -> dict[str, Any]:
        duration = None
        if self.started_at is not None and self.completed_at is not None:
            duration = int((self.completed_at - self.started_at).total_seconds() * 1000)
        trigger = {"type": self.trigger["type"], "payload": json.loads(json.dumps(self.trigger["payload"]))}
        if self.trigger.get("actor"):
            trigger["actor"] = dict(self.trigger["actor"])
        d = {
            "id": self.id,
            "workflow": self.wf_ref,
            "status": self.status,
            "created_at": fmt_ts(self.created_at),
            "started_at": fmt_ts(self.started_at),
            "completed_at": fmt_ts(self.completed_at),
            "updated_at": fmt_ts(self.updated_at),
            "duration_ms": duration,
            "trigger": trigger,
            "progress": {
                "total_steps": len(self.steps),
                "completed_steps": sum(1 for s in self.steps if s.status == "completed"),
            },
            "model": self.model,
            "prompt": self.prompt,
            "failed_step_id": self.failed_step_id,
            "replay_of": self.replay_of,
        }
        step_json = [s.to_json() for s in self.steps]
        for s, j in zip(self.steps, step_json):
            used = step_usage(self.id, self.model, self.workflow, s.id, s.type, s.status)
            if used is not None:
                j["usage"] = used
        total = run_usage(self.workflow, step_json)
        if total is not None:
            d["usage"] = total
        if steps:
            d["steps"] = step_json
        return d


class Approval:
    __slots__ = (
        "id",
        "run_id",
        "step_id",
        "workflow",
        "kind",
        "action",
        "requested_by",
        "requested_at",
        "expires_at",
        "status",
        "decided_by",
        "decided_at",
        "comment",
        "version",
        "seq",
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "workflow": dict(self.workflow),
            "kind": self.kind,
            "action": self.action,
            "requested_by": self.requested_by,
            "requested_at": fmt_ts(self.requested_at),
            "expires_at": fmt_ts(self.expires_at),
            "status": self.status,
            "decided_by": self.decided_by,
            "decided_at": fmt_ts(self.decided_at),
            "comment": self.comment,
        }

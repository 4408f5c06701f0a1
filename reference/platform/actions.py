"""What people do to runs and approvals: pause, resume, cancel, replay, decide; and the forced moves of /sim."""

from __future__ import annotations

import json
import time
from typing import Any

from reference.platform.model import TERMINAL, ApiError, Approval, Run, fmt_ts


class RunActions:
    """Part of ``ReferencePlatform``: the actions, also used by the HTTP handlers."""

    def _get_run(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise ApiError(404, "not_found", f"run {run_id} not found")
        return run

    def pause(self, run_id: str, actor: str) -> Run:
        run = self._get_run(run_id)
        if run.status not in ("running", "waiting"):
            raise ApiError(409, "invalid_transition", f"cannot pause a {run.status} run (only running or waiting)")
        if run.status == "running" and run.due is not None:
            run.remaining = max(0.0, run.due - time.monotonic())
        else:
            run.remaining = None
        self._unschedule(run)
        run.paused_from = run.status
        run.status = "paused"
        t = self._touch(run)
        self._log("info", "run.paused", run, run.current_step(), f"Run paused by {actor}", t)
        self._emit("run.paused", run)
        return run

    def resume(self, run_id: str, actor: str) -> Run:
        run = self._get_run(run_id)
        if run.status != "paused":
            raise ApiError(409, "invalid_transition", f"cannot resume a {run.status} run (only paused)")
        run.status = run.paused_from or "running"
        run.paused_from = None
        t = self._touch(run)
        self._log("info", "run.resumed", run, run.current_step(), f"Run resumed by {actor}", t)
        self._emit("run.resumed", run)
        if run.status == "running":
            cur = run.current_step()
            delay = (
                run.remaining if run.remaining is not None else (self._step_duration(run, cur.index) if cur else 0.0)
            )
            self._schedule_run(run, delay)
        run.remaining = None
        return run

    def cancel(self, run_id: str, actor: str, reason: str | None = None) -> Run:
        run = self._get_run(run_id)
        if run.status not in ("pending", "running", "waiting", "paused"):
            raise ApiError(409, "invalid_transition", f"cannot cancel a {run.status} run")
        self._cancel_run(run, actor, reason)
        return run

    def _cancel_run(self, run: Run, actor: str, reason: str | None = None) -> None:
        self._unschedule(run)
        t = self._touch(run)
        cur = run.current_step()
        for s in run.steps:
            if s.status in ("running", "waiting"):
                s.status = "cancelled"
                s.completed_at = t
            elif s.status == "pending":
                s.status = "skipped"
        run.status = "cancelled"
        run.completed_at = t
        run.paused_from = None
        self._log("info", "run.cancelled", run, cur, reason or f"Run cancelled by {actor}", t)
        self._emit("run.cancelled", run)
        self._retire_approval(run, actor)

    def replay(self, run_id: str, actor: str, prompt: str | None = None, model: str | None = None) -> Run:
        old = self._get_run(run_id)
        if old.status not in TERMINAL:
            raise ApiError(
                409, "not_replayable", f"cannot replay a {old.status} run (only completed, failed or cancelled)"
            )
        kw: dict[str, Any] = {}
        if old.replay_outcome == "fail":
            kw = {"outcome": "fail", "error_code": old.error_code}
        elif old.replay_outcome == "same":
            kw = {
                "outcome": old.outcome,
                "error_code": old.error_code,
                "then": old.then,
                "fail_step": old.fail_index if old.outcome == "fail" else None,
            }
        new = self.create_run(
            workflow=old.workflow["id"],
            actor={"name": actor} if actor else None,
            trigger_type="manual",
            payload=json.loads(json.dumps(old.trigger["payload"])),
            prompt=prompt if prompt is not None else old.prompt,
            model=model or old.model,
            step_seconds=old.step_seconds,
            approval_ttl_seconds=old.approval_ttl,
            approval_kind=old.approval_kind,
            approval_action=old.approval_action,
            replay_of=old.id,
            replay_outcome=old.replay_outcome,
            gate=old.gate_enabled,
            **kw,
        )
        return new

    def decide(self, approval_id: str, decision: str, actor: str, comment: str | None = None) -> Approval:
        a = self._approvals.get(approval_id)
        if a is None:
            raise ApiError(404, "not_found", f"approval {approval_id} not found")
        self._maybe_expire(a)
        if a.status == "expired":
            raise ApiError(409, "expired", f"approval {approval_id} expired at {fmt_ts(a.expires_at)}")
        if a.status != "pending":
            raise ApiError(409, "already_decided", f"approval {approval_id} was already {a.status} by {a.decided_by}")
        run = self._runs[a.run_id]
        t = self._touch(run)
        a.status = "approved" if decision == "approve" else "rejected"
        a.decided_by = actor
        a.decided_at = t
        a.comment = comment
        step = run.step(a.step_id)
        self._log(
            "info",
            "approval.decided",
            run,
            step,
            f"Approval {a.status} by {actor}" + (f": {comment}" if comment else ""),
            t,
        )
        self._emit("approval.decided", run, approval=a)
        if run.status in TERMINAL:
            return a
        if a.status == "approved":
            run.gate_passed = True
            if step is not None and step.status == "waiting":
                if run.status == "waiting":
                    t = self._touch(run)
                    step.status = "running"
                    run.status = "running"
                    self._log(
                        "info",
                        "run.step.started",
                        run,
                        step,
                        f'Step {step.index + 1} of {len(run.steps)} "{step.name}" approved, running',
                        t,
                    )
                    self._emit("run.step.updated", run, step=step)
                    self._schedule_run(run, self._step_duration(run, step.index))
                elif run.status == "paused":
                    t = self._touch(run)
                    step.status = "running"
                    run.paused_from = "running"
                    run.remaining = self._step_duration(run, step.index)
                    self._emit("run.step.updated", run, step=step)
        else:
            self._cancel_run(run, actor, f"Run cancelled: approval rejected by {actor}")
        return a

    def _force(
        self, run: Run, status: str, *, error_code: str | None = None, emit: bool = True, actor: str = "sim"
    ) -> None:
        """Force a run into ``status`` (sim control), keeping steps consistent."""
        old = run.status
        self._unschedule(run)
        t = self._touch(run)
        if status != "pending" and run.started_at is None:
            run.started_at = t
        cur = run.current_step()
        event = None
        if status in ("running", "paused"):
            if old == "paused" and status == "running":
                event = "run.resumed"
            if cur is not None and cur.status == "waiting":
                if not (status == "paused" and old == "waiting"):
                    cur.status = "running"
                    run.gate_passed = True
            elif cur is None:
                nxt = run.next_pending()
                if nxt is not None:
                    nxt.status = "running"
                    nxt.started_at = t
            run.completed_at = None
            if status == "paused":
                if old == "paused":
                    pass
                else:
                    run.paused_from = "waiting" if (old == "waiting" and cur and cur.status == "waiting") else "running"
                event = "run.paused"
            else:
                run.paused_from = None
                event = event or "run.started"
            run.status = status
        elif status == "waiting":
            if cur is None or cur.status != "waiting":
                gate = cur or run.next_pending()
                if gate is None:
                    gate = run.steps[-1]
                gate.status = "waiting"
                gate.started_at = gate.started_at or t
                gate.completed_at = None
                run.gate_index = gate.index
                run.gate_passed = False
                cur = gate
            run.status = "waiting"
            run.completed_at = None
            a = self._approvals.get(run.approval_id or "")
            if emit:
                self._emit("run.step.updated", run, step=cur)
            if a is None or a.status != "pending":
                if emit:
                    self._request_approval(run, cur)
                else:
                    self._quiet(self._request_approval, run, cur)
            return
        elif status == "completed":
            for s in run.steps:
                if s.status != "completed":
                    s.status = "completed"
                    s.started_at = s.started_at or t
                    s.completed_at = t
                    s.error = None
            run.status = "completed"
            run.completed_at = t
            event = "run.completed"
        elif status == "failed":
            target = cur or run.next_pending() or run.steps[-1]
            run.status = "running"
            if emit:
                self._fail_step(run, target, error_code or run.error_code or "internal_error")
            else:
                self._quiet(self._fail_step, run, target, error_code or run.error_code or "internal_error")
            self._retire_approval_quiet(run, actor, emit)
            return
        elif status == "cancelled":
            run.status = "running"
            if emit:
                self._cancel_run(run, actor)
            else:
                self._quiet(self._cancel_run, run, actor)
            return
        elif status == "pending":
            run.status = "pending"
            event = None
        self._log("info", event or "run.created", run, run.current_step(), f"Run forced to {status} (sim)", t)
        if emit and event:
            self._emit(event, run)
        if status in TERMINAL:
            self._retire_approval_quiet(run, actor, emit)
        if status in ("running", "pending") and not run.frozen:
            cur = run.current_step()
            self._schedule_run(run, self._step_duration(run, cur.index) if cur else 0.0)

    def _retire_approval_quiet(self, run: Run, actor: str, emit: bool) -> None:
        if emit:
            self._retire_approval(run, actor)
        else:
            self._quiet(self._retire_approval, run, actor)

    def _quiet(self, fn, *args: Any) -> Any:
        url, self.webhook_url = self.webhook_url, None
        try:
            return fn(*args)
        finally:
            self.webhook_url = url

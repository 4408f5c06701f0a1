"""How a run moves: creating runs and the state machine that advances their steps and approvals."""

from __future__ import annotations

import bisect
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

from reference.platform.model import RUN_STATUSES, TERMINAL, ApiError, Approval, Run, Step, now_ms
from reference.platform.samples import WORKFLOWS_BY_ID, provider_for_model


class RunStateMachine:
    """Part of ``ReferencePlatform``: run creation and the state machine."""

    def create_run(
        self,
        *,
        workflow: str = "wf_invoices",
        outcome: str = "succeed",
        error_code: str | None = None,
        fail_step: int | str | None = None,
        actor: dict[str, Any] | str | None = None,
        trigger_type: str = "manual",
        payload: dict[str, Any] | None = None,
        prompt: str | None = None,
        model: str | None = None,
        step_seconds: float | None = None,
        approval_ttl_seconds: float | None = None,
        approval_kind: str | None = None,
        approval_action: str | None = None,
        then: str = "succeed",
        frozen: bool = False,
        status: str | None = None,
        replay_of: str | None = None,
        replay_outcome: str = "succeed",
        gate: bool = True,
        id: str | None = None,
        emit: bool = True,
        **_ignored: Any,
    ) -> Run:
        wf = WORKFLOWS_BY_ID.get(workflow)
        if wf is None:
            raise ApiError(400, "bad_request", f"unknown workflow {workflow!r}")
        if outcome not in ("succeed", "fail", "approval"):
            raise ApiError(400, "bad_request", "outcome must be succeed, fail or approval")
        if then not in ("succeed", "fail"):
            raise ApiError(400, "bad_request", "then must be succeed or fail")
        if replay_outcome not in ("succeed", "fail", "same"):
            raise ApiError(400, "bad_request", "replay_outcome must be succeed, fail or same")
        if status is not None and status not in RUN_STATUSES:
            raise ApiError(400, "bad_request", f"unknown status {status!r}")
        if trigger_type not in ("manual", "schedule", "webhook", "api"):
            raise ApiError(400, "bad_request", "trigger_type must be manual, schedule, webhook or api")
        if id is not None and id in self._runs:
            raise ApiError(409, "conflict", f"run {id} exists")
        specs = [dict(s) for s in wf["steps"]]
        if not gate:
            for s in specs:
                s.pop("gate", None)
        gate_index = next((i for i, s in enumerate(specs) if s.get("gate")), None)
        if gate_index is None and (outcome == "approval" or status == "waiting"):
            gate_index = max(0, len(specs) - 1)
            specs.insert(
                gate_index,
                {
                    "name": "Human review",
                    "type": "approval",
                    "provider": None,
                    "gate": {"kind": "tool_call", "action": f"Run step {specs[-1]['name']!r} of {wf['name']}"},
                },
            )
        run = Run()
        run.id = id or self._rand_id("run_")
        run.workflow = wf
        run.steps = [Step(i, s) for i, s in enumerate(specs)]
        run.gate_index = gate_index
        run.gate_enabled = gate
        run.outcome = outcome
        run.then = then
        run.error_code = error_code or "provider_rate_limited"
        run.approval_kind = approval_kind
        run.approval_action = approval_action
        run.approval_ttl = float(approval_ttl_seconds) if approval_ttl_seconds is not None else None
        run.step_seconds = float(step_seconds) if step_seconds is not None else self.step_seconds
        run.replay_outcome = replay_outcome
        run.replay_of = replay_of
        run.frozen = bool(frozen)
        run.fail_index = None
        if outcome == "fail":
            run.fail_index = self._resolve_fail_step(run, fail_step)
        elif then == "fail" and gate_index is not None:
            run.fail_index = gate_index
        if isinstance(actor, str):
            actor = {"name": actor}
        trig: dict[str, Any] = {
            "type": trigger_type,
            "payload": payload if payload is not None else dict(wf["payload"]),
        }
        if actor:
            trig["actor"] = {k: actor[k] for k in ("name", "email", "slack_user_id") if actor.get(k) is not None}
        run.trigger = trig
        run.model = model or wf["model"]
        run.prompt = prompt if prompt is not None else wf["prompt"]
        run.status = "pending"
        run.created_at = now_ms()
        if self._keys and run.created_at < self._keys[-1][0]:
            run.created_at = self._keys[-1][0]  # wall clock went back: keep order sane
        run.updated_at = run.created_at
        run.key = (run.created_at, run.id)
        self._runs[run.id] = run
        if not self._keys or run.key > self._keys[-1]:
            self._keys.append(run.key)
        else:
            bisect.insort(self._keys, run.key)
        who = f" by {actor.get('name') or actor.get('email') or actor.get('slack_user_id')}" if actor else ""
        extra = f" (replay of {replay_of})" if replay_of else ""
        self._log(
            "info",
            "run.created",
            run,
            None,
            f"Run of {wf['name']} created{who} via {trigger_type}{extra}",
            run.created_at,
        )
        if emit:
            self._emit("run.created", run)
        if status is None and frozen:
            status = "running"
        if status is not None and status != "pending":
            self._force(run, status, error_code=error_code, emit=emit, actor="sim")
        elif not run.frozen:
            self._schedule_run(run, run.step_seconds / 4 / self.speed)
        return run

    def _resolve_fail_step(self, run: Run, fail_step: int | str | None) -> int:
        n = len(run.steps)
        if fail_step is None:
            for s in run.steps:
                if s.type == "llm":
                    return s.index
            return n // 2
        if isinstance(fail_step, str):
            st = run.step(fail_step)
            if st is None:
                if fail_step.isdigit():
                    fail_step = int(fail_step)
                else:
                    raise ApiError(400, "bad_request", f"fail_step: no step {fail_step!r}")
            else:
                return st.index
        if not isinstance(fail_step, int) or not 0 <= fail_step < n:
            raise ApiError(400, "bad_request", f"fail_step must be a step index from 0 to {n - 1}")
        return fail_step

    # ------------------------------------------------------------------ the state machine

    def _tick(self, run: Run) -> None:
        if run.status == "pending":
            t = self._touch(run)
            run.status = "running"
            run.started_at = t
            self._log("info", "run.started", run, None, f"Run of {run.workflow['name']} started", t)
            self._emit("run.started", run)
            first = run.next_pending()
            if first is None:
                self._complete_run(run)
            else:
                self._enter_step(run, first)
            return
        if run.status != "running":
            return
        cur = run.current_step()
        if cur is None:
            nxt = run.next_pending()
            if nxt is None:
                self._complete_run(run)
            else:
                self._enter_step(run, nxt)
            return
        if cur.status == "waiting":
            return
        if run.fail_index == cur.index:
            self._fail_step(run, cur, run.error_code)
            return
        t = self._touch(run)
        cur.status = "completed"
        cur.completed_at = t
        if cur.type == "llm":
            self._log(
                "debug",
                "run.step.completed",
                run,
                cur,
                f"{provider_for_model(run.model)} {run.model}: {200 + (zlib.crc32(run.id.encode()) % 600)} completion tokens",
                t,
            )
        self._log(
            "info",
            "run.step.completed",
            run,
            cur,
            f'Step {cur.index + 1} of {len(run.steps)} "{cur.name}" completed',
            t,
        )
        self._emit("run.step.updated", run, step=cur)
        nxt = run.next_pending()
        if nxt is None:
            self._complete_run(run)
        else:
            self._enter_step(run, nxt)

    def _enter_step(self, run: Run, step: Step) -> None:
        t = self._touch(run)
        step.started_at = t
        n = len(run.steps)
        if step.index == run.gate_index and not run.gate_passed:
            step.status = "waiting"
            run.status = "waiting"
            self._log(
                "info",
                "run.step.started",
                run,
                step,
                f'Step {step.index + 1} of {n} "{step.name}" waiting for approval',
                t,
            )
            self._emit("run.step.updated", run, step=step)
            self._request_approval(run, step)
            return
        step.status = "running"
        if step.type == "llm":
            self._log(
                "debug",
                "run.step.started",
                run,
                step,
                f"Calling {provider_for_model(run.model)} {run.model} "
                f"(prompt {800 + (zlib.crc32(step.id.encode() + run.id.encode()) % 1200)} tokens)",
                t,
            )
        elif step.provider:
            self._log("debug", "run.step.started", run, step, f'Calling {step.provider} for "{step.name}"', t)
        self._log("info", "run.step.started", run, step, f'Step {step.index + 1} of {n} "{step.name}" started', t)
        self._emit("run.step.updated", run, step=step)
        self._schedule_run(run, self._step_duration(run, step.index))

    def _fail_step(self, run: Run, step: Step, code: str) -> None:
        t = self._touch(run)
        step.status = "failed"
        step.completed_at = t
        if step.started_at is None:
            step.started_at = t
        step.error = self._error_for(run, step, code)
        self._log(
            "error",
            "run.step.failed",
            run,
            step,
            f'Step {step.index + 1} of {len(run.steps)} "{step.name}" failed: {code}: {step.error["message"]}',
            t,
        )
        self._emit("run.step.updated", run, step=step)
        t = self._touch(run)
        for s in run.steps:
            if s.status == "pending":
                s.status = "skipped"
            elif s.status in ("running", "waiting"):
                s.status = "cancelled"
                s.completed_at = t
        run.status = "failed"
        run.completed_at = t
        run.paused_from = None
        if run.failed_step_id is None:
            run.failed_step_id = step.id
        self._unschedule(run)
        self._log("error", "run.failed", run, step, f'Run of {run.workflow["name"]} failed at "{step.name}": {code}', t)
        self._emit("run.failed", run)

    def _complete_run(self, run: Run) -> None:
        t = self._touch(run)
        run.status = "completed"
        run.completed_at = t
        self._unschedule(run)
        self._log("info", "run.completed", run, None, f"Run of {run.workflow['name']} completed", t)
        self._emit("run.completed", run)

    def _request_approval(self, run: Run, step: Step) -> Approval:
        gate = step.gate or {}
        a = Approval()
        a.id = self._rand_id("apr_")
        a.run_id = run.id
        a.step_id = step.id
        a.workflow = run.wf_ref
        a.kind = run.approval_kind or gate.get("kind") or "tool_call"
        a.action = run.approval_action or gate.get("action") or f"Run step {step.name!r}"
        a.requested_by = f"step {step.name} of {run.workflow['name']}"
        a.requested_at = run.updated_at
        ttl = run.approval_ttl if run.approval_ttl is not None else self.approval_ttl_seconds
        a.expires_at = a.requested_at + timedelta(seconds=ttl)
        a.status = "pending"
        a.decided_by = a.decided_at = a.comment = None
        a.version = 0
        a.seq = len(self._approval_order)
        self._approvals[a.id] = a
        self._approval_order.append(a.id)
        run.approval_id = a.id
        t = self._touch(run)
        self._log("info", "approval.requested", run, step, f"Approval requested ({a.kind}): {a.action}", t)
        self._emit("approval.requested", run, approval=a)
        self._schedule_expiry(a)
        return a

    def _schedule_expiry(self, a: Approval) -> None:
        delay = (a.expires_at - datetime.now(timezone.utc)).total_seconds()
        self._schedule(delay, "expire", a.id, a.version)

    def _expire_approval(self, a: Approval) -> None:
        """TTL expiry: task expired, gate step failed (approval_expired), run failed."""
        if a.status != "pending":
            return
        run = self._runs[a.run_id]
        t = self._touch(run)
        a.status = "expired"
        a.decided_at = t
        self._log(
            "warn", "approval.expired", run, run.step(a.step_id), f"Approval expired without a decision: {a.action}", t
        )
        self._emit("approval.expired", run, approval=a)
        if run.status in TERMINAL:
            return
        step = run.step(a.step_id)
        if step is not None and step.status in ("waiting", "pending", "running"):
            self._fail_step(run, step, "approval_expired")

    def _retire_approval(self, run: Run, actor: str) -> None:
        """A terminal run can't have a pending task: mark it expired (see module docstring)."""
        a = self._approvals.get(run.approval_id or "")
        if a is None or a.status != "pending":
            return
        t = self._touch(run)
        a.status = "expired"
        a.decided_at = t
        a.comment = f"Run {run.status} by {actor} before a decision"
        self._log(
            "info", "approval.expired", run, run.step(a.step_id), f"Approval closed: run {run.status} by {actor}", t
        )
        self._emit("approval.expired", run, approval=a)

    def _maybe_expire(self, a: Approval) -> None:
        if a.status == "pending" and a.expires_at <= datetime.now(timezone.utc):
            self._expire_approval(a)

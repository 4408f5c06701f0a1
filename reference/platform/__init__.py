"""Reference workflow platform: a real HTTP server of the whole contract (docs/platform-contract.md).

In-memory state, aiohttp.web. Used by the demo, the tests and ``runbot platform``.

    platform = ReferencePlatform(api_token="t", webhook_url="http://127.0.0.1:3000/webhooks/platform",
                                 webhook_secret="whsec_...", seed=0, speed=1.0)
    base = await platform.start(port=0)      # http://127.0.0.1:PORT ; the API is under {base}/v1
    ...
    await platform.stop()

Decisions the contract leaves open (documented here):

* Runs advance on a single scheduler (a heap of deadlines): ``pending`` -> ``running`` after
  ``step_seconds/4``, then each step takes ``step_seconds`` (default 2 s, +-20 % deterministic
  jitter) divided by ``speed``. Every state change moves the run's ``updated_at`` forward by at
  least 1 ms (RFC 3339, milliseconds) and emits exactly one webhook, so every webhook of a run
  carries a distinct, increasing ``updated_at``.
* A workflow with a gate step (``wf_refunds``, ``wf_publish``, ``wf_payouts``, ``wf_tools``)
  always waits at that step for an approval (``/sim/runs`` ``"gate": false`` skips it). Outcome
  ``approval`` on a workflow without a gate inserts a "Human review" step (kind ``tool_call``)
  before the last step. After approval the gate step runs (``running``) and then completes, or
  fails if ``then: "fail"`` (the gated action itself fails with ``error_code``).
* Outcome ``fail`` fails at the first ``llm`` step (or ``fail_step``: a 0-based index or a step
  id), default ``error_code`` ``provider_rate_limited``. The failed step gets the error, later
  steps become ``skipped``, the run ``failed`` with ``failed_step_id``.
* Rejecting a task cancels the run: the gate step ``cancelled``, later steps ``skipped``.
  Expiry (checked by the scheduler at ``expires_at``): task ``expired``, gate step ``failed`` with
  ``approval_expired`` (provider null, provider_status null, retryable false), run ``failed``.
* Cancelling a run (or forcing it terminal) with a pending approval marks that task ``expired``
  (``decided_at`` set, ``decided_by`` null, ``comment`` "Run cancelled by X before a decision")
  and sends ``approval.expired``: it can no longer be decided (approve/reject answer 409
  ``expired``). Cancel turns the running/waiting step ``cancelled`` and pending steps ``skipped``.
* Pause keeps the current step ``running`` (or ``waiting``) but stops the clock; resume
  continues the step for its remaining time. A task may be decided while its run is paused:
  approve lets the run continue after resume; reject cancels it; expiry fails it.
* Replay: a new run of the same workflow with ``replay_of``, the old payload, prompt/model
  (or the new ones), trigger ``manual`` with actor ``{"name": actor}``. A replay succeeds by
  default (a gated workflow still asks for approval); ``/sim/runs`` ``"replay_outcome"``:
  ``"succeed"`` | ``"fail"`` | ``"same"`` changes that.
* ``duration_ms`` is null until the run is terminal. Lists omit ``steps`` unless
  ``include=steps``. ``status`` and ``id`` filters accept repeats and comma lists.
  Unknown ``workflow`` gives an empty list. Cursors are opaque (base64 of the last sort key).
* Run and approval ids come from one ``random.Random(seed)`` (deterministic); webhook ids are
  ``msg_`` + a uuid4 (unique across restarts so a bot's dedupe never drops a fresh event).
  With a two-secret ``webhook_secret`` (rotation) both signatures are sent, space-separated.
* Webhooks go through one background queue, in order, with up to 5 attempts (backoff 0.05,
  0.2, 0.5, 1 s) for non-2xx or connection errors. Bulk frozen runs send none unless asked.

Control endpoints (``/sim/...``, no auth, JSON; not part of the contract):

* ``POST /sim/runs`` {"workflow", "outcome": succeed|fail|approval, "error_code"?, "fail_step"? (0-based
  index or step id), "actor"? {name,email,slack_user_id}, "trigger_type"?, "payload"?, "prompt"?, "model"?,
  "step_seconds"?, "approval_ttl_seconds"?, "approval_kind"?, "approval_action"?, "then"? succeed|fail,
  "frozen"?, "status"?, "replay_outcome"? succeed|fail|same, "gate"? bool, "id"?} -> 201 run
* ``POST /sim/runs/bulk`` {"count", "workflow"? (id or list; default all), "status"? (running),
  "frozen"? (true), "webhooks"? (false), any /sim/runs field} -> 201 {"ids": [...]}
* ``POST /sim/runs/{id}/advance`` {"status"?, "fail"? {"error_code"}} forces a status (webhook sent);
  an empty body performs the run's next step change (also for frozen runs).
* ``POST /sim/webhooks`` {"mode": suppress|duplicate|delay|reorder, "count": N|-1, "delay_seconds"?,
  "types"?}; ``POST /sim/webhooks/reset`` {"clear_log"?}; ``GET /sim/webhooks/log`` -> [{"id", "type",
  "run_id", "approval_id", "status_code", "attempts", "suppressed", "duplicate", "delayed", "reordered",
  "error"}]
* ``POST /sim/stall`` {"seconds", "status"?}: /v1 answers that status (error shape), or hangs until the end.
* ``POST /sim/approvals/{id}/modify`` {"action"?, "kind"?, "expires_at"?} (pending tasks; bumps run updated_at)
* ``POST /sim/config`` {"webhook_url"?, "webhook_secret"?, "speed"?, "approval_ttl_seconds"?}
* ``GET /sim/stats`` -> {"requests": {"GET /v1/runs": n, "GET /v1/runs/{id}": n, ...}, "total", ...};
  ``POST /sim/stats/reset``

Pages: ``GET /`` (runs index), ``GET /{workspace}/monitoring/workflow-runs/{run_id}`` (run detail; each
step in ``<details id="step-{step_id}">``, the failed one open). ``platform.run_url(run_id, step_id)``.
"""

from reference.platform.model import ApiError, Approval, Run, Step, fmt_ts, parse_ts
from reference.platform.server import ReferencePlatform

__all__ = ["ReferencePlatform", "ApiError", "Approval", "Run", "Step", "fmt_ts", "parse_ts"]

"""Sample data for the reference platform: workflows, error catalogue, demo scenarios.

Workflows are realistic AI workflows. A step with a ``gate`` is an approval gate: when a run
reaches it, the step waits on an approval task of that ``kind`` gating that ``action``.
"""

from __future__ import annotations

from typing import Any

SANDBOX_USER: dict[str, str] = {
    "name": "Sam Rivera",
    "email": "sam@acme.test",
    "slack_user_id": "U0SAMPLE1",
}

WORKFLOWS: list[dict[str, Any]] = [
    {
        "id": "wf_invoices",
        "name": "Invoice triage",
        "model": "gpt-4.1-mini",
        "prompt": "Classify the invoice as utilities, software, travel or other, and summarise its line items in two sentences.",
        "payload": {"invoice_id": "INV-1042", "vendor": "ACME Corp", "amount": "1,240.00 USD"},
        "steps": [
            {"name": "Fetch invoice", "type": "http", "provider": "quickbooks"},
            {"name": "Extract line items", "type": "tool", "provider": "docparser"},
            {"name": "Summarise with LLM", "type": "llm", "provider": None},
            {"name": "Classify invoice", "type": "code", "provider": None},
            {"name": "Post to #finance", "type": "http", "provider": "slack"},
        ],
    },
    {
        "id": "wf_refunds",
        "name": "Refund customer",
        "model": "gpt-4.1",
        "prompt": "Decide whether the order qualifies for a refund under the 30-day policy and draft a short apology.",
        "payload": {"order_id": "ORD-88213", "customer": "ACME", "amount": "420.00 USD"},
        "steps": [
            {"name": "Look up order", "type": "http", "provider": "shopify"},
            {"name": "Check refund policy", "type": "llm", "provider": None},
            {
                "name": "Refund customer",
                "type": "tool",
                "provider": "stripe",
                "gate": {"kind": "spend", "action": "Send refund of $420 to ACME"},
            },
            {"name": "Email customer", "type": "tool", "provider": "sendgrid"},
        ],
    },
    {
        "id": "wf_publish",
        "name": "Publish newsletter",
        "model": "claude-sonnet-4-5",
        "prompt": "Write this week's product newsletter from the merged changelog entries, friendly tone, under 400 words.",
        "payload": {"issue": "2026-W48", "audience": "customers", "subscribers": 12480},
        "steps": [
            {"name": "Collect changelog", "type": "http", "provider": "github"},
            {"name": "Draft newsletter", "type": "llm", "provider": None},
            {"name": "Check links", "type": "code", "provider": None},
            {
                "name": "Publish to Mailchimp",
                "type": "tool",
                "provider": "mailchimp",
                "gate": {"kind": "publish", "action": 'Publish "November product update" to 12,480 subscribers'},
            },
            {"name": "Post link to #marketing", "type": "http", "provider": "slack"},
        ],
    },
    {
        "id": "wf_payouts",
        "name": "Vendor payouts",
        "model": "gpt-4.1-mini",
        "prompt": "Flag any payout that differs from its approved invoice by more than 2% or goes to a changed bank account.",
        "payload": {"batch_id": "PAY-2026-11-25", "vendors": 3, "total": "18,250.00 USD"},
        "steps": [
            {"name": "Load approved invoices", "type": "http", "provider": "netsuite"},
            {"name": "Compute payouts", "type": "code", "provider": None},
            {"name": "Risk check with LLM", "type": "llm", "provider": None},
            {
                "name": "Send payouts",
                "type": "tool",
                "provider": "wise",
                "gate": {"kind": "spend", "action": "Pay 3 vendors a total of $18,250"},
            },
            {"name": "Reconcile ledger", "type": "tool", "provider": "netsuite"},
        ],
    },
    {
        "id": "wf_summaries",
        "name": "Daily summaries",
        "model": "gpt-4.1-mini",
        "prompt": "Summarise yesterday's support tickets by theme with counts and one example each.",
        "payload": {"date": "2026-11-24", "queue": "support"},
        "steps": [
            {"name": "Collect tickets", "type": "http", "provider": "zendesk"},
            {"name": "Summarise with LLM", "type": "llm", "provider": None},
            {"name": "Post digest", "type": "http", "provider": "slack"},
        ],
    },
    {
        "id": "wf_tools",
        "name": "Support agent",
        "model": "claude-sonnet-4-5",
        "usage": False,  # this workflow's platform reports no usage: the bot says "cost unknown"
        "prompt": "Resolve the ticket. You may call issue_store_credit for goodwill credits up to $50.",
        "payload": {"ticket_id": "ZD-55120", "customer_id": "cus_8842", "channel": "email"},
        "steps": [
            {"name": "Read ticket", "type": "http", "provider": "zendesk"},
            {"name": "Plan reply", "type": "llm", "provider": None},
            {
                "name": "Issue store credit",
                "type": "tool",
                "provider": "stripe",
                "gate": {"kind": "tool_call", "action": "Call tool issue_store_credit(customer=cus_8842, amount=$50)"},
            },
            {"name": "Reply to customer", "type": "tool", "provider": "zendesk"},
        ],
    },
]

WORKFLOWS_BY_ID: dict[str, dict[str, Any]] = {w["id"]: w for w in WORKFLOWS}

# code -> (message, provider_status, retryable, comes_from_provider)
ERROR_CATALOG: dict[str, tuple[str, int | None, bool, bool]] = {
    "provider_rate_limited": ("Rate limit reached for requests", 429, True, True),
    "provider_timeout": ("Upstream request timed out after 60 s", 504, True, True),
    "provider_unavailable": ("The server is overloaded or not ready yet.", 503, True, True),
    "provider_error": ("The server had an error while processing your request.", 500, True, True),
    "invalid_request": ("Invalid 'max_tokens': integer above maximum value (16384)", 400, False, True),
    "content_policy": (
        "The response was filtered due to the prompt triggering content management policy",
        400,
        False,
        True,
    ),
    "auth_failed": ("Incorrect API key provided", 401, False, True),
    "step_timeout": ("Step exceeded its 300 s timeout", None, True, False),
    "approval_expired": ("The approval task expired before anyone decided it", None, False, False),
    "internal_error": ("Internal error while executing the step", None, True, False),
}


def provider_for_model(model: str | None) -> str:
    m = (model or "").lower()
    if m.startswith("claude"):
        return "anthropic"
    if m.startswith("gemini"):
        return "google"
    if m.startswith("mistral"):
        return "mistral"
    return "openai"


# The demo's story (`make run`): each feature once in the first minutes, then calm. Each entry is
# (at, what): `at` counts demo intervals from the start; `what` is a run to create, or {"replay": n} to
# replay, as the sandbox user, the run the story's entry n created. Errors are ones whose sample durations
# cannot contradict them (no "timed out after 300 s" on a run of a few seconds).
DEMO_STORY: list[tuple[float, dict[str, Any]]] = [
    # A failure the first alert shows; the replay (entry 3) succeeds, so the alert ends recovered.
    (0, {"workflow": "wf_invoices", "outcome": "fail", "error_code": "provider_rate_limited"}),
    (1, {"workflow": "wf_summaries", "outcome": "succeed"}),
    # An approval, open the demo's full approval time: long enough to decide (a spend: Approve confirms).
    (2, {"workflow": "wf_payouts", "outcome": "approval"}),
    (3, {"replay": 0}),
    # A storm: six runs of one workflow failing the same way within seconds (past the bot's default
    # STORM_THRESHOLD of 5) become one grouped card.
    *[
        (4 + k * 0.25, {"workflow": "wf_summaries", "outcome": "fail", "error_code": "provider_unavailable"})
        for k in range(6)
    ],
    (6, {"workflow": "wf_invoices", "outcome": "succeed"}),
]

# After the story, one run every DEMO_CALM_EVERY intervals, round after round: mostly successes, with one
# approval and one failure a round (shuffled with the seeded RNG).
DEMO_CALM_EVERY = 4
DEMO_CALM: list[dict[str, Any]] = [
    {"workflow": "wf_summaries", "outcome": "succeed"},
    {"workflow": "wf_invoices", "outcome": "succeed"},
    {"workflow": "wf_tools", "outcome": "approval"},
    {"workflow": "wf_publish", "outcome": "succeed", "gate": False},
    {"workflow": "wf_summaries", "outcome": "fail", "error_code": "content_policy"},
    {"workflow": "wf_refunds", "outcome": "succeed", "gate": False},
]

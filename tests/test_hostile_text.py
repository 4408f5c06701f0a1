"""Text from the platform is data: hostile strings in every string field of every webhook type, posted signed
to the bot, run through the whole pipeline to the Slack stand-in, never reach Slack as a control sequence
(a mention, a channel-wide ping, a link, a date token of their own), and every message passes the stand-in's
Block Kit checks. Mentions the bot builds on purpose, from ids of Slack's shape it was given, are allowed.

One harness serves every example (see tests/test_fuzz.py); each example uses run ids of its own."""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.test_fuzz import LiveHarness

USER = "U0SANDBOX"
STARTER = "U0ANA"  # a well-formed trigger.actor.slack_user_id: the bot mentions it on purpose
ESCALATION = "S0OPS"
HOSTILE_PIECES = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<@W999|boss>",
    "<!subteam^S1>",
    "<!subteam^S1|@ops>",
    "<#C123>",
    "<https://evil.example|Click to approve>",
    "<https://evil.example/x>",
    "<mailto:a@evil.example|x>",
    "<!date^1^{date}|x>",
    "&lt;!channel&gt;",
    "&amp;",
    "&",
    "<",
    ">",
    "|",
    "`",
    "```",
    "*",
    "_",
    "~",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u200d",
    "\ufeff",
    "r1><!channel><https://evil.example/x|Approve",
    "` <!here> `",
    "```<!channel>```",
    "Ana",
    "payments",
]
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
hostile = st.one_of(
    st.sampled_from(HOSTILE_PIECES),
    st.lists(st.sampled_from(HOSTILE_PIECES) | st.text(max_size=6), min_size=1, max_size=8).map("".join),
)
LONG = "<!channel>" * 10_000  # 100,000 characters, in one field of an example (the body stays under 1 MB)
serial = itertools.count(1)
ALLOWED_DATE = re.compile(r"^!date\^-?\d+\^[A-Za-z0-9_{}:,. -]+\|[0-9: UTC-]+$")


def bounded(text: str, limit: int, tag: str) -> str:
    """An id within the contract's bounds, still hostile, and unique to this example."""
    return text[: limit - len(tag)] + tag


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def run_body(s: dict, run_id: str, *, status: str = "failed", replay_of: str | None = None) -> dict:
    now = datetime.now(timezone.utc)
    failed = status == "failed"
    return {
        "id": run_id,
        "workflow": {"id": s["workflow_id"], "name": s["workflow_name"]},
        "status": status,
        "created_at": iso(now),
        "started_at": iso(now),
        "updated_at": iso(now),
        "completed_at": iso(now) if status in ("failed", "completed") else None,
        "duration_ms": 1200,
        "trigger": {
            "type": s["trigger_type"],
            "payload": {"note": s["text"], s["text"][:40]: [s["name"]]},
            "actor": {"name": s["name"], "email": s["email"], "slack_user_id": s["slack_user_id"]},
        },
        "progress": {"total_steps": 2, "completed_steps": 1},
        "model": s["model"],
        "prompt": s["text"],
        "failed_step_id": s["step_id"] if failed else None,
        "replay_of": replay_of,
        "steps": [
            {
                "id": s["step_id"] + "0",
                "index": 0,
                "name": s["name"],
                "type": s["step_type"],
                "status": "completed",
                "error": None,
            },
            {
                "id": s["step_id"],
                "index": 1,
                "name": s["step_name"],
                "type": s["step_type"],
                "status": "failed" if failed else "completed",
                "error": {
                    "code": s["code"],
                    "message": s["message"],
                    "provider": s["provider"],
                    "provider_status": 502,
                    "retryable": s["retryable"],
                }
                if failed
                else None,
            },
        ],
    }


def approval_body(s: dict, approval_id: str, run: dict, status: str, expires_at: datetime) -> dict:
    decided = status != "pending"
    return {
        "id": approval_id,
        "run_id": run["id"],
        "step_id": s["step_id"],
        "workflow": run["workflow"],
        "kind": s["kind"],
        "action": s["action"],
        "requested_by": s["name"],
        "requested_at": run["created_at"],
        "expires_at": iso(expires_at),
        "status": status,
        "decided_by": s["decided_by"] if decided else None,
        "decided_at": run["created_at"] if decided else None,
        "comment": s["text"] if decided else None,
    }


short_fields = st.fixed_dictionaries(
    {
        "workflow_id": hostile,
        "workflow_name": hostile,
        "run_id": hostile,
        "trigger_type": hostile,
        "name": hostile,
        "email": hostile,
        "slack_user_id": st.sampled_from([STARTER]) | hostile,
        "model": hostile,
        "text": hostile,
        "step_id": hostile,
        "step_name": hostile,
        "step_type": hostile,
        "code": hostile,
        "message": hostile,
        "provider": hostile,
        "retryable": st.sampled_from([True, False, None]),
        "kind": hostile,
        "action": hostile,
        "decided_by": st.sampled_from([f"slack:{STARTER} (Ana)"]) | hostile,
    }
)


@st.composite
def fields(draw) -> dict:
    values = draw(short_fields)
    long = draw(st.sampled_from(sorted(k for k in values if k != "retryable")) | st.none())
    return {**values, long: LONG} if long else values


def mrkdwn_texts(value, *, top: bool = True):
    """Every string Slack reads as mrkdwn in an API call's arguments or a response body: a message's `text`
    and every `mrkdwn` text object, however deep."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            return
    if isinstance(value, dict):
        if top and isinstance(value.get("text"), str):
            yield value["text"]
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            yield value["text"]
        for key, inner in value.items():
            if key != "text" or not isinstance(inner, str):
                yield from mrkdwn_texts(inner, top=False)
    elif isinstance(value, list):
        for inner in value:
            yield from mrkdwn_texts(inner, top=False)


def all_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from all_strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from all_strings(inner)


def foreign_sequences(text: str, *, people: set[str], channels: set[str], console: str) -> list[str]:
    """Control sequences in `text` the bot did not mean: anything in `<…>` but its own mentions of the people
    it was given, its channels, its date tokens and links into the console."""
    bad = []
    for token in re.findall(r"<([^<>]*)>", text):
        if token.startswith("@") and token[1:] in people:
            continue
        if token.startswith("!subteam^") and token[len("!subteam^") :] in people:
            continue
        if token.startswith("#") and token[1:] in channels:
            continue
        if ALLOWED_DATE.match(token):
            continue
        if token.startswith(console + "/") and not re.search(r"\s", token.split("|", 1)[0]):
            continue
        bad.append(token)
    # A bare `<` with no `>` after it is harmless to Slack, but it is never what escaping leaves behind.
    if re.search(r"<(?![^<>]*>)", text):
        bad.append("unclosed <")
    return bad


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    harness = LiveHarness(
        f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('hostile') / 'hostile.db'}",
        STORM_THRESHOLD=2,
        APPROVAL_ESCALATION_GROUP=ESCALATION,
        slack_kwargs={"ack_timeout": 30.0},
    )  # a loaded test machine is no slow ack
    try:
        yield harness
    finally:
        harness.close()


async def send_everything(h, s: dict, n: int) -> list[str]:
    """Every webhook type carrying the hostile fields, then the `/runs` answers that show them."""
    tag = f"~{n}"
    workflow = bounded(s["workflow_id"], 128, tag)
    s = {**s, "workflow_id": workflow, "step_id": bounded(s["step_id"], 60, tag), "kind": s["kind"][:64]}
    ids = [bounded(s["run_id"], 64, f"{tag}.{i}") for i in range(4)]
    failed = [run_body(s, rid) for rid in ids[:3]]
    for run in failed:  # the third starts a storm (STORM_THRESHOLD=2)
        resp = await h.post_webhook("run.failed", {"run": run})
        assert resp.status == 200, resp.status
    replay = run_body(s, bounded(s["run_id"], 64, f"{tag}.r"), replay_of=ids[0])
    assert (await h.post_webhook("run.failed", {"run": replay})).status == 200
    step_run = run_body(s, ids[3], status="running")
    assert (await h.post_webhook("run.step.updated", {"run": step_run, "step": step_run["steps"][1]})).status == 200
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    waiting = {**run_body(s, bounded(s["run_id"], 64, f"{tag}.a"), status="waiting")}
    for i, (event, status) in enumerate(
        (
            ("approval.requested", "pending"),
            ("approval.decided", "rejected"),
            ("approval.decided", "approved"),
            ("approval.expired", "expired"),
        )
    ):
        approval_id = bounded(s["run_id"], 64, f"{tag}.p{i}")
        if status != "pending":  # a card first, then its decision
            assert (
                await h.post_webhook(
                    "approval.requested",
                    {"run": waiting, "approval": approval_body(s, approval_id, waiting, "pending", later)},
                )
            ).status == 200
        body = approval_body(s, approval_id, waiting, status, later)
        assert (await h.post_webhook(event, {"run": waiting, "approval": body})).status == 200
    recovered = run_body(s, bounded(s["run_id"], 64, f"{tag}.ok"), status="completed")
    assert (await h.post_webhook("run.completed", {"run": recovered})).status == 200
    await h.settled(timeout=60)
    for text in (
        "failed",
        "list failed",
        "approvals",
        "subscriptions",
        *(f"show {r}" for r in ids[:1] if not re.search(r"\s|\"|'", r)),
    ):
        before = len(h.slack.responses())
        result = await h.slack.send_command(text, user_id=USER, channel_id="C0GENERAL")
        assert result.ok, (text, result.status, result.error, result.body)
        if not result.body:  # answered through response_url after an empty acknowledgement
            await h.wait_for(lambda: len(h.slack.responses()) > before, timeout=30, what=f"/runs {text} answered")
    await h.settled(timeout=60)
    return ids


# Few examples (each runs the whole pipeline), no shrinking (an example takes seconds), no example database.
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=(Phase.explicit, Phase.generate),
)
@given(s=fields())
def test_hostile_platform_text_never_reaches_slack_as_markup(live, s):
    h = live.h
    n = next(serial)
    calls_before = len(h.slack.calls)
    responses_before = len(h.slack.responses())
    ids = live.run(send_everything(h, s, n), timeout=240)
    calls = h.slack.calls[calls_before:]
    people = {STARTER, USER, "U0BEN", ESCALATION, h.slack.bot_user_id}
    channels = set(h.slack.channels)
    console = h.settings.run_url("x").rsplit("/", 1)[0]
    shown = [c for c in calls if c.method.startswith(("chat.", "views."))]
    refused = [(c.method, c.error) for c in shown if not c.ok]
    assert not refused, refused
    # The pipeline really ran: the first run's alert, the storm card and an approval card were posted.
    posts = [c.args for c in shown if c.method == "chat.postMessage"]
    alerts = [p for p in posts if p.get("channel") == "C0ALERTS" and not p.get("thread_ts")]
    assert len(alerts) >= 2, f"expected an alert and a storm card, got {len(alerts)}"
    assert any(p.get("channel") == "C0APPROVALS" for p in posts)
    seen = [(c.method, text) for c in shown for text in mrkdwn_texts(c.args)]
    seen += [("response_url", text) for body in h.slack.responses()[responses_before:] for text in mrkdwn_texts(body)]
    seen += [("ack", e.text) for e in h.slack.ephemerals("C0GENERAL", USER)[-8:]]
    assert seen
    for where, text in seen:
        bad = foreign_sequences(text, people=people, channels=channels, console=console)
        assert not bad, f"{where} carries {bad[:3]} from the input: {text[:400]!r}"
    for c in shown:
        for text in all_strings(c.args):
            assert not BIDI.search(text), f"{c.method} carries a bidi override: {text[:200]!r}"
    assert ids

"""Whatever is typed after `/runs`, the parser answers with a command or a BadInput in words, what is read as
only reading never acts, and the handler, through signed requests, always acknowledges with a reply: never an
exception, never a 5xx."""

from __future__ import annotations

import asyncio
import shlex

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.commands import READ_ONLY, only_reads
from bot.commands.grammar import SUBCOMMANDS, Command, parse, tokenize
from bot.errors import BadInput

WORDS = [
    *SUBCOMMANDS,
    "--since",
    "--limit",
    "--workflow",
    "--code",
    "--model",
    "--prompt",
    "--severity",
    "--event",
    "--run",
    "--share",
    "--failures",
    "--approvals",
    "24h",
    "0m",
    "99999999d",
    "51",
    "-1",
    "run_",
    "run_x",
    "wf_invoices",
    '"Invoice triage"',
    '"',
    "'",
    "“",
    "—since",
    "\\",
    "&lt;",
    "running",
    "run.failed",
    "error",
    "--limit=",
    "--since=7d",
    "=",
    "run_\U0010ffff",
    "pause",
    "ls",
    "?",
    "FAILED",
    "\u00a0",
    "—share",
    "--SHARE=1",
    "../x",
    "\x00",
]

command_text = st.one_of(
    st.text(max_size=120),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=8).map(" ".join),
)


@settings(max_examples=600, deadline=None)
@given(command_text)
def test_the_parser_answers_a_command_or_a_bad_input_in_words(text):
    try:
        command = parse(text)
    except BadInput as exc:
        assert exc.message and "Traceback" not in exc.message
        return
    assert isinstance(command, Command) and command.name in SUBCOMMANDS
    assert command.line.startswith("/runs ")


@settings(max_examples=600, deadline=None)
@given(command_text)
@example("failed --share")
@example("LS running —share")
@example("diff a b --SHARE=1")
@example("show run_1 '--share'")
@example("failed\u00a0pause x")
def test_a_command_read_as_only_reading_never_acts(text):
    # Read-only commands answer without a once-only receipt (handlers/once.py): the quick reading of the first
    # word may call a read-only command acting (it then pays a receipt), never an acting one read-only.
    if not only_reads(text):
        return
    try:
        command = parse(text)
    except BadInput:
        return  # answered in words: nothing done
    assert command.name in READ_ONLY and not command.share, (text, command)


async def test_the_handler_always_acknowledges_with_a_reply(harness):
    h = harness
    loop = asyncio.get_running_loop()
    await h.start_run("wf_invoices", "fail", id="run_prop0001")

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(text=command_text, operator=st.booleans())
    def check(text, operator):
        user = "U0SANDBOX" if operator else "U0CAROL"
        result = asyncio.run_coroutine_threadsafe(h.slack.send_command(text, user_id=user), loop).result(30)
        assert result.ok and result.status == 200, (text, result.status, result.error)
        if not result.body:  # a command that asks the platform: an empty ack, answered through response_url below
            return
        assert isinstance(result.body, dict) and result.body.get("text"), (text, result.body)
        assert "Something went wrong" not in result.body["text"], (text, result.body)

    await asyncio.to_thread(check)
    assert len(h.slack.interactions) >= 100  # every example went through a signed request
    await h.svc.drain(timeout=30)
    answers = [p for p in h.slack.response_posts]
    assert all(p.status == 200 for p in answers), [(p.status, p.error) for p in answers if p.status != 200]
    assert not [p.body for p in answers if "Something went wrong" in str(p.body.get("text"))]


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab -_=#;|&*.\t\n\x0b\x0c\u00a0é\"'\\")), max_size=25))
def test_words_are_split_as_a_shell_splits_them(text):
    """`tokenize` splits plain text without shlex (a hot path): whatever is typed, the same words as shlex, or
    the same refusal."""
    try:
        want: list[str] | None = shlex.split(text, posix=True)
    except ValueError:
        want = None
    try:
        got: list[str] | None = tokenize(text)
    except BadInput:
        got = None
    assert got == want

"""The one way text enters mrkdwn: values are escaped, links and mentions come only from checked urls and ids."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from bot.render.common import trim_middle
from bot.render.mrkdwn import (
    Mrkdwn,
    code,
    code_block,
    date_token,
    escape,
    join,
    link,
    mention_of,
    mrkdwn,
    single_line,
    subteam_mention,
    user_mention,
)

CONTROL = re.compile(r"<[@!#]|<https?:")


def test_values_are_escaped_and_the_template_is_not():
    out = mrkdwn("*{name}* failed at {step}", name="<!channel> & co", step="<https://evil.example|Approve>")
    assert out == "*&lt;!channel&gt; &amp; co* failed at &lt;https://evil.example|Approve&gt;"
    assert isinstance(out, Mrkdwn)
    assert not CONTROL.search(out)


def test_mrkdwn_values_pass_through_once_and_plain_strings_never_do():
    inner = mrkdwn("by {who}", who=user_mention("U0ANA"))
    assert mrkdwn("Replayed {by}", by=inner) == "Replayed by <@U0ANA>"
    assert mrkdwn("Replayed {by}", by=str(inner)) == "Replayed by &lt;@U0ANA&gt;"
    assert escape(escape("<&>")) == "&lt;&amp;&gt;"  # escaping twice is escaping once
    assert not isinstance(Mrkdwn("a") + "<!here>", Mrkdwn)
    assert join(" ", [Mrkdwn("<@U0ANA>"), "<!here>"]) == "<@U0ANA> &lt;!here&gt;"


def test_an_entity_in_the_input_is_shown_literally():
    assert escape("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"


def test_backticks_cannot_end_a_code_span_or_a_block():
    span = code("a`<!channel>`b")
    assert span.count("`") == 2 and span.startswith("`") and span.endswith("`")
    assert "&lt;!channel&gt;" in span
    block = code_block("x```<!here>```y")
    assert block.startswith("```") and block.endswith("```") and block.count("`") == 6
    assert mrkdwn("`{c}`", c="`<@U1>`").count("`") == 2


def test_single_line_replaces_newlines_controls_bidi_and_zero_width():
    value = "Invoices\nFake line\r\x00\u202etxt.exe\u200b\u2066x\ufeff"
    out = single_line(value)
    assert "\n" not in out and "\r" not in out and "\x00" not in out
    assert not re.search("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]", out)
    assert out.startswith("Invoices Fake line")
    assert single_line("x" * 500, 120) == "x" * 119 + "…"


def test_bidi_overrides_are_neutralised_in_any_escaped_value():
    assert "\u202e" not in escape("abc\u202edef")


def test_a_run_id_cannot_break_out_of_its_link():
    run_id = "r1><!channel><https://evil.example/x|Approve"
    out = link(f"https://console.example/runs/{run_id}", run_id)
    tokens = re.findall(r"<[^<>]*>", out)
    assert tokens == [out], out  # one token: the link itself
    url, label = out[1:-1].split("|", 1)
    assert url.startswith("https://console.example/runs/r1%3E%3C!channel%3E%3Chttps://evil.example/x%7CApprove")
    assert label == "r1&gt;&lt;!channel&gt;&lt;https://evil.example/x|Approve"


def test_links_are_http_only_and_whitespace_is_encoded():
    with pytest.raises(ValueError):
        link("javascript:alert(1)", "x")
    with pytest.raises(ValueError):
        link("slack://channel?id=C1", "x")
    assert link("https://a.example/x y\nz", "l") == "<https://a.example/x%20y%0Az|l>"
    assert link("https://a.example/?a=1&b=2", "l") == "<https://a.example/?a=1&amp;b=2|l>"


def test_mentions_only_from_ids_of_slacks_shape():
    assert user_mention("U024BE7LH") == "<@U024BE7LH>"
    assert user_mention("W0ANA") == "<@W0ANA>"
    assert subteam_mention("S0OPS") == "<!subteam^S0OPS>"
    for bad in ("U1", "u0ana", "U0ANA>", "<!channel>", "U0 ANA", "S0OPS|x", ""):
        with pytest.raises(ValueError):
            user_mention(bad)
    with pytest.raises(ValueError):
        subteam_mention("S1>")
    assert mention_of("U0ANA") == "<@U0ANA>"
    assert mention_of("<!subteam^S0OPS>") == "<!subteam^S0OPS>"
    assert mention_of("<!channel>") == "&lt;!channel&gt;"
    assert mention_of("<@U1><!here>") == "&lt;@U1&gt;&lt;!here&gt;"


def test_date_tokens_have_a_checked_format():
    at = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    assert date_token(at) == f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|2026-11-25 10:00 UTC>"
    with pytest.raises(ValueError):
        date_token(at, "{time}|x><!channel")


def test_trimming_mrkdwn_never_leaves_a_link_or_entity_half_open():
    text = join(" ", [link(f"https://a.example/{i}", f"run {i}") for i in range(50)] + ["&" * 100])
    for limit in range(60, 400, 7):
        cut = trim_middle(text, limit)
        assert isinstance(cut, Mrkdwn)
        assert len(cut) <= limit
        assert cut.count("<") == cut.count(">"), cut
        assert not re.search(r"&(?!amp;|lt;|gt;)", cut), cut


@pytest.mark.parametrize(
    "template, values",
    [
        ("*{title}*: {ids}", {"title": "Failed <runs>", "ids": Mrkdwn("run_1, run_2")}),
        ("{a}{b}{a}", {"a": "`x`", "b": Mrkdwn("*b*")}),
        ("{{literal}} {n:,} of {total:>6}", {"n": 12345, "total": "a&b"}),
        ("no fields at all, {{braces}} kept", {}),
        ("{x!r} and {y.real}", {"x": "<x>", "y": 3}),  # conversions and attributes: the Formatter's way
        ("{v:{width}}", {"v": "<v>", "width": 7}),  # a nested spec: the Formatter's way
        ("", {}),
    ],
)
def test_parsed_templates_format_exactly_as_the_escaping_formatter(template, values):
    import string

    from bot.render.mrkdwn import escape as esc

    class Reference(string.Formatter):
        def format_field(self, value, format_spec):
            if isinstance(value, Mrkdwn) and not format_spec:
                return value
            return esc(format(value, format_spec))

    for _ in range(2):  # the second call uses the parsed template
        got = mrkdwn(template, **values)
        assert isinstance(got, Mrkdwn) and got == Reference().vformat(template, (), values)

"""Every `:name:` emoji code the bot writes renders as an emoji in the sandbox, not as text."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMOJI_CODE = re.compile(r"(?<![\w:]):([a-z][a-z0-9_+\-]*):")  # not a scope's "chat:write:" nor a time
NOT_EMOJI = {"memory"}  # SQLite's ":memory:" database


def sandbox_emoji_names() -> set[str]:
    script = (ROOT / "reference" / "static" / "app.js").read_text()
    table = re.search(r"const EMOJI = \{(.*?)\n\};", script, re.S)
    assert table, "the sandbox's EMOJI table should be in reference/static/app.js"
    return set(re.findall(r'"?([a-z0-9_+\-]+)"?\s*:\s*"', table.group(1)))


def bot_emoji_names() -> dict[str, str]:
    used: dict[str, str] = {}
    for folder in ("bot", "handlers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in set(EMOJI_CODE.findall(path.read_text())) - NOT_EMOJI:
                used.setdefault(name, str(path.relative_to(ROOT)))
    return used


def test_the_bot_writes_emoji_codes_the_scan_can_find():
    # The reminder's clock is one of them: if the scan found nothing, the next test would prove nothing.
    assert "alarm_clock" in bot_emoji_names()


def test_every_emoji_code_the_bot_uses_is_in_the_sandbox_table():
    table = sandbox_emoji_names()
    missing = {name: where for name, where in bot_emoji_names().items() if name not in table}
    assert missing == {}, f"add these to EMOJI in reference/static/app.js: {missing}"

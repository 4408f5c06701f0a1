"""docs/configuration.md documents every setting bot/config.py reads, and only those, with the same default."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]+)`(?:\s*\*\(project\)\*)?\s*\|(.*)\|(.*)\|\s*$", re.M)
NOT_SETTINGS = {"RUNBOT_TEST_DATABASE_URL"}  # read by the tests (tests/conftest.py), not by the bot


def documented() -> dict[str, str]:
    rows = {m.group(1): m.group(3).strip() for m in ROW.finditer(DOC.read_text())}
    assert rows, f"no setting rows found in {DOC}"
    return rows


def shown(default: object) -> str:
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_every_setting_is_documented_and_every_row_is_a_setting():
    rows = documented()
    assert sorted(set(Settings.model_fields) - set(rows)) == [], "settings missing from docs/configuration.md"
    assert sorted(set(rows) - set(Settings.model_fields) - NOT_SETTINGS) == [], "rows naming no setting"
    assert all(n in (Path(__file__).parent / "conftest.py").read_text() for n in NOT_SETTINGS)


def test_documented_defaults_are_the_defaults():
    rows = documented()
    wrong = {}
    for name, field in Settings.model_fields.items():
        if isinstance(field.default, bool | int | float | str):
            if rows.get(name) != f"`{shown(field.default)}`":
                wrong[name] = (rows.get(name), shown(field.default))
    assert wrong == {}, "docs/configuration.md: (documented, actual) defaults"

"""Log lines cannot be forged by values from requests, secrets never appear, repeats are summed."""

from __future__ import annotations

import logging

from bot.logs import Summarized, setup_logging


def test_a_value_with_newlines_and_terminal_escapes_stays_on_one_line(capsys):
    setup_logging("INFO", "text", secrets=["xoxb-secret-token"])
    logging.getLogger("bot.test").warning("run %s refused", "r1\n2026-12-02 WARNING bot: forged\x1b[2K\u202eevil")
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "r1\\n2026-12-02 WARNING bot: forged\\x1b[2K\\u202eevil" in err


def test_a_traceback_keeps_its_lines_and_masks_secrets(capsys):
    setup_logging("INFO", "text", secrets=["xoxb-secret-token"])
    try:
        raise ValueError("bad token xoxb-secret-token")
    except ValueError:
        logging.getLogger("bot.test").exception("failed with %s", "xoxb-secret-token")
    err = capsys.readouterr().err
    assert "xoxb-secret-token" not in err and "***" in err
    assert err.count("Traceback (most recent call last)") == 1
    assert "ValueError: bad token ***" in err


def test_json_lines_escape_nothing_twice_and_stay_one_object_per_line(capsys):
    setup_logging("INFO", "json", secrets=[])
    logging.getLogger("bot.test").warning("id %s", "a\nb")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and '"message": "id a\\\\nb"' in lines[0]


def test_repeated_refusals_are_summed_into_one_line_per_interval(caplog):
    now = [1000.0]
    summary = Summarized(logging.getLogger("bot.refusals"), interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="bot.refusals"):
        for _ in range(5):
            summary.warning("bad-signature", "refused a request: %s", "bad signature")
        assert [r.getMessage() for r in caplog.records] == ["refused a request: bad signature"]
        now[0] += 61
        summary.warning("bad-signature", "refused a request: %s", "bad signature")
        summary.warning("stale", "refused a request: %s", "stale timestamp")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[1] == "refused a request: bad signature (and 4 more like it in the last 61s)"
    assert messages[2] == "refused a request: stale timestamp"

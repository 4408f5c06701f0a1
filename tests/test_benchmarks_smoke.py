"""The benchmark code runs end to end at tiny sizes and produces its table (no timing is asserted: the figures
are `make bench`'s business, on a quiet machine)."""

from __future__ import annotations

import re

from benchmarks import soak, suite


def _row(report, figure: str, workload: str = ""):
    rows = [r for r in report.rows if r.figure == figure and workload in r.workload]
    assert rows, f"no row {figure!r} / {workload!r} in {[(r.figure, r.workload) for r in report.rows]}"
    return rows[0]


def test_the_suite_runs_at_tiny_sizes_and_writes_its_table(tmp_path):
    results = tmp_path / "RESULTS.md"
    report = suite.main(
        [
            "--quick",
            "--runs",
            "2000",
            "--requests",
            "4",
            "--ingest-seconds",
            "1",
            "--alerts",
            "2",
            "--context-alerts",
            "2",
            "--tracking-runs",
            "150",
            "--no-profile",
            "--results",
            str(results),
        ]
    )

    text = results.read_text()
    assert "| figure | workload | p50 | p99 |" in text
    assert "machine:" in text and "command: `python -m benchmarks --quick" in text

    for floor in ("floor: bare aiohttp handler", "floor: bare Bolt AsyncApp, no-op /runs"):
        row = _row(report, floor, "one client")
        assert row.p50.endswith(" ms") and row.throughput.endswith("req/s"), row

    for label, _ in suite.slash_commands({"workflow": "W", "show_prefix": "P"}):
        row = _row(report, "slash command to answer", f"`{label}`, one client")
        # Measured against the Bolt floor of the same run, or reported as not measurable, saying why.
        assert ("Bolt p50" in row.floor and row.verdict in ("ok", "MISS")) or (
            row.verdict == "n/a" and "could not be measured" in row.note
        ), row

    ingest = _row(report, "webhook ingest")
    acked, stored = map(
        lambda s: int(s.replace(",", "")),
        re.search(r"([\d,]+) acknowledged, ([\d,]+) of them stored", ingest.note).groups(),
    )
    assert acked > 0 and stored == acked, ingest.note
    assert "ceiling" in ingest.floor

    tracking = _row(report, "tracking cycle")
    requests = int(tracking.throughput.split()[0])
    assert 2 <= requests <= 2 + 5, tracking  # 150 runs = 2 pages of 100 ids, not 150 requests
    assert "150 tracked" in tracking.note

    context = _row(report, "failure to alert, context line", "interleaved rounds")
    assert context.verdict in ("ok", "MISS") and "without: p50" in context.floor and "ratio" in context.note, context

    memory = _row(report, "memory")
    assert re.match(r"peak \d+ MB", memory.p99), memory


def test_a_short_soak_checks_what_it_promises(tmp_path):
    results = tmp_path / "RESULTS.md"
    text = soak.main(["--seconds", "4", "--results", str(results)])

    assert results.read_text().count("<!-- soak -->") == 1
    for check in (
        "every acknowledged webhook is stored",
        "every alert delivered exactly once",
        "memory did not grow",
        "the bot is still ready",
    ):
        assert re.search(rf"\| {re.escape(check)} \| ok \|", text), (check, text)
    assert "FAIL" not in text, text

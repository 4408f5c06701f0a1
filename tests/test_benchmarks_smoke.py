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
            "--overload",
            "40",
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
        for who, ratio in (("one client", "x Bolt p99"), ("16 concurrent", "of Bolt's")):
            row = _row(report, "slash command to answer", f"`{label}`, {who}")
            # A ratio to the Bolt floor of the same run, or reported as not measurable, saying why.
            assert ("Bolt p50" in row.floor and row.verdict in ("ok", "MISS") and ratio in row.note) or (
                row.verdict == "n/a" and "could not be measured" in row.note
            ), row

    overload = _row(report, "overload")
    assert re.search(r"40 acknowledged, \d+ after 3 s; 40 answered", overload.note), overload
    assert "Bolt floor" in overload.floor and overload.verdict in ("ok", "MISS"), overload

    ingest = _row(report, "webhook ingest")
    acked, stored = map(
        lambda s: int(s.replace(",", "")),
        re.search(r"([\d,]+) acknowledged, ([\d,]+) of them stored", ingest.note).groups(),
    )
    assert acked > 0 and stored == acked, ingest.note
    assert "ceiling" in ingest.floor and "of the ceiling" in ingest.note and ingest.verdict in ("ok", "MISS")
    processing = _row(report, "processing")
    assert "drained in" in processing.note and processing.verdict in ("ok", "MISS"), processing

    idle, burst = _row(report, "failure to alert: idle"), _row(report, "failure to alert: during a burst")
    assert idle.p99.endswith(" ms") and "2 alerts" in idle.workload, idle
    assert burst.floor == f"idle p99 {idle.p99}" and "x idle p99" in burst.note, burst

    tracking = _row(report, "tracking cycle")
    requests = int(tracking.throughput.split()[0])
    assert 2 <= requests <= 2 + 5, tracking  # 150 runs = 2 pages of 100 ids, not 150 requests
    assert "150 tracked" in tracking.note and "bare client" in tracking.floor and "x the bare fetch" in tracking.note

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

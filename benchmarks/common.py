"""What every benchmark shares: secrets, percentiles, the printed table, the results file, the processes
under test (the bot as `runbot serve`, the floors as `python -m benchmarks.floors`) and their peak RSS."""

from __future__ import annotations

import asyncio
import base64
import os
import platform
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"runbot-bench-webhook-secret-0123456789").decode()
SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-bench-bot-token"
PLATFORM_TOKEN = "platform-bench-token"
ALERT_CHANNEL = "C0ALERTS"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(p / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    value = seconds * 1000
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


@dataclass
class Row:
    """One line of the results table."""

    figure: str
    workload: str
    p50: str = ""
    p99: str = ""
    throughput: str = ""
    floor: str = ""
    target: str = ""
    verdict: str = ""  # "ok", "MISS", "n/a"
    note: str = ""


@dataclass
class Report:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(
            f"  {row.figure} | {row.workload} | p50 {row.p50} | p99 {row.p99} | {row.throughput} | "
            f"floor {row.floor} | {row.verdict} {row.note}".rstrip(),
            flush=True,
        )
        return row

    def table(self) -> str:
        head = ["figure", "workload", "p50", "p99", "throughput", "floor (same run)", "target", "verdict", "note"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [r.figure, r.workload, r.p50, r.p99, r.throughput, r.floor, r.target, r.verdict, r.note]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, AttributeError):
        pass
    load = ""
    try:
        load = ", load average at start " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}{load}"
    )


def versions() -> str:
    from importlib.metadata import version

    names = ["aiohttp", "slack_bolt", "slack_sdk", "SQLAlchemy", "aiosqlite", "asyncpg"]
    return ", ".join(f"{n} {version(n)}" for n in names)


def write_section(path: Path, key: str, text: str) -> None:
    """Replace the `key` section of the results file (other sections, e.g. the soak's, are kept)."""
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    block = f"{start}\n{text.strip()}\n{end}"
    current = (
        path.read_text()
        if path.exists()
        else (
            "# Benchmark results\n\nWritten by `make bench` (`python -m benchmarks`) and `make soak` "
            "(`python -m benchmarks.soak`); each run replaces its own section. Targets: issue 20 (`benchmarks/targets.py`); "
            "method: `benchmarks/suite.py`.\n"
        )
    )
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1]
        current = before + block + after
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(current)


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# Processes under test


def rss_kb(pid: int) -> dict[str, int]:
    """Current (VmRSS) and peak (VmHWM) resident memory of a process, in kB (Linux)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


@dataclass
class Server:
    """A server in a subprocess (the bot or a floor), on a loopback port."""

    name: str
    proc: subprocess.Popen
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def memory(self) -> dict[str, int]:
        return rss_kb(self.proc.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            for _ in range(150):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                self.proc.kill()
                self.proc.wait()


async def wait_http(url: str, *, proc: subprocess.Popen, timeout: float = 120.0, status: int = 200) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    if resp.status == status:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer {status} within {timeout}s")


def spawn(name: str, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    log_path = OUT / f"{name}.log"
    log_file = open(log_path, "w")  # noqa: SIM115 - owned by the child for its lifetime
    # cwd is OUT so that a developer's .env in the project root never leaks into the measured settings.
    proc = subprocess.Popen(args, env=env, cwd=OUT, stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()
    return proc, log_path


def bot_env(*, database_url: str, port: int, platform_url: str, slack_api_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLATFORM_", "RUNBOT_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_api_url,
            "PLATFORM_API_URL": platform_url,
            "PLATFORM_API_TOKEN": PLATFORM_TOKEN,
            "PLATFORM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ALERT_CHANNEL": ALERT_CHANNEL,
            "OPERATORS": "U0SANDBOX,U0ANA",
            "APPROVERS": "U0SANDBOX,U0ANA,U0BEN",
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


async def start_bot(env: dict[str, str], *, name: str = "bot") -> Server:
    runbot = Path(sys.executable).parent / "runbot"
    args = [str(runbot), "serve"] if runbot.exists() else [sys.executable, "-m", "bot", "serve"]
    proc, log_path = spawn(name, args, env)
    server = Server(name, proc, f"http://127.0.0.1:{env['PORT']}", log_path)
    try:
        await wait_http(f"{server.url}/readyz", proc=proc, timeout=300)
    except RuntimeError as exc:
        await server.stop()
        raise RuntimeError(f"the bot did not start: {exc}\n{server.log_tail()}") from None
    return server


async def start_floor(kind: str, *, slack_api_url: str) -> Server:
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc, log_path = spawn(
        f"floor-{kind}",
        [sys.executable, "-m", "benchmarks.floors", kind, "--port", str(port), "--slack-api-url", slack_api_url],
        env | {"PYTHONPATH": str(ROOT)},
    )
    server = Server(f"floor-{kind}", proc, f"http://127.0.0.1:{port}", log_path)
    try:
        await wait_http(f"{server.url}/healthz", proc=proc, timeout=60)
    except RuntimeError as exc:
        await server.stop()
        raise RuntimeError(f"the {kind} floor did not start: {exc}\n{server.log_tail()}") from None
    return server

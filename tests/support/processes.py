"""Real `runbot` processes for the tests: started with a clean environment, logged to a file, stopped politely."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.support.harness import wait_for

OWN_SETTINGS = ("SLACK_", "PLATFORM_", "DATABASE_", "OPERATORS", "APPROVERS", "PUBLIC_URL", "PORT", "LOG_")


def clean_env(**settings: str) -> dict[str, str]:
    """The test process's environment without any runbot setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    env.update({k: str(v) for k, v in settings.items()})
    return env


class Process:
    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path, name: str):
        self.log_path = cwd / f"{name}.log"
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, env=env
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the process exited with {self.proc.returncode}:\n{self.output()}")
        return True

    async def wait_output(self, pattern: str, timeout: float = 60) -> re.Match:
        return await wait_for(
            lambda: self.alive() and re.search(pattern, self.output()),
            timeout=timeout,
            interval=0.2,
            what=f"{pattern!r} in the output",
        )

    async def wait_http(self, url: str, *, status: int = 200, headers: dict | None = None, timeout: float = 60):
        """Wait until `url` answers `status`; the answer's JSON (or text)."""
        async with aiohttp.ClientSession() as http:

            async def answered():
                self.alive()
                try:
                    async with http.get(url, headers=headers) as resp:
                        if resp.status != status:
                            return None
                        return await resp.json(content_type=None) if "json" in resp.content_type else await resp.text()
                except aiohttp.ClientError:
                    return None

            return await wait_for(answered, timeout=timeout, interval=0.2, what=f"{url} to answer {status}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode

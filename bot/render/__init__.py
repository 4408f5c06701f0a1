"""Slack rendering: pure functions from a run or an approval to Block Kit (slack_sdk models), no I/O."""

"""Prometheus metrics, on a registry of the app's own so several apps can live in one test process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.webhooks = Counter("runbot_webhooks_total", "Platform webhooks by outcome", ["outcome"], registry=r)
        self.events_processed = Counter("runbot_events_processed_total", "Stored webhook events processed", registry=r)
        self.slack_calls = Counter(
            "runbot_slack_calls_total", "Slack deliveries by method and outcome", ["method", "outcome"], registry=r
        )
        self.outbox_pending = Gauge("runbot_outbox_pending", "Slack posts waiting for delivery", registry=r)
        self.outbox_failed = Gauge("runbot_outbox_failed", "Slack posts that Slack refused for good", registry=r)
        self.alerts = Counter("runbot_alerts_total", "Failure alerts queued", ["kind"], registry=r)
        self.alert_latency = Histogram(
            "runbot_alert_latency_seconds",
            "Webhook received to chat.postMessage sent",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.commands = Counter(
            "runbot_commands_total", "Slash commands by subcommand and outcome", ["subcommand", "outcome"], registry=r
        )
        self.actions = Counter(
            "runbot_actions_total",
            "Button clicks and submissions by action and outcome",
            ["action", "outcome"],
            registry=r,
        )
        self.tracker_runs = Gauge("runbot_tracker_runs_tracked", "Active runs the tracker follows", registry=r)
        self.tracker_last_success = Gauge(
            "runbot_tracker_last_success_timestamp", "Unix time of the last good cycle", registry=r
        )
        self.tracker_lag = Gauge("runbot_tracker_lag_seconds", "Seconds since the last good tracking cycle", registry=r)
        self.tracker_errors = Counter("runbot_tracker_errors_total", "Tracking cycles that failed", registry=r)
        self.tracker_cycle = Histogram("runbot_tracker_cycle_seconds", "Duration of one tracking cycle", registry=r)
        self.slack_duplicates = Counter(
            "runbot_slack_duplicate_requests_total", "Slack requests delivered again and not acted on", registry=r
        )
        self.jobs = Counter(
            "runbot_jobs_total", "Scheduler job runs by job and outcome", ["job", "outcome"], registry=r
        )

"""Approvals from Slack, split by direction:

- reactions.py: what stored changes cause (cards for gated tasks, their threads, reminders and expiry, the
  `/runs approvals` inbox and App Home); called inside the transaction of the change, or by the scheduler
- decisions.py: what a person starts from Slack (approve, reject, with quorum, exactly once)

The package itself imports neither, so `bot/events.py` can reach the reactions while the decisions reach
`bot/events.py` without a cycle.
"""

"""The outbox's pacer: a burst, then one post a second per channel; edits on their own workspace-wide rate; a
row told to wait keeps its slot."""

from __future__ import annotations

from bot.pacing import UPDATES, Pacer, channel_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_post_a_second_per_channel_in_order():
    clock = Clock()
    pacer = Pacer(channel_rate_per_second=1.0, channel_burst=3, clock=clock)
    alerts = channel_key("C0ALERTS")
    waits = [pacer.delay(i, alerts) for i in range(6)]
    assert waits == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
    assert pacer.delay(99, channel_key("C0OTHER")) == 0.0  # another channel has its own allowance
    clock.now += 1.0
    assert pacer.delay(3, alerts) == 0.0  # row 3 comes back at its slot: not charged again
    assert pacer.delay(4, alerts) == 1.0
    assert pacer.delay(6, alerts) == 3.0  # a newer row takes the slot after row 5 (at +2 s from now)


def test_edits_follow_tier_3_across_channels():
    clock = Clock()
    pacer = Pacer(update_rate_per_minute=60.0, update_burst=2, clock=clock)
    assert [pacer.delay(i, UPDATES) for i in range(4)] == [0.0, 0.0, 1.0, 2.0]
    assert pacer.delay(10, channel_key("C0ALERTS")) == 0.0  # posts are paced apart from edits

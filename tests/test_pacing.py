"""The outbox's pacer: a burst, then one post a second per channel in order; edits on their own workspace-wide
rate; rows sent late are counted when they go, so they never bunch up."""

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
    assert [pacer.delay(i, alerts) for i in range(6)] == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
    assert pacer.delay(99, channel_key("C0OTHER")) == 0.0  # another channel has its own allowance
    clock.now += 1.0
    assert pacer.delay(3, alerts) == 0.0  # row 3 comes back at its turn
    assert pacer.delay(6, alerts) == 3.0  # a new row queues behind rows 4 and 5, already waiting
    clock.now += 1.0
    assert pacer.delay(4, alerts) == 0.0
    assert pacer.delay(5, alerts) == 1.0  # not before its turn


def test_rows_back_late_are_counted_when_they_go_and_never_bunch_up():
    clock = Clock()
    pacer = Pacer(channel_rate_per_second=1.0, channel_burst=2, clock=clock)
    alerts = channel_key("C0ALERTS")
    assert [pacer.delay(i, alerts) for i in range(4)] == [0.0, 0.0, 1.0, 2.0]
    clock.now += 5.0  # the loop was busy: rows 2 and 3 come back long after their turns
    assert pacer.delay(2, alerts) == 0.0
    assert pacer.delay(3, alerts) == 0.0  # the burst refilled while nothing went out
    assert pacer.delay(4, alerts) == 1.0  # but no more than the burst at once


def test_edits_follow_tier_3_across_channels():
    clock = Clock()
    pacer = Pacer(update_rate_per_minute=60.0, update_burst=2, clock=clock)
    assert [pacer.delay(i, UPDATES) for i in range(4)] == [0.0, 0.0, 1.0, 2.0]
    assert pacer.delay(10, channel_key("C0ALERTS")) == 0.0  # posts are paced apart from edits

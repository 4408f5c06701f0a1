"""`/runs watch`: follow one run by direct message. Each status change is sent to every watcher, in the
transaction of the change, through the outbox; when the run ends the watch says so and is removed."""

from __future__ import annotations

from bot import outbox
from bot.contract import TERMINAL
from bot.render.runs import watch_update
from bot.views import view_of_run
from store.runs import watches_of


async def on_run_change(session, svc, change) -> None:
    if not change.status_changed:
        return
    run = change.run
    for watch in await watches_of(session, run.id):
        if watch.last_status == run.status:
            continue  # this watcher already heard of this status
        await outbox.direct_message(
            session,
            user=watch.user_id,
            payload=watch_update(view_of_run(run), watch.last_status or change.old_status, svc.settings.run_url),
        )
        if run.status in TERMINAL:
            await session.delete(watch)
        else:
            watch.last_status = run.status

"""Webhook ingest: acknowledged only once stored. Concurrent webhooks are committed together (group
commit), so ingest is not capped by one commit per event; stored events are then processed once each,
in order, by a processor that any replica may run (rows are claimed).

Storing comes before processing: on SQLite (one writer at a time) the two take turns on an in-process lock
instead of SQLite's busy handler, which sleeps up to 100 ms a try, and the processor ends its transaction
early when webhooks are waiting to be stored, so acknowledgements stay fast under a burst and processing
catches up after it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from bot import held_edits
from bot.contract import StepData, event_data
from bot.events import apply_event, apply_steps
from bot.services import Services
from store import deliveries as stored
from store import rollups
from store.db import transient
from store.models import Run, WebhookDelivery, utcnow
from store.runs import runs_by_id

log = logging.getLogger(__name__)

# Tries of an event that fails alone before it is set aside as poison (marked processed, logged).
POISON_AFTER = 3

# Events processed before any other pending one.
URGENT_TYPES = ("run.failed",)
# Failures per transaction on PostgreSQL: an alert locks the rows of the cards it updates (an incident's card,
# earlier alerts) until its transaction ends, and the outbox's deliverer waits for them to record what Slack
# posted; a batch of 50 failures held them for seconds.
URGENT_BATCH_POSTGRES = 4


async def _preload_runs(session, deliveries: list[WebhookDelivery]) -> list[Run]:
    """One query for the runs a batch of events touches, instead of one per event. The caller keeps the
    list while it processes the batch: the session's identity map holds clean objects only weakly."""
    ids = {_run_id_of(d.body) for d in deliveries} - {None}
    return await runs_by_id(session, sorted(ids))


def _run_id_of(body) -> str | None:
    """The run id a stored event names, if its shape has one (a malformed event is refused later, by field)."""
    data = body.get("data") if isinstance(body, dict) else None
    run = data.get("run") if isinstance(data, dict) else None
    run_id = run.get("id") if isinstance(run, dict) else None
    return run_id if isinstance(run_id, str) else None


async def _apply_stored(session, svc: Services, delivery: WebhookDelivery) -> None:
    """A stored webhook, validated once here (it was checked before it was stored), then applied."""
    await apply_event(session, svc, delivery.type, event_data(delivery.type, delivery.body.get("data")))


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}".splitlines()[0][:200]


def _units(deliveries: list[WebhookDelivery]) -> list[list[tuple[WebhookDelivery, StepData | None]]]:
    """A claimed batch as units of work, in claim order: the step updates of one run with one status and no
    `steps` of their own, with no other event of that run between them, are one unit (merged once, at the
    place of the first); every other event is a unit of its own. Reordering happens only between runs."""
    units: list[list[tuple[WebhookDelivery, StepData | None]]] = []
    open_units: dict[str, list[tuple[WebhookDelivery, StepData | None]]] = {}
    for d in deliveries:
        data = None
        if d.type == "run.step.updated":
            try:
                data = event_data(d.type, d.body.get("data"))
            except Exception:
                data = None  # refused again when applied on its own, where the failure is handled
        if isinstance(data, StepData) and data.run.steps is None:
            unit = open_units.get(data.run.id)
            if unit is not None and unit[0][1].run.status == data.run.status:
                unit.append((d, data))
                continue
            unit = [(d, data)]
            open_units[data.run.id] = unit
        else:
            unit = [(d, None)]
            run_id = _run_id_of(d.body)
            if run_id is not None:
                open_units.pop(run_id, None)
        units.append(unit)
    return units


async def _apply_unit(session, svc: Services, unit: list[tuple[WebhookDelivery, StepData | None]]) -> None:
    if len(unit) == 1:
        d, data = unit[0]
        if data is None:
            await _apply_stored(session, svc, d)
        else:
            await apply_event(session, svc, d.type, data)
    else:
        await apply_steps(session, svc, [data for _, data in unit])


@dataclass
class _Pending:
    id: str
    type: str
    body: dict
    done: asyncio.Future


class Ingest:
    def __init__(self, svc: Services, *, max_batch: int = 256):
        self.svc = svc
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._processor: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._sqlite_writes = asyncio.Lock()
        self._stopping = False
        self.processed = 0
        self.stored = 0
        self.duplicates = 0
        self._failures: dict[str, int] = {}  # webhook-id -> times it failed alone in a row

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="ingest-writer")
        self._processor = asyncio.create_task(self._process_loop(), name="ingest-processor")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in (self._writer, self._processor):
            if task:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    def kick(self) -> None:
        self._wake.set()

    def _turn(self):
        """Our turn to write: on SQLite the writer and the processor take turns; PostgreSQL needs no turns."""
        return contextlib.nullcontext() if self.svc.is_postgres else self._sqlite_writes

    def _storing_waits(self) -> bool:
        return not self.svc.is_postgres and not self._queue.empty()

    async def store(self, webhook_id: str, event_type: str, body: dict) -> bool:
        """Store the event (committed when this returns); False when the webhook-id was already stored."""
        done = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(webhook_id, event_type, body, done))
        return await done

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                inserted = await self._insert(batch)
            except Exception as exc:
                log.exception("storing %d webhook(s) failed; the platform will redeliver them", len(batch))
                for p in batch:
                    if not p.done.done():
                        p.done.set_exception(exc)
                continue
            for p in batch:
                if not p.done.done():
                    p.done.set_result(p.id in inserted)
            self._wake.set()

    async def _insert(self, batch: list[_Pending]) -> set[str]:
        now = utcnow()
        unique: dict[str, _Pending] = {}
        for p in batch:
            unique.setdefault(p.id, p)
        # Events are processed in arrival order: within one group commit, the queue's order is kept by
        # microsecond steps of received_at (the processor orders by it), not left to the random webhook-ids.
        rows = [
            {
                "id": p.id,
                "type": p.type,
                "body": p.body,
                "received_at": now + timedelta(microseconds=i),
                "processed_at": None,
            }
            for i, p in enumerate(unique.values())
        ]
        async with self._turn(), self.svc.sessions.begin() as session:
            inserted = await stored.store_new(session, rows)
        self.stored += len(inserted)
        self.duplicates += len(batch) - len(inserted)
        return inserted

    async def _process_loop(self) -> None:
        while not self._stopping:
            try:
                count = await self.process_pending()
            except Exception as exc:
                if transient(exc):  # the events stay pending and are claimed again, whole
                    log.warning("processing stored webhooks was interrupted (%s); retrying shortly", _why(exc))
                else:
                    log.exception("processing stored webhooks failed; retrying shortly")
                count = 0
                await asyncio.sleep(0.5)
            if count:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def process_pending(self, limit: int = 50) -> int:
        """Process stored events in arrival order, each exactly once (claimed with SKIP LOCKED on PostgreSQL)."""
        svc = self.svc
        selected_ids: list[str] = []  # read before any rollback expires the rows
        deliveries: list[WebhookDelivery] = []
        current = 0  # events of the unit being applied
        try:
            async with self._turn(), svc.sessions.begin() as session:
                if self._storing_waits():
                    limit = min(limit, 5)  # a short turn: reading 50 bodies to process a few is waste
                # Failures first: an alert must not wait behind a burst of step updates. Merging is by
                # `updated_at` (an older state never overwrites a newer one), so the order between one run's
                # failure and its earlier step updates does not change the stored run.
                urgent = min(limit, URGENT_BATCH_POSTGRES) if svc.is_postgres else limit
                selected = await stored.claim_unprocessed(session, urgent, types=URGENT_TYPES)
                if not selected:
                    selected = await stored.claim_unprocessed(session, limit)
                selected_ids = [d.id for d in selected]
                rollups.defer(session)  # each rollup row written once, at the end of the batch
                held_edits.hold(session)  # a card each failure changes rendered once, at the end
                # Held for the batch: the session's identity map keeps clean objects only weakly.
                _preloaded = [] if svc.is_postgres else await _preload_runs(session, selected)
                started = time.monotonic()
                for unit in _units(selected):
                    current = len(unit)
                    await _apply_unit(session, svc, unit)
                    deliveries.extend(d for d, _ in unit)
                    current = 0
                    if (
                        self._storing_waits()
                        and time.monotonic() - started > self.svc.settings.PERF_INGEST_YIELD_SECONDS
                    ):
                        break  # the rest stay unprocessed for the next turn
                await held_edits.flush(session)
                await rollups.flush(session, stop=True)
                if deliveries:
                    await stored.mark_processed(session, [d.id for d in deliveries], utcnow())
        except Exception as exc:
            if transient(exc):
                raise  # a deadlock with another replica, a lost connection: not the events' fault
            # Rolled back: those done so far and the unit that failed (at least the next event: a claim failing).
            failed = selected_ids[: len(deliveries) + max(current, 1)]
            # One event failing alone may be the database going away (retry it), or an event that can never be
            # processed: after a few tries it goes the poison way below, so it cannot block every later event.
            if len(failed) <= 1 and (not failed or self._failed_again(failed[0]) < POISON_AFTER):
                raise
            log.warning("%d event(s) failed together; processing them one at a time", len(failed))
            for delivery_id in failed:
                await self._process_one(delivery_id)
            return len(failed)
        if deliveries:
            self.processed += len(deliveries)
            svc.metrics.events_processed.inc(len(deliveries))
        return len(deliveries)

    def _failed_again(self, delivery_id: str) -> int:
        self._failures = {delivery_id: self._failures.get(delivery_id, 0) + 1}  # only the head of the queue
        return self._failures[delivery_id]

    async def _process_one(self, delivery_id: str) -> None:
        svc = self.svc
        try:
            async with self._turn(), svc.sessions.begin() as session:
                d = await session.get(WebhookDelivery, delivery_id)
                if d is None or d.processed_at is not None:
                    return
                await _apply_stored(session, svc, d)
                d.processed_at = utcnow()
            self.processed += 1
            svc.metrics.events_processed.inc()
        except Exception as exc:
            if transient(exc):
                raise  # left pending: claimed again by the next turn (here or on another replica)
            # A poison event must not block the rest: it is marked processed, and the log says why.
            log.exception("webhook %s could not be processed; marking it done so others proceed", delivery_id)
            async with self._turn(), svc.sessions.begin() as session:
                await stored.mark_processed(session, [delivery_id], utcnow())

"""Approval tasks in the store: the votes counted towards a quorum, the cards showing a task, the claim
that lets exactly one click send the decision, and the state of approvers' App Home."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import insert_for
from store.models import Approval, ApprovalVote, KeyValue, Run, SlackMessage

CARD = "approval"  # SlackMessage.kind of an approval card; its subject is the task id
HOME_KEY = "approvals.home"


async def insert_task_if_absent(session: AsyncSession, values: dict) -> tuple[Approval, bool]:
    """Insert an approval task unless one exists, then read it locked; True when this transaction inserted it.
    Two transactions storing the same new task (a sync and the tracker, two replicas) both succeed: the second
    sees the first's row instead of failing on its key."""
    result = await session.execute(
        insert_for(session)(Approval).values(**values).on_conflict_do_nothing(index_elements=["id"])
    )
    task = await session.get(Approval, values["id"], with_for_update=True, populate_existing=True)
    return task, result.rowcount == 1


async def task_and_run(session: AsyncSession, approval_id: str) -> tuple[Approval | None, Run | None]:
    task = await session.get(Approval, approval_id)
    run = await session.get(Run, task.run_id) if task is not None else None
    return task, run


async def task(session: AsyncSession, approval_id: str) -> Approval | None:
    return await session.get(Approval, approval_id)


async def votes(session: AsyncSession, approval_id: str) -> list[str]:
    """Who approved so far, first first."""
    rows = await session.scalars(
        select(ApprovalVote.user_id)
        .where(ApprovalVote.approval_id == approval_id)
        .order_by(ApprovalVote.at, ApprovalVote.user_id)
    )
    return list(rows.all())


async def add_vote(session: AsyncSession, approval_id: str, user_id: str, user_name: str, at: datetime) -> bool:
    """Count one approver once: False when this person had already approved."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    result = await session.execute(
        dialect.insert(ApprovalVote)
        .values(approval_id=approval_id, user_id=user_id, user_name=user_name, at=at)
        .on_conflict_do_nothing()
    )
    return result.rowcount == 1


async def drop_votes(session: AsyncSession, approval_id: str) -> None:
    await session.execute(delete(ApprovalVote).where(ApprovalVote.approval_id == approval_id))


async def cards(session: AsyncSession, approval_id: str) -> list[SlackMessage]:
    rows = await session.scalars(
        select(SlackMessage)
        .where(SlackMessage.kind == CARD, SlackMessage.subject == approval_id)
        .order_by(SlackMessage.id)
    )
    return list(rows.all())


async def cards_of_run(session: AsyncSession, run_id: str) -> list[SlackMessage]:
    """The cards of every approval task of a run."""
    ids = list((await session.scalars(select(Approval.id).where(Approval.run_id == run_id))).all())
    if not ids:
        return []
    return list(
        (
            await session.scalars(select(SlackMessage).where(SlackMessage.kind == CARD, SlackMessage.subject.in_(ids)))
        ).all()
    )


async def claim(session: AsyncSession, approval_id: str, claim: str) -> bool:
    """Take the right to send the final decision with one conditional UPDATE: exactly one caller, in any
    process, gets True."""
    result = await session.execute(
        update(Approval)
        .where(Approval.id == approval_id, Approval.deciding_by.is_(None), Approval.status == "pending")
        .values(deciding_by=claim)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def release(session: AsyncSession, approval_id: str, claim: str) -> None:
    await session.execute(
        update(Approval)
        .where(Approval.id == approval_id, Approval.deciding_by == claim)
        .values(deciding_by=None)
        .execution_options(synchronize_session=False)
    )


async def pending_by_expiry(session: AsyncSession) -> list[Approval]:
    return list(
        (
            await session.scalars(select(Approval).where(Approval.status == "pending").order_by(Approval.expires_at))
        ).all()
    )


async def pending_newest_first(session: AsyncSession) -> list[Approval]:
    return list(
        (
            await session.scalars(
                select(Approval).where(Approval.status == "pending").order_by(Approval.requested_at.desc(), Approval.id)
            )
        ).all()
    )


async def home_signature(session: AsyncSession) -> str | None:
    """What approvers' App Home last showed (a digest of the pending tasks), None before the first publish."""
    known = await session.get(KeyValue, HOME_KEY)
    return (known.value or {}).get("signature") if known else None


async def set_home_signature(session: AsyncSession, signature: str, count: int) -> None:
    await session.merge(KeyValue(key=HOME_KEY, value={"signature": signature, "count": count}))

"""Who is acting, and what they may do: the Slack user of a request as an `Actor`, and the one place rights
are checked (`require`), with every refusal in the audit trail.

The Bolt middleware (`resolve_actor`) builds the actor once per request, HTTP or Socket Mode, and puts it in
the context as `context["actor"]`; it does no I/O. Names and user-group memberships are looked up the first
time an operation asks for them (through `bot/people.py`'s cache), so requests that need no rights pay for
none. Tests build actors with `Actor.known(...)`.
"""

from __future__ import annotations

from bot import audit
from bot.errors import NotAllowed
from bot.people import People, describe
from bot.services import Services

OPERATE = "operate"  # pause, resume, cancel, replay; subscribe and unsubscribe channels
DECIDE = "decide"  # approve and reject approval tasks
# The right, the people who hold it (for the refusal) and the setting that names them.
_HOLDERS = {OPERATE: ("operators", "OPERATORS"), DECIDE: ("approvers", "APPROVERS")}


class Actor:
    """A Slack user as the core sees them. Rights and the display name are resolved when first asked, once."""

    def __init__(
        self,
        user_id: str,
        *,
        people: People | None = None,
        operators: list[str] | None = None,
        approvers: list[str] | None = None,
        name: str | None = None,
        is_operator: bool | None = None,
        is_approver: bool | None = None,
    ):
        self.id = user_id
        self._people = people
        self._allowed = {OPERATE: list(operators or []), DECIDE: list(approvers or [])}
        self._name = name
        self._rights: dict[str, bool] = {}
        if is_operator is not None:
            self._rights[OPERATE] = is_operator
        if is_approver is not None:
            self._rights[DECIDE] = is_approver

    @classmethod
    def of(cls, svc: Services, user_id: str) -> Actor:
        """The user of a request, resolved lazily against the settings and Slack's user groups."""
        return cls(user_id, people=svc.people, operators=svc.settings.OPERATORS, approvers=svc.settings.APPROVERS)

    @classmethod
    def known(
        cls, user_id: str, *, name: str | None = None, is_operator: bool = False, is_approver: bool = False
    ) -> Actor:
        """An actor whose name and rights are given, not looked up."""
        return cls(user_id, name=name or user_id, is_operator=is_operator, is_approver=is_approver)

    def __repr__(self) -> str:
        return f"Actor({self.id!r})"

    async def has(self, right: str) -> bool:
        if right not in self._rights:
            allowed = self._allowed[right]
            self._rights[right] = self._people is not None and await self._people.is_member(self.id, allowed)
        return self._rights[right]

    async def is_operator(self) -> bool:
        return await self.has(OPERATE)

    async def is_approver(self) -> bool:
        return await self.has(DECIDE)

    async def name(self) -> str:
        """The display name; the ID when Slack cannot say."""
        if self._name is None:
            self._name = await self._people.name(self.id) if self._people else self.id
        return self._name

    async def platform_name(self) -> str:
        """How the platform records who acted: `slack:U… (Name)`."""
        return f"slack:{self.id} ({await self.name()})"


async def require(
    svc: Services, actor: Actor, right: str, *, action: str, target: str | None, what: str, detail: str | None = None
) -> None:
    """Go on only when the actor holds the right; otherwise refuse, audited, naming who may.
    `what` completes "Only operators may …"."""
    if await actor.has(right):
        return
    holders, setting = _HOLDERS[right]
    await refuse(
        svc,
        actor,
        action=action,
        target=target,
        detail=detail,
        message=f"Only {holders} may {what}. {holders.capitalize()}: {describe(getattr(svc.settings, setting))}.",
    )


async def refuse(
    svc: Services, actor: Actor, *, action: str, target: str | None, message: str, detail: str | None = None
) -> None:
    """A refusal decided by policy (a role, a console-only kind, self-approval): audited, then raised."""
    await audit.record_now(
        svc.sessions, user_id=actor.id, action=action, target=target, detail=detail, result="refused", message=message
    )
    raise NotAllowed(message)


def actor_middleware(svc: Services):
    """A Bolt middleware (`handlers.middleware.Plain`: called with the request and `next`) putting the request's
    `Actor` in `context["actor"]` (no I/O: resolved when asked)."""

    async def resolve_actor(req, next):  # noqa: A002 - Bolt's argument name
        context = req.context
        user_id = context.user_id
        context["actor"] = Actor.of(svc, user_id if isinstance(user_id, str) else "")
        return await next()

    return resolve_actor

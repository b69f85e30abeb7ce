"""Use cases of the pool service: one async function per command or query.

Commands run inside a UnitOfWork: the change, its events (outbox) and its audit rows
commit together. Queries take the connection pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pool_service import domain
from pool_service import repository as repo
from pool_service.domain import (
    Action,
    MembershipStatus,
    PoolCategory,
    PoolStatus,
    RemovalGround,
    SupplierKind,
    SupplierSize,
)
from pool_service.repository import Row
from pool_service.schemas import (
    AwardRecord,
    Buyer,
    Contact,
    HistoryEntry,
    MemberEvent,
    Membership,
    Pool,
    Rating,
    RatingSummary,
    Supplier,
    SupplierSummary,
)
from shared.db import Conn
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.paging import PageQuery, decode_cursor, page
from shared.types import Money, Text, Timestamp
from shared.uow import UnitOfWork

SOURCE = "/pool-service"


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: recorded in the history and the audit trail."""

    id: str
    role: str


SWEEPER = Actor("suspension-sweeper", "system")


# ---------------------------------------------------------------- commands

CreditCode = Annotated[str, Field(min_length=18, max_length=40),
                       AfterValidator(domain.validate_credit_code)]
Reason = Annotated[Text, Field(min_length=1, max_length=2000)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class RegisterSupplier(Command):
    name: Text = Field(min_length=1, max_length=300)
    credit_code: CreditCode = Field(description="Unified Social Credit Code (GB 32100-2015)")
    kind: SupplierKind
    size: SupplierSize
    contact: Contact | None = None


class CreatePool(Command):
    code: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
                      examples=["overseas-study-trips"])
    name: Text = Field(min_length=1, max_length=200)
    category: PoolCategory
    jurisdiction: Text = Field(min_length=1, max_length=100)
    description: Text | None = Field(default=None, max_length=4000)
    valid_from: date
    valid_to: date
    price_ceiling: Money
    max_round_budget: Money


class UpdatePool(Command):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=4000)
    valid_to: date | None = None
    price_ceiling: Money | None = None
    max_round_budget: Money | None = None


class TerminatePool(Command):
    reason: Reason


class Apply(Command):
    note: Text | None = Field(default=None, max_length=2000,
                             description="what the supplier wants the center to know")


class AdmitMember(Command):
    supplier_id: uuid.UUID
    reason: Text | None = Field(default=None, max_length=2000)


class ChangeMembership(Command):
    to: Literal["admitted", "rejected", "suspended", "removed"]
    reason: Text | None = Field(default=None, max_length=2000)
    ground: RemovalGround | None = None
    until: Timestamp | None = Field(default=None, description="end of a timed suspension")


class RateMember(Command):
    award_id: uuid.UUID
    score: int = Field(ge=1, le=5, strict=True)
    comment: Text | None = Field(default=None, max_length=2000)


# ---------------------------------------------------------------- views


def supplier_summary(row: Row) -> SupplierSummary:
    return SupplierSummary(id=row["id"], name=row["name"], credit_code=row["credit_code"],
                           kind=row["kind"], size=row["size"])


def supplier_view(row: Row) -> Supplier:
    return Supplier(id=row["id"], name=row["name"], credit_code=row["credit_code"],
                    kind=row["kind"], size=row["size"],
                    contact=Contact.model_validate(row["contact"]) if row["contact"] else None,
                    registered_at=row["created_at"])


def pool_view(row: Row, today: date) -> Pool:
    return Pool(
        id=row["id"], code=row["code"], name=row["name"], category=row["category"],
        jurisdiction=row["jurisdiction"], description=row["description"],
        valid_from=row["valid_from"], valid_to=row["valid_to"],
        price_ceiling=row["price_ceiling"], max_round_budget=row["max_round_budget"],
        status=domain.pool_status(row["valid_from"], row["valid_to"],
                                  row["terminated_at"] is not None, today),
        termination_reason=row["termination_reason"], terminated_at=row["terminated_at"],
        admitted_count=row["admitted_count"], peak_admitted_count=row["peak_admitted_count"],
        needs_top_up=domain.needs_top_up(row["admitted_count"], row["peak_admitted_count"]),
        version=row["version"], created_at=row["created_at"], updated_at=row["updated_at"])


def membership_view(row: Row) -> Membership:
    average = row["rating_average"]
    return Membership(
        id=row["id"], pool_id=row["pool_id"], supplier_id=row["supplier_id"],
        status=row["status"], since=row["since"], reason=row["reason"], ground=row["ground"],
        until=row["until"], version=row["version"],
        supplier=SupplierSummary(id=row["supplier_id"], name=row["supplier_name"],
                                 credit_code=row["credit_code"], kind=row["kind"],
                                 size=row["size"]),
        rating=RatingSummary(average=None if average is None else float(average),
                             count=row["rating_count"]),
        refusals=row["refusals"])


def history_view(row: Row) -> HistoryEntry:
    return HistoryEntry(version=row["version"], action=row["action"],
                        from_status=row["from_status"], to_status=row["to_status"],
                        reason=row["reason"], ground=row["ground"], until=row["until"],
                        actor=row["actor"], actor_role=row["actor_role"], at=row["at"])


def award_view(row: Row) -> AwardRecord:
    return AwardRecord(id=row["id"], round_id=row["round_id"], pool_id=row["pool_id"],
                       supplier_id=row["supplier_id"],
                       buyer=Buyer(org=row["buyer_org"], name=row["buyer_name"]),
                       amount=row["amount"], currency=row["currency"],
                       awarded_at=row["awarded_at"], status=row["status"],
                       status_at=row["status_at"], reason=row["reason"],
                       recorded_at=row["recorded_at"])


def rating_view(row: Row) -> Rating:
    return Rating(id=row["id"], award_id=row["award_id"], pool_id=row["pool_id"],
                  supplier_id=row["supplier_id"], buyer_org=row["buyer_org"],
                  score=row["score"], comment=row["comment"], created_at=row["created_at"])


def _paged(items: list[BaseModel], query: PageQuery,
           key: Callable[[dict[str, Any]], list[Any]]) -> dict[str, Any]:
    return page([i.model_dump(mode="json") for i in items], query.limit, key)


def _cursor_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid("the cursor is not valid") from None


def _cursor_time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid("the cursor is not valid") from None


def _member_subject(pool_id: uuid.UUID, supplier_id: uuid.UUID) -> str:
    return f"/v1/pools/{pool_id}/members/{supplier_id}"


# ---------------------------------------------------------------- suppliers


async def register_supplier(db: asyncpg.Pool, cmd: RegisterSupplier, actor: Actor) -> Supplier:
    async with UnitOfWork(db, SOURCE) as uow:
        contact = cmd.contact.model_dump(exclude_none=True) if cmd.contact else None
        row = await repo.insert_supplier(uow.conn, cmd.name, cmd.credit_code, cmd.kind,
                                                         cmd.size, contact or None)
        if row is None:
            raise Conflict(f"a supplier with credit code {cmd.credit_code} is already registered",
                           slug="duplicate-credit-code")
        supplier = supplier_view(row)
        uow.audit(actor.id, actor.role, "supplier.registered", f"/v1/suppliers/{supplier.id}",
                  {"credit_code": supplier.credit_code, "name": supplier.name})
        return supplier


async def get_supplier(db: asyncpg.Pool, supplier_id: uuid.UUID) -> Supplier:
    row = await repo.get_supplier(db, supplier_id)
    if row is None:
        raise NotFound(f"supplier {supplier_id}")
    return supplier_view(row)


async def find_suppliers(db: asyncpg.Pool, credit_code: str | None,
                         query: PageQuery) -> dict[str, Any]:
    after = decode_cursor(query.cursor, 2)
    rows = await repo.list_suppliers(
        db,
        credit_code.strip().upper() if credit_code else None,
        (str(after[0]), _cursor_uuid(after[1])) if after else None, query.limit + 1)
    return _paged([supplier_view(r) for r in rows], query, lambda i: [i["name"], i["id"]])


# ---------------------------------------------------------------- pools


async def create_pool(db: asyncpg.Pool, cmd: CreatePool, actor: Actor) -> Pool:
    async with UnitOfWork(db, SOURCE) as uow:
        domain.check_validity(cmd.valid_from, cmd.valid_to)
        domain.check_amounts(cmd.price_ceiling, cmd.max_round_budget)
        pool = await insert_pool(uow, cmd)
        if pool is None:
            raise Conflict(f"a pool with code {cmd.code!r} already exists",
                           slug="duplicate-pool-code")
        uow.audit(actor.id, actor.role, "pool.created", f"/v1/pools/{pool.id}", {"code": pool.code})
        return pool


async def insert_pool(uow: UnitOfWork, cmd: CreatePool) -> Pool | None:
    """Insert a pool and emit pool.created; None (and nothing emitted) if the code exists."""
    row = await repo.insert_pool(uow.conn, dict(cmd))
    if row is None:
        return None
    _, today = await repo.clock(uow.conn)
    pool = pool_view(row, today)
    uow.emit("pool.created", pool.id, pool.model_dump(mode="json"))
    return pool


async def get_pool(db: asyncpg.Pool, pool_id: uuid.UUID) -> Pool:
    row = await repo.get_pool(db, pool_id)
    if row is None:
        raise NotFound(f"pool {pool_id}")
    _, today = await repo.clock(db)
    return pool_view(row, today)


async def list_pools(db: asyncpg.Pool, query: PageQuery, *, category: PoolCategory | None,
                     status: PoolStatus | None, jurisdiction: str | None) -> dict[str, Any]:
    after = decode_cursor(query.cursor, 1)
    _, today = await repo.clock(db)
    rows = await repo.list_pools(db, today, category=category, status=status,
                                 jurisdiction=jurisdiction,
                                 after_code=str(after[0]) if after else None,
                                 limit=query.limit + 1)
    return _paged([pool_view(r, today) for r in rows], query, lambda i: [i["code"]])


async def update_pool(db: asyncpg.Pool, cmd: UpdatePool, actor: Actor, pool_id: uuid.UUID) -> Pool:
    async with UnitOfWork(db, SOURCE) as uow:
        row = await repo.get_pool(uow.conn, pool_id, for_update=True)
        if row is None:
            raise NotFound(f"pool {pool_id}")
        if row["terminated_at"] is not None:
            raise Conflict("the pool is terminated; it can no longer change")
        given = {name: getattr(cmd, name) for name in cmd.model_fields_set}
        if not given:
            raise Invalid("name at least one field to change")
        for required in ("name", "valid_to", "price_ceiling", "max_round_budget"):
            if required in given and given[required] is None:
                raise Invalid(f"{required} cannot be null",
                                    [{"loc": [required], "msg": "may not be null"}])
        merged = {**dict(row), **given}
        domain.check_validity(merged["valid_from"], merged["valid_to"])
        domain.check_amounts(merged["price_ceiling"], merged["max_round_budget"])
        changes = {k: v for k, v in given.items() if row[k] != v}
        _, today = await repo.clock(uow.conn)
        if not changes:
            return pool_view(row, today)
        pool = pool_view(await repo.update_pool(uow.conn, pool_id, changes), today)
        uow.emit("pool.updated", pool.id, pool.model_dump(mode="json"))
        uow.audit(actor.id, actor.role, "pool.updated", f"/v1/pools/{pool_id}",
                  {"changes": {k: str(v) if v is not None else None for k, v in changes.items()},
                   "version": pool.version})
        return pool


async def terminate_pool(db: asyncpg.Pool, cmd: TerminatePool, actor: Actor,
                         pool_id: uuid.UUID) -> Pool:
    async with UnitOfWork(db, SOURCE) as uow:
        row = await repo.get_pool(uow.conn, pool_id, for_update=True)
        if row is None:
            raise NotFound(f"pool {pool_id}")
        if row["terminated_at"] is not None:
            raise Conflict("the pool is already terminated")
        _, today = await repo.clock(uow.conn)
        pool = pool_view(await repo.terminate_pool(uow.conn, pool_id, cmd.reason), today)
        uow.emit("pool.terminated", pool.id, pool.model_dump(mode="json"))
        uow.audit(actor.id, actor.role, "pool.terminated", f"/v1/pools/{pool_id}",
                  {"reason": cmd.reason, "version": pool.version})
        return pool


# ---------------------------------------------------------------- memberships


@dataclass(frozen=True)
class Changed:
    membership: Membership
    created: bool


async def apply(db: asyncpg.Pool, cmd: Apply, actor: Actor, pool_id: uuid.UUID,
                supplier_id: uuid.UUID) -> Changed:
    """The supplier applies to the pool."""
    async with UnitOfWork(db, SOURCE) as uow:
        return await _transition(uow, actor, pool_id, supplier_id, MembershipStatus.APPLIED,
                                 reason=cmd.note, may_create=True)


async def admit(db: asyncpg.Pool, cmd: AdmitMember, actor: Actor, pool_id: uuid.UUID) -> Changed:
    """The center admits a supplier directly (or admits an applicant)."""
    async with UnitOfWork(db, SOURCE) as uow:
        return await _transition(uow, actor, pool_id, cmd.supplier_id, MembershipStatus.ADMITTED,
                                 reason=cmd.reason, may_create=True)


async def change_membership(db: asyncpg.Pool, cmd: ChangeMembership, actor: Actor,
                            pool_id: uuid.UUID, supplier_id: uuid.UUID) -> Membership:
    async with UnitOfWork(db, SOURCE) as uow:
        changed = await _transition(uow, actor, pool_id, supplier_id, MembershipStatus(cmd.to),
                                    reason=cmd.reason, ground=cmd.ground, until=cmd.until,
                                    may_create=False)
        return changed.membership


async def lift_due_suspension(db: asyncpg.Pool) -> bool:
    """Reinstate one member whose timed suspension has run out; False if none is due.

    The row is claimed with SKIP LOCKED, so several processes sweeping at once never
    lift the same suspension twice.
    """
    async with UnitOfWork(db, SOURCE) as uow:
        row = await repo.due_suspension(uow.conn)
        if row is None:
            return False
        await _transition(uow, SWEEPER, row["pool_id"], row["supplier_id"],
                          MembershipStatus.ADMITTED, reason="suspension period ended",
                          may_create=False, locked=row)
        return True


async def _transition(uow: UnitOfWork, actor: Actor, pool_id: uuid.UUID,
                      supplier_id: uuid.UUID, to: MembershipStatus, *,
                      reason: str | None = None, ground: RemovalGround | None = None,
                      until: datetime | None = None, may_create: bool,
                      locked: Row | None = None) -> Changed:
    if await repo.get_pool(uow.conn, pool_id) is None:
        raise NotFound(f"pool {pool_id}")
    supplier = await repo.get_supplier(uow.conn, supplier_id)
    if supplier is None:
        raise NotFound(f"supplier {supplier_id}")
    # Lock order everywhere: membership row first (a new one is inserted, ON CONFLICT,
    # before the pool row is touched), then the pool row.
    current = locked if locked is not None else await repo.lock_membership(
        uow.conn, pool_id, supplier_id)
    if current is None and not may_create:
        raise NotFound(f"membership of supplier {supplier_id} in pool {pool_id}")
    now, today = await repo.clock(uow.conn)
    change = domain.transition(MembershipStatus(current["status"]) if current else None, to,
                               now=now, reason=reason, ground=ground, until=until)
    new = None if current else await repo.create_membership(uow.conn, pool_id, supplier_id, change)
    if current is None and new is None:
        # A concurrent first application/admission committed first: decide against the
        # membership it made (its row is now locked here), as a later request would.
        current = await repo.lock_membership(
        uow.conn, pool_id, supplier_id)
        assert current is not None
        change = domain.transition(MembershipStatus(current["status"]), to, now=now,
                                   reason=reason, ground=ground, until=until)
    pool_row = await repo.adjust_admitted(uow.conn, pool_id, change.admitted_delta)
    if change.action in (Action.APPLIED, Action.ADMITTED):
        domain.check_accepts_members(domain.pool_status(
            pool_row["valid_from"], pool_row["valid_to"],
            pool_row["terminated_at"] is not None, today))
    if new is not None:
        row = new
        await repo.add_history(uow.conn, row, change, actor.id, actor.role)
    else:
        assert current is not None
        row = await repo.save_transition(uow.conn, pool_id, supplier_id, current, change, actor.id,
                                         actor.role)
    event = MemberEvent(pool_id=pool_id, pool_code=pool_row["code"],
                        supplier=supplier_summary(supplier), status=row["status"],
                        reason=row["reason"], ground=row["ground"], until=row["until"],
                        at=row["since"], version=row["version"])
    uow.emit(change.action.event_type, row["id"], event.model_dump(mode="json"))
    uow.audit(actor.id, actor.role, f"membership.{change.action.value}",
              _member_subject(pool_id, supplier_id),
              {"from": change.from_status, "to": change.to_status, "reason": change.reason,
               "ground": change.ground,
               "until": change.until.isoformat() if change.until else None,
               "version": row["version"]})
    member = await repo.get_member(uow.conn, pool_id, supplier_id)
    assert member is not None
    return Changed(membership_view(member), created=new is not None)


async def get_member(db: asyncpg.Pool, pool_id: uuid.UUID,
                     supplier_id: uuid.UUID) -> Membership:
    row = await repo.get_member(db, pool_id, supplier_id)
    if row is None:
        raise NotFound(f"membership of supplier {supplier_id} in pool {pool_id}")
    return membership_view(row)


async def list_members(db: asyncpg.Pool, pool_id: uuid.UUID, status: MembershipStatus | None,
                       query: PageQuery) -> dict[str, Any]:
    if await repo.get_pool(db, pool_id) is None:
        raise NotFound(f"pool {pool_id}")
    after = decode_cursor(query.cursor, 2)
    rows = await repo.list_members(db, pool_id, status,
                                   (str(after[0]), _cursor_uuid(after[1])) if after else None,
                                   query.limit + 1)
    return _paged([membership_view(r) for r in rows], query,
                  lambda i: [i["supplier"]["name"], i["supplier_id"]])


async def member_history(db: asyncpg.Pool, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                         query: PageQuery) -> dict[str, Any]:
    await get_member(db, pool_id, supplier_id)
    after = decode_cursor(query.cursor, 1)
    try:
        after_version = int(after[0]) if after else 0
    except (TypeError, ValueError):
        raise Invalid("the cursor is not valid") from None
    rows = await repo.history(db, pool_id, supplier_id, after_version, query.limit + 1)
    return _paged([history_view(r) for r in rows], query, lambda i: [i["version"]])


# ---------------------------------------------------------------- awards and ratings


async def member_awards(db: asyncpg.Pool, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                        query: PageQuery) -> dict[str, Any]:
    await get_member(db, pool_id, supplier_id)
    after = decode_cursor(query.cursor, 2)
    rows = await repo.list_awards(
        db,
        pool_id, supplier_id,
        (_cursor_time(after[0]), _cursor_uuid(after[1])) if after else None, query.limit + 1)
    return _paged([award_view(r) for r in rows], query, lambda i: [i["recorded_at"], i["id"]])


async def rate_member(db: asyncpg.Pool, cmd: RateMember, actor: Actor, buyer_org: str,
                      pool_id: uuid.UUID, supplier_id: uuid.UUID) -> Rating:
    """The buyer of an award rates the supplier's performance, once per award."""
    async with UnitOfWork(db, SOURCE) as uow:
        if await repo.get_member(uow.conn, pool_id, supplier_id) is None:
            raise NotFound(f"membership of supplier {supplier_id} in pool {pool_id}")
        award = await repo.get_award(uow.conn, cmd.award_id)
        if award is None or award["pool_id"] != pool_id or award["supplier_id"] != supplier_id:
            raise NotFound(f"award {cmd.award_id} of this member")
        if award["buyer_org"] != buyer_org:
            raise Forbidden("only the buyer of that award may rate it")
        if award["status"] in ("declined", "expired"):
            raise Conflict(f"the award was {award['status']}: there is no performance to rate")
        row = await repo.insert_rating(uow.conn, award, actor.id, cmd.score, cmd.comment)
        if row is None:
            raise Conflict("this award has already been rated", slug="already-rated")
        rating = rating_view(row)
        uow.audit(actor.id, actor.role, "rating.created", _member_subject(pool_id, supplier_id),
                  {"rating_id": str(rating.id), "award_id": str(rating.award_id),
                   "score": rating.score})
        return rating


async def get_rating(db: asyncpg.Pool, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                     rating_id: uuid.UUID) -> Rating:
    row = await repo.get_rating(db, rating_id)
    if row is None or row["pool_id"] != pool_id or row["supplier_id"] != supplier_id:
        raise NotFound(f"rating {rating_id}")
    return rating_view(row)


async def list_ratings(db: asyncpg.Pool, pool_id: uuid.UUID, supplier_id: uuid.UUID,
                       query: PageQuery) -> dict[str, Any]:
    await get_member(db, pool_id, supplier_id)
    after = decode_cursor(query.cursor, 2)
    rows = await repo.list_ratings(
        db,
        pool_id, supplier_id,
        (_cursor_time(after[0]), _cursor_uuid(after[1])) if after else None, query.limit + 1)
    return _paged([rating_view(r) for r in rows], query, lambda i: [i["created_at"], i["id"]])


# ---------------------------------------------------------------- award events


class AwardPublished(BaseModel):
    """What this service keeps of an `award.published` event (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    round_id: uuid.UUID
    pool_id: uuid.UUID
    supplier_id: uuid.UUID
    buyer_org: str | None
    buyer_name: str | None
    amount: Money | None = None
    currency: str | None = None
    awarded_at: Timestamp | None = None


class AwardOutcome(BaseModel):
    """`award.accepted`, `award.declined`, `award.expired`."""

    model_config = ConfigDict(extra="ignore")

    award_id: uuid.UUID
    round_id: uuid.UUID
    supplier_id: uuid.UUID
    at: Timestamp | None = None
    reason: str | None = None


async def record_award(conn: Conn, award: AwardPublished) -> None:
    """Keep the award in the member's award history (it authorises the buyer's rating)."""
    await repo.record_award(conn, dict(award))


async def record_award_outcome(conn: Conn, status: str,
                               outcome: AwardOutcome) -> None:
    """Mark the award accepted, or record the supplier's refusal (declined or expired)."""
    await repo.record_award_outcome(conn, outcome.award_id, outcome.round_id,
                                                outcome.supplier_id, status, outcome.at,
                                                outcome.reason)

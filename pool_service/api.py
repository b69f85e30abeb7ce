"""HTTP routes of the pool service: authenticate -> parse -> call a use case -> render."""

from __future__ import annotations

import uuid

from aiohttp import web
from pydantic import Field

from pool_service import service
from pool_service.domain import (
    MembershipStatus,
    PoolCategory,
    PoolStatus,
)
from pool_service.schemas import (
    AwardPage,
    HistoryPage,
    Membership,
    MembershipPage,
    Pool,
    PoolPage,
    Rating,
    RatingPage,
    Supplier,
    SupplierPage,
)
from pool_service.service import Actor
from shared.audit import install_audit_route
from shared.auth import Principal, Role
from shared.http import DB, Api, authenticate, parse_body, parse_query, path_uuid, render
from shared.ocds.api import install_ocds_routes
from shared.paging import PageQuery
from shared.problems import forbidden

api = Api(title="Pool service: supplier pre-qualification pools")

CENTER = Role.PROCUREMENT_CENTER
BUYER = Role.BUYER
SUPPLIER = Role.SUPPLIER
_OWN_SUPPLIER = "supplier (own records only)"


def _actor(principal: Principal) -> Actor:
    return Actor(principal.sub, principal.role.value)


async def _self_or(request: web.Request, *roles: Role) -> uuid.UUID:
    """The path's supplier_id, for one of `roles` or that supplier itself (403 for any
    other supplier)."""
    principal = await authenticate(request, *roles, SUPPLIER)
    supplier_id = path_uuid(request, "supplier_id")
    if principal.role is SUPPLIER and principal.supplier_id != supplier_id:
        raise forbidden("a supplier may see only its own records")
    return supplier_id


def _created(body: Membership | Pool | Supplier | Rating, location: str) -> web.Response:
    return render(body, 201, headers={"Location": location})


# ---------------------------------------------------------------- suppliers


class SupplierQuery(PageQuery):
    credit_code: str | None = Field(default=None, max_length=40)


@api.route("POST", "/v1/suppliers", summary="Register a supplier", roles=(CENTER,),
       body=service.RegisterSupplier, response=Supplier, status=201, errors=(409,))
async def register_supplier(request: web.Request) -> web.Response:
    principal = await authenticate(request, CENTER)
    cmd = await parse_body(request, service.RegisterSupplier)
    supplier = await service.register_supplier(request.app[DB], cmd, _actor(principal))
    return _created(supplier, f"/v1/suppliers/{supplier.id}")


@api.route("GET", "/v1/suppliers", summary="Look suppliers up (by credit code)",
       roles=(CENTER, BUYER), query=SupplierQuery, response=SupplierPage)
async def find_suppliers(request: web.Request) -> web.Response:
    await authenticate(request, CENTER, BUYER)
    query = parse_query(request, SupplierQuery)
    return render(await service.find_suppliers(request.app[DB], query.credit_code, query))


@api.route("GET", "/v1/suppliers/{supplier_id}", summary="One supplier",
       roles=(CENTER, BUYER, _OWN_SUPPLIER), response=Supplier, errors=(404,))
async def get_supplier(request: web.Request) -> web.Response:
    supplier_id = await _self_or(request, CENTER, BUYER)
    return render(await service.get_supplier(request.app[DB], supplier_id))


# ---------------------------------------------------------------- pools


class PoolQuery(PageQuery):
    category: PoolCategory | None = None
    status: PoolStatus | None = None
    jurisdiction: str | None = Field(default=None, max_length=100)


@api.route("POST", "/v1/pools", summary="Create a pool", roles=(CENTER,), body=service.CreatePool,
       response=Pool, status=201, errors=(409,))
async def create_pool(request: web.Request) -> web.Response:
    principal = await authenticate(request, CENTER)
    cmd = await parse_body(request, service.CreatePool)
    pool = await service.create_pool(request.app[DB], cmd, _actor(principal))
    return _created(pool, f"/v1/pools/{pool.id}")


@api.route("GET", "/v1/pools", summary="List pools", query=PoolQuery, response=PoolPage)
async def list_pools(request: web.Request) -> web.Response:
    query = parse_query(request, PoolQuery)
    return render(await service.list_pools(request.app[DB], query, category=query.category,
                                           status=query.status,
                                           jurisdiction=query.jurisdiction))


@api.route("GET", "/v1/pools/{pool_id}", summary="One pool, with admitted_count and needs_top_up",
       response=Pool, errors=(404,))
async def get_pool(request: web.Request) -> web.Response:
    return render(await service.get_pool(request.app[DB], path_uuid(request, "pool_id")))


@api.route("PATCH", "/v1/pools/{pool_id}", summary="Change a pool", roles=(CENTER,),
       body=service.UpdatePool, response=Pool, errors=(404, 409))
async def update_pool(request: web.Request) -> web.Response:
    principal = await authenticate(request, CENTER)
    pool_id = path_uuid(request, "pool_id")
    cmd = await parse_body(request, service.UpdatePool)
    pool = await service.update_pool(request.app[DB], cmd, _actor(principal), pool_id)
    return render(pool)


@api.route("POST", "/v1/pools/{pool_id}/terminate", summary="Terminate a pool", roles=(CENTER,),
       body=service.TerminatePool, response=Pool, errors=(404, 409))
async def terminate_pool(request: web.Request) -> web.Response:
    principal = await authenticate(request, CENTER)
    pool_id = path_uuid(request, "pool_id")
    cmd = await parse_body(request, service.TerminatePool)
    pool = await service.terminate_pool(request.app[DB], cmd, _actor(principal), pool_id)
    return render(pool)


# ---------------------------------------------------------------- memberships


class MemberQuery(PageQuery):
    status: MembershipStatus | None = None


def _membership_answer(changed: service.Changed) -> web.Response:
    member = changed.membership
    if changed.created:
        return _created(member, f"/v1/pools/{member.pool_id}/members/{member.supplier_id}")
    return render(member)


@api.route("POST", "/v1/pools/{pool_id}/applications",
       summary="Apply to the pool (the calling supplier); the body is optional",
       roles=(SUPPLIER,), body=service.Apply, response=Membership, status=201,
       errors=(404, 409))
async def apply(request: web.Request) -> web.Response:
    principal = await authenticate(request, SUPPLIER)
    pool_id = path_uuid(request, "pool_id")
    cmd = (await parse_body(request, service.Apply) if request.body_exists
           else service.Apply())
    assert principal.supplier_id is not None
    changed = await service.apply(request.app[DB], cmd, _actor(principal), pool_id,
                                  principal.supplier_id)
    return _membership_answer(changed)


@api.route("POST", "/v1/pools/{pool_id}/members", summary="Admit a supplier directly",
       roles=(CENTER,), body=service.AdmitMember, response=Membership, status=201,
       errors=(404, 409))
async def admit(request: web.Request) -> web.Response:
    principal = await authenticate(request, CENTER)
    pool_id = path_uuid(request, "pool_id")
    cmd = await parse_body(request, service.AdmitMember)
    changed = await service.admit(request.app[DB], cmd, _actor(principal), pool_id)
    return _membership_answer(changed)


@api.route("GET", "/v1/pools/{pool_id}/members",
       summary="Memberships with supplier summary, status, since and rating",
       roles=(CENTER, BUYER), query=MemberQuery, response=MembershipPage, errors=(404,))
async def list_members(request: web.Request) -> web.Response:
    await authenticate(request, CENTER, BUYER)
    pool_id = path_uuid(request, "pool_id")
    query = parse_query(request, MemberQuery)
    return render(await service.list_members(request.app[DB], pool_id, query.status, query))


@api.route("GET", "/v1/pools/{pool_id}/members/{supplier_id}", summary="One membership",
       roles=(CENTER, BUYER, _OWN_SUPPLIER), response=Membership, errors=(404,))
async def get_member(request: web.Request) -> web.Response:
    supplier_id = await _self_or(request, CENTER, BUYER)
    pool_id = path_uuid(request, "pool_id")
    return render(await service.get_member(request.app[DB], pool_id, supplier_id))


@api.route("POST", "/v1/pools/{pool_id}/members/{supplier_id}/transitions",
       summary="Admit, reject, suspend, reinstate or remove a member", roles=(CENTER,),
       body=service.ChangeMembership, response=Membership, errors=(404, 409))
async def change_membership(request: web.Request) -> web.Response:
    principal = await authenticate(request, CENTER)
    pool_id = path_uuid(request, "pool_id")
    supplier_id = path_uuid(request, "supplier_id")
    cmd = await parse_body(request, service.ChangeMembership)
    member = await service.change_membership(request.app[DB], cmd, _actor(principal), pool_id,
                                             supplier_id)
    return render(member)


@api.route("GET", "/v1/pools/{pool_id}/members/{supplier_id}/history",
       summary="Every transition of a membership", roles=(CENTER, _OWN_SUPPLIER),
       query=PageQuery, response=HistoryPage, errors=(404,))
async def member_history(request: web.Request) -> web.Response:
    supplier_id = await _self_or(request, CENTER)
    pool_id = path_uuid(request, "pool_id")
    query = parse_query(request, PageQuery)
    return render(await service.member_history(request.app[DB], pool_id, supplier_id, query))


@api.route("GET", "/v1/pools/{pool_id}/members/{supplier_id}/awards",
       summary="The member's awards in this pool, with acceptances and refusals",
       roles=(CENTER, BUYER, _OWN_SUPPLIER), query=PageQuery, response=AwardPage,
       errors=(404,))
async def member_awards(request: web.Request) -> web.Response:
    supplier_id = await _self_or(request, CENTER, BUYER)
    pool_id = path_uuid(request, "pool_id")
    query = parse_query(request, PageQuery)
    return render(await service.member_awards(request.app[DB], pool_id, supplier_id, query))


# ---------------------------------------------------------------- ratings


@api.route("POST", "/v1/pools/{pool_id}/members/{supplier_id}/ratings",
       summary="Rate the member's performance on an award (its buyer, once per award)",
       roles=(BUYER,), body=service.RateMember, response=Rating, status=201,
       errors=(404, 409))
async def rate_member(request: web.Request) -> web.Response:
    principal = await authenticate(request, BUYER)
    pool_id = path_uuid(request, "pool_id")
    supplier_id = path_uuid(request, "supplier_id")
    cmd = await parse_body(request, service.RateMember)
    assert principal.org is not None
    rating = await service.rate_member(request.app[DB], cmd, _actor(principal), principal.org,
                                       pool_id, supplier_id)
    return _created(rating, f"/v1/pools/{pool_id}/members/{supplier_id}/ratings/{rating.id}")


@api.route("GET", "/v1/pools/{pool_id}/members/{supplier_id}/ratings",
       summary="The member's ratings in this pool", roles=(CENTER, BUYER, _OWN_SUPPLIER),
       query=PageQuery, response=RatingPage, errors=(404,))
async def list_ratings(request: web.Request) -> web.Response:
    supplier_id = await _self_or(request, CENTER, BUYER)
    pool_id = path_uuid(request, "pool_id")
    query = parse_query(request, PageQuery)
    return render(await service.list_ratings(request.app[DB], pool_id, supplier_id, query))


@api.route("GET", "/v1/pools/{pool_id}/members/{supplier_id}/ratings/{rating_id}",
       summary="One rating", roles=(CENTER, BUYER, _OWN_SUPPLIER), response=Rating,
       errors=(404,))
async def get_rating(request: web.Request) -> web.Response:
    supplier_id = await _self_or(request, CENTER, BUYER)
    pool_id = path_uuid(request, "pool_id")
    rating_id = path_uuid(request, "rating_id")
    return render(await service.get_rating(request.app[DB], pool_id, supplier_id, rating_id))


install_audit_route(api)
install_ocds_routes(api)

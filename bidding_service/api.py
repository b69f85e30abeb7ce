"""HTTP routes of the bidding service: parse, call a use case, render."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from bidding_service import service
from bidding_service.commitment import bid_proof
from bidding_service.receipts import ReceiptSigner, bid_receipt
from bidding_service.schemas import (
    AcceptAward,
    AwardOut,
    AwardPage,
    AwardQuery,
    BidOut,
    BidPage,
    BidProof,
    CancelRound,
    DeclineAward,
    Eligible,
    KeySet,
    LaunchRound,
    RoundOut,
    RoundPage,
    RoundQuery,
    SubmitBid,
)
from bidding_service.sealed import Sealer
from bidding_service.settings import BiddingSettings
from shared.audit import install_audit_route
from shared.auth import Role
from shared.http import (
    DB,
    METRICS,
    SETTINGS,
    Api,
    authenticate,
    optional_principal,
    parse_body,
    parse_query,
    path_uuid,
    render,
)
from shared.idempotency import Outcome, check_key, request_hash
from shared.ocds.api import install_ocds_routes
from shared.paging import PageQuery, decode_cursor, encode_cursor
from shared.problems import unprocessable
from shared.ratelimit import RateLimiter

api = Api(title="Bidding service")
RATE_LIMITER = web.AppKey("bid_rate_limiter", RateLimiter)
SEALER = web.AppKey("bid_sealer", Sealer)
RECEIPTS = web.AppKey("receipt_signer", ReceiptSigner)

CENTER = Role.PROCUREMENT_CENTER
BUYER = Role.BUYER
SUPPLIER = Role.SUPPLIER


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    try:
        return datetime.fromisoformat(str(values[0])), uuid.UUID(str(values[1]))
    except ValueError:
        raise unprocessable("the cursor is not valid") from None


def _page(items: list[dict[str, Any]], after: tuple[datetime, uuid.UUID] | None,
          ) -> dict[str, Any]:
    return {"items": items,
            "next_cursor": encode_cursor([after[0].isoformat(), str(after[1])]) if after else None}


def _created(outcome: Outcome) -> web.Response:
    headers = {"Location": outcome.location} if outcome.location else None
    return render(outcome.body, outcome.status, headers=headers)


@api.route("POST", "/v1/rounds", summary="Launch a round against a pool", roles=(CENTER,),
           body=LaunchRound, response=RoundOut, status=201, errors=(409,), idempotent=True)
async def launch_round(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER)
    key = check_key(request.headers.get("Idempotency-Key"))
    cmd = await parse_body(request, LaunchRound)
    settings = request.app[SETTINGS]
    assert isinstance(settings, BiddingSettings)
    outcome = await service.launch_round(
        request.app[DB], cmd, caller, settings.round_min_duration_seconds, key,
        request_hash(cmd.model_dump(mode="json")))
    return _created(outcome)


@api.route("GET", "/v1/rounds", summary="List rounds the caller may see",
           roles=(CENTER, BUYER, SUPPLIER), query=RoundQuery, response=RoundPage)
async def list_rounds(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER, BUYER, SUPPLIER)
    q = parse_query(request, RoundQuery)
    items, after = await service.list_rounds(
        request.app[DB], caller, status=q.status.value if q.status else None,
        pool_id=q.pool_id, after=_after(q.cursor), limit=q.limit)
    return render(_page(items, after))


@api.route("GET", "/v1/rounds/{round_id}", summary="A round as the caller may see it",
           response=RoundOut, errors=(401, 403, 404))
async def get_round(request: web.Request) -> web.Response:
    caller = await optional_principal(request)
    body = await service.round_view(request.app[DB], path_uuid(request, "round_id"), caller,
                                    request.app[SEALER])
    return render(body)


@api.route("POST", "/v1/rounds/{round_id}/bids", summary="Submit a bid", roles=(SUPPLIER,),
           body=SubmitBid, response=BidOut, status=201, errors=(404, 409, 429), idempotent=True)
async def submit_bid(request: web.Request) -> web.Response:
    caller = await authenticate(request, SUPPLIER)
    request.app[RATE_LIMITER].check(caller.caller_key)
    round_id = path_uuid(request, "round_id")
    key = check_key(request.headers.get("Idempotency-Key"))
    cmd = await parse_body(request, SubmitBid)
    sealer = request.app[SEALER]
    outcome = await service.submit_bid(
        request.app[DB], round_id, caller, cmd.amount, key,
        sealer.fingerprint([str(round_id), str(cmd.amount)]), request.app[METRICS], sealer)
    if outcome.status == 201:
        # Computed again on a replay (never stored): the same fields give the same receipt.
        outcome = Outcome(outcome.status, {
            **outcome.body, "receipt": bid_receipt(request.app[RECEIPTS], outcome.body)},
            outcome.location)
    return _created(outcome)


@api.route("GET", "/v1/keys", summary="The public keys that sign bid receipts (a JWK Set)",
           response=KeySet)
async def receipt_keys(request: web.Request) -> web.Response:
    return render(request.app[RECEIPTS].jwks())


@api.route("GET", "/v1/rounds/{round_id}/bids/{bid_id}/proof",
           summary="The RFC 6962 inclusion proof of a bid under the round's bids_root",
           roles=(CENTER, SUPPLIER), response=BidProof, errors=(404, 409))
async def get_bid_proof(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER, SUPPLIER)
    return render(await bid_proof(request.app[DB], request.app[SEALER],
                                  path_uuid(request, "round_id"), path_uuid(request, "bid_id"),
                                  caller))


@api.route("GET", "/v1/rounds/{round_id}/bids", summary="Bids: own always; all after close",
           roles=(CENTER, BUYER, SUPPLIER), query=PageQuery, response=BidPage,
           errors=(404, 409))
async def list_bids(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER, BUYER, SUPPLIER)
    q = parse_query(request, PageQuery)
    items, after = await service.list_bids(request.app[DB], path_uuid(request, "round_id"),
                                           caller, _after(q.cursor), q.limit,
                                           request.app[SEALER])
    return render(_page(items, after))


@api.route("GET", "/v1/rounds/{round_id}/bids/{bid_id}", summary="One bid",
           roles=(CENTER, BUYER, SUPPLIER), response=BidOut, errors=(404, 409))
async def get_bid(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER, BUYER, SUPPLIER)
    body = await service.get_bid(request.app[DB], path_uuid(request, "round_id"),
                                 path_uuid(request, "bid_id"), caller, request.app[SEALER])
    return render(body)


@api.route("POST", "/v1/rounds/{round_id}/cancel", summary="Cancel a round before close",
           roles=(CENTER,), body=CancelRound, response=RoundOut, errors=(404, 409))
async def cancel_round(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER)
    round_id = path_uuid(request, "round_id")
    cmd = await parse_body(request, CancelRound)
    return render(await service.cancel_round(request.app[DB], round_id, caller, cmd.reason,
                                             request.app[SEALER]))


@api.route("POST", "/v1/awards/{award_id}/accept", summary="The winner accepts its award",
           roles=(SUPPLIER,), body=AcceptAward, response=AwardOut, errors=(404, 409))
async def accept_award(request: web.Request) -> web.Response:
    caller = await authenticate(request, SUPPLIER)
    award_id = path_uuid(request, "award_id")
    if request.can_read_body:
        await parse_body(request, AcceptAward)
    return render(await service.accept_award(request.app[DB], award_id, caller))


@api.route("POST", "/v1/awards/{award_id}/decline",
           summary="The winner declines; the next-ranked bidder gets a new award",
           roles=(SUPPLIER,), body=DeclineAward, response=AwardOut, errors=(404, 409))
async def decline_award(request: web.Request) -> web.Response:
    caller = await authenticate(request, SUPPLIER)
    award_id = path_uuid(request, "award_id")
    cmd = await parse_body(request, DeclineAward)
    return render(await service.decline_award(request.app[DB], award_id, caller, cmd.reason))


@api.route("GET", "/v1/pools/{pool_id}/eligible",
           summary="Suppliers this service holds as admitted in the pool (its event-fed copy)",
           roles=(CENTER,), response=Eligible)
async def eligible(request: web.Request) -> web.Response:
    await authenticate(request, CENTER)
    return render(await service.eligible(request.app[DB], path_uuid(request, "pool_id")))


@api.route("GET", "/v1/awards", summary="Published result notices, newest first",
           query=AwardQuery, response=AwardPage)
async def list_awards(request: web.Request) -> web.Response:
    q = parse_query(request, AwardQuery)
    items, after = await service.list_awards(request.app[DB], pool_id=q.pool_id,
                                             buyer_org=q.buyer_org, after=_after(q.cursor),
                                             limit=q.limit)
    return render(_page(items, after))


@api.route("GET", "/v1/awards/{award_id}", summary="One result notice", response=AwardOut,
           errors=(404,))
async def get_award(request: web.Request) -> web.Response:
    return render(await service.get_award(request.app[DB], path_uuid(request, "award_id")))


install_audit_route(api)
install_ocds_routes(api)

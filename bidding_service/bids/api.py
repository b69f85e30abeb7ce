"""HTTP routes of the bid path: parse, call a use case, render."""

from __future__ import annotations

from aiohttp import web

from bidding_service.awards.commitment import bid_proof
from bidding_service.bids import service
from bidding_service.bids.receipts import bid_receipt
from bidding_service.routes import (
    BID_MEMORY,
    BUYER,
    CENTER,
    RATE_LIMITER,
    RECEIPTS,
    SEALER,
    SUPPLIER,
    after_cursor,
    api,
    created,
    page,
)
from bidding_service.schemas import (
    BidOut,
    BidPage,
    BidProof,
    KeySet,
    SubmitBid,
)
from shared.http import (
    DB,
    METRICS,
    authenticate,
    parse_body,
    parse_query,
    path_uuid,
    render,
)
from shared.idempotency import Outcome, check_key
from shared.paging import PageQuery


@api.route("POST", "/v1/rounds/{round_id}/bids", summary="Submit a bid", roles=(SUPPLIER,),
           body=SubmitBid, response=BidOut, status=201, errors=(404, 409, 429), idempotent=True)
async def submit_bid(request: web.Request) -> web.Response:
    caller = await authenticate(request, SUPPLIER)
    request.app[RATE_LIMITER].check(caller.caller_key)
    round_id = path_uuid(request, "round_id")
    key = check_key(request.headers.get("Idempotency-Key"))
    cmd = await parse_body(request, SubmitBid)
    sealer = request.app[SEALER]
    fingerprint = sealer.fingerprint([str(round_id), str(cmd.amount)]) if key else ""
    outcome = await service.submit_bid(
        request.app[DB], round_id, caller, cmd.amount, key, fingerprint, request.app[METRICS],
        sealer, request.app[BID_MEMORY])
    if outcome.status == 201:
        # Computed again on a replay (never stored): the same fields give the same receipt.
        outcome = Outcome(outcome.status, {
            **outcome.body, "receipt": bid_receipt(request.app[RECEIPTS], outcome.body)},
            outcome.location)
    return created(outcome)


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
                                           caller, after_cursor(q.cursor), q.limit,
                                           request.app[SEALER])
    return render(page(items, after))


@api.route("GET", "/v1/rounds/{round_id}/bids/{bid_id}", summary="One bid",
           roles=(CENTER, BUYER, SUPPLIER), response=BidOut, errors=(404, 409))
async def get_bid(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER, BUYER, SUPPLIER)
    body = await service.get_bid(request.app[DB], path_uuid(request, "round_id"),
                                 path_uuid(request, "bid_id"), caller, request.app[SEALER])
    return render(body)

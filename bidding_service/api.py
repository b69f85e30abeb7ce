"""The bidding service's HTTP API: every capability's routes on one route table."""

from __future__ import annotations

from bidding_service.awards import api as _awards
from bidding_service.bids import api as _bids
from bidding_service.budget import api as _budget
from bidding_service.eligibility import api as _eligibility
from bidding_service.methods import api as _methods
from bidding_service.notices.api import install_notice_routes
from bidding_service.questions import api as _questions
from bidding_service.rounds import api as _rounds
from bidding_service.routes import BID_MEMORY, RATE_LIMITER, RECEIPTS, SEALER, api
from shared.audit import install_audit_route
from shared.ocds.api import install_ocds_routes

# Registered in the order of the route table the API has always had.
_CAPABILITIES = (_rounds, _bids, _awards, _eligibility, _methods, _questions, _budget)
install_audit_route(api)
install_notice_routes(api, SEALER)
install_ocds_routes(api)

__all__ = ["BID_MEMORY", "RATE_LIMITER", "RECEIPTS", "SEALER", "api"]

"""Which event makes which notice (pure rules of bidding_service.notices.domain)."""

from __future__ import annotations

from bidding_service.notices.domain import NoticeKind, draft_for, invitation_due, open_round_view

RID = "6a1b0c0e-0000-4000-8000-000000000001"


def test_only_price_competitions_out_of_pending_budget_are_invited() -> None:
    assert invitation_due({"id": RID, "status": "open"})
    assert invitation_due({"id": RID, "status": "scheduled", "method": "price_competition"})
    assert not invitation_due({"id": RID, "status": "pending_budget"})
    assert not invitation_due({"id": RID, "status": "open", "method": "direct_selection"})
    assert not invitation_due({"id": RID, "status": "open", "method": "rotation"})
    assert draft_for("round.launched", RID, {"id": RID, "status": "pending_budget"}) is None


def test_each_event_makes_its_kind() -> None:
    kinds = {t: draft_for(t, RID, {"round_id": RID, "reason": "r", "reason_code": "c"})
             for t in ("round.extended", "award.published", "award.accepted", "award.declined",
                       "award.expired", "award.confirmed", "award.rejected", "award.cancelled",
                       "round.failed", "round.cancelled", "round.question.answered")}
    assert {t: d.kind if d else None for t, d in kinds.items()} == {
        "round.extended": NoticeKind.EXTENSION, "award.published": NoticeKind.RESULT,
        "award.accepted": NoticeKind.AWARD_UPDATE, "award.declined": NoticeKind.AWARD_UPDATE,
        "award.expired": NoticeKind.AWARD_UPDATE, "award.confirmed": NoticeKind.AWARD_UPDATE,
        "award.rejected": NoticeKind.AWARD_UPDATE, "award.cancelled": NoticeKind.AWARD_UPDATE,
        "round.failed": NoticeKind.FAILURE, "round.cancelled": NoticeKind.CANCELLATION,
        "round.question.answered": NoticeKind.QUESTION_ANSWER}
    cancelled = kinds["round.cancelled"]
    assert cancelled is not None and cancelled.body == {"reason_code": "c", "reason": "r"}
    for ignored in ("round.closed", "round.opened", "bid.submitted", "award.unknown"):
        assert draft_for(ignored, RID, {"round_id": RID}) is None


def test_the_result_is_the_award_without_the_event_s_ranking() -> None:
    draft = draft_for("award.published", "a", {
        "id": "a", "round_id": RID, "amount": "1.00", "pool": {"id": "p"},
        "ranking": [{"rank": 1}], "ranking_size": 1, "ranking_url": f"/v1/rounds/{RID}/ranking"})
    assert draft is not None and draft.round_id == RID
    assert draft.body == {"award": {"id": "a", "round_id": RID, "amount": "1.00"},
                          "ranking_size": 1, "ranking_url": f"/v1/rounds/{RID}/ranking"}


def test_the_open_view_never_has_counts() -> None:
    view = open_round_view({"id": RID, "title": "t", "bid_count": 3, "bidder_count": 2,
                            "status": "open", "ranking": []})
    assert "bid_count" not in view and "bidder_count" not in view and "ranking" not in view
    assert view["title"] == "t" and view["status"] == "open"

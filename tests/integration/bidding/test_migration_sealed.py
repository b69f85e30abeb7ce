"""Migration bidding 0005 cannot encrypt clear amounts (the key is not in the database):
it refuses to run while an open round holds bids, and keeps closed rounds' history."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from bidding_service.app import MIGRATIONS
from bidding_service.settings import BiddingSettings
from shared.migrations import migrate


async def test_0005_refuses_with_open_bids_then_keeps_closed_history(
        bidding_settings: BiddingSettings, tmp_path: Path) -> None:
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    before = tmp_path / "migrations"
    before.mkdir()
    for f in sorted(MIGRATIONS.glob("000[123]_*.sql")):
        shutil.copy(f, before / f.name)
    dsn = bidding_settings.database_url
    await migrate(dsn, schema, before, "bidding")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        rid, sid, bid_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO rounds (id, pool_id, pool_code, pool_name, title, buyer_org, buyer_name,"
            " budget_line, ceiling_price, opens_at, closes_at, scheduled_close_at, min_bids,"
            " sme_price_deduction, disclosure, acceptance_seconds, status, invited_count,"
            " launched_by) VALUES ($1, $2, 'p', 'p', 't', 'o', 'o', 'b', 1000, now(),"
            " now() + interval '1 hour', now() + interval '1 hour', 1, 0, 'sealed', 60,"
            " 'open', 1, 'x')", rid, uuid.uuid4())
        await conn.execute(
            "INSERT INTO invitations (round_id, supplier_id, name, credit_code, kind, size,"
            " last_bid_id, last_amount, last_bid_at) VALUES ($1, $2, 'n', 'c', 'enterprise',"
            " 'large', $3, 734.56, now())", rid, sid, bid_id)
        await conn.execute("INSERT INTO bids (id, round_id, supplier_id, amount, submitted_at)"
                           " VALUES ($1, $2, $3, 734.56, now())", bid_id, rid, sid)
        with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="rounds still open"):
            await migrate(dsn, schema, MIGRATIONS, "bidding")
        assert str(await conn.fetchval("SELECT amount FROM bids")) == "734.56"  # unchanged
        await conn.execute("UPDATE rounds SET status = 'cancelled'")
        await migrate(dsn, schema, MIGRATIONS, "bidding")
        row = await conn.fetchrow("SELECT legacy_amount, amount_ct FROM bids")
        assert row is not None and (str(row["legacy_amount"]), row["amount_ct"]) == ("734.56", None)
        assert await conn.fetchval("SELECT legacy_last_amount FROM invitations") is not None
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()

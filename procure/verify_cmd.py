"""The `procure verify` and `procure audit verify` commands (see procure/verify.py)."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from procure.errors import ProcureError

audit_app = typer.Typer(no_args_is_help=True, help="The services' tamper-evident audit trails.")


class ServiceName(enum.StrEnum):
    POOL = "pool"
    BIDDING = "bidding"


def _evidence_path(receipt: Path) -> Path:
    return receipt.with_name(receipt.stem + ".evidence.json")


def verify_command(
    ctx: typer.Context,
    receipt_file: Annotated[Path, typer.Argument(
        help="A receipt (or the 201 bid body carrying it) as JSON", metavar="RECEIPT.json")],
    download: Annotated[bool, typer.Option(
        "--download", help="Fetch keys, round and proof, save them next to the receipt "
                           "(RECEIPT.evidence.json), then verify from the saved copy")] = False,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Use only the saved evidence; never contact the service")] = False,
    token: Annotated[str | None, typer.Option(
        envvar="PROCURE_TOKEN", help="Bearer token of the bid's supplier [default: a dev "
                                     "token minted for the receipt's supplier_id]")] = None,
) -> None:
    """Check a bid receipt's signature against /v1/keys and its inclusion proof against
    the round's published bids_root. Exit 0 verified, 4 receipt invalid, 5 not included
    under the published root, 6 no commitment yet (round still open), 3 unreachable."""
    from procure.cli import _execute, _state
    from procure.client import services
    from procure.verify import check, download_evidence, load_receipt

    state = _state(ctx)
    ui = state.ui(plain=True)
    saved = _evidence_path(receipt_file)

    async def work() -> int:
        receipt = load_receipt(_read_json(receipt_file))
        evidence: dict[str, Any]
        if offline or (saved.exists() and not download):
            if not saved.exists():
                raise ProcureError(f"no saved evidence at {saved}: run with --download first")
            evidence = _read_json(saved)
        else:
            async with services(state.settings) as api:
                bearer = token or api.tokens.supplier(str(receipt["supplier_id"]))
                evidence = await download_evidence(api.bidding, receipt, bearer)
            if download:
                saved.write_text(json.dumps(evidence, ensure_ascii=False, indent=1))
                typer.echo(f"saved {saved}")
                evidence = _read_json(saved)
        verdict = check(receipt, evidence)
        for line in verdict.lines:
            typer.echo(line)
        return verdict.code

    _execute(ui, work())


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    service: Annotated[ServiceName, typer.Option("--service", help="Which service's trail")],
    token: Annotated[str | None, typer.Option(
        envvar="PROCURE_TOKEN", help="A procurement-center bearer token [default: a dev "
                                     "token]")] = None,
) -> None:
    """Walk a service's whole audit trail through its API (a center token) and report the
    first broken link, or OK with the head. Exit 0 OK, 4 broken, 3 unreachable."""
    from procure.cli import _execute, _state
    from procure.client import services
    from procure.verify import verify_audit

    state = _state(ctx)
    ui = state.ui(plain=True)

    async def work() -> int:
        async with services(state.settings) as api:
            client = api.pool if service is ServiceName.POOL else api.bidding
            verdict = await verify_audit(client, token or api.tokens.center())
        for line in verdict.lines:
            typer.echo(line)
        return verdict.code

    _execute(ui, work())


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProcureError(f"cannot read {path}: {exc}") from None

"""`procure token`: dev tokens the services accept, and clear refusals of bad options."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
from typer.testing import CliRunner

from procure.cli import app
from shared.auth import Principal, Role, principal_from_claims
from shared.settings import DEV_JWT_SECRET, ServiceSettings

SECRET = "unit-test-secret-" + uuid.uuid4().hex
runner = CliRunner()


def _invoke(*args: str, env: dict[str, str | None] | None = None) -> Any:
    return runner.invoke(app, list(args), env={"JWT_SECRET": SECRET, **(env or {})})


def _principal(token: str, secret: str = SECRET) -> tuple[Principal, dict[str, Any]]:
    claims = jwt.decode(token, secret, algorithms=["HS256"],
                        options={"require": ["exp", "sub", "role"]})
    return principal_from_claims(claims), claims


def test_center_token_is_one_line_signed_with_jwt_secret() -> None:
    result = _invoke("token", "--role", "procurement_center")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    principal, claims = _principal(lines[0])
    assert principal.role is Role.PROCUREMENT_CENTER
    assert claims["exp"] - claims["iat"] == 3600


def test_supplier_token_carries_the_supplier_id_and_ttl() -> None:
    supplier_id = uuid.uuid4()
    result = _invoke("token", "--role", "supplier", "--supplier-id", str(supplier_id),
                     "--sub", "acme-bot", "--ttl", "120")
    assert result.exit_code == 0, result.output
    principal, claims = _principal(result.stdout.strip())
    assert principal == Principal(sub="acme-bot", role=Role.SUPPLIER, supplier_id=supplier_id)
    assert claims["exp"] - claims["iat"] == 120


def test_buyer_token_carries_the_org() -> None:
    result = _invoke("token", "--role", "BUYER", "--org", "WZ-SWJ")
    assert result.exit_code == 0, result.output
    principal, _ = _principal(result.stdout.strip())
    assert (principal.role, principal.org) == (Role.BUYER, "WZ-SWJ")


def test_global_option_overrides_the_environment() -> None:
    other = "from-the-option-0123456789abcdef0123456789"
    result = _invoke("--jwt-secret", other, "token", "--role", "finance")
    assert result.exit_code == 0, result.output
    principal, _ = _principal(result.stdout.strip(), other)
    assert principal.role is Role.FINANCE


def test_without_jwt_secret_it_signs_with_the_services_development_secret() -> None:
    result = _invoke("token", "--role", "procurement_center", env={"JWT_SECRET": None})
    assert result.exit_code == 0, result.output
    assert ServiceSettings(dev_mode=True).jwt_secret.get_secret_value() == DEV_JWT_SECRET
    principal, _ = _principal(result.stdout.strip(), DEV_JWT_SECRET)
    assert principal.role is Role.PROCUREMENT_CENTER
    # ...which only development services accept: it says so, beside the token.
    assert "DEV_MODE=true" in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_with_its_own_secret_it_says_nothing_but_the_token() -> None:
    result = _invoke("token", "--role", "finance")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_refuses_tokens_the_services_would_reject() -> None:
    cases = [
        (["--role", "supplier"], "--supplier-id"),
        (["--role", "supplier", "--supplier-id", "not-a-uuid"], "not a UUID"),
        (["--role", "buyer"], "--org"),
        (["--role", "procurement_center", "--supplier-id", str(uuid.uuid4())],
         "only a supplier"),
        (["--role", "finance", "--org", "WZ"], "only a buyer"),
        (["--role", "auditor"], "auditor"),
        (["--role", "finance", "--ttl", "0"], "--ttl"),
    ]
    for args, expected in cases:
        result = _invoke("token", *args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
        assert "eyJ" not in result.stdout

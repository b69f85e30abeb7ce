"""docker-compose.yml: backing services, one-shot jobs, the two services, and how they
line up with the services' settings and the broker definitions."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from portal.settings import PortalSettings

from .support import REPO, SETTINGS, SUBCOMMANDS, assert_settings_fields, load_one, service_command

COMPOSE = load_one(REPO / "docker-compose.yml")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# The two services and their jobs; the read-only portal (no database) is checked apart.
APP = {name: svc for name, svc in SERVICES.items() if "command" in svc
       and svc["command"][:2] == ["python", "-m"] and svc["command"][2] in SETTINGS}
SERVING = {name: svc for name, svc in APP.items() if len(svc["command"]) == 3}


def env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "use the mapping form for environment"
    return {key: str(value) for key, value in environment.items()}


def plain(value: str) -> str:
    """`${VAR:-default}` -> default (what runs when the variable is unset)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_postgres_is_a_pinned_16_or_17_with_a_volume_and_a_pg_isready_healthcheck() -> None:
    pg = SERVICES["postgres"]
    assert re.fullmatch(r"postgres:1[67]\.\d+", pg["image"]), pg["image"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])


def test_rabbitmq_is_a_pinned_4x_with_management_a_volume_a_healthcheck_and_definitions(
) -> None:
    mq = SERVICES["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:4\.\d+\.\d+-management", mq["image"]), mq["image"]
    assert any(v.endswith(":/var/lib/rabbitmq") for v in mq["volumes"])
    assert "rabbitmq-diagnostics" in " ".join(mq["healthcheck"]["test"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in mq["volumes"] if v.startswith("./")}
    for source in mounts.values():
        assert (REPO / source).is_file(), f"mounted file {source} missing"
    conf_target = next(t for t, s in mounts.items() if s.endswith("rabbitmq.conf"))
    assert conf_target.startswith("/etc/rabbitmq/conf.d/")
    conf = (REPO / mounts[conf_target]).read_text(encoding="utf-8")
    loaded = re.search(r"^load_definitions\s*=\s*(\S+)", conf, re.MULTILINE)
    assert loaded, "rabbitmq.conf does not load definitions"
    assert mounts.get(loaded.group(1), "").endswith("definitions.json"), (
        "load_definitions points at a path where definitions.json is not mounted")


def test_named_volumes_are_declared() -> None:
    for svc in SERVICES.values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in COMPOSE["volumes"], f"undeclared volume {source}"


def test_app_commands_are_service_entry_points() -> None:
    seen = {service_command(svc["command"]) for svc in APP.values()}
    wanted = {(m, None) for m in SETTINGS} | {(m, s) for m, subs in SUBCOMMANDS.items()
                                              for s in subs}
    assert seen == wanted


@pytest.mark.parametrize("name", sorted(APP))
def test_env_vars_are_settings_fields(name: str) -> None:
    module, _ = service_command(APP[name]["command"])
    assert env(APP[name]), f"{name} has no environment"
    assert_settings_fields(module, set(env(APP[name])), f"compose service {name}")


@pytest.mark.parametrize("name", sorted(APP))
def test_schema_and_port_are_the_services_own(name: str) -> None:
    module, _ = service_command(APP[name]["command"])
    fields = SETTINGS[module].model_fields
    variables = env(APP[name])
    assert variables.get("DB_SCHEMA", fields["db_schema"].default) == fields["db_schema"].default
    port = int(variables.get("HTTP_PORT", fields["http_port"].default))
    assert port == fields["http_port"].default
    metrics = int(variables.get("METRICS_PORT", port + 1000))
    assert metrics == port + 1000, "trust.md 1: the API port + 1000, i.e. 9081 / 9082"
    for mapping in APP[name].get("ports", []):
        parts = str(mapping).split(":")
        assert int(parts[-1]) in (port, metrics), f"{name} publishes {mapping}"
        if int(parts[-1]) == metrics:
            # Operations only: /metrics counts bids live, never for the whole network.
            assert parts[0] == "127.0.0.1", f"{name} publishes {mapping} beyond this host"


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's variable interpolation: ${VAR}, ${VAR:-default} and ${VAR:?error}."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if environ.get(name):
            return environ[name]
        if op == ":?":
            raise LookupError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    pattern = r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}"
    remaining = re.sub(pattern, "", value)
    assert "${" not in remaining and "$" not in remaining.replace("$$", ""), value
    return re.sub(pattern, one, value)


# Valid 32-byte base64 keys, as an operator would export them.
KEYS = {"BID_ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode(),
        "RECEIPT_SIGNING_KEY": base64.b64encode(b"r" * 32).decode()}


@pytest.mark.parametrize("name", sorted(n for n in APP if "bidding" in n))
def test_no_bidding_key_ships(name: str) -> None:
    """trust.md 1, 3, 4: the bidding keys must be given; none ships in the file."""
    variables = env(APP[name])
    for key in KEYS:
        with pytest.raises(LookupError, match=key):
            interpolate(variables[key], {})


@pytest.mark.parametrize("name", sorted(APP))
def test_no_usable_jwt_secret_ships(name: str) -> None:
    """trust.md 1: `docker compose up` without a JWT_SECRET stops at once, naming it, and
    the file holds no secret a reader could mint tokens with; DEV_MODE stays off."""
    variables = env(APP[name])
    with pytest.raises(LookupError, match="JWT_SECRET"):
        interpolate(variables["JWT_SECRET"], {})
    strong = "s" * 64
    assert interpolate(variables["JWT_SECRET"], {"JWT_SECRET": strong}) == strong
    assert interpolate(variables.get("DEV_MODE", "false"), {}) == "false"
    module, _ = service_command(APP[name]["command"])
    given = {"JWT_SECRET": strong, **KEYS}
    settings = SETTINGS[module](**{k.lower(): interpolate(v, given)
                                   for k, v in variables.items()})
    assert settings.unsafe_settings() == []  # type: ignore[attr-defined]
    assert settings.jurisdiction_tz == "Asia/Shanghai"  # type: ignore[attr-defined]


def test_every_variable_uses_compose_interpolation() -> None:
    """Only ${VAR}, ${VAR:-default} and ${VAR:?error}: what Compose v2 understands."""
    seen = set()
    for svc in SERVICES.values():
        for value in svc.get("environment", {}).values():
            interpolate(str(value), {"JWT_SECRET": "x" * 40, **KEYS})  # asserts the syntax
            seen |= set(re.findall(r"\$\{(\w+)", str(value)))
    assert {"JWT_SECRET", "DEV_MODE", "LOG_LEVEL", *KEYS} <= seen


@pytest.mark.parametrize("name", sorted(SERVING))
def test_serving_services_wait_for_their_migration_and_do_not_migrate(name: str) -> None:
    svc = SERVING[name]
    module, _ = service_command(svc["command"])
    assert env(svc).get("MIGRATE_ON_START") == "false"
    depends = svc["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["rabbitmq"]["condition"] == "service_healthy"
    migrations = [dep for dep, cond in depends.items()
                  if cond["condition"] == "service_completed_successfully"]
    assert [service_command(SERVICES[dep]["command"]) for dep in migrations] == [
        (module, "migrate")]
    # Compose's "healthy" means ready to serve: database and broker reachable.
    assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    assert svc["ports"], f"{name} publishes no port"


def test_one_shot_jobs_run_in_order() -> None:
    by_command = {service_command(svc["command"]): name for name, svc in APP.items()}
    for module in SETTINGS:
        migrate = SERVICES[by_command[(module, "migrate")]]
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    seed = SERVICES[by_command[("pool_service", "seed")]]
    assert seed["depends_on"] == {
        by_command[("pool_service", "migrate")]: {"condition": "service_completed_successfully"}}


def test_urls_point_at_the_compose_backing_services() -> None:
    pg_env = SERVICES["postgres"]["environment"]
    for name, svc in APP.items():
        database = urlsplit(plain(env(svc)["DATABASE_URL"]))
        assert database.scheme == "postgresql" and database.hostname == "postgres", name
        assert (database.username, database.password, database.path) == (
            pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], "/" + pg_env["POSTGRES_DB"])
        amqp = urlsplit(plain(env(svc)["AMQP_URL"]))
        assert amqp.scheme == "amqp" and amqp.hostname == "rabbitmq", name


# ---------------------------------------------------------------- the portal

PORTALS = {name: svc for name, svc in SERVICES.items()
           if svc.get("command", [])[:3] == ["python", "-m", "portal"]}


def test_the_portal_reads_the_services_and_the_broker_and_nothing_else() -> None:
    (svc,) = PORTALS.values()
    variables = env(svc)
    assert_settings_fields("portal", set(variables), "compose service portal")
    assert "DATABASE_URL" not in variables and "JWT_SECRET" not in variables
    assert urlsplit(variables["POOL_SERVICE_URL"]).hostname == "pool-service"
    assert urlsplit(variables["BIDDING_SERVICE_URL"]).hostname == "bidding-service"
    assert urlsplit(plain(variables["AMQP_URL"])).hostname == "rabbitmq"
    assert variables["EVENTS_EXCHANGE"] == env(SERVICES["bidding-service"])["EVENTS_EXCHANGE"]
    port = PortalSettings.model_fields["http_port"].default
    assert int(variables["HTTP_PORT"]) == port == 8080
    assert svc["ports"] == [f"{port}:{port}"]
    assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    assert {dep: c["condition"] for dep, c in svc["depends_on"].items()} == {
        "rabbitmq": "service_healthy", "pool-service": "service_healthy",
        "bidding-service": "service_healthy"}
    for value in variables.values():
        interpolate(value, {})  # starts with nothing exported


"""deploy/rabbitmq: the topology and user loaded into the compose broker at boot."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import urlsplit

from bidding_service.settings import BiddingSettings
from shared.broker import (
    BUDGET_REQUEST_KEYS,
    FINANCE_KEYS,
    QueueSpec,
    dlq_arguments,
    queue_arguments,
)

from .support import REPO, load_one

DEFINITIONS: dict[str, Any] = json.loads(
    (REPO / "deploy" / "rabbitmq" / "definitions.json").read_text(encoding="utf-8"))
COMPOSE = load_one(REPO / "docker-compose.yml")
EXCHANGE = BiddingSettings.model_fields["events_exchange"].default
FINANCE = BiddingSettings.model_fields["finance_queue"].default
DLX = "procurement.dlx"


def queue(name: str) -> dict[str, Any]:
    found = [q for q in DEFINITIONS["queues"] if q["name"] == name]
    assert len(found) == 1, f"queue {name} declared {len(found)} times"
    return found[0]


def bindings_to(name: str) -> set[tuple[str, str]]:
    return {(b["source"], b["routing_key"]) for b in DEFINITIONS["bindings"]
            if b["destination"] == name and b["destination_type"] == "queue"}


def test_exchanges() -> None:
    exchanges = {e["name"]: e for e in DEFINITIONS["exchanges"]}
    assert exchanges[EXCHANGE]["type"] == "topic" and exchanges[EXCHANGE]["durable"] is True
    assert exchanges[DLX]["type"] == "direct" and exchanges[DLX]["durable"] is True


def test_finance_queue_is_a_quorum_queue_with_dead_lettering() -> None:
    finance = queue(FINANCE)
    assert finance["durable"] is True and finance["auto_delete"] is False
    # Exactly what shared.broker.declare_queue declares, or the service's declaration
    # fails with PRECONDITION_FAILED against the pre-declared queue.
    assert finance["arguments"] == queue_arguments(QueueSpec(FINANCE, FINANCE_KEYS))
    assert finance["arguments"] == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 20,
        "x-dead-letter-exchange": DLX,
        "x-dead-letter-routing-key": f"{FINANCE}.dlq",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert bindings_to(FINANCE) == {(EXCHANGE, key) for key in FINANCE_KEYS}
    assert set(FINANCE_KEYS) == {"award.*", "round.failed", "round.cancelled"}


def test_finance_budget_queue_is_declared_as_the_bidding_service_declares_it() -> None:
    name = BiddingSettings.model_fields["finance_budget_queue"].default
    budget = queue(name)
    assert budget["arguments"] == queue_arguments(QueueSpec(name, BUDGET_REQUEST_KEYS))
    assert bindings_to(name) == {(EXCHANGE, "budget.*.requested")}
    assert queue(f"{name}.dlq")["arguments"] == dlq_arguments()
    assert bindings_to(f"{name}.dlq") == {(DLX, f"{name}.dlq")}


def test_dead_letter_queue() -> None:
    dlq = queue(f"{FINANCE}.dlq")
    assert dlq["durable"] is True and dlq["arguments"] == dlq_arguments()
    assert bindings_to(f"{FINANCE}.dlq") == {(DLX, f"{FINANCE}.dlq")}


def test_every_binding_joins_declared_things() -> None:
    exchanges = {e["name"] for e in DEFINITIONS["exchanges"]}
    queues = {q["name"] for q in DEFINITIONS["queues"]}
    vhosts = {v["name"] for v in DEFINITIONS["vhosts"]}
    assert DEFINITIONS["bindings"]
    for b in DEFINITIONS["bindings"]:
        assert b["source"] in exchanges and b["destination"] in queues, b
    for item in [*DEFINITIONS["exchanges"], *DEFINITIONS["queues"], *DEFINITIONS["bindings"]]:
        assert item["vhost"] in vhosts, item


def test_compose_credentials_match_the_defined_user() -> None:
    """Definitions import skips RabbitMQ's default user, so the file must hold the
    user compose's AMQP_URL logs in with, with rights on its vhost."""
    urls = {svc["environment"]["AMQP_URL"] for svc in COMPOSE["services"].values()
            if "AMQP_URL" in svc.get("environment", {})}
    assert len(urls) == 1
    url = urlsplit(urls.pop())
    users = {u["name"]: u for u in DEFINITIONS["users"]}
    user = users[url.username]
    assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    raw = base64.b64decode(user["password_hash"])
    salt, digest = raw[:4], raw[4:]
    assert hashlib.sha256(salt + url.password.encode()).digest() == digest, "password mismatch"
    vhost = url.path[1:] or "/"
    assert {"user": url.username, "vhost": vhost, "configure": ".*", "write": ".*",
            "read": ".*"} in DEFINITIONS["permissions"]


def test_compose_names_match_the_definitions() -> None:
    bidding = COMPOSE["services"]["bidding-service"]["environment"]
    assert bidding.get("EVENTS_EXCHANGE", EXCHANGE) == EXCHANGE
    assert bidding.get("FINANCE_QUEUE", FINANCE) == FINANCE


def test_rabbitmq_conf_lets_guest_in_from_other_containers() -> None:
    conf = (REPO / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text(encoding="utf-8")
    assert re.search(r"^loopback_users(\.guest)?\s*=\s*(false|none)\s*$", conf, re.MULTILINE)

"""docs/asyncapi.yaml against the project's own event documentation, docs/events.md:
the same types, envelope and queues. A new event type is documented by one row in the
"Types" table of docs/events.md and its channel, message and operation here."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bidding_service.settings import BiddingSettings
from tests.support import DOCS, markdown_section, table_rows

from .support import REPO, load_one

EVENTS_MD = DOCS / "events.md"
DOC: dict[str, Any] = load_one(REPO / "docs" / "asyncapi.yaml")
EXCHANGE = BiddingSettings.model_fields["events_exchange"].default
FINANCE = BiddingSettings.model_fields["finance_queue"].default


def documented_types() -> dict[str, str]:
    """Event type -> its `data` cell, from the "Types" table of docs/events.md; a `.word`
    after a full type is shorthand for its sibling, "as above" repeats the data."""
    types: dict[str, str] = {}
    data = ""
    for cells in table_rows(markdown_section(EVENTS_MD, "Types")):
        previous = None
        data = cells[2] if "as above" not in cells[2] else data
        for token in re.findall(r"`([^`]+)`", cells[0]):
            if token.startswith("."):
                assert previous, f"shorthand {token} without a full type before it"
                token = previous.rsplit(".", 1)[0] + token
            assert token not in types, f"{token} documented twice"
            types[token] = data
            previous = token
    return types


DOCUMENTED = documented_types()
SPEC_TYPES = list(DOCUMENTED)  # the types docs/events.md specifies


def finance_types() -> set[str]:
    """The types a finance system publishes (`from` = finance in the "Types" table)."""
    return {t for cells in table_rows(markdown_section(EVENTS_MD, "Types"))
            if cells[1] == "finance" for t in re.findall(r"`([^`.][^`]*)`", cells[0])}


FROM_FINANCE = finance_types()


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), f"external ref {ref}"
    node: Any = DOC
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable {ref}"
        node = node[part]
    return node


def deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(node["$ref"])
    return node


def test_the_types_table_parses() -> None:
    assert len(SPEC_TYPES) == len(set(SPEC_TYPES)) >= 18
    assert {"pool.member.admitted", "pool.member.removed", "award.published"} <= set(SPEC_TYPES)
    assert all(re.fullmatch(r"[a-z]+(\.[a-z]+)+", t) for t in SPEC_TYPES), SPEC_TYPES


def test_is_asyncapi_3() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert DOC["info"]["title"] and DOC["info"]["version"]
    assert all(s["protocol"] == "amqp" for s in DOC["servers"].values())


def test_every_ref_resolves() -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            refs.extend([node["$ref"]] if "$ref" in node else [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOC)
    assert len(refs) > 50
    for ref in refs:
        resolve(ref)


def routing_key_channels() -> dict[str, dict[str, Any]]:
    result = {}
    for channel in DOC["channels"].values():
        bindings = deref(channel.get("bindings", {})).get("amqp", {})
        if bindings.get("is") == "routingKey":
            assert bindings["exchange"]["name"] == EXCHANGE
            assert bindings["exchange"]["type"] == "topic"
            assert bindings["exchange"]["durable"] is True
            result[channel["address"]] = channel
    return result


@pytest.mark.parametrize("event_type", SPEC_TYPES)
def test_every_event_type_has_a_channel_and_a_cloudevents_message(event_type: str) -> None:
    channel = routing_key_channels()[event_type]  # routing key = the type
    (message,) = [deref(m) for m in channel["messages"].values()]
    assert message["name"] == event_type
    assert message["contentType"] == "application/json"
    assert message["bindings"]["amqp"]["messageType"] == event_type
    envelope, specific = message["payload"]["allOf"]
    assert deref(envelope) is DOC["components"]["schemas"]["CloudEvent"]
    assert specific["properties"]["type"] == {"const": event_type}
    if event_type in FROM_FINANCE:
        # A finance system's answers carry its own source (and numbering).
        assert "const" not in specific["properties"]["source"]
    else:
        source = specific["properties"]["source"]["const"]
        assert source == ("/pool-service" if event_type.startswith("pool.")
                          else "/bidding-service")
    data = deref(specific["properties"]["data"])
    assert data["type"] == "object" and data["required"]
    operations = [op for op in DOC["operations"].values()
                  if op["action"] == "send" and deref(op["channel"]) is channel]
    assert len(operations) == 1, f"{event_type}: {len(operations)} send operations"


def test_no_channel_for_an_unknown_event_type() -> None:
    assert set(routing_key_channels()) == set(SPEC_TYPES)


def test_cloudevents_envelope() -> None:
    envelope = DOC["components"]["schemas"]["CloudEvent"]
    assert set(envelope["required"]) >= {"specversion", "id", "source", "type", "time",
                                          "datacontenttype", "subject", "partitionkey",
                                          "sequence", "dataschemaversion", "data"}
    assert envelope["properties"]["specversion"] == {"const": "1.0"}
    assert envelope["properties"]["datacontenttype"] == {"const": "application/json"}


def test_envelope_documents_what_the_code_emits() -> None:
    """partitionkey and sequence (trust.md 7) as documented, checked on a real envelope."""
    import orjson

    from shared.events import new_event

    envelope = DOC["components"]["schemas"]["CloudEvent"]
    sequence = envelope["properties"]["sequence"]
    assert sequence["type"] == "string" and "without gaps" in sequence["description"]
    assert "<pool_id>/<supplier_id>" in envelope["properties"]["partitionkey"]["description"]
    event = new_event("/bidding-service", "award.declined", "a1",
                      {"round_id": "r-7", "award_id": "a1"}, sequence=12)
    body = orjson.loads(event.to_json())
    assert (body["partitionkey"], body["sequence"]) == ("r-7", "12")
    assert set(envelope["required"]) <= set(body) <= set(envelope["properties"])
    assert re.fullmatch(sequence["pattern"].strip("^$"), body["sequence"])
    for bad in ("0", "012", "1.5", "-3"):
        assert not re.fullmatch(sequence["pattern"].strip("^$"), bad)


@pytest.mark.parametrize("queue", ["finance.awards", "bidding-service.pool-events",
                                   "pool-service.awards", "finance.budget",
                                   "bidding-service.budget-answers"])
def test_queue_arguments_documented_as_declared(queue: str) -> None:
    from shared.broker import QueueSpec, dlq_arguments, queue_arguments

    (channel,) = [c for c in DOC["channels"].values() if c["address"] == queue]
    described = " ".join(channel["description"].split())
    for name, value in queue_arguments(QueueSpec(queue, [])).items():
        assert f"`{name}: {value}`" in described, (queue, name)
    info = " ".join(DOC["info"]["description"].split())
    for name, value in dlq_arguments().items():
        assert f"`{name}: {value}`" in info, name


@pytest.mark.parametrize("event_type", [t for t in SPEC_TYPES if t.startswith("pool.")])
def test_pool_and_membership_data_carry_a_monotonic_version(event_type: str) -> None:
    channel = routing_key_channels()[event_type]
    (message,) = [deref(m) for m in channel["messages"].values()]
    data = deref(message["payload"]["allOf"][1]["properties"]["data"])
    assert "version" in data["required"]
    version = data["properties"]["version"]
    assert version["type"] == "integer"
    assert "monotonic" in version["description"].lower()


def test_finance_queue_channel() -> None:
    (channel,) = [c for c in DOC["channels"].values() if c["address"] == FINANCE]
    amqp = deref(channel["bindings"])["amqp"]
    assert amqp["is"] == "queue" and amqp["queue"]["name"] == FINANCE
    assert amqp["queue"]["durable"] is True
    carried = {deref(m)["name"] for m in channel["messages"].values()}
    assert carried == {t for t in SPEC_TYPES if t.startswith("award.")} | {"round.failed",
                                                                         "round.cancelled"}
    assert "quorum" in channel["description"] and "procurement.dlx" in channel["description"]


def test_publish_bindings_are_persistent_and_mandatory() -> None:
    sends = [op for op in DOC["operations"].values() if op["action"] == "send"]
    assert len(sends) == len(SPEC_TYPES)
    for op in sends:
        amqp = deref(op["bindings"])["amqp"]
        assert amqp["deliveryMode"] == 2 and amqp["mandatory"] is True


def test_envelope_fields_are_the_documented_ones() -> None:
    rows = table_rows(markdown_section(EVENTS_MD, "Envelope"))
    documented = {re.sub(r"`", "", cells[0]): cells[1] == "yes" for cells in rows}
    envelope = DOC["components"]["schemas"]["CloudEvent"]
    assert set(documented) == set(envelope["properties"])
    assert {f for f, required in documented.items() if required} == set(envelope["required"])


def test_queues_are_the_documented_ones() -> None:
    rows = table_rows(markdown_section(EVENTS_MD, "Transport").split("### Queues", 1)[1])
    documented = {cells[0].strip("`") for cells in rows}
    queues = {deref(c["bindings"])["amqp"]["queue"]["name"] for c in DOC["channels"].values()
              if deref(c.get("bindings", {})).get("amqp", {}).get("is") == "queue"}
    assert documented == queues


def _top_level_fields(cell: str) -> dict[str, bool]:
    """`{a, b?, c: {x, y}}` in a data cell -> {"a": True, "b": False, "c": True}
    (True: required)."""
    found = re.search(r"`(\{[^`]*\})`", cell)
    assert found, f"no field list in {cell!r}"
    text, depth, current, fields = found[1][1:-1], 0, "", []
    for ch in text + ",":
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            fields.append(current.strip())
            current = ""
        elif depth == 0 and ch != "}":
            current += ch
    names = [re.match(r"[a-z_]+\??", f)[0] for f in fields if f]  # type: ignore[index]
    return {n.rstrip("?"): not n.endswith("?") for n in names}


@pytest.mark.parametrize("event_type", SPEC_TYPES)
def test_documented_data_fields_exist(event_type: str) -> None:
    channel = routing_key_channels()[event_type]
    (message,) = [deref(m) for m in channel["messages"].values()]
    data = deref(message["payload"]["allOf"][1]["properties"]["data"])
    fields = _top_level_fields(DOCUMENTED[event_type])
    assert set(fields) <= set(data["properties"]), set(fields) - set(data["properties"])
    required = {f for f, req in fields.items() if req}
    assert required <= set(data["required"]), required - set(data["required"])


def test_the_budget_queues_carry_the_documented_types() -> None:
    from shared.broker import BUDGET_ANSWER_KEYS, BUDGET_REQUEST_KEYS

    channels = {c["address"]: c for c in DOC["channels"].values()}
    requests = {deref(m)["name"] for m in channels["finance.budget"]["messages"].values()}
    assert requests == {t for t in SPEC_TYPES if t.startswith("budget.")
                        and t.endswith(".requested")}
    assert BUDGET_REQUEST_KEYS == ("budget.*.requested",)
    answers = {deref(m)["name"]
               for m in channels["bidding-service.budget-answers"]["messages"].values()}
    assert answers == set(BUDGET_ANSWER_KEYS) == FROM_FINANCE
    for name in ("finance.budget", "bidding-service.budget-answers"):
        assert "quorum" in channels[name]["description"]


def _inline(node: Any) -> Any:
    """`node` with every local $ref replaced by what it points to."""
    node = deref(node)
    if isinstance(node, dict):
        return {k: _inline(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v) for v in node]
    return node


BUDGET_TYPES = [t for t in SPEC_TYPES if t.startswith(("budget.", "payment."))]


@pytest.mark.parametrize("event_type", BUDGET_TYPES)
def test_budget_messages_have_examples_that_validate(event_type: str) -> None:
    """The budget loop's messages carry a whole example event, valid against the schema."""
    import jsonschema

    channel = routing_key_channels()[event_type]
    (message,) = [deref(m) for m in channel["messages"].values()]
    schema = _inline(message["payload"])
    assert message["examples"], event_type
    for example in message["examples"]:
        payload = example["payload"]
        jsonschema.Draft202012Validator(schema).validate(payload)
        assert payload["type"] == event_type
        assert payload["partitionkey"] == payload["data"].get("round_id", payload["subject"])
        fields = _top_level_fields(DOCUMENTED[event_type])
        assert set(fields) <= set(payload["data"])

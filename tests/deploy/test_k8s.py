"""deploy/k8s: every manifest parses and validates, the kustomizations resolve, and the
workloads agree with the services' settings, entry points and health endpoints."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from .support import (
    ALL_SETTINGS,
    K8S,
    KUSTOMIZATIONS,
    SETTINGS,
    Doc,
    assert_settings_fields,
    containers,
    kustomization,
    kustomize_binary,
    kustomize_resource_files,
    load_docs,
    render,
    service_command,
)

# A Kubernetes version whose schemas kubernetes-validate bundles (no network needed).
K8S_VERSION = "1.31.0"
BASE = K8S / "base"
DEV = K8S / "overlays" / "dev"
PROD = K8S / "overlays" / "prod"
CNPG = ("postgresql.cnpg.io/v1", "Cluster")
RABBIT = ("rabbitmq.com/v1beta1", "RabbitmqCluster")
EXTERNAL_SECRET = ("external-secrets.io/v1", "ExternalSecret")
# The Secret the services' own secrets come from: never in the repository (trust.md 1).
# overlays/prod syncs it from the secret store; elsewhere it is made by hand (README).
APP_SECRET = "procurement-secrets"
APP_SECRET_KEYS = {"JWT_SECRET", "BID_ENCRYPTION_KEY", "RECEIPT_SIGNING_KEY"}
# The keys every workload of a service needs (its settings refuse to start without them).
SERVICE_SECRET_KEYS = {"pool_service": {"JWT_SECRET"}, "bidding_service": APP_SECRET_KEYS}
MONITORING_NAMESPACE = "monitoring"
SIGTERM_BUDGET_SECONDS = 10  # http-api.md: exit within 10 s of SIGTERM
PORTAL_NAME = "portal"

needs_kustomize = pytest.mark.skipif(kustomize_binary() is None,
                                     reason="neither kustomize nor kubectl is installed")


# --- helpers -------------------------------------------------------------------------


def is_builtin(doc: Doc) -> bool:
    """Kinds served by Kubernetes itself (core or *.k8s.io groups), not by an operator."""
    group = doc["apiVersion"].rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def generated_configmaps(directory: Path) -> list[Doc]:
    """The ConfigMaps a kustomization's configMapGenerator makes, unhashed."""
    result = []
    for gen in kustomization(directory).get("configMapGenerator", []):
        data = dict(literal.split("=", 1) for literal in gen.get("literals", []))
        result.append({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": gen["name"]}, "data": data})
    return result


def base_bundle() -> list[Doc]:
    """The base as kustomize would emit it, short of name hashes (no binary needed)."""
    docs = [doc for path in kustomize_resource_files(BASE) for doc in load_docs(path)]
    return docs + generated_configmaps(BASE)


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: Iterable[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
    return found[0]


def selector_matches(selector: Doc, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (matchLabels and matchExpressions)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": labels.get(key) not in values,
              "Exists": key in labels,
              "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def pod_labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def env_names(container: Doc, configmaps: dict[str, Doc]) -> set[str]:
    """Variables the process sees: env entries plus the keys of envFrom ConfigMaps."""
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"unexpected envFrom {source}"
        names |= set(configmaps[source["configMapRef"]["name"]].get("data", {}))
    return names


def expansion_helpers(container: Doc) -> set[str]:
    """Variables used only to build others through Kubernetes' `$(VAR)` expansion."""
    used = {m for e in container.get("env", []) for m in re.findall(r"\$\((\w+)\)",
                                                                      e.get("value", ""))}
    return used


def parse_quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    text = str(value)
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def workloads(docs: Iterable[Doc]) -> list[Doc]:
    """The services' Deployments and Jobs (the portal's Deployment is checked apart)."""
    return [d for d in docs if d["kind"] in ("Deployment", "Job")
            and pod_labels(d).get("app.kubernetes.io/name") != PORTAL_NAME]


# --- parsing and schema validation ---------------------------------------------------


ALL_YAML = sorted(K8S.rglob("*.yaml"))


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_parses_into_typed_documents(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        assert isinstance(doc, dict) and doc.get("kind"), f"{path}: a document without kind"
        if doc["kind"] != "Kustomization":
            assert doc.get("apiVersion") and doc.get("metadata", {}).get("name"), path


RESOURCE_FILES = sorted({p for d in KUSTOMIZATIONS for p in kustomize_resource_files(d)})


@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda p: str(p.relative_to(K8S)))
def test_builtin_kinds_validate_against_the_kubernetes_schema(path: Path) -> None:
    for doc in load_docs(path):
        if is_builtin(doc):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        else:
            assert (doc["apiVersion"], doc["kind"]) in (CNPG, RABBIT, EXTERNAL_SECRET), (
                f"{path}: no check for {doc['apiVersion']} {doc['kind']}")


def test_validation_rejects_a_broken_manifest() -> None:
    """The validator really checks (a typo'd field fails), so the test above means something."""
    deployment = one(base_bundle(), "Deployment", "pool-service")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


# --- kustomize -----------------------------------------------------------------------


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kustomization_references_resolve(directory: Path) -> None:
    """Without a kustomize binary: resources exist and every patch hits a resource."""
    k = kustomization(directory)
    assert k["resources"], f"{directory}: no resources"
    for entry in k["resources"]:
        target = directory / entry
        assert target.is_file() or (target / "kustomization.yaml").is_file(), entry
    assert not k.get("namePrefix") and not k.get("nameSuffix"), (
        "a prefix/suffix would break the names of the operator-generated secrets")
    resources = {(d["kind"], d["metadata"]["name"])
                 for path in kustomize_resource_files(directory) for d in load_docs(path)}
    for patch in k.get("patches", []):
        assert "path" in patch, f"inline patches are not checked: {patch}"
        for doc in load_docs(directory / patch["path"]):
            target = patch.get("target") or {"kind": doc["kind"],
                                             "name": doc["metadata"]["name"]}
            assert (target["kind"], target["name"]) in resources, (
                f"{directory.name}/{patch['path']} patches missing {target}")
    images = {c["image"].split(":")[0] for path in kustomize_resource_files(directory)
              for d in workloads(load_docs(path)) for c in containers(d)}
    for image in k.get("images", []):
        assert image["name"] in images, f"images: {image['name']} is used by no container"
    base_generators = {g["name"] for g in kustomization(BASE).get("configMapGenerator", [])}
    for gen in k.get("configMapGenerator", []):
        if gen.get("behavior") in ("merge", "replace"):
            assert gen["name"] in base_generators, f"{gen['name']} merges into nothing"


@needs_kustomize
@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kustomize_build_renders_valid_manifests(directory: Path) -> None:
    docs = render(directory)
    validated = 0
    for doc in docs:
        if is_builtin(doc):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            validated += 1
    assert validated >= 10
    check_workloads(docs)
    check_network_policies(docs)
    check_backing_services(docs)


# --- the workloads -------------------------------------------------------------------


def check_workloads(docs: list[Doc]) -> None:
    """Commands, env, ports, probes, secrets and security of every Deployment and Job."""
    configmaps = {d["metadata"]["name"]: d for d in of_kind(docs, "ConfigMap")}
    secrets = secret_keys(docs)
    db_secret = f"{one(docs, CNPG[1], 'procurement-db')['metadata']['name']}-app"
    mq_name = one(docs, RABBIT[1], "procurement-mq")["metadata"]["name"]
    commands = set()
    assert workloads(docs)
    for workload in workloads(docs):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod.get("automountServiceAccountToken") is False
        for c in containers(workload):
            where = f"{workload['kind']}/{workload['metadata']['name']}/{c['name']}"
            module, sub = service_command(c["command"])
            commands.add((workload["kind"], module, sub))
            names = env_names(c, configmaps)
            helpers = expansion_helpers(c)
            assert_settings_fields(module, names - helpers, where)
            for name in helpers:
                assert name in names, f"{where}: $({name}) is not defined"
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{where}: {kind}"
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                if ref["name"] == db_secret:
                    assert (e["name"], ref["key"]) == ("DATABASE_URL", "uri"), where
                elif ref["name"] == f"{mq_name}-default-user":
                    assert ref["key"] in ("username", "password"), where
                else:
                    assert ref["key"] in secrets.get(ref["name"], set()) or (
                        ref["name"] == APP_SECRET and ref["key"] in APP_SECRET_KEYS), where
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            assert env.get("DB_SCHEMA", SETTINGS[module].model_fields["db_schema"].default) == \
                SETTINGS[module].model_fields["db_schema"].default, where
            if "AMQP_URL" in env:
                assert re.fullmatch(rf"amqp://\$\(\w+\):\$\(\w+\)@{mq_name}:5672/",
                                    env["AMQP_URL"]), where
            if workload["kind"] == "Deployment":
                check_serving_container(workload, c, module, env)
    for module in SETTINGS:
        assert ("Deployment", module, None) in commands, f"no Deployment runs {module}"
        assert ("Job", module, "migrate") in commands, f"no migration Job for {module}"


def named_ports(container: Doc) -> dict[str, Doc]:
    ports = {p["name"]: p for p in container["ports"]}
    assert set(ports) == {"http", "metrics"}, ports
    return ports


def check_serving_container(deployment: Doc, c: Doc, module: str, env: dict[str, Any]) -> None:
    where = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    default_port = SETTINGS[module].model_fields["http_port"].default
    port = int(env.get("HTTP_PORT", default_port))
    assert port == default_port, where
    http, metrics = named_ports(c)["http"], named_ports(c)["metrics"]
    assert http["containerPort"] == port, where
    # trust.md 1: /metrics on its own port, by default the API port + 1000.
    assert metrics["containerPort"] == int(env.get("METRICS_PORT", port + 1000)) == \
        port + 1000, where
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") == "true":
        assert annotations["prometheus.io/port"] == str(metrics["containerPort"]), where
        assert annotations["prometheus.io/path"] == "/metrics", where
    assert env.get("MIGRATE_ON_START") == "false", f"{where}: replicas must not migrate"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", where
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", where
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe in c:
            assert c[probe]["httpGet"]["port"] in (http["name"], port), f"{where}: {probe}"
    sleep = c["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep", where
    grace = pod["terminationGracePeriodSeconds"]
    assert int(sleep[1]) + SIGTERM_BUDGET_SECONDS < grace <= 60, where
    mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
    assert "/tmp" in mounts, f"{where}: read-only root needs a writable /tmp"


def test_base_workloads() -> None:
    check_workloads(base_bundle())


def test_base_deployments_run_two_replicas_behind_a_service_pdb_and_hpa() -> None:
    docs = base_bundle()
    deployments = of_kind(workloads(docs), "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {"pool-service", "bidding-service"}
    for d in deployments:
        name, labels = d["metadata"]["name"], pod_labels(d)
        assert d["spec"]["replicas"] == 2
        assert selector_matches(d["spec"]["selector"], labels)
        (service,) = [s for s in of_kind(docs, "Service")
                      if selector_matches({"matchLabels": s["spec"]["selector"]}, labels)]
        (container,) = d["spec"]["template"]["spec"]["containers"]
        http = named_ports(container)["http"]
        # The Service carries the API only: /metrics is scraped from the pods.
        (api,) = service["spec"]["ports"]
        assert api["port"] == http["containerPort"]
        assert api["targetPort"] in (http["name"], http["containerPort"])
        (pdb,) = [p for p in of_kind(docs, "PodDisruptionBudget")
                  if selector_matches(p["spec"]["selector"], labels)]
        assert pdb["apiVersion"] == "policy/v1"
        (hpa,) = [h for h in of_kind(docs, "HorizontalPodAutoscaler")
                  if h["spec"]["scaleTargetRef"]["name"] == name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["minReplicas"] <= d["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    # Jobs' pods must not be picked up by the Services or the Deployments.
    for job in of_kind(docs, "Job"):
        for d in deployments:
            assert not selector_matches(d["spec"]["selector"], pod_labels(job))


def secret_keys(docs: list[Doc]) -> dict[str, set[str]]:
    """Secret name -> keys, for Secrets in the manifests and those an ExternalSecret makes."""
    keys: dict[str, set[str]] = {}
    for secret in of_kind(docs, "Secret"):
        keys[secret["metadata"]["name"]] = set(secret.get("stringData", {})) | set(
            secret.get("data", {}))
    for ext in of_kind(docs, EXTERNAL_SECRET[1]):
        target = ext["spec"].get("target", {}).get("name", ext["metadata"]["name"])
        keys[target] = {d["secretKey"] for d in ext["spec"]["data"]}
    return keys


def all_manifests() -> list[Doc]:
    return [doc for path in sorted(K8S.rglob("*.yaml")) for doc in load_docs(path)]


def test_no_manifest_ships_a_secret_value() -> None:
    """trust.md 1: nobody who reads the repository can mint a token."""
    for doc in all_manifests():
        if doc["kind"] == "Secret":
            assert not doc.get("stringData") and not doc.get("data"), doc["metadata"]
        if doc["kind"] == "ConfigMap" or doc["kind"] == "Kustomization":
            assert "JWT_SECRET" not in str(doc), doc.get("metadata", doc)
    for directory in KUSTOMIZATIONS:
        k = kustomization(directory)
        assert not k.get("secretGenerator"), f"{directory.name}: a secret in the repository"
        for gen in k.get("configMapGenerator", []):
            keys = {literal.split("=", 1)[0] for literal in gen.get("literals", [])}
            assert not keys & (APP_SECRET_KEYS | {"DEV_MODE"}), (directory.name, keys)


def test_every_workload_takes_its_secrets_from_the_app_secret() -> None:
    for workload in workloads(base_bundle()):
        for c in containers(workload):
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c.get("env", [])
                    if "secretKeyRef" in e.get("valueFrom", {})}
            # Every command checks the settings first, migrations and seeds included.
            module, _ = service_command(c["command"])
            for key in SERVICE_SECRET_KEYS[module]:
                assert refs.get(key) == {"name": APP_SECRET, "key": key}, (
                    workload["metadata"]["name"], key)


def test_prod_syncs_the_app_secret_from_the_secret_store() -> None:
    prod = [d for path in kustomize_resource_files(PROD) for d in load_docs(path)]
    (ext,) = of_kind(prod, EXTERNAL_SECRET[1])
    assert ext["apiVersion"] == EXTERNAL_SECRET[0]
    assert ext["spec"]["target"]["name"] == APP_SECRET
    assert secret_keys(prod)[APP_SECRET] == APP_SECRET_KEYS
    assert ext["spec"]["secretStoreRef"]["name"]
    assert all(d["remoteRef"]["key"] for d in ext["spec"]["data"])
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    assert "ExternalSecret" in readme and "kubectl" in readme and APP_SECRET in readme


def test_configmap_keys_are_settings_fields() -> None:
    fields = set(SETTINGS["pool_service"].model_fields) | set(
        SETTINGS["bidding_service"].model_fields)
    configmaps = generated_configmaps(BASE) + generated_configmaps(DEV) + \
        generated_configmaps(PROD)
    assert configmaps
    for cm in configmaps:
        unknown = [k for k in cm["data"] if k.lower() not in fields]
        assert not unknown, f"{cm['metadata']['name']}: {unknown}"


# --- network policies ----------------------------------------------------------------


def allowed_sources(docs: list[Doc], target_labels: dict[str, str], port: int) -> list[Doc]:
    """The `from` peers of every ingress rule that opens `port` on pods with these labels."""
    peers: list[Doc] = []
    for policy in of_kind(docs, "NetworkPolicy"):
        if not selector_matches(policy["spec"]["podSelector"], target_labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            if any(p["port"] == port for p in rule.get("ports", [])):
                peers.extend(rule.get("from", [{}]))  # no `from`: everyone
    return peers


def check_network_policies(docs: list[Doc]) -> None:
    db = one(docs, CNPG[1], "procurement-db")["metadata"]["name"]
    mq = one(docs, RABBIT[1], "procurement-mq")["metadata"]["name"]
    app_pods = [pod_labels(w) for w in workloads(docs)]
    targets = {
        5432: ({"cnpg.io/cluster": db}, {"cnpg.io/cluster": db}),
        5672: ({"app.kubernetes.io/name": mq}, {"app.kubernetes.io/name": mq}),
    }
    for port, (labels, own_members) in targets.items():
        peers = allowed_sources(docs, labels, port)
        assert peers, f"no policy protects port {port}"
        for peer in peers:
            assert set(peer) == {"podSelector"}, f"port {port} open to {peer}"
            selector = peer["podSelector"]
            if selector == {"matchLabels": own_members}:
                continue  # the cluster's own members (replication, clustering)
            assert not selector_matches(selector, {"app.kubernetes.io/name": "intruder"}), (
                f"port {port} open to pods other than the services': {selector}")
            assert any(selector_matches(selector, p) for p in app_pods), selector
        for pod in app_pods:
            assert any(selector_matches(p["podSelector"], pod) for p in peers), (
                f"{pod} cannot reach port {port}")
    for d in of_kind(workloads(docs), "Deployment"):
        ports = named_ports(d["spec"]["template"]["spec"]["containers"][0])
        port = ports["http"]["containerPort"]
        assert allowed_sources(docs, pod_labels(d), port), f"{d['metadata']['name']} unreachable"
        # /metrics: from the monitoring namespace only, never from everyone.
        metrics = ports["metrics"]["containerPort"]
        peers = allowed_sources(docs, pod_labels(d), metrics)
        assert peers, f"{d['metadata']['name']}: Prometheus cannot scrape {metrics}"
        assert peers == [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}], peers


def test_network_policies() -> None:
    check_network_policies(base_bundle())


# --- operators' resources ------------------------------------------------------------


def check_backing_services(docs: list[Doc]) -> None:
    (pg,) = [d for d in docs if (d["apiVersion"], d["kind"]) == CNPG]
    assert isinstance(pg["spec"]["instances"], int) and pg["spec"]["instances"] >= 1
    assert parse_quantity(pg["spec"]["storage"]["size"]) > 0
    initdb = pg["spec"]["bootstrap"]["initdb"]
    assert initdb["database"] and initdb["owner"]
    # A supported PostgreSQL 16 or 17, pinned to a minor release.
    assert re.fullmatch(r"ghcr\.io/cloudnative-pg/postgresql:1[67]\.\d+", pg["spec"]["imageName"])
    (mq,) = [d for d in docs if (d["apiVersion"], d["kind"]) == RABBIT]
    assert isinstance(mq["spec"]["replicas"], int) and mq["spec"]["replicas"] >= 1
    # A supported RabbitMQ 4.x, pinned.
    assert re.fullmatch(r"rabbitmq:4\.\d+\.\d+-management", mq["spec"]["image"])
    assert parse_quantity(mq["spec"]["persistence"]["storage"]) > 0
    config = mq["spec"]["rabbitmq"]["additionalConfig"]
    lines = [ln.strip() for ln in config.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines and all(re.fullmatch(r"[a-z_.]+ = \S+", ln) for ln in lines), lines
    assert "queue_leader_locator = balanced" in lines
    for doc in (pg, mq):
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(doc["spec"]["resources"][kind])


def test_backing_services_in_base_are_three_node_clusters() -> None:
    docs = base_bundle()
    check_backing_services(docs)
    assert one(docs, CNPG[1], "procurement-db")["spec"]["instances"] == 3
    assert one(docs, RABBIT[1], "procurement-mq")["spec"]["replicas"] == 3


def test_db_connection_budget_fits_max_connections() -> None:
    """HPA maxima x DB_POOL_MAX, both services, plus room for the Jobs, stays under
    PostgreSQL's max_connections in every overlay."""
    base = base_bundle()
    pool_max = int(one(base, "ConfigMap", "procurement-config")["data"]["DB_POOL_MAX"])
    for directory in (BASE, DEV, PROD):
        patches = patch_docs(directory) if directory != BASE else []
        max_replicas = {h["metadata"]["name"]: h["spec"]["maxReplicas"]
                        for h in of_kind(base, "HorizontalPodAutoscaler")}
        for patch in of_kind(patches, "HorizontalPodAutoscaler"):
            max_replicas[patch["metadata"]["name"]] = patch["spec"]["maxReplicas"]
        parameters = dict(one(base, CNPG[1], "procurement-db")["spec"]["postgresql"]["parameters"])
        for patch in of_kind(patches, CNPG[1]):
            parameters.update(patch["spec"].get("postgresql", {}).get("parameters", {}))
        peak = sum(max_replicas.values()) * pool_max
        assert peak + 10 <= int(parameters["max_connections"]), directory.name


# --- overlays ------------------------------------------------------------------------


def patch_docs(directory: Path) -> list[Doc]:
    """The documents of a kustomization's patch files."""
    return [d for patch in kustomization(directory)["patches"]
            for d in load_docs(directory / patch["path"])]


def test_dev_overlay_is_small_and_quick() -> None:
    patches = patch_docs(DEV)
    deployments = of_kind(patches, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {"pool-service", "bidding-service",
                                                            PORTAL_NAME}
    assert all(d["spec"]["replicas"] == 1 for d in deployments)
    assert all(h["spec"]["minReplicas"] == 1 for h in of_kind(patches, "HorizontalPodAutoscaler"))
    base_cm = {g["metadata"]["name"]: g["data"] for g in generated_configmaps(BASE)}
    dev_cm = {g["metadata"]["name"]: g["data"] for g in generated_configmaps(DEV)}
    key = "ROUND_MIN_DURATION_SECONDS"
    assert int(dev_cm["bidding-service-config"][key]) < int(base_cm["bidding-service-config"][key])
    jobs = [service_command(c["command"]) for p in kustomize_resource_files(DEV)
            if p.parent == DEV for d in of_kind(load_docs(p), "Job") for c in containers(d)]
    assert jobs == [("pool_service", "seed")]


def test_prod_overlay_scales_up() -> None:
    base = {d["metadata"]["name"]: d for d in of_kind(base_bundle(), "Deployment")}
    patches = of_kind(patch_docs(PROD), "Deployment")
    assert {d["metadata"]["name"] for d in patches} == set(base)
    for patch in patches:
        original = base[patch["metadata"]["name"]]
        assert patch["spec"]["replicas"] > original["spec"]["replicas"]
        (c_new,) = patch["spec"]["template"]["spec"]["containers"]
        (c_old,) = original["spec"]["template"]["spec"]["containers"]
        for resource in ("cpu", "memory"):
            assert parse_quantity(c_new["resources"]["limits"][resource]) >= parse_quantity(
                c_old["resources"]["limits"][resource])
    for hpa in of_kind(patch_docs(PROD), "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 3


@needs_kustomize
def test_rendered_overlays_carry_their_patches() -> None:
    dev, prod = render(DEV), render(PROD)
    assert {d["spec"]["replicas"] for d in of_kind(dev, "Deployment")} == {1}
    assert min(d["spec"]["replicas"] for d in of_kind(prod, "Deployment")) >= 3
    assert one(dev, CNPG[1], "procurement-db")["spec"]["instances"] == 1
    assert {d["metadata"].get("namespace") for d in dev} == {"procurement-dev", None}
    assert {d["metadata"].get("namespace") for d in prod} == {"procurement", None}
    images = {c["image"] for d in workloads(prod) for c in containers(d)}
    assert len(images) == 1 and ":" in images.pop()


# --- the portal ----------------------------------------------------------------------


def test_the_portal_runs_read_only_with_probes_and_no_secret_of_the_system() -> None:
    docs = base_bundle()
    portal = one(docs, "Deployment", PORTAL_NAME)
    pod = portal["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod.get("automountServiceAccountToken") is False
    (c,) = containers(portal)
    assert service_command(c["command"]) == ("portal", None)
    names = {e["name"] for e in c["env"]}
    assert_settings_fields("portal", names - expansion_helpers(c), "Deployment/portal")
    assert not names & {"DATABASE_URL", "JWT_SECRET", "BID_ENCRYPTION_KEY",
                        "RECEIPT_SIGNING_KEY"}
    for e in c["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        assert ref is None or ref["name"] == "procurement-mq-default-user", e
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert int(env["HTTP_PORT"]) == ALL_SETTINGS["portal"].model_fields["http_port"].default
    (http,) = c["ports"]
    assert http["containerPort"] == 8080 and http["name"] == "http"
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]
    service = one(docs, "Service", PORTAL_NAME)
    assert selector_matches({"matchLabels": service["spec"]["selector"]}, pod_labels(portal))
    assert [p["port"] for p in service["spec"]["ports"]] == [8080]
    pdb = one(docs, "PodDisruptionBudget", PORTAL_NAME)
    assert selector_matches(pdb["spec"]["selector"], pod_labels(portal))
    # Its URLs are the two services' Services and API ports.
    ports = {s["metadata"]["name"]: s["spec"]["ports"][0]["port"]
             for s in of_kind(docs, "Service")}
    for variable, name in (("POOL_SERVICE_URL", "pool-service"),
                           ("BIDDING_SERVICE_URL", "bidding-service")):
        assert env[variable] == f"http://{name}:{ports[name]}"


def test_the_portal_reaches_only_the_services_api_ports_and_the_broker() -> None:
    docs = base_bundle()
    labels = pod_labels(one(docs, "Deployment", PORTAL_NAME))
    egress = [p for p in of_kind(docs, "NetworkPolicy")
              if selector_matches(p["spec"]["podSelector"], labels)
              and "Egress" in p["spec"]["policyTypes"]]
    assert len(egress) == 1
    reached: set[tuple[str, int]] = set()
    for rule in egress[0]["spec"]["egress"]:
        for peer in rule["to"]:
            target = peer["podSelector"]["matchLabels"]
            for port in rule["ports"]:
                if "namespaceSelector" in peer:
                    assert target == {"k8s-app": "kube-dns"} and port["port"] == 53, peer
                    continue
                reached.add((target["app.kubernetes.io/name"], port["port"]))
    services = {d["metadata"]["name"]: named_ports(containers(d)[0])["http"]["containerPort"]
                for d in of_kind(workloads(docs), "Deployment")}
    assert reached == {("pool-service", services["pool-service"]),
                       ("bidding-service", services["bidding-service"]),
                       ("procurement-mq", 5672)}
    # The broker lets it in; the database does not.
    assert any(selector_matches(p["podSelector"], labels)
               for p in allowed_sources(docs, {"app.kubernetes.io/name": "procurement-mq"},
                                        5672))
    db = {"cnpg.io/cluster": "procurement-db"}
    assert not any(selector_matches(p.get("podSelector", {}), labels)
                   for p in allowed_sources(docs, db, 5432))
    assert allowed_sources(docs, labels, 8080), "nobody may reach the portal"

"""deploy/k8s without a cluster: every manifest and every rendered overlay against the Kubernetes
JSON schemas (kubernetes-validate, offline), and consistency with docker-compose.yml and
system/config.py. Rendering needs kustomize (scripts/install.sh installs it with `go install`)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from system.config import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
# The oldest Kubernetes release still commonly run, and the newest whose schemas ship with the package.
VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
KUSTOMIZE_KINDS = {"Kustomization", "Component"}
SETTINGS = {f.name.upper() for f in fields(Settings)}
# Read by the gateway once the API-token work (gateway-guard) is merged; the Secret carries it already.
PENDING_SETTINGS = {"GATEWAY_API_TOKEN"}
# Read by the app image's entrypoint (system/proxy_link.py), not by Settings: compose's Toxiproxy links.
ENTRYPOINT_VARIABLES = {"TOXIPROXY_URL"}


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml")
                  if any(d.get("kind") not in KUSTOMIZE_KINDS for d in _docs(p.read_text())))


def _render(overlay: str) -> list[dict[str, Any]]:
    """`kustomize build` of an overlay (once per session; callers must not change the result)."""
    kustomize = shutil.which("kustomize")
    if kustomize is None:
        message = "kustomize is not installed: run scripts/install.sh (go install sigs.k8s.io/kustomize/kustomize/v5)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return _build(kustomize, overlay)


@functools.cache
def _build(kustomize: str, overlay: str) -> list[dict[str, Any]]:
    proc = subprocess.run([kustomize, "build", str(K8S / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"kustomize build overlays/{overlay} failed:\n{proc.stderr}"
    return _docs(proc.stdout)


def _by_kind(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert found, f"no {kind} {name}"
    return found[0]


def _container(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return _by_kind(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]


def _compose() -> dict[str, Any]:
    loader = type("ComposeLoader", (yaml.SafeLoader,), {})
    loader.add_constructor("!reset", lambda _loader, _node: None)
    return yaml.load((ROOT / "docker-compose.yml").read_text(), Loader=loader)  # noqa: S506


def _compose_default(var: str) -> str:
    match = re.search(r"\$\{" + var + r":-([^}]+)\}", (ROOT / "docker-compose.yml").read_text())
    assert match, f"docker-compose.yml has no default for {var}"
    return match.group(1)


def test_manifests_exist_for_every_part() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for p in _manifest_files() for d in _docs(p.read_text())}
    assert {("Deployment", "gateway"), ("Service", "gateway"), ("Deployment", "worker"),
            ("PodDisruptionBudget", "worker"), ("StatefulSet", "redis"), ("StatefulSet", "sentinel"),
            ("ConfigMap", "taskq-config"), ("HorizontalPodAutoscaler", "worker")} <= kinds


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_file_matches_the_kubernetes_schemas(version: str) -> None:
    files = _manifest_files()
    assert len(files) >= 7
    for path in files:
        for doc in _docs(path.read_text()):
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path.relative_to(ROOT)}: {doc['kind']} {doc['metadata']['name']}: {exc.message}")


def test_the_schema_check_catches_a_broken_manifest() -> None:
    """The validation above can fail: a misspelt field and a wrong type are both rejected."""
    doc = _docs((K8S / "base" / "worker.yaml").read_text())[0]
    doc["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 15
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, VERSIONS[0], strict=True)
    doc = _docs((K8S / "base" / "worker.yaml").read_text())[0]
    doc["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, VERSIONS[0], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_overlay_matches_the_schemas(overlay: str) -> None:
    docs = _render(overlay)
    namespace = _by_kind(docs, "Namespace", "taskq-dev" if overlay == "dev" else "taskq")["metadata"]["name"]
    for doc in docs:
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace, f"{doc['kind']} {doc['metadata']['name']}"
    assert any(d["kind"] == "HorizontalPodAutoscaler" for d in docs) == (overlay == "production")
    if overlay == "production":  # the autoscaler owns the worker count
        assert "replicas" not in _by_kind(docs, "Deployment", "worker")["spec"]


def test_dev_overlay_generates_every_secret_key_the_pods_read() -> None:
    docs = _render("dev")
    secrets = {d["metadata"]["name"]: set(d.get("data", {})) for d in docs if d["kind"] == "Secret"}
    for doc in docs:
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secrets, f"{container['name']}: no Secret {ref['name']}"
                    assert ref["key"] in secrets[ref["name"]], f"{container['name']}: no key {ref['key']}"


def test_every_container_has_probes_and_resources() -> None:
    docs = _render("dev")
    for doc in docs:
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            where = f"{doc['kind']} {doc['metadata']['name']}"
            assert "readinessProbe" in container and "livenessProbe" in container, where
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][part]), f"{where}: {part}"


def test_worker_probes_the_heartbeat_and_outlives_its_shutdown_grace() -> None:
    docs = _render("dev")
    worker = _container(docs, "Deployment", "worker")
    assert worker["readinessProbe"]["exec"]["command"] == ["python3", "-m", "system.worker.probe"]
    assert worker["livenessProbe"]["exec"]["command"][-1] == "--liveness"
    assert (ROOT / "system" / "worker" / "probe.py").exists()
    assert any(e["name"] == "WORKER_ID" and e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
               for e in worker["env"]), "WORKER_ID must be the pod name (the probe checks that id)"
    config = _by_kind(docs, "ConfigMap", "taskq-config")["data"]
    grace = float(config.get("SHUTDOWN_GRACE_S", Settings().shutdown_grace_s))
    period = _by_kind(docs, "Deployment", "worker")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert period >= grace + 5, "terminationGracePeriodSeconds must exceed SHUTDOWN_GRACE_S by a margin"
    pdb = _by_kind(docs, "PodDisruptionBudget", "worker")
    labels = _by_kind(docs, "Deployment", "worker")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_app_environment_names_are_settings_in_kubernetes_and_compose() -> None:
    docs = _render("dev")
    names = set(_by_kind(docs, "ConfigMap", "taskq-config")["data"])
    for name in ("gateway", "worker"):
        names |= {e["name"] for e in _container(docs, "Deployment", name)["env"]}
    unknown = names - SETTINGS - PENDING_SETTINGS
    assert not unknown, f"Kubernetes sets variables system/config.py does not read: {unknown}"
    services = _compose()["services"]
    compose_names = set(services["gateway"]["environment"]) | set(services["worker"]["environment"])
    unknown = compose_names - SETTINGS - PENDING_SETTINGS - ENTRYPOINT_VARIABLES
    assert not unknown, f"docker-compose.yml sets variables system/config.py does not read: {unknown}"
    for name in ENTRYPOINT_VARIABLES:
        readers = (ROOT / "system" / "proxy_link.py", ROOT / "docker" / "app" / "entrypoint.py")
        assert any(name in path.read_text() for path in readers), name
    # what both set to reach Redis is spelt the same (compose passes the password as a file secret)
    assert {"REDIS_SENTINELS", "REDIS_SENTINEL_MASTER"} <= names & compose_names
    assert "REDIS_PASSWORD" in names and "REDIS_PASSWORD_FILE" in compose_names


def test_images_and_ports_are_those_of_compose() -> None:
    docs = _render("dev")
    for kind, name in (("Deployment", "gateway"), ("Deployment", "worker")):
        assert _container(docs, kind, name)["image"] == _compose_default("APP_IMAGE")
    for name in ("redis", "sentinel"):
        assert _container(docs, "StatefulSet", name)["image"] == _compose_default("REDIS_IMAGE")
    gateway = _container(docs, "Deployment", "gateway")
    port = gateway["ports"][0]["containerPort"]
    assert port == Settings().gateway_port == int(_compose()["services"]["gateway"]["environment"]["GATEWAY_PORT"])
    assert {"name": "GATEWAY_PORT", "value": str(port)} in gateway["env"]
    service = _by_kind(docs, "Service", "gateway")
    assert service["spec"]["ports"][0]["port"] == port


def test_app_pods_run_as_the_images_user() -> None:
    uid = re.search(r"useradd --system --uid (\d+)", (ROOT / "system" / "Dockerfile").read_text())
    assert uid, "system/Dockerfile must create the user `app` with a fixed uid"
    for name in ("gateway", "worker"):
        pod = _by_kind(_render("dev"), "Deployment", name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == int(uid.group(1)), name


def test_hpa_metric_is_the_one_the_documented_adapter_rule_serves() -> None:
    hpa = _by_kind(_render("production"), "HorizontalPodAutoscaler", "worker")
    metric = hpa["spec"]["metrics"][0]["external"]["metric"]["name"]
    doc = (ROOT / "docs" / "kubernetes.md").read_text()
    assert f"name: {{as: {metric}}}" in doc, "docs/kubernetes.md must give the adapter rule serving the HPA's metric"
    source = re.search(r"seriesQuery: '(\w+)\{", doc)
    assert source and f'"{source.group(1)}"' in (ROOT / "system" / "metrics.py").read_text(), \
        "the adapter rule must read a metric the gateway exports"

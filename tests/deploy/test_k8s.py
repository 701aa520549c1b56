"""deploy/k8s: the example overlay rendered by `kubectl kustomize`, then checked against the
Kubernetes schemas and against what the worker, the app and the connectors need."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.tools import DEPLOY, REPO, run_tool
from worker.cli.connect import command as connect_command

K8S = DEPLOY / "k8s"
OVERLAY = K8S / "overlays" / "example"
# The oldest Kubernetes the manifests are checked against (each version's schemas are
# bundled by kubernetes-validate, so this needs no network).
KUBERNETES = "1.27.0"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The example overlay, rendered with its example Secrets filled in (the real
    secrets/*.env files are never in git)."""
    root = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, root)
    for example in (root / "overlays" / "example" / "secrets").glob("*.env.example"):
        example.with_suffix("").write_text(example.read_text(encoding="utf-8"))
    out = run_tool("kubectl", "kustomize", str(root / "overlays" / "example"))
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict, dict]]:
    for name, deployment in of_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            yield name, pod, container


def test_every_rendered_resource_is_valid_against_the_kubernetes_schemas(rendered):
    """Each resource validates strictly (unknown fields refused) against the schemas."""
    assert len(rendered) > 10
    for doc in rendered:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_schema_check_refuses_a_misspelt_field(rendered):
    """The validation above can fail: a Deployment with a misspelt field is refused."""
    deployment = dict(of_kind(rendered, "Deployment")["triage-worker"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_workers_are_no_more_than_the_partitions(rendered):
    """The worker Deployment's replicas are at most TRIAGE_PARTITIONS, which every pod reads."""
    [settings] = [c for n, c in of_kind(rendered, "ConfigMap").items() if "settings" in n]
    worker = of_kind(rendered, "Deployment")["triage-worker"]
    assert 1 <= worker["spec"]["replicas"] <= int(settings["data"]["TRIAGE_PARTITIONS"])


def test_the_app_and_every_connector_have_their_own_deployment(rendered):
    """The worker, `triage web`, and one Deployment per `triage connect` command."""
    deployments = of_kind(rendered, "Deployment")
    args = {
        name: d["spec"]["template"]["spec"]["containers"][0]["args"]
        for name, d in deployments.items()
    }
    assert args["triage-worker"] == ["run"]
    assert args["triage-web"] == ["web"]
    connectors = {a[1] for a in args.values() if a[0] == "connect"}
    assert connectors == set(connect_command.commands)
    services = of_kind(rendered, "Service")
    assert {"triage-web", "triage-meta", "triage-webhook"} <= set(services)


def test_worker_and_app_probe_ready_and_health(rendered):
    """The worker and the app are ready on /ready and alive on /health; connectors are
    ready on their /health."""
    for name, _pod, container in containers(rendered):
        ready = container["readinessProbe"]["httpGet"]["path"]
        if name in {"triage-worker", "triage-web"}:
            assert ready == "/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        else:
            assert ready == "/health"
            assert "livenessProbe" in container


def test_every_pod_runs_unprivileged_with_resource_requests(rendered):
    """Non-root, no privilege escalation, every capability dropped, a read-only root, and
    CPU and memory requests, in every container."""
    for name, pod, container in containers(rendered):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}, name


def test_the_policy_configmap_is_the_policy_file_each_pod_reads(rendered):
    """The policy ConfigMap holds the shipped policy and is mounted where TRIAGE_POLICY points."""
    maps = of_kind(rendered, "ConfigMap")
    [policy_name] = [n for n in maps if n.startswith("triage-policy")]
    shipped = (REPO / "classifiers" / "policy" / "north-herts.yaml").read_text(encoding="utf-8")
    assert maps[policy_name]["data"]["policy.yaml"] == shipped
    [settings] = [c for n, c in maps.items() if n.startswith("triage-settings")]
    folder = str(Path(settings["data"]["TRIAGE_POLICY"]).parent)
    for name, pod, container in containers(rendered):
        volumes = {v["name"]: v for v in pod["volumes"]}
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
        assert volumes[mount["name"]]["configMap"]["name"] == policy_name, name


def test_each_process_gets_only_its_own_secret(rendered):
    """Every Secret a pod reads is rendered, and no two Deployments share one."""
    secrets = set(of_kind(rendered, "Secret"))
    used: list[str] = []
    for _name, _pod, container in containers(rendered):
        refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
        assert refs
        assert set(refs) <= secrets
        used.extend(refs)
    assert len(used) == len(set(used))
    ignored = (OVERLAY / "secrets" / ".gitignore").read_text(encoding="utf-8").split()
    assert ignored == ["*.env"]


def test_disruption_budgets_and_network_policies(rendered):
    """Budgets keep a worker and an app pod up through drains; ingress is denied by
    default and let in only to the app and the webhook receivers (and for scraping)."""
    budgets = of_kind(rendered, "PodDisruptionBudget")
    assert budgets["triage-worker"]["spec"]["maxUnavailable"] == 1
    assert budgets["triage-web"]["spec"]["minAvailable"] == 1
    policies = of_kind(rendered, "NetworkPolicy")
    deny = policies["triage-deny-ingress"]["spec"]
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    assert set(policies) == {
        "triage-deny-ingress",
        "triage-web-ingress",
        "triage-webhooks-ingress",
        "triage-prometheus-scrape",
    }

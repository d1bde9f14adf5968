"""The Kubernetes manifests: the committed deploy/k8s is a fresh render, every profile's overlay builds with
`kubectl kustomize` and passes strict schema validation (Kubernetes 1.32), and the manifests say what the plan and
the stack's security need: the GPUs and /dev/shm of the plan, only the gateway reaching Triton and Redis, probes on
every server, and no key anywhere."""

import filecmp
import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from click.testing import CliRunner

from deploy import k8s
from deploy.cli import plan as plan_command
from deploy.planner import PROFILES_DIR, PlanError, load_profile, plan
from deploy.settings import PROJECT_ROOT

COMMITTED = PROJECT_ROOT / "deploy" / "k8s"
PROFILES = sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))
KUBERNETES_VERSION = "1.32.0"
# Kinds of a CRD, which kubernetes-validate has no schema for: the Prometheus operator's.
CUSTOM_KINDS = {"ServiceMonitor"}
SECRET_SETTINGS = {"DGXMUSIC_TRITON_API_KEY", "DGXMUSIC_REDIS_PASSWORD", "DGXMUSIC_CACHE_SIGNING_KEY"}

Manifest = dict[str, Any]


@cache
def built(profile: str) -> tuple[Manifest, ...]:
    """The overlay as a cluster would get it: `kubectl kustomize deploy/k8s/overlays/<profile>`."""
    output = subprocess.run(
        ["kubectl", "kustomize", str(COMMITTED / "overlays" / profile)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return tuple(yaml.safe_load_all(output))


def find(documents: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    [found] = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def container(documents: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    containers: list[Manifest] = find(documents, kind, name)["spec"]["template"]["spec"]["containers"]
    [only] = containers
    return only


def pod_templates(documents: tuple[Manifest, ...]) -> list[Manifest]:
    return [d["spec"]["template"]["spec"] for d in documents if d["kind"] in ("Deployment", "StatefulSet")]


def test_the_committed_manifests_are_a_fresh_render(tmp_path: Path) -> None:
    for name in PROFILES:
        k8s.render(load_profile(name), tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(COMMITTED) for p in COMMITTED.rglob("*") if p.is_file())
    assert committed == fresh, "deploy/k8s is out of date: run `make k8s`"
    stale = [str(path) for path in fresh if not filecmp.cmp(tmp_path / path, COMMITTED / path, shallow=False)]
    assert not stale, f"deploy/k8s is out of date ({', '.join(stale)}): run `make k8s`"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_overlay_builds_and_passes_strict_validation(profile: str) -> None:
    unvalidated = set()
    for document in built(profile):
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            unvalidated.add(document["kind"])
    assert unvalidated == CUSTOM_KINDS
    assert all(d["metadata"].get("namespace", k8s.NAMESPACE) == k8s.NAMESPACE for d in built(profile))


def test_a_strict_validation_catches_a_misspelt_field() -> None:
    """The check above has teeth: an unknown field fails."""
    deployment = json.loads(json.dumps(find(built("embedded"), "Deployment", "gateway")))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_triton_pod_asks_for_the_gpus_and_memory_of_the_plan() -> None:
    expected = {"embedded": {}, "dgx-spark": {"nvidia.com/gpu": "1"}, "gpu-server": {"nvidia.com/gpu": "2"}}
    for profile, gpus in expected.items():
        resources = container(built(profile), "Deployment", "triton")["resources"]
        assert {k: v for k, v in resources["limits"].items() if k.startswith("nvidia.com/")} == gpus
        assert {k: v for k, v in resources["requests"].items() if k.startswith("nvidia.com/")} == gpus
    # gpu-server: 6.8 GB of models on the host + 22 instances x 256 MiB of /dev/shm (5.5 GiB) = 12.3 -> 13Gi.
    server = container(built("gpu-server"), "Deployment", "triton")["resources"]
    assert (server["requests"]["memory"], server["limits"]["memory"]) == ("13Gi", "70Gi")


def test_a_mig_or_time_sliced_profile_asks_for_its_resource(tmp_path: Path) -> None:
    for resource in ("nvidia.com/mig-1g.10gb", "nvidia.com/gpu.shared"):
        profile = load_profile("dgx-spark").model_copy(update={"gpu_resource": resource})
        [triton] = k8s.overlay_files(profile)["triton.yaml"]["spec"]["template"]["spec"]["containers"]
        resources = triton["resources"]
        assert resources["limits"][resource] == "1"
    text = (PROFILES_DIR / "dgx-spark.toml").read_text()
    (tmp_path / "bad.toml").write_text(text.replace("gpu_count = 1", 'gpu_count = 1\ngpu_resource = "amd.com/gpu"'))
    with pytest.raises(PlanError, match="gpu_resource"):
        load_profile(str(tmp_path / "bad.toml"))


@pytest.mark.parametrize("profile", PROFILES)
def test_dev_shm_is_memory_sized_from_the_plan(tmp_path: Path, profile: str) -> None:
    summary = plan(load_profile(profile), tmp_path)
    volumes = find(built(profile), "Deployment", "triton")["spec"]["template"]["spec"]["volumes"]
    [shm] = [v for v in volumes if v["name"] == "shm"]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": f"{summary['shared_memory_mib']}Mi"}
    mounts = container(built(profile), "Deployment", "triton")["volumeMounts"]
    assert {"name": "shm", "mountPath": "/dev/shm"} in mounts
    assert json.loads((tmp_path / "plan.json").read_text())["shared_memory_mib"] == summary["shared_memory_mib"]


def test_triton_runs_the_profile_through_its_own_entrypoint() -> None:
    for profile in PROFILES:
        command = container(built(profile), "Deployment", "triton")["command"]
        assert command[:6] == ["dgx-music", "triton", "--profile", profile, "--host", "0.0.0.0"]
        assert command[6:] == ["--grpc-port", "8001", "--http-port", "8000", "--metrics-port", "8002"]
    gateway = container(built("embedded"), "Deployment", "gateway")
    assert gateway["command"] == ["dgx-music", "gateway"]
    env = {e["name"]: e.get("value") for e in gateway["env"]}
    assert env["DGXMUSIC_HOST"] == "0.0.0.0"
    assert env["DGXMUSIC_TRITON_URL"] == "dns:///triton-headless:8001"
    assert env["DGXMUSIC_REDIS_URL"] == "redis://redis:6379/0"
    service = find(built("embedded"), "Service", k8s.TRITON_SERVICE)
    assert service["spec"]["clusterIP"] == "None"  # headless: DNS lists every pod, the gateway balances


def policy_rules(documents: tuple[Manifest, ...], component: str) -> list[Manifest]:
    selecting = [
        d for d in documents
        if d["kind"] == "NetworkPolicy"
        and d["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component") == component
    ]  # fmt: skip
    assert selecting, f"no NetworkPolicy selects the {component} pods"
    return [rule for policy in selecting for rule in policy["spec"].get("ingress", [])]


def test_only_the_gateway_reaches_triton_and_redis() -> None:
    documents = built("gpu-server")
    [deny] = [d for d in documents if d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"] == {}]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}  # nothing in unless a policy says so
    gateway_pods = {"podSelector": {"matchLabels": k8s._labels("gateway")}}
    for component, served, metrics in (("triton", {8000, 8001}, {8002}), ("redis", {6379}, set())):
        for rule in policy_rules(documents, component):
            ports = {p["port"] for p in rule["ports"]}
            assert "from" in rule, f"{component}: a rule admits every source"
            if rule["from"] != [gateway_pods]:
                assert ports <= metrics, f"{component}: {rule['from']} reaches ports {ports}"
            assert ports <= served | metrics
        admitted = {
            p["port"] for r in policy_rules(documents, component) if r["from"] == [gateway_pods] for p in r["ports"]
        }
        assert admitted == served
    gateway_ports = {p["port"] for r in policy_rules(documents, "gateway") if "from" not in r for p in r["ports"]}
    assert gateway_ports == {k8s.GATEWAY_PORT}


def test_every_server_has_its_probes() -> None:
    triton = container(built("dgx-spark"), "Deployment", "triton")
    assert triton["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert triton["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert triton["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    gateway = container(built("dgx-spark"), "Deployment", "gateway")
    assert gateway["readinessProbe"]["grpc"] == {"port": k8s.GATEWAY_PORT}  # gRPC health: Triton's models ready
    # Alive while it listens: its health follows Triton's, and a Triton outage must not restart every gateway.
    assert gateway["livenessProbe"]["tcpSocket"] == gateway["startupProbe"]["tcpSocket"] == {"port": "grpc"}
    redis = container(built("dgx-spark"), "StatefulSet", "redis")
    assert "livenessProbe" in redis
    assert "readinessProbe" in redis


def test_redis_persists_with_aof_on_a_volume() -> None:
    redis = find(built("embedded"), "StatefulSet", "redis")
    start = redis["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "--appendonly yes" in start
    assert "--dir /data" in start
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "redis-data"
    assert "$DGXMUSIC_REDIS_PASSWORD" in start  # from the Secret, at start: never in the manifest


def test_the_manifests_hold_no_secret_and_refer_to_the_operators_secrets() -> None:
    documents = built("gpu-server")
    assert not [d for d in documents if d["kind"] == "Secret"]
    referred = set()
    for pod in pod_templates(documents):
        for spec in pod["containers"]:
            for entry in spec.get("env", []):
                if entry["name"] in SECRET_SETTINGS or entry["name"].startswith("DGXMUSIC_API_KEYS"):
                    assert "value" not in entry, entry["name"]
                if ref := entry.get("valueFrom", {}).get("secretKeyRef"):
                    referred.add(ref["name"])
            referred |= {source["secretRef"]["name"] for source in spec.get("envFrom", [])}
    # The library's database (a managed PostgreSQL) is the operator's Secret too, and optional.
    assert referred == {k8s.STACK_SECRET, k8s.API_KEYS_SECRET, k8s.LIBRARY_SECRET}
    # The clients' keys go to the gateway alone; Triton holds only its own key.
    triton = container(documents, "Deployment", "triton")
    assert [e["name"] for e in triton["env"] if "valueFrom" in e] == ["DGXMUSIC_TRITON_API_KEY"]
    assert "envFrom" not in triton


def test_images_are_the_projects_and_redis() -> None:
    images = {spec["image"] for pod in pod_templates(built("embedded")) for spec in pod["containers"]}
    assert images == {k8s.GATEWAY_IMAGE, k8s.TRITON_IMAGE, k8s.REDIS_IMAGE}


def test_autoscalers_scale_the_gateway_on_cpu_and_triton_on_queue_time() -> None:
    documents = built("gpu-server")
    [gateway_metric] = find(documents, "HorizontalPodAutoscaler", "gateway")["spec"]["metrics"]
    assert gateway_metric["resource"]["name"] == "cpu"
    assert container(documents, "Deployment", "gateway")["resources"]["requests"]["cpu"]  # utilization needs it
    [triton_metric] = find(documents, "HorizontalPodAutoscaler", "triton")["spec"]["metrics"]
    assert triton_metric["pods"]["metric"]["name"] == k8s.QUEUE_METRIC
    values = yaml.safe_load((COMMITTED / k8s.ADAPTER_VALUES_FILE).read_text())
    [rule] = values["rules"]["custom"]
    assert rule["name"]["as"] == k8s.QUEUE_METRIC
    assert "nv_inference_queue_duration_us" in rule["metricsQuery"]
    assert {d["kind"] for d in documents} >= {"PodDisruptionBudget", "ServiceMonitor"}


def test_plan_k8s_writes_the_overlay_and_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "k8s"
    result = runner.invoke(plan_command, ["--profile", "dgx-spark", "--out", str(tmp_path / "repo"), "--k8s", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "overlays" / "dgx-spark" / "kustomization.yaml").is_file()
    assert (out / "base" / "kustomization.yaml").is_file()
    assert f"kubectl apply -k {out / 'overlays' / 'dgx-spark'}" in result.output.replace("\n", "")
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    result = runner.invoke(
        plan_command, ["--profile", "embedded", "--out", str(tmp_path / "repo"), "--k8s", str(stranger)]
    )
    assert result.exit_code == 2
    assert "no render wrote" in result.output
    assert (stranger / "notes.txt").read_text() == "mine"


def test_pods_share_uploads_and_jobs_but_each_has_its_own_data_directory() -> None:
    documents = built("gpu-server")
    triton, gateway = (container(documents, "Deployment", name) for name in ("triton", "gateway"))
    settings = [{e["name"]: e.get("value") for e in spec["env"]} for spec in (triton, gateway)]
    for name in ("DGXMUSIC_SOUNDFONT_UPLOAD_DIR", "DGXMUSIC_ARTIFACT_DIR"):  # the gateway writes, Triton reads
        assert settings[0][name] == settings[1][name]
        assert settings[0][name].startswith(k8s.SHARED_DIR + "/")
    for spec, env in zip((triton, gateway), settings, strict=True):
        # A Triton replica renders its model repository in its data directory: on the shared volume they would clash.
        mounted = {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
        assert mounted[env["DGXMUSIC_DATA_DIR"]] == "work"
        assert mounted[k8s.SHARED_DIR] == "data"

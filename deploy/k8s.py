"""The stack as Kubernetes manifests: a kustomize base (Triton, the gateway, Redis and what guards them) and one
overlay per hardware profile with what its plan decides: the GPUs the Triton pod asks for, its memory and the size of
its /dev/shm. `dgx-music plan --profile P --k8s OUT` writes OUT/base and OUT/overlays/P; `make k8s` renders the
shipped profiles into deploy/k8s, and a test proves the committed tree equals a fresh render.

Every process runs the same entrypoint as on a laptop (`dgx-music triton`, `dgx-music gateway`) configured by
DGXMUSIC_* settings; keys come from Secrets the operator creates (the manifests hold none).
"""

import math
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from deploy.launcher import redis_config
from deploy.planner import PlanError, PlanFilesError, Profile, memory_by_place, shared_memory_mib
from deploy.settings import Settings

Manifest = dict[str, Any]

NAMESPACE = "dgx-music"
APP = "dgx-music"
GATEWAY_IMAGE = "dgx-music-gateway"
TRITON_IMAGE = "dgx-music-triton"
REDIS_IMAGE = "redis:7.4-alpine"
# Secrets the operator creates (README, "Deploying to a cluster"): the stack's own keys (Triton's restricted APIs,
# Redis's password, the cache's signing key) and the clients' API keys, one DGXMUSIC_API_KEYS__<NAME> entry each.
STACK_SECRET = "dgx-music-stack"
API_KEYS_SECRET = "dgx-music-api-keys"


def _default_port(setting: str) -> int:
    port = Settings.model_fields[setting].default
    assert isinstance(port, int)
    return port


# The components' ports, as on a laptop; a pod's ports are named, and Services, probes and the ServiceMonitor
# refer to the names.
GATEWAY_PORT = _default_port("grpc_port")
GATEWAY_METRICS_PORT = _default_port("metrics_port")
TRITON_HTTP_PORT = _default_port("triton_http_port")
TRITON_GRPC_PORT = _default_port("triton_grpc_port")
TRITON_METRICS_PORT = _default_port("triton_metrics_port")
REDIS_PORT = _default_port("redis_port")
TRITON_SERVICE = "triton-headless"
REDIS_SERVICE = "redis"
GATEWAY_SERVICE = "dgx-music-gateway"
# Shared by the gateways and the Triton pods: job artifacts (any gateway runs any job), the cache's large results
# (any gateway serves any cached result), uploaded SoundFonts (the gateway writes them, Triton's fluidsynth model
# reads them) and model weights.
DATA_CLAIM = "dgx-music-data"
LIBRARY_SECRET = "dgx-music-library"
SHARED_DIR = "/data"
SHARED = {
    "artifact_dir": f"{SHARED_DIR}/jobs",
    "cache_dir": f"{SHARED_DIR}/cache",
    "soundfont_upload_dir": f"{SHARED_DIR}/soundfonts",
}
# Each pod's own data directory (a Triton replica renders its model repository there): never shared.
WORK_DIR = "/var/lib/dgx-music"
# The group of the shared volume's files, so that the gateway's and Triton's users (10001, the NGC image's 1000)
# both read and write them.
SHARED_GROUP = 10001
# Where Prometheus runs: its pods may scrape the metrics ports (and nothing else).
MONITORING_NAMESPACE = "monitoring"
# Triton's HPA metric (prometheus-adapter, see ADAPTER_RULE): a request's mean time in Triton's queue over 30 s.
QUEUE_METRIC = "avg_time_queue_us"
# Our requests take seconds (a render, a separation); a queue of a quarter second means the replicas are all busy.
QUEUE_TARGET_US = 250_000
TRITON_MAX_REPLICAS = 4
GATEWAY_MIN_REPLICAS = 2
GATEWAY_MAX_REPLICAS = 10
# Loading every model (MusicGen's weights from the shared volume) can take minutes: Triton is given ten.
TRITON_STARTUP_SECONDS = 600
# As Triton's own Helm chart does: the adapter turns the queue-time counters into a per-pod gauge the HPA reads.
ADAPTER_RULE: Manifest = {
    "seriesQuery": 'nv_inference_queue_duration_us{namespace!="",pod!=""}',
    "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
    "name": {"matches": "nv_inference_queue_duration_us", "as": QUEUE_METRIC},
    "metricsQuery": "avg(delta(nv_inference_queue_duration_us{<<.LabelMatchers>>}[30s])"
    "/(1+delta(nv_inference_request_success{<<.LabelMatchers>>}[30s]))) by (<<.GroupBy>>)",
}
ADAPTER_VALUES_FILE = "prometheus-adapter-values.yaml"


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}


def _metadata(name: str, component: str) -> Manifest:
    return {"name": name, "labels": _labels(component)}


def _env(**values: str) -> list[Manifest]:
    return [{"name": f"DGXMUSIC_{name.upper()}", "value": value} for name, value in values.items()]


def _secret_value(setting: str) -> Manifest:
    name = f"DGXMUSIC_{setting.upper()}"
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": STACK_SECRET, "key": name}}}


_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _volumes() -> list[Manifest]:
    return [{"name": "data", "persistentVolumeClaim": {"claimName": DATA_CLAIM}}, {"name": "work", "emptyDir": {}}]


def _mounts() -> list[Manifest]:
    return [{"name": "data", "mountPath": SHARED_DIR}, {"name": "work", "mountPath": WORK_DIR}]


def _pdb(name: str, component: str) -> Manifest:
    # One pod at a time may be evicted (a node drain): the others keep serving.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(name, component),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(component)}},
    }


def _autoscaler(deployment: str, component: str, least: int, most: int, metric: Manifest) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(deployment, component),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": least,
            "maxReplicas": most,
            "metrics": [metric],
        },
    }


def triton_command(profile: str) -> list[str]:
    """The container's command: the model repository for `profile` is rendered at start, in the container. On the
    pod's address Triton asks its key (the stack's Secret) for everything but health."""
    ports = ["--grpc-port", str(TRITON_GRPC_PORT), "--http-port", str(TRITON_HTTP_PORT)]
    ports += ["--metrics-port", str(TRITON_METRICS_PORT)]
    return ["dgx-music", "triton", "--profile", profile, "--host", "0.0.0.0", *ports]


def _triton() -> list[Manifest]:
    def probe(path: str, period: int, failures: int) -> Manifest:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "failureThreshold": failures}

    container = {
        "name": "triton",
        "image": TRITON_IMAGE,
        "command": triton_command("embedded"),
        "ports": [
            {"name": "http", "containerPort": TRITON_HTTP_PORT},
            {"name": "grpc", "containerPort": TRITON_GRPC_PORT},
            {"name": "metrics", "containerPort": TRITON_METRICS_PORT},
        ],
        # Of the stack's keys Triton holds only its own (its restricted APIs answer only requests carrying it).
        "env": [
            *_env(data_dir=WORK_DIR, weights_dir=f"{SHARED_DIR}/weights", **SHARED, log_format="json"),
            # `dgx-music models pull` (run in one Triton pod) fills the Hugging Face cache every replica reads.
            {"name": "HF_HOME", "value": f"{SHARED_DIR}/huggingface"},
            _secret_value("triton_api_key"),
        ],
        "startupProbe": probe("/v2/health/ready", 10, TRITON_STARTUP_SECONDS // 10),
        "livenessProbe": probe("/v2/health/live", 10, 3),
        "readinessProbe": probe("/v2/health/ready", 5, 2),
        "securityContext": _RESTRICTED,
        "volumeMounts": [*_mounts(), {"name": "shm", "mountPath": "/dev/shm"}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata("triton", "triton"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _labels("triton")},
            "template": {
                "metadata": {"labels": _labels("triton")},
                "spec": {
                    "containers": [container],
                    # The python backend's stubs exchange tensors through /dev/shm: a memory-backed volume, sized
                    # in each overlay from its plan (a container runtime's default 64 MB holds one audio tensor).
                    "volumes": [*_volumes(), {"name": "shm", "emptyDir": {"medium": "Memory"}}],
                    "securityContext": {"fsGroup": SHARED_GROUP},
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(TRITON_SERVICE, "triton"),
        # Headless: DNS answers with every ready pod, and the gateway balances per request over them
        # (DGXMUSIC_TRITON_URL=dns:///triton-headless:8001); a ClusterIP would pin its one HTTP/2 connection to one.
        "spec": {
            "clusterIP": "None",
            "selector": _labels("triton"),
            "ports": [
                {"name": name, "port": port, "targetPort": name}
                for name, port in (
                    ("http", TRITON_HTTP_PORT),
                    ("grpc", TRITON_GRPC_PORT),
                    ("metrics", TRITON_METRICS_PORT),
                )
            ],
        },
    }
    queue_time = {
        "type": "Pods",
        "pods": {
            "metric": {"name": QUEUE_METRIC},
            "target": {"type": "AverageValue", "averageValue": str(QUEUE_TARGET_US)},
        },
    }
    autoscaler = _autoscaler("triton", "triton", 1, TRITON_MAX_REPLICAS, queue_time)
    return [deployment, service, _pdb("triton", "triton"), autoscaler]


def _gateway() -> list[Manifest]:
    container = {
        "name": "gateway",
        "image": GATEWAY_IMAGE,
        "command": ["dgx-music", "gateway"],
        "ports": [
            {"name": "grpc", "containerPort": GATEWAY_PORT},
            {"name": "metrics", "containerPort": GATEWAY_METRICS_PORT},
        ],
        # A pod's address is not loopback: the gateway then refuses to start without API keys (the Secret below).
        "env": [
            *_env(
                host="0.0.0.0",
                grpc_port=str(GATEWAY_PORT),
                metrics_port=str(GATEWAY_METRICS_PORT),
                triton_url=f"dns:///{TRITON_SERVICE}:{TRITON_GRPC_PORT}",
                redis_url=f"redis://{REDIS_SERVICE}:{REDIS_PORT}/0",
                data_dir=WORK_DIR,
                **SHARED,
                library_dir=f"{SHARED_DIR}/library",
                log_format="json",
            ),
            # The library's PostgreSQL (a managed one: its DSN in this Secret, which the operator makes); without it
            # the gateway keeps no library and LibraryService answers UNAVAILABLE.
            {
                "name": "DGXMUSIC_LIBRARY_DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": LIBRARY_SECRET, "key": "database-url", "optional": True}},
            },
        ],
        # The stack's keys (all three) and the clients' keys: every entry of those Secrets is a DGXMUSIC_* variable.
        "envFrom": [{"secretRef": {"name": STACK_SECRET}}, {"secretRef": {"name": API_KEYS_SECRET}}],
        # Ready (gRPC health, which answers without a key) only while Triton's models are: a gateway is out of the
        # Service meanwhile. Alive while it listens: a Triton outage must not restart every gateway.
        "startupProbe": {"tcpSocket": {"port": "grpc"}, "periodSeconds": 2, "failureThreshold": 60},
        "livenessProbe": {"tcpSocket": {"port": "grpc"}, "periodSeconds": 10, "failureThreshold": 3},
        "readinessProbe": {"grpc": {"port": GATEWAY_PORT}, "periodSeconds": 5, "failureThreshold": 2},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        "securityContext": {**_RESTRICTED, "runAsNonRoot": True},
        "volumeMounts": _mounts(),
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata("gateway", "gateway"),
        "spec": {
            "replicas": GATEWAY_MIN_REPLICAS,
            "selector": {"matchLabels": _labels("gateway")},
            "template": {
                "metadata": {"labels": _labels("gateway")},
                "spec": {
                    "containers": [container],
                    "volumes": _volumes(),
                    "securityContext": {"fsGroup": SHARED_GROUP},
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(GATEWAY_SERVICE, "gateway"),
        "spec": {
            "selector": _labels("gateway"),
            "ports": [
                {"name": "grpc", "port": GATEWAY_PORT, "targetPort": "grpc"},
                {"name": "metrics", "port": GATEWAY_METRICS_PORT, "targetPort": "metrics"},
            ],
        },
    }
    cpu = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    autoscaler = _autoscaler("gateway", "gateway", GATEWAY_MIN_REPLICAS, GATEWAY_MAX_REPLICAS, cpu)
    return [deployment, service, _pdb("gateway", "gateway"), autoscaler]


def _redis_acl_rules() -> str:
    """The launcher's ACL (only the commands the gateway uses, on its keys), less the password it hashes."""
    rules = redis_config(Settings.model_construct(redis_password=None)).strip()
    return rules.removeprefix("user default on nopass ")


def _redis() -> list[Manifest]:
    # The password reaches redis-server on its stdin (`redis-server -`), never on a command line `ps` shows.
    start = (
        f'printf "user default on >%s {_redis_acl_rules()}\\n" "$DGXMUSIC_REDIS_PASSWORD"'
        " | exec redis-server - --appendonly yes --appendfsync everysec --dir /data --maxmemory-policy noeviction"
    )
    ping = 'REDISCLI_AUTH="$DGXMUSIC_REDIS_PASSWORD" redis-cli ping | grep -q PONG'
    container = {
        "name": "redis",
        "image": REDIS_IMAGE,
        "command": ["sh", "-c", start],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
        "env": [_secret_value("redis_password")],
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
        "readinessProbe": {"exec": {"command": ["sh", "-c", ping]}, "periodSeconds": 5},
        "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "3Gi"}},
        "securityContext": {**_RESTRICTED, "runAsNonRoot": True, "runAsUser": 999},
        "volumeMounts": [{"name": "redis-data", "mountPath": "/data"}],
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata("redis", "redis"),
        "spec": {
            "serviceName": REDIS_SERVICE,
            "replicas": 1,
            "selector": {"matchLabels": _labels("redis")},
            "template": {
                "metadata": {"labels": _labels("redis")},
                "spec": {"containers": [container], "securityContext": {"fsGroup": 999}},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "redis-data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
                }
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(REDIS_SERVICE, "redis"),
        "spec": {"selector": _labels("redis"), "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}]},
    }
    # No PodDisruptionBudget: one Redis pod, and a budget of zero evictions would block every node drain.
    return [statefulset, service]


def _shared_data() -> list[Manifest]:
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _metadata(DATA_CLAIM, "data"),
            # ReadWriteMany: every gateway and Triton pod mounts it (NFS, CephFS, a cloud file store...).
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "100Gi"}}},
        }
    ]


def _ingress_policy(name: str, component: str, rules: list[Manifest]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name, component),
        "spec": {"podSelector": {"matchLabels": _labels(component)}, "policyTypes": ["Ingress"], "ingress": rules},
    }


def _from_gateway(*ports: int) -> Manifest:
    return {
        "from": [{"podSelector": {"matchLabels": _labels("gateway")}}],
        "ports": [{"protocol": "TCP", "port": port} for port in ports],
    }


def _from_monitoring(port: int) -> Manifest:
    namespace = {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
    return {"from": [{"namespaceSelector": {"matchLabels": namespace}}], "ports": [{"protocol": "TCP", "port": port}]}


def _network_policies() -> list[Manifest]:
    deny_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny-ingress", "labels": {"app.kubernetes.io/name": APP}},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    return [
        deny_all,
        # Only the gateway reaches Triton (inference) and Redis; Prometheus reads the metrics ports alone.
        _ingress_policy(
            "triton",
            "triton",
            [_from_gateway(TRITON_GRPC_PORT, TRITON_HTTP_PORT), _from_monitoring(TRITON_METRICS_PORT)],
        ),
        _ingress_policy("redis", "redis", [_from_gateway(REDIS_PORT)]),
        # Clients come from anywhere, and must still present an API key.
        _ingress_policy(
            "gateway",
            "gateway",
            [{"ports": [{"protocol": "TCP", "port": GATEWAY_PORT}]}, _from_monitoring(GATEWAY_METRICS_PORT)],
        ),
    ]


def _service_monitor() -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": APP, "labels": {"app.kubernetes.io/name": APP}},
        # Triton's and the gateway's Services both name their metrics port "metrics".
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": APP}},
            "endpoints": [{"port": "metrics", "interval": "15s"}],
        },
    }


def base_files() -> dict[str, list[Manifest]]:
    """The profile-independent base, file by file."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    return {
        "namespace.yaml": [namespace],
        "data.yaml": _shared_data(),
        "triton.yaml": _triton(),
        "gateway.yaml": _gateway(),
        "redis.yaml": _redis(),
        "network-policies.yaml": _network_policies(),
        "service-monitor.yaml": [_service_monitor()],
    }


def gpu_request(profile: Profile) -> dict[str, int]:
    """The extended resource the Triton pod asks for: the profile's GPUs as `gpu_resource` (whole GPUs, MIG slices
    or time-sliced shares, as the cluster's device plugin advertises them); none on a CPU-only profile."""
    if not any(model.kind == "gpu" for model in profile.models.values()):
        return {}
    return {profile.gpu_resource: len(profile.gpu_ids)}


def triton_resources(profile: Profile) -> Manifest:
    """Memory from the plan: the models' host memory plus the shared memory (a memory-backed emptyDir counts
    against the container's limit); the limit is the profile's budget, plus the same."""
    shm_gib = shared_memory_mib(profile) / 1024
    request = math.ceil(memory_by_place(profile)["host"] + shm_gib)
    limit = max(request, math.ceil(profile.memory_budget_gb + shm_gib))
    gpus = {name: str(count) for name, count in gpu_request(profile).items()}
    return {"requests": {"cpu": "2", "memory": f"{request}Gi", **gpus}, "limits": {"memory": f"{limit}Gi", **gpus}}


def overlay_files(profile: Profile) -> dict[str, Any]:
    """The overlay of one profile: the base with the Triton pod its plan sizes."""
    container = {
        "name": "triton",
        "command": triton_command(profile.name),
        "resources": triton_resources(profile),
    }
    shm = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{shared_memory_mib(profile)}Mi"}}
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "triton"},
        "spec": {"template": {"spec": {"containers": [container], "volumes": [shm]}}},
    }
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../../base"],
        "labels": [{"pairs": {"dgx-music/profile": profile.name}}],
        "patches": [{"path": "triton.yaml"}],
    }
    return {"kustomization.yaml": kustomization, "triton.yaml": patch}


def adapter_values() -> Manifest:
    """Values for the prometheus-adapter Helm chart: the rule behind Triton's HPA."""
    return {"rules": {"default": True, "custom": [ADAPTER_RULE]}}


HEADER = "# Rendered by `dgx-music plan --k8s` (deploy/k8s.py); regenerate with `make k8s`, do not edit.\n"


def _dump(documents: Iterable[Manifest]) -> str:
    return HEADER + yaml.safe_dump_all(list(documents), sort_keys=False, width=120)


def _check_out(out: Path) -> None:
    """`out`'s base and this overlay are replaced: it may only be new, empty, or a previous render."""
    if out.exists() and not out.is_dir():
        raise PlanError(f"--k8s {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "base" / "kustomization.yaml").is_file():
        raise PlanError(f"--k8s {out} is a folder that no render wrote (no base/kustomization.yaml): choose another")


def render(profile: Profile, out: Path) -> Path:
    """Writes OUT/base, OUT/overlays/<profile> and the adapter's values; returns the overlay's folder."""
    _check_out(out)
    files = base_files()
    base_kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": list(files),
    }
    overlay = out / "overlays" / profile.name
    try:
        for folder in (out / "base", overlay):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        for name, documents in files.items():
            (out / "base" / name).write_text(_dump(documents))
        (out / "base" / "kustomization.yaml").write_text(_dump([base_kustomization]))
        for name, document in overlay_files(profile).items():
            (overlay / name).write_text(_dump([document]))
        (out / ADAPTER_VALUES_FILE).write_text(_dump([adapter_values()]))
    except OSError as exc:
        raise PlanFilesError(f"cannot write the manifests into {out}: {exc}") from exc
    return overlay

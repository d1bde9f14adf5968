"""The memory planner: renders the model repository for one hardware profile (instance counts, CPU or GPU, GPU ids,
batch sizes, rate-limiter resources) and refuses a plan whose models do not fit the profile's memory budget.

`dgx-music plan --profile dgx-spark --out build/model_repository` writes the repository Triton (or the NGC image in
Kubernetes) serves, and `plan.json` beside it with the memory sums and the rate-limiter flags for tritonserver.
The committed model_repository/ is the embedded profile; a test proves that planning it changes nothing.
"""

import json
import shutil
import tomllib
from pathlib import Path
from typing import Literal

from google.protobuf import text_format
from pydantic import BaseModel, Field
from tritonclient.grpc import model_config_pb2

from deploy.settings import PROJECT_ROOT

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
_KINDS = {"cpu": model_config_pb2.ModelInstanceGroup.KIND_CPU, "gpu": model_config_pb2.ModelInstanceGroup.KIND_GPU}


class PlanError(ValueError):
    """A profile that cannot be served: unknown models, or more memory than the budget."""


class ModelPlan(BaseModel):
    kind: Literal["cpu", "gpu"] = "cpu"
    count: int = Field(1, ge=1, description="instances (on each listed GPU for kind gpu)")
    gpus: list[int] = []
    memory_gb: float = Field(gt=0, description="one instance: weights plus working memory")
    max_batch_size: int | None = Field(None, ge=1)
    rate_limiter: dict[str, int] = {}  # resource -> units one execution holds


class Profile(BaseModel):
    name: str
    description: str
    memory_budget_gb: float = Field(gt=0, description="host memory for the models (all of it on unified memory)")
    gpu_memory_gb: dict[int, float] = {}  # per GPU id, for discrete GPUs
    rate_limit_resources: dict[str, int] = {}  # resource -> units available (per device)
    models: dict[str, ModelPlan]


def load_profile(name_or_path: str) -> Profile:
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise PlanError(f"no profile {name_or_path!r}; known: {known}")
    return Profile.model_validate(tomllib.loads(path.read_text()))


def memory_by_place(profile: Profile) -> dict[str, float]:
    """GB the planned instances take: "host" for CPU instances (and GPU ones on unified memory), "gpu<N>" per GPU."""
    used: dict[str, float] = {"host": 0.0}
    for plan in profile.models.values():
        if plan.kind == "gpu" and profile.gpu_memory_gb:
            for gpu in plan.gpus or [0]:
                used[f"gpu{gpu}"] = used.get(f"gpu{gpu}", 0.0) + plan.count * plan.memory_gb
        else:
            used["host"] += plan.count * plan.memory_gb * max(len(plan.gpus), 1)
    return used


def check(profile: Profile, repository: Path) -> dict[str, float]:
    """The memory sums, or PlanError naming what does not fit."""
    unknown = sorted(set(profile.models) - {p.parent.name for p in repository.glob("*/config.pbtxt")})
    if unknown:
        raise PlanError(f"profile {profile.name} plans models the repository lacks: {', '.join(unknown)}")
    used = memory_by_place(profile)
    budgets = {"host": profile.memory_budget_gb, **{f"gpu{g}": gb for g, gb in profile.gpu_memory_gb.items()}}
    over = [f"{place}: {gb:.1f} GB of {budgets.get(place, 0.0):.1f}" for place, gb in used.items()
            if gb > budgets.get(place, 0.0)]  # fmt: skip
    if over:
        raise PlanError(f"profile {profile.name} does not fit: {'; '.join(over)}")
    return used


def render_config(config_text: str, plan: ModelPlan) -> str:
    config = text_format.Parse(config_text, model_config_pb2.ModelConfig())
    group = model_config_pb2.ModelInstanceGroup(count=plan.count, kind=_KINDS[plan.kind], gpus=plan.gpus)
    for resource, units in sorted(plan.rate_limiter.items()):
        group.rate_limiter.resources.add(name=resource, count=units)
    del config.instance_group[:]
    config.instance_group.append(group)
    if plan.max_batch_size is not None:
        if config.max_batch_size == 0:
            raise PlanError(f"{config.name} does not batch: it takes no max_batch_size")
        config.max_batch_size = plan.max_batch_size
    return str(text_format.MessageToString(config))


def plan(profile: Profile, out: Path, repository: Path = PROJECT_ROOT / "model_repository") -> dict[str, object]:
    """Writes the profile's repository into `out` (replacing it) and returns what plan.json says."""
    used = check(profile, repository)
    shutil.rmtree(out, ignore_errors=True)
    for name, model_plan in profile.models.items():
        shutil.copytree(repository / name, out / name, ignore=shutil.ignore_patterns("__pycache__"))
        config = out / name / "config.pbtxt"
        config.write_text(render_config(config.read_text(), model_plan))
    flags = ["--rate-limit=execution_count"] if profile.rate_limit_resources else []
    flags += [f"--rate-limit-resource={r}:{n}" for r, n in sorted(profile.rate_limit_resources.items())]
    summary: dict[str, object] = {
        "profile": profile.name,
        "memory_gb": used,
        "budget_gb": {"host": profile.memory_budget_gb, **{f"gpu{g}": gb for g, gb in profile.gpu_memory_gb.items()}},
        "tritonserver_flags": flags,
    }
    (out / "plan.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary

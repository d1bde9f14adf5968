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
from typing import Annotated, Literal

from google.protobuf import text_format
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from tritonclient.grpc import model_config_pb2

from deploy.settings import PROJECT_ROOT
from dgxmusic.models import BasicPitch

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
_KINDS = {"cpu": model_config_pb2.ModelInstanceGroup.KIND_CPU, "gpu": model_config_pb2.ModelInstanceGroup.KIND_GPU}
# What the gateway sends in one request: a smaller max_batch_size would make Triton refuse long transcriptions.
MIN_MAX_BATCH_SIZE = {BasicPitch.NAME: BasicPitch.MAX_WINDOWS_PER_REQUEST}
# A model that loads models on demand (demucs, musicgen) declares this parameter; the plan writes its memory_gb there,
# the memory its loaded models may take together (deploy.loaded_models).
MEMORY_PARAMETER = "MEMORY_GB"

Units = Annotated[int, Field(ge=1)]
GpuId = Annotated[int, Field(ge=0)]
Gigabytes = Annotated[float, Field(gt=0, allow_inf_nan=False)]
# The Kubernetes resources NVIDIA's device plugin advertises: whole GPUs, MIG slices (nvidia.com/mig-1g.10gb...) or
# time-sliced shares (nvidia.com/gpu.shared, with renameByDefault).
GpuResource = Annotated[str, Field(pattern=r"^nvidia\.com/(gpu|gpu\.shared|mig-[0-9]+g\.[0-9]+gb)$")]


class PlanError(ValueError):
    """A profile that cannot be served: unknown models, or more memory than the budget."""


class PlanFilesError(PlanError):
    """A profile or plan folder the file system would not let us read or write."""


class ModelPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["cpu", "gpu"] = "cpu"
    count: int = Field(1, ge=1, description="instances (on each listed GPU for kind gpu)")
    gpus: list[GpuId] = Field([], description="for kind gpu; none: every GPU of the profile")
    memory_gb: Gigabytes = Field(description="one instance: weights plus working memory")
    max_batch_size: int | None = Field(None, ge=1)
    rate_limiter: dict[str, Units] = {}  # resource -> units one execution holds

    @model_validator(mode="after")
    def _gpus_only_on_gpu(self) -> "ModelPlan":
        if self.kind == "cpu" and self.gpus:
            raise ValueError('gpus are for kind = "gpu" (Triton refuses KIND_CPU instances with GPU ids)')
        if len(set(self.gpus)) != len(self.gpus):
            raise ValueError(f"gpus {self.gpus} lists a GPU twice")
        return self


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    memory_budget_gb: Gigabytes = Field(description="host memory for the models (all of it on unified memory)")
    gpu_memory_gb: dict[GpuId, Gigabytes] = {}  # per GPU id, for discrete GPUs
    gpu_count: int | None = Field(None, ge=0, description="GPUs; default: those in gpu_memory_gb (unified: set it)")
    rate_limit_resources: dict[str, Units] = {}  # resource -> units available (per device)
    gpu_resource: GpuResource = Field("nvidia.com/gpu", description="what a Kubernetes pod asks for, per GPU")
    # The python backend gives each instance a 64 MB region (deploy/triton.py) that grows by 64 MB while the audio
    # tensors of its requests are in flight (tens of MB each way): room for a few at once.
    shm_per_instance_mib: Units = 256
    models: dict[str, ModelPlan]

    @property
    def gpu_ids(self) -> list[int]:
        if self.gpu_count is not None:
            return list(range(self.gpu_count))
        return sorted(self.gpu_memory_gb)

    @model_validator(mode="after")
    def _consistent(self) -> "Profile":
        if not self.models:
            raise ValueError("plans no models")
        if self.gpu_count is not None and self.gpu_memory_gb and sorted(self.gpu_memory_gb) != self.gpu_ids:
            raise ValueError(f"gpu_memory_gb names GPUs {sorted(self.gpu_memory_gb)}, gpu_count is {self.gpu_count}")
        for name, plan in self.models.items():
            if plan.kind == "gpu" and not self.gpu_ids:
                raise ValueError(f'models.{name}: kind = "gpu" on a profile with no GPU (set gpu_count)')
            if outside := sorted(set(plan.gpus) - set(self.gpu_ids)):
                raise ValueError(f"models.{name}: GPU ids {outside} out of range (the profile's GPUs: {self.gpu_ids})")
            for resource, units in sorted(plan.rate_limiter.items()):
                available = self.rate_limit_resources.get(resource)
                if available is not None and units > available:
                    raise ValueError(
                        f"models.{name}: an execution holds {units} {resource} of the {available} available, "
                        "so Triton could never schedule it"
                    )
        return self


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(
        ": ".join(
            [*([".".join(map(str, error["loc"]))] if error["loc"] else []), error["msg"].removeprefix("Value error, ")]
        )
        for error in exc.errors()
    )


def load_profile(name_or_path: str) -> Profile:
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise PlanError(f"no profile {name_or_path!r}; known: {known}")
    try:
        return Profile.model_validate(tomllib.loads(path.read_text()))
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFilesError(f"cannot read profile {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"profile {path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise PlanError(f"profile {path}: {_validation_message(exc)}") from exc


def _gpus(profile: Profile, plan: ModelPlan) -> list[int]:
    """The GPUs a KIND_GPU group lands on: those it lists, or (Triton's rule) every GPU."""
    return plan.gpus or profile.gpu_ids or [0]


def shared_memory_mib(profile: Profile) -> int:
    """The /dev/shm the plan's python-backend instances may take: each stub has its own region."""
    instances = sum(
        plan.count * (len(_gpus(profile, plan)) if plan.kind == "gpu" else 1) for plan in profile.models.values()
    )
    return instances * profile.shm_per_instance_mib


def memory_by_place(profile: Profile) -> dict[str, float]:
    """GB the planned instances take: "host" for CPU instances (and GPU ones on unified memory), "gpu<N>" per GPU."""
    used: dict[str, float] = {"host": 0.0}
    for plan in profile.models.values():
        if plan.kind == "gpu" and profile.gpu_memory_gb:
            for gpu in _gpus(profile, plan):
                used[f"gpu{gpu}"] = used.get(f"gpu{gpu}", 0.0) + plan.count * plan.memory_gb
        elif plan.kind == "gpu":
            used["host"] += plan.count * plan.memory_gb * len(_gpus(profile, plan))
        else:
            used["host"] += plan.count * plan.memory_gb
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
    if MEMORY_PARAMETER in config.parameters:
        config.parameters[MEMORY_PARAMETER].string_value = f"{plan.memory_gb:g}"
    if plan.max_batch_size is not None:
        if config.max_batch_size == 0:
            raise PlanError(f"{config.name} does not batch: it takes no max_batch_size")
        least = MIN_MAX_BATCH_SIZE.get(config.name, 1)
        if plan.max_batch_size < least:
            raise PlanError(
                f"{config.name}: max_batch_size {plan.max_batch_size} is under {least}, what the gateway sends"
            )
        config.max_batch_size = plan.max_batch_size
    return str(text_format.MessageToString(config))


def _check_out(out: Path, repository: Path) -> None:
    """`out` is replaced whole: it may only be a new or empty folder, or one a previous plan wrote."""
    target, source = out.resolve(), repository.resolve()
    if target == source or target.is_relative_to(source) or source.is_relative_to(target):
        raise PlanError(f"--out {out} overlaps the model repository {repository}: choose another folder")
    if target.exists() and not target.is_dir():
        raise PlanError(f"--out {out} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / "plan.json").is_file():
        raise PlanError(f"--out {out} is a folder that no plan wrote (it has no plan.json): choose a new or empty one")


def plan(profile: Profile, out: Path, repository: Path = PROJECT_ROOT / "model_repository") -> dict[str, object]:
    """Writes the profile's repository into `out` (replacing a previous plan there) and returns what plan.json
    says."""
    used = check(profile, repository)
    _check_out(out, repository)
    configs = {
        name: render_config((repository / name / "config.pbtxt").read_text(), model_plan)
        for name, model_plan in profile.models.items()
    }
    rate_limited = profile.rate_limit_resources or any(p.rate_limiter for p in profile.models.values())
    flags = ["--rate-limit=execution_count"] if rate_limited else []
    flags += [f"--rate-limit-resource={r}:{n}" for r, n in sorted(profile.rate_limit_resources.items())]
    summary: dict[str, object] = {
        "profile": profile.name,
        "memory_gb": used,
        "budget_gb": {"host": profile.memory_budget_gb, **{f"gpu{g}": gb for g, gb in profile.gpu_memory_gb.items()}},
        "tritonserver_flags": flags,
        "shared_memory_mib": shared_memory_mib(profile),
    }
    try:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for name, config in configs.items():
            shutil.copytree(repository / name, out / name, ignore=shutil.ignore_patterns("__pycache__"))
            (out / name / "config.pbtxt").write_text(config)
        (out / "plan.json").write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as exc:
        raise PlanFilesError(f"cannot write the plan into {out}: {exc}") from exc
    return summary

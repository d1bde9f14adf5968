"""The memory planner: every profile renders and fits, the embedded one is the committed repository, and a plan
over budget is refused with the numbers."""

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from deploy.planner import PROFILES_DIR, PlanError, load_profile, plan
from deploy.settings import PROJECT_ROOT

REPOSITORY = PROJECT_ROOT / "model_repository"


def config(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_the_embedded_profile_is_the_committed_repository(tmp_path: Path) -> None:
    plan(load_profile("embedded"), tmp_path)
    for committed in REPOSITORY.glob("*/config.pbtxt"):
        assert config(tmp_path / committed.parent.name / "config.pbtxt") == config(committed), committed.parent.name


@pytest.mark.parametrize("name", sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
def test_every_profile_renders_and_fits(tmp_path: Path, name: str) -> None:
    profile = load_profile(name)
    summary = plan(profile, tmp_path)
    for model, model_plan in profile.models.items():
        rendered = config(tmp_path / model / "config.pbtxt")
        [group] = rendered.instance_group
        groups = model_config_pb2.ModelInstanceGroup
        kind = groups.KIND_GPU if model_plan.kind == "gpu" else groups.KIND_CPU
        assert (group.count, group.kind, list(group.gpus)) == (model_plan.count, kind, model_plan.gpus)
        assert {r.name: r.count for r in group.rate_limiter.resources} == model_plan.rate_limiter
        assert (tmp_path / model / "1" / "model.py").is_file()
    assert (tmp_path / "plan.json").is_file() and summary["profile"] == name


def test_gpu_profiles_place_the_heavy_models_on_gpus() -> None:
    for name in ("dgx-spark", "gpu-server"):
        profile = load_profile(name)
        assert profile.models["musicgen"].kind == profile.models["demucs"].kind == "gpu"


def test_a_plan_over_budget_is_refused(tmp_path: Path) -> None:
    profile = load_profile("dgx-spark")
    profile.models["musicgen"].count = 4  # 4 x 30 GB on 110 GB of unified memory
    with pytest.raises(PlanError, match=r"host: 1\d\d\.\d GB of 110\.0"):
        plan(profile, tmp_path)
    discrete = load_profile("gpu-server")
    discrete.models["musicgen"].count = 3  # 3 x 30 GB on one 76 GB GPU
    with pytest.raises(PlanError, match=r"gpu0: 90\.0 GB of 76\.0"):
        plan(discrete, tmp_path)


def test_unknown_profiles_and_models_are_named(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"known: .*embedded"):
        load_profile("nope")
    profile = load_profile("embedded")
    profile.models["nosuchmodel"] = profile.models["text2midi"]
    with pytest.raises(PlanError, match="nosuchmodel"):
        plan(profile, tmp_path)

"""The memory planner: every profile renders and fits, the embedded one is the committed repository, and a plan
over budget is refused with the numbers."""

import json
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from deploy.planner import PROFILES_DIR, PlanError, load_profile, memory_by_place, plan
from deploy.settings import PROJECT_ROOT, Settings

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
    assert (tmp_path / "plan.json").is_file()
    assert summary["profile"] == name


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
    with pytest.raises(PlanError, match=r"gpu0: 106\.0 GB of 76\.0"):
        plan(discrete, tmp_path)


def test_unknown_profiles_and_models_are_named(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"known: .*embedded"):
        load_profile("nope")
    profile = load_profile("embedded")
    profile.models["nosuchmodel"] = profile.models["text2midi"]
    with pytest.raises(PlanError, match="nosuchmodel"):
        plan(profile, tmp_path)


BASE = 'name = "x"\ndescription = "probe"\nmemory_budget_gb = 100\n'
T2M = "[models.text2midi]\nmemory_gb = 1\n"
GPU = 'kind = "gpu"\n'


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ('name = "x"\nnot toml [[[', r"not valid TOML"),
        ('name = "x"\ndescription = "d"\n', r"memory_budget_gb: Field required; models: Field required"),
        (BASE + T2M + "count = -2\n", r"text2midi\.count: .*greater than"),
        (BASE + T2M + "cout = 4\n", r"models\.text2midi\.cout: Extra inputs"),
        (BASE + "[models]\n", r"plans no models"),
        (BASE + T2M + GPU, r"kind = \"gpu\" on a profile with no GPU"),
        (BASE + "gpu_memory_gb = { 0 = 10 }\n" + T2M + GPU + "gpus = [5]\n", r"GPU ids \[5\] out of range"),
        (BASE + "gpu_count = 1\n" + T2M + GPU + "gpus = [-1]\n", r"gpus\.0: .*equal to 0"),
        (BASE + T2M + "gpus = [0]\n", r"gpus are for kind = \"gpu\""),
        (BASE + T2M + "rate_limiter = { r = -3 }\n", r"rate_limiter\.r: .*equal to 1"),
        (BASE + "[rate_limit_resources]\nr = 1\n" + T2M + "rate_limiter = { r = 3 }\n", r"holds 3 r of the 1"),
        (BASE + "[models.text2midi]\nmemory_gb = nan\n", r"memory_gb: Input should be a finite number"),
    ],
)  # fmt: skip
def test_bad_profiles_are_refused_with_the_field(tmp_path: Path, toml: str, error: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(PlanError, match=error):
        plan(load_profile(str(path)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_profile_path_plans(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text((PROFILES_DIR / "dgx-spark.toml").read_text())
    assert plan(load_profile(str(path)), tmp_path / "a" / "b")["profile"] == "dgx-spark"
    assert (tmp_path / "a" / "b" / "musicgen" / "config.pbtxt").is_file()


def test_batch_sizes_the_gateway_needs(tmp_path: Path) -> None:
    path = tmp_path / "batch.toml"
    path.write_text(BASE + "[models.basic_pitch]\nmemory_gb = 1\nmax_batch_size = 8\n")
    with pytest.raises(PlanError, match=r"basic_pitch: max_batch_size 8 is under 64"):
        plan(load_profile(str(path)), tmp_path / "out")
    path.write_text(BASE + "[models.demucs]\nmemory_gb = 1\nmax_batch_size = 8\n")
    with pytest.raises(PlanError, match=r"demucs does not batch"):
        plan(load_profile(str(path)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_rate_limiter_alone_turns_the_rate_limiter_on(tmp_path: Path) -> None:
    path = tmp_path / "limited.toml"
    path.write_text(BASE + T2M + "rate_limiter = { r = 1 }\n")
    assert plan(load_profile(str(path)), tmp_path / "out")["tritonserver_flags"] == ["--rate-limit=execution_count"]


def test_gpu_groups_without_ids_count_on_every_gpu() -> None:
    profile = load_profile("gpu-server")
    profile.models["musicgen"].gpus = []  # Triton puts `count` instances on each GPU
    used = memory_by_place(profile)
    assert (used["gpu0"], used["gpu1"]) == (60.0 + 16.0, 60.0 + 16.0)  # the trainer on 0, demucs on 1


def test_out_is_never_a_folder_the_plan_did_not_write(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep")
    with pytest.raises(PlanError, match=r"no plan wrote"):
        plan(load_profile("embedded"), precious)
    assert (precious / "thesis.txt").read_text() == "keep"
    for overlapping in (REPOSITORY, REPOSITORY.parent, REPOSITORY / "text2midi" / "x"):
        with pytest.raises(PlanError, match=r"overlaps the model repository"):
            plan(load_profile("embedded"), overlapping)
    (tmp_path / "file").write_text("")
    with pytest.raises(PlanError, match=r"is a file"):
        plan(load_profile("embedded"), tmp_path / "file")
    with pytest.raises(PlanError, match=r"cannot write the plan"):
        plan(load_profile("embedded"), tmp_path / "file" / "sub")
    plan(load_profile("embedded"), tmp_path / "again")
    plan(load_profile("dgx-spark"), tmp_path / "again")  # a previous plan is replaced
    assert json.loads((tmp_path / "again" / "plan.json").read_text())["profile"] == "dgx-spark"


@pytest.mark.parametrize("name", sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
def test_batched_models_drop_requests_whose_deadline_passed(tmp_path: Path, name: str) -> None:
    """Every dynamically batched model rejects a request still queued past its timeout (the gateway sends each its
    deadline), and past the gateway's default deadline for a request without one."""
    plan(load_profile(name), tmp_path)
    default_us = int(Settings.model_fields["default_deadline_seconds"].default * 1_000_000)
    batched = [c for p in tmp_path.glob("*/config.pbtxt") if (c := config(p)).HasField("dynamic_batching")]
    assert {c.name for c in batched} >= {"text2midi", "fluidsynth", "basic_pitch"}
    for model in batched:
        policy = model.dynamic_batching.default_queue_policy
        assert policy.timeout_action == model_config_pb2.ModelQueuePolicy.REJECT, model.name
        assert policy.allow_timeout_override, model.name
        assert policy.default_timeout_microseconds == default_us, model.name

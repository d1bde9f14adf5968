"""What builds the cluster's images and brings them up, checked without a container daemon or a cluster: the
Dockerfiles copy what exists and pin what the Makefile pins, the gateway's image needs no torch, and the Tiltfile
(evaluated as Starlark with Tilt's builtins stubbed) builds the images the manifests name from an overlay that
exists."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import starlark as sl

from deploy import k8s
from deploy.settings import PROJECT_ROOT

DOCKER_DIR = PROJECT_ROOT / "deploy" / "docker"
DOCKERFILES = {k8s.GATEWAY_IMAGE: DOCKER_DIR / "Dockerfile.gateway", k8s.TRITON_IMAGE: DOCKER_DIR / "Dockerfile.triton"}
MAKEFILE = (PROJECT_ROOT / "Makefile").read_text()


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def copied(dockerfile: Path) -> set[str]:
    """What its COPY instructions take from the build context (the repository root)."""
    return {source for op, args in instructions(dockerfile) if op == "COPY" for source in args.split()[:-1]}


def test_every_copy_source_exists_in_the_repository() -> None:
    for dockerfile in DOCKERFILES.values():
        assert copied(dockerfile)
        for source in copied(dockerfile):
            assert (PROJECT_ROOT / source).exists(), f"{dockerfile.name}: COPY {source}"


def test_the_images_install_the_packages_setuptools_builds() -> None:
    """pip install -e . fails unless every package pyproject lists was copied in."""
    setuptools = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {name.split(".")[0] for name in setuptools["packages"]}
    folders = {setuptools["package-dir"].get(root, root).split("/")[0] for root in roots}
    for dockerfile in DOCKERFILES.values():
        assert folders | {"pyproject.toml", "README.md"} <= copied(dockerfile), dockerfile.name


def test_the_images_pin_what_the_makefile_pins() -> None:
    pins = dict(re.findall(r"([a-z-]+)==([\d.]+)", MAKEFILE))
    pins["torch"] = re.search(r"^TORCH_VERSION := (\S+)", MAKEFILE, re.M).group(1)  # type: ignore[union-attr]
    for dockerfile in DOCKERFILES.values():
        for package, version in re.findall(r"([a-z-]+)==([\d.]+)", dockerfile.read_text()):
            assert pins.get(package) == version, (
                f"{dockerfile.name}: {package}=={version}, the Makefile's {pins.get(package)}"
            )
    triton = instructions(DOCKERFILES[k8s.TRITON_IMAGE])
    assert triton[0] == ("FROM", "nvcr.io/nvidia/tritonserver:24.10-py3")
    assert "-e '.[server]'" in DOCKERFILES[k8s.TRITON_IMAGE].read_text()
    assert "-e '.[gateway]'" in DOCKERFILES[k8s.GATEWAY_IMAGE].read_text()


def test_the_gateway_extra_is_enough_to_run_the_gateway_without_torch() -> None:
    """The gateway image installs [gateway] alone: the gateway and the CLI that starts it import nothing of the
    Triton side."""
    blocked = ["torch", "torchaudio", "demucs", "audiocraft", "transformers", "xformers", "pytriton"]
    script = f"""
import sys
class Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the gateway's image)")
sys.meta_path.insert(0, Uninstalled())
import gateway.server, deploy.cli, deploy.k8s
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, env={"CI": "1"}
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_setup_system_installs_kubectl_on_a_host_and_not_in_an_image() -> None:
    script = (PROJECT_ROOT / "deploy" / "setup-system.sh").read_text()
    subprocess.run(["bash", "-n", "deploy/setup-system.sh"], cwd=PROJECT_ROOT, check=True, timeout=10)
    assert "packages+=(kubectl)" in script
    assert "pkgs.k8s.io/core:/stable:/v1.32/deb" in script  # where Debian has no kubectl
    for dockerfile in DOCKERFILES.values():
        assert "setup-system.sh --image" in dockerfile.read_text()


class Tilt:
    """Tilt's builtins as the Tiltfile calls them, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def builtin(self, name: str, returns: object = None) -> object:
        def call(*args: object, **kwargs: object) -> object:
            self.calls.append((name, args, kwargs))
            return returns if returns is not None else f"<{name}:{args[0] if args else ''}>"

        return call

    def named(self, name: str) -> list[tuple[tuple[object, ...], dict[str, object]]]:
        return [(args, kwargs) for called, args, kwargs in self.calls if called == name]


def evaluate_tiltfile() -> Tilt:
    tilt = Tilt()
    module = sl.Module()
    for name in ("docker_build", "k8s_yaml", "kustomize", "k8s_resource", "local", "local_resource", "port_forward"):
        module.add_callable(name, tilt.builtin(name))  # type: ignore[arg-type]
    ast = sl.parse("Tiltfile", (PROJECT_ROOT / "Tiltfile").read_text(), sl.Dialect.extended())
    sl.eval(module, ast, sl.Globals.standard())
    return tilt


def test_the_tiltfile_builds_the_images_the_manifests_name() -> None:
    tilt = evaluate_tiltfile()
    builds = {str(args[0]): kwargs for args, kwargs in tilt.named("docker_build")}
    assert set(builds) == set(DOCKERFILES)
    for image, kwargs in builds.items():
        assert PROJECT_ROOT / str(kwargs["dockerfile"]) == DOCKERFILES[image]
    [(kustomized, _)] = tilt.named("kustomize")
    overlay = PROJECT_ROOT / str(kustomized[0])
    assert (overlay / "kustomization.yaml").is_file()
    assert tilt.named("k8s_yaml") == [((f"<kustomize:{kustomized[0]}>",), {})]
    rendered = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True)
    named = set(re.findall(r"^\s+image: (\S+)$", rendered.stdout, re.M))
    assert set(builds) <= named


def test_the_tiltfile_forwards_the_gateways_port_from_workloads_that_exist() -> None:
    tilt = evaluate_tiltfile()
    resources = {args[0]: kwargs for args, kwargs in tilt.named("k8s_resource")}
    assert set(resources) == {"gateway", "triton", "redis"}  # Tilt names resources after the workloads
    assert f"{k8s.GATEWAY_PORT}:{k8s.GATEWAY_PORT}" in resources["gateway"]["port_forwards"]  # type: ignore[operator]

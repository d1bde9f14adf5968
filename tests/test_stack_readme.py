"""The README's shell and Python examples, run as written against the real stack: in README order in one folder (so
lofi.mid, lofi.wav... that one example makes are there for the next), `.venv/bin/` being this venv's and
127.0.0.1:50051 the stack's gateway. What cannot run in a test by its nature is skipped by name, with its reason,
in SKIPPED; everything else must exit 0."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from deploy.launcher import Stack

PROJECT_ROOT = Path(__file__).resolve().parents[1]
README = PROJECT_ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
README_GATEWAY = "127.0.0.1:50051"
README_TRITON = "127.0.0.1:8001"  # Triton's gRPC endpoint as `dgx-music serve` opens it
EXAMPLE_TIMEOUT_SECONDS = 300

# Each example that cannot run here, by a piece of its text that names it alone, with the reason.
SKIPPED = {
    "make demo": "installs the system's packages and runs a stack of its own on the README's port",
    "make test": "runs the whole suite, this test among it",
    "bin/dgx-music models pull htdemucs": "downloads weights: the test machine has no network",
    "--model htdemucs_ft": "needs htdemucs_ft's weights; the test stack has a random htdemucs only",
    "--separate htdemucs_6s": "needs htdemucs_6s's weights; the test stack has a random htdemucs only",
    '"lofi piano" --seconds 90 --model musicgen-melody': "needs musicgen-melody's weights (the test stack has "
    "audiocraft's debug model only)",
    '"jazz trio" --model musicgen-melody': "needs musicgen-melody's weights",
    "--data ~/my-boombap-takes": "trains a real model on the reader's own files (weights, a GPU, minutes to hours)",
    "--adapter my-boombap --seconds 20": "needs the adapter the line above trains",
    "grpcurl -plaintext -d": "grpcurl is not installed here (buf curl makes the same call above)",
    "grpcurl -plaintext 127.0.0.1:50051 grpc.health": "grpcurl is not installed here",
    "DGXMUSIC_HOST=0.0.0.0 .venv/bin/dgx-music serve": "serve runs until stopped, a stack of its own",
    'midi "house 124" --out house.mid --server 127.0.0.1:50051 --ca-file': "needs the TLS gateway just above",
    "health --server 127.0.0.1:50051 --ca-file": "needs the TLS gateway just above",
    "dgx-music ardour bridge": "runs until stopped, and needs Ardour running with OSC on",
    "oscsend localhost 3820 /dgx_music/import s ": "needs the bridge and Ardour running (and liblo's oscsend)",
    "oscsend localhost 3820 /dgx_music/import si ": "needs the bridge and Ardour running (and liblo's oscsend)",
    "dgx-music mcp --http": "serves MCP until stopped",
    "redis-server --port 6379": "a Redis of its own on the README's port (tests/test_stack_replicas.py starts one)",
    "triton --profile embedded --grpc-port 8001": "runs until stopped: tests/test_stack_replicas.py runs it",
    "triton --profile embedded --grpc-port 8011": "runs until stopped: tests/test_stack_replicas.py runs it",
    "dgx-music gateway --port 50051": "runs until stopped: tests/test_stack_replicas.py runs it",
    "dgx-music gateway --port 50061": "runs until stopped: tests/test_stack_replicas.py runs it",
    "docker build -f deploy/docker/Dockerfile.gateway": "no container daemon here (tests/test_k8s_images.py)",
    "docker build -f deploy/docker/Dockerfile.triton": "no container daemon here (tests/test_k8s_images.py)",
    "kubectl create namespace": "needs a Kubernetes cluster",
    "create secret generic dgx-music-stack": "needs a Kubernetes cluster",
    "create secret generic dgx-music-api-keys": "needs a Kubernetes cluster",
    "kubectl apply -k": "needs a Kubernetes cluster",
    "helm install prometheus-adapter": "needs a Kubernetes cluster (and helm)",
    "kubectl -n dgx-music port-forward": "needs a Kubernetes cluster",
    "kubectl -n dgx-music exec deploy/triton": "needs a Kubernetes cluster",
}


@dataclass(frozen=True)
class Block:
    """One fenced ```bash or ```python block of the README."""

    section: str  # the heading it is under
    language: str
    commands: list[str]  # bash: each command, its continued lines joined; python: the whole block

    @property
    def name(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    section = ""
    lines = iter(README.read_text().splitlines())
    for line in lines:
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        elif line in ("```bash", "```python"):
            body = list(_until_fence(lines))
            language = line.removeprefix("```")
            commands = _commands(body) if language == "bash" else ["\n".join(body)]
            blocks.append(Block(section, language, commands))
    return blocks


def _until_fence(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if line == "```":
            return
        yield line


def _commands(body: list[str]) -> list[str]:
    """The block's commands, a command continued with a backslash on one string, comment lines left out."""
    commands: list[str] = []
    continued = False
    for line in body:
        if continued:
            commands[-1] += "\n" + line
        elif line.strip() and not line.lstrip().startswith("#"):
            commands.append(line)
        continued = line.endswith("\\")
    return commands


def skip_reason(command: str) -> str | None:
    return next((reason for piece, reason in SKIPPED.items() if piece in command), None)


BLOCKS = readme_blocks()


def as_run_here(text: str, stack: Stack) -> str:
    """The example as it runs against this stack: this venv's commands, the stack's gateway and Triton."""
    text = text.replace(".venv/bin/", f"{VENV_BIN}/").replace(".tools/", f"{PROJECT_ROOT}/.tools/")
    text = text.replace(README_TRITON, f"127.0.0.1:{stack.settings.triton_grpc_port}")
    return text.replace(README_GATEWAY, stack.gateway_target)


class ReadmeRun:
    """Runs the README's blocks in order, each once, in one folder."""

    def __init__(self, stack: Stack, folder: Path) -> None:
        self.stack = stack
        self.folder = folder
        self.done: list[subprocess.CompletedProcess[str]] = []
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("DGXMUSIC_")}
        self.env |= {
            "DGXMUSIC_SERVER": stack.gateway_target,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(folder / "home"),
            "XDG_CONFIG_HOME": str(folder / "home" / ".config"),
        }

    def result(self, index: int) -> subprocess.CompletedProcess[str]:
        while len(self.done) <= index:
            self.done.append(self._run(BLOCKS[len(self.done)]))
        return self.done[index]

    def _run(self, block: Block) -> subprocess.CompletedProcess[str]:
        if block.language == "python":
            argv = [sys.executable, "-c", as_run_here(block.commands[0], self.stack)]
        else:
            script = ["set -euo pipefail", "trap 'echo \"README example failed: $BASH_COMMAND\" >&2' ERR"]
            script += [as_run_here(c, self.stack) for c in block.commands if skip_reason(c) is None]
            argv = ["bash", "-c", "\n".join(script)]
        return subprocess.run(
            argv,
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=EXAMPLE_TIMEOUT_SECONDS,
            check=False,
        )


def the_readers_own_audio(folder: Path) -> None:
    """The files the README's reader brings: take.wav (a melody sung or played) and mix.wav (a song)."""
    rate = 22050
    t = np.arange(rate // 2) / rate
    notes = [0.4 * np.sin(2 * np.pi * 440 * 2 ** (step / 12) * t) for step in (0, 2, 4, 5, 7, 9)]
    take = np.concatenate(notes).astype(np.float32)
    soundfile.write(folder / "take.wav", take, rate)
    clicks = np.arange(take.size) % (rate // 2) < rate // 20  # a noise burst on every beat
    beat = np.where(clicks, 0.5, 0.0) * np.random.default_rng(0).standard_normal(take.size)
    soundfile.write(folder / "mix.wav", np.stack([take + beat, take - beat], axis=1).astype(np.float32) / 2, rate)


@pytest.fixture(scope="module")
def readme_run(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> ReadmeRun:
    folder = tmp_path_factory.mktemp("readme")
    (folder / "home").mkdir()
    the_readers_own_audio(folder)
    return ReadmeRun(stack, folder)


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"{b.name}-{i}" for i, b in enumerate(BLOCKS)])
def test_the_readme_example_runs_as_written(readme_run: ReadmeRun, index: int) -> None:
    done = readme_run.result(index)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"


# What the README says its examples write (in their comments and prose), each a file or a folder of files.
PROMISED = [
    *("trap/song.mid", "trap/mix.wav", "trap/stems", "house/song.mid", "house/mix.flac", "house/stems", "lofi.mid"),
    *(f"ideas_{n}.mid" for n in range(1, 9)),
    *("lofi.wav", "lofi-stems", "waltz/song.mid", "take.mid", "funk/transcribed", "drop.wav"),
    *(
        f"{name}{stem}.wav"
        for name in ("stems/", "funk/stems/demucs_")
        for stem in ("drums", "bass", "other", "vocals")
    ),
    *("vocals/vocals.wav", "vocals/no_vocals.wav", "longer.wav"),
    *("lofi-stream.wav", "lofi-quiet.wav", "house-mixed/mix.wav", "lofi-timgm.wav"),
    *("lofi-90.mid", "lofi.csv", "lofi-back.wav", "lofi-bends.mid"),
    *("house124/song.mid", "ballad.wav", "ballad.mid", "midi/ballad.mid", "midi/lofi.mid"),
    *("lofi/song.mid", "lofi/mix.wav", "lofi/stems", "take/transcription.mid", "dubstep/mix.wav"),
    *("gateway.pem", "gateway.key", "kept/song.mid"),
]


def test_the_readme_examples_write_what_it_says(readme_run: ReadmeRun) -> None:
    readme_run.result(len(BLOCKS) - 1)
    missing = [name for name in PROMISED if not _written(readme_run.folder / name)]
    assert not missing


def _written(path: Path) -> bool:
    if path.is_dir():
        return any(child.stat().st_size > 0 for child in path.iterdir())
    return path.is_file() and path.stat().st_size > 0


SKIPPED_COMMANDS = [c for block in BLOCKS for c in block.commands if skip_reason(c) is not None]


@pytest.mark.parametrize("command", SKIPPED_COMMANDS)
def test_the_readme_example_that_cannot_run_here_is_skipped_with_its_reason(command: str) -> None:
    pytest.skip(f"{skip_reason(command)}: {command.strip()}")


def test_each_skipped_example_names_one_example_of_the_readme() -> None:
    commands = [c for block in BLOCKS for c in block.commands]
    for piece in SKIPPED:
        assert sum(piece in c for c in commands) == 1, piece


def test_the_readme_has_the_examples_this_test_runs() -> None:
    assert {b.language for b in BLOCKS} == {"bash", "python"}
    assert len([c for b in BLOCKS for c in b.commands]) > 40

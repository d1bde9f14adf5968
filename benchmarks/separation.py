"""How long demucs separation takes on this machine's CPU, to size a deployment: seconds of compute per minute of
audio for the tiny test model and for the full-size HTDemucs architecture (random weights: speed does not depend on
the weight values), both written to a weights directory and loaded through the real loading path.

Run: .venv/bin/python benchmarks/separation.py [--threads N] [--tiny-seconds S] [--full-seconds S]
"""

import argparse
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

import separator

SAMPLE_RATE = 44100


def stereo_noise(seconds: float) -> npt.NDArray[np.float32]:
    noise: npt.NDArray[np.float32] = (
        0.1 * np.random.default_rng(0).standard_normal((int(seconds * SAMPLE_RATE), 2))
    ).astype(np.float32)
    return noise


def measure(weights_dir: Path, name: str, architecture: Mapping[str, object], seconds: float) -> None:
    separator.write_random_htdemucs(weights_dir, name, architecture)
    model = separator.load_model(name, weights_dir)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    separate = separator.Separator(model, max_seconds=seconds + 1).separate
    # The first call pays for oneDNN kernel selection; a deployment pays it once per process.
    started = time.perf_counter()
    separate(stereo_noise(1.0), SAMPLE_RATE)
    warm_up = time.perf_counter() - started
    started = time.perf_counter()
    separate(stereo_noise(seconds), SAMPLE_RATE)
    elapsed = time.perf_counter() - started
    print(
        f"{name:5} {parameters / 1e6:6.2f} M parameters  {seconds:5.0f} s clip: {elapsed:6.2f} s  "
        f"= {60 * elapsed / seconds:6.1f} s per minute of audio ({seconds / elapsed:5.2f}x real time); "
        f"first call {warm_up:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--tiny-seconds", type=float, default=60.0)
    parser.add_argument("--full-seconds", type=float, default=20.0)
    options = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    separator.set_threads(options.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    with tempfile.TemporaryDirectory() as weights_dir:
        measure(Path(weights_dir), "tiny", separator.TINY, options.tiny_seconds)
        measure(Path(weights_dir), "full", separator.FULL, options.full_seconds)


if __name__ == "__main__":
    main()

"""How fast MusicGen generates on this machine's CPU, to size a deployment: seconds of audio per second of compute
for audiocraft's debug model and for a randomly initialised language model of musicgen-small's size (speed does not
depend on the weight values), a batch of 4 prompts against 4 single calls, and the time to the first progress event.

The small-sized model keeps the debug codec (25 tokens per second of audio) and a lookup-table text conditioner
instead of T5 (run once per request); the real encodec_32khz makes 50 tokens per second, so its figure is also given
per real second of audio (tokens / 50), which is what the language model's cost per token decides.

Run: .venv/bin/python benchmarks/generation.py [--threads N] [--seconds S] [--small-seconds S]
"""

import argparse
import time
import warnings

import torch

import generator
from generator.weights import load_model, small_sized_model

REAL_TOKENS_PER_SECOND = 50


def timed(model: generator.Generator, prompts: list[str], seconds: float) -> tuple[float, float]:
    """(compute seconds, seconds to the first progress event)."""
    first: list[float] = []
    started = time.perf_counter()

    def on_progress(_done: int, _total: int) -> None:
        if not first:
            first.append(time.perf_counter() - started)

    model.generate(prompts, generator.GenerationParams(duration=seconds, seed=0), on_progress=on_progress)
    return time.perf_counter() - started, first[0]


def report(label: str, model: generator.Generator, seconds: float, tokens_per_second: float) -> None:
    timed(model, ["warm up"], 1.0)
    single, first = timed(model, ["lofi beat"], seconds)
    batch, _ = timed(model, ["lofi beat", "string quartet", "techno", "ambient"], seconds)
    singles = sum(timed(model, [prompt], seconds)[0] for prompt in ("a", "b", "c", "d"))
    real = seconds * tokens_per_second / REAL_TOKENS_PER_SECOND
    print(
        f"{label}: {seconds:g} s clip ({seconds * tokens_per_second:.0f} tokens) in {single:.2f} s = "
        f"{seconds / single:.2f} s of audio per s of compute ({real / single:.3f} at the real codec's 50 tokens/s); "
        f"first progress after {first * 1000:.0f} ms; batch of 4 {batch:.2f} s vs 4 single calls {singles:.2f} s "
        f"({singles / batch:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--small-seconds", type=float, default=2.0)
    options = parser.parse_args()
    warnings.simplefilter("ignore")
    generator.set_threads(options.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    debug = generator.Generator(load_model("debug"))
    rate = float(debug.model.frame_rate)
    report("debug", debug, options.seconds, rate)
    small = generator.Generator(small_sized_model())
    parameters = sum(parameter.numel() for parameter in small.model.lm.parameters())
    report(f"small-sized LM ({parameters / 1e6:.0f} M parameters)", small, options.small_seconds, rate)


if __name__ == "__main__":
    main()

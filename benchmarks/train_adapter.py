"""How fast a LoRA adapter trains (generator.training) and what it achieves: steps per second, peak memory, the
validation loss of the base model and of the adapter, on a genre set the stack makes itself (boom bap composed with
different seeds, rendered by FluidSynth), the data the tests train on, in larger amounts.

Models: ``debug`` (audiocraft's tiny random model, CPU: the pipeline's own cost), ``small-sized`` (a randomly
initialised language model of musicgen-small's shape - 24 layers, 1024 wide - on the debug codec: the cost of a
step does not depend on the weights' values; the debug codec makes 25 tokens per second where encodec_32khz makes
50, so chunks are taken twice as long to give a step the real model's tokens; no weights needed), or a released
model (``musicgen-small``, ... : real weights, see `dgx-music models pull`), on ``--device cpu`` or ``cuda``.

Run:
  .venv/bin/python benchmarks/train_adapter.py                                    # debug model, CPU, seconds
  .venv/bin/python benchmarks/train_adapter.py --model small-sized --steps 3      # musicgen-small's shape, CPU
  .venv/bin/python benchmarks/train_adapter.py --model musicgen-small --device cuda --songs 16 --song-seconds 30 \\
      --chunk-seconds 15 --steps 100                                              # the GPU recipe, real weights
"""

import argparse
import resource
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

import generator
from composer import SongRequest, compose
from generator.training import TrainingClip, TrainingConfig, TrainingProgress, prepare, train
from generator.weights import load_model, small_sized_model
from renderers import DEFAULT_SOUNDFONT_DIRS, FluidSynthRenderer, SoundFontLibrary, parse_midi

if TYPE_CHECKING:
    from audiocraft.models.musicgen import MusicGen

SMALL_SIZED = "small-sized"
RENDER_RATE = 44100
PROMPT = "boom bap hip hop beat with jazz piano"


def genre_set(songs: int, seconds: float) -> list[TrainingClip]:
    library = SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS)
    with FluidSynthRenderer(library.resolve("TimGM6mb"), RENDER_RATE) as renderer:
        clips = []
        for seed in range(songs):
            song = compose(SongRequest(PROMPT, seconds=seconds, seed=seed))
            mix = renderer.render(parse_midi(song.midi), stems=False).mix[: round(seconds * RENDER_RATE)]
            clips.append(TrainingClip(f"song-{seed}.wav", mix, RENDER_RATE))
    return clips


def small_sized(device: str) -> "MusicGen":
    """generator.weights.small_sized_model, in float16 on a GPU as audiocraft loads the released models there."""
    model = small_sized_model()
    if device != "cpu":
        model.lm.to(device, dtype=torch.float16)
        model.compression_model.to(device)
    model.name = SMALL_SIZED
    return model


def peak_memory(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU (torch allocated)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="debug", help="debug, small-sized or a released model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--song-seconds", type=float, default=4.0)
    parser.add_argument("--chunk-seconds", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rank", type=int, default=TrainingConfig.rank)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: 3e-3 for debug, else 1e-4")
    options = parser.parse_args()
    warnings.simplefilter("ignore")
    generator.set_threads(options.threads)
    where = torch.cuda.get_device_name() if options.device.startswith("cuda") else f"CPU, {options.threads} threads"
    print(f"torch {torch.__version__}, {where}")

    started = time.perf_counter()
    if options.model == SMALL_SIZED:
        model = small_sized(options.device)
    else:
        model = load_model(options.model, options.weights_dir, options.device)
    parameters = sum(parameter.numel() for parameter in model.lm.parameters())
    print(f"model {options.model}: language model {parameters / 1e6:.1f} M parameters, loaded in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip

    # The debug codec makes half the real codec's tokens per second: twice the audio gives a step the real count.
    stretch = 2.0 if options.model == SMALL_SIZED else 1.0
    learning_rate = options.learning_rate or (3e-3 if options.model == "debug" else 1e-4)
    config = TrainingConfig(
        rank=options.rank,
        steps=options.steps,
        learning_rate=learning_rate,
        batch_size=options.batch_size,
        chunk_seconds=options.chunk_seconds * stretch,
        min_seconds=min(1.0, options.chunk_seconds * stretch),
        validation_fraction=0.25,
        checkpoint_every=max(1, options.steps // 2),
        genre_words=("boom bap", "hip hop"),
    )
    started = time.perf_counter()
    clips = genre_set(options.songs, options.song_seconds * stretch)
    composed = time.perf_counter() - started
    started = time.perf_counter()
    data = prepare(model, clips, config)
    prepared = time.perf_counter() - started
    tokens = sum(chunk.tokens.shape[-1] for chunk in data.train[:1])
    print(f"data: {options.songs} songs of {options.song_seconds * stretch:g} s composed and rendered in "
          f"{composed:.1f} s; prepared in {prepared:.1f} s: {len(data.train)} training and {len(data.validation)} "
          f"validation chunks of {tokens} tokens x {model.lm.num_codebooks} codebooks")  # fmt: skip

    steps: list[float] = []

    def on_step(progress: TrainingProgress) -> None:
        steps.append(time.perf_counter())

    if options.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        result = train(model, data, config, Path(work), on_step, lambda: False)
        total = time.perf_counter() - started
    # The first step pays for warm-up (allocations, kernels): the rate is over the others.
    rate = (len(steps) - 1) / (steps[-1] - steps[0]) if len(steps) > 1 else len(steps) / total
    full = TrainingConfig().steps
    print(f"training: {config.steps} steps of batch {config.batch_size}, rank {config.rank}: {total:.1f} s in all "
          f"(two validation passes included), {rate:.2f} steps/s = {1 / rate:.3f} s/step; {full} steps (the default) "
          f"would take {full / rate / 60:.1f} min; peak memory {peak_memory(options.device)}")  # fmt: skip
    losses = result.train_losses
    adapter_parameters = sum(tensor.numel() for tensor in result.state.values())
    print(f"losses: validation base {result.base_validation_loss:.3f} -> adapter {result.adapter_validation_loss:.3f}"
          f" ({result.adapter_validation_loss / result.base_validation_loss:.3f}x); training first {losses[0]:.3f}, "
          f"last {losses[-1]:.3f}; the adapter has {adapter_parameters / 1e6:.3f} M parameters")  # fmt: skip


if __name__ == "__main__":
    main()

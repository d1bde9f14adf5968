"""Fine-tuning MusicGen on a user's own audio: a LoRA adapter (peft) on the language model, trained on the audio's
EnCodec tokens with the model's own cross-entropy objective.

`prepare` turns clips into training data: the model's rate and channels, optionally without vocals (the stack's
Demucs, passed in as `separate`), chunks of `chunk_seconds`, a caption per clip (its own, or one made from its
estimated tempo and key and the genre words given), EnCodec tokens computed once (cached on disk for a resume) and a
validation split held back by clip, chosen by the seed. `train` puts a LoRA adapter on ``model.lm`` (its ``linear1``,
``linear2`` and attention ``out_proj`` layers), trains it step by step with progress, cancellation and atomic
checkpoints it resumes from, measures the validation loss of the base model and of the adapter, and takes the adapter
off again: the model it was given is the base model once more. `save_adapter` writes the adapter the way peft reads it
(``adapter_config.json`` + ``adapter_model.safetensors``) with its recipe (``recipe.json``), atomically.

A training run needs the model to itself (gradients, train mode): give it a model no `AppliedAdapters` serves from.
"""

import hashlib
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import torch

from generator._imports import import_audiocraft_models
from generator.adapters import ADAPTER_WEIGHTS, RECIPE, check_name
from generator.errors import InvalidAdapter, InvalidTraining, TrainingCancelled, TrainingDataError
from generator.weights import name_of

if TYPE_CHECKING:
    from audiocraft.models.musicgen import MusicGen
    from peft import LoraConfig, PeftModel

# The Linear layers of audiocraft's transformer LoRA adapts: feed-forward in and out, and each attention's output.
# (Attention's in_proj is a Parameter, not a Linear, so peft cannot wrap it.)
TARGET_MODULES: Final = ("linear1", "linear2", "out_proj")
# The peft adapter name a run trains under; not a user's adapter name (those are slugs with no underscore).
TRAINING_ADAPTER: Final = "dgx_training"
CHECKPOINT: Final = "checkpoint.pt"
SILENCE_PEAK: Final = 10 ** (-60 / 20)  # a clip whose peak stays below -60 dBFS is silence
WARMUP_FRACTION: Final = 0.05
MAX_GRAD_NORM: Final = 1.0

Separate = Callable[[npt.NDArray[np.float32], int], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters. The defaults are for a real run on a GPU (minutes of audio, a released model); tests shrink
    them. `chunk_seconds`: the length of each training example (10-30 s for the released models' 30 s window);
    `min_seconds`: shorter clips are refused and shorter remainders of a clip dropped."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    steps: int = 500
    learning_rate: float = 1e-4
    batch_size: int = 4
    chunk_seconds: float = 15.0
    min_seconds: float = 5.0
    validation_fraction: float = 0.1
    checkpoint_every: int = 50
    seed: int = 0
    drop_vocals: bool = False
    genre_words: tuple[str, ...] = ()

    def validate(self) -> None:
        """Raises InvalidTraining naming the first field out of range."""
        for name in ("rank", "alpha", "steps", "batch_size", "checkpoint_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InvalidTraining(name, f"must be a whole number of at least 1, got {getattr(self, name)!r}")
        _in_range("dropout", self.dropout, 0.0, 1.0, high_open=True)
        _in_range("learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
        _in_range("validation_fraction", self.validation_fraction, 0.0, 0.5, low_open=True)
        _in_range("chunk_seconds", self.chunk_seconds, 0.0, math.inf, low_open=True)
        _in_range("min_seconds", self.min_seconds, 0.0, self.chunk_seconds, low_open=True)
        if not 0 <= self.seed < 2**32:
            raise InvalidTraining("seed", f"must be 0 to 2**32 - 1, got {self.seed}")
        for word in self.genre_words:
            if not word.strip() or len(word) > 100:
                raise InvalidTraining("genre_words", f"each must be 1-100 characters, got {word!r}")

    def lora_config(self) -> "LoraConfig":
        """peft's LoRA configuration for these hyper-parameters."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=list(TARGET_MODULES)
        )


@dataclass(frozen=True)
class TrainingClip:
    """One piece of a user's audio: float32 [frames, channels] at `sample_rate`, its name (the file name, used in
    errors) and its caption, if the user wrote one."""

    name: str
    samples: npt.NDArray[np.float32]
    sample_rate: int
    caption: str | None = None


@dataclass(frozen=True)
class Chunk:
    """One training example: the caption of its clip and its EnCodec tokens, int64 [codebooks, frames]."""

    clip: str
    caption: str
    tokens: npt.NDArray[np.int64]


@dataclass(frozen=True)
class PreparedData:
    """Training data for one base model: chunks to train on, chunks held back to validate on, and per clip its
    checksum (SHA-256 of its samples and rate) and the caption it was trained with."""

    base_model: str
    train: tuple[Chunk, ...]
    validation: tuple[Chunk, ...]
    checksums: Mapping[str, str]
    captions: Mapping[str, str]

    def digest(self) -> str:
        """One checksum of what the data is: the base model and every clip's checksum and caption."""
        return _sha256_json(
            {"base_model": self.base_model, "checksums": dict(self.checksums), "captions": dict(self.captions)}
        )


@dataclass(frozen=True)
class TrainingProgress:
    """After each step: steps done of all, that step's training loss, seconds trained so far (resumes included)."""

    step: int
    steps: int
    loss: float
    elapsed: float


@dataclass(frozen=True)
class TrainingResult:
    """A finished run: the adapter (its LoRA weights, on the CPU) and what it achieved on the held-back chunks."""

    base_model: str
    config: TrainingConfig
    state: Mapping[str, torch.Tensor]
    base_validation_loss: float
    adapter_validation_loss: float
    train_losses: tuple[float, ...]
    data_checksums: Mapping[str, str]
    captions: Mapping[str, str]
    seconds: float
    resumed_from: int = 0  # the checkpoint's step this run continued from (0: from the start)


# --- preparing data ---------------------------------------------------------------------------------------------


def prepare(
    model: "MusicGen",
    clips: Sequence[TrainingClip],
    config: TrainingConfig,
    separate: Separate | None = None,
    *,
    cache_dir: Path | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> PreparedData:
    """Training data from `clips` for `model` (see the module's docstring). `separate` (samples, rate) -> the same
    samples without vocals is required when `config.drop_vocals`. With `cache_dir`, data prepared before from the
    same clips and settings is read back instead of separated and encoded again. Raises TrainingDataError naming the
    clip at fault ("data/<name>"), or "data" when there is nothing (or too little) to train on, and
    TrainingCancelled when `cancelled` (asked before each clip is separated and encoded) turns true."""
    config.validate()
    if not clips:
        raise TrainingDataError("data", "no audio files to train on")
    if config.drop_vocals and separate is None:
        raise InvalidTraining("drop_vocals", "dropping vocals needs the stack's Demucs, which is not available here")
    checksums = {}
    for clip in clips:
        _check_clip(clip, config)
        checksums[clip.name] = clip_checksum(clip)
    if len(checksums) < len(clips):
        raise TrainingDataError("data", "two clips have the same name; give each file its own name")
    captions_given = [clip.caption for clip in clips]
    key = _sha256_json({"model": name_of(model), "checksums": checksums, "given": captions_given, **_settings(config)})
    cached = None if cache_dir is None else cache_dir / f"prepared-{key[:24]}.npz"
    if cached is not None and cached.is_file():
        return _load_prepared(cached)
    captions: dict[str, str] = {}
    chunks: dict[str, list[npt.NDArray[np.float32]]] = {}
    for clip in clips:
        if cancelled():
            raise TrainingCancelled(f"training cancelled while preparing its data, before {clip.name}")
        samples = np.ascontiguousarray(clip.samples, dtype=np.float32)
        captions[clip.name] = clip.caption.strip() if clip.caption else describe(samples, clip.sample_rate, config)
        if config.drop_vocals:
            assert separate is not None
            samples = separate(samples, clip.sample_rate)
        chunks[clip.name] = _chunks(_to_model_audio(model, samples, clip.sample_rate), model, config)
    tokens = {name: _encode(model, pieces) for name, pieces in chunks.items()}
    train, validation = _split(tokens, captions, config)
    data = PreparedData(name_of(model), train, validation, checksums, captions)
    if cached is not None:
        _save_prepared(data, cached)
    return data


def clip_checksum(clip: TrainingClip) -> str:
    """SHA-256 of a clip's rate, shape and float32 samples: what the recipe records of the data."""
    digest = hashlib.sha256(f"{clip.sample_rate}:{clip.samples.shape}:".encode())
    digest.update(np.ascontiguousarray(clip.samples, dtype=np.float32).tobytes())
    return digest.hexdigest()


def describe(samples: npt.NDArray[np.float32], sample_rate: int, config: TrainingConfig) -> str:
    """A caption for audio that came without one: the genre words given, then the tempo and key heard in it
    (e.g. "boom bap, hip hop, 92 bpm, A minor")."""
    import librosa

    from composer.keyfinding import KRUMHANSL_KESSLER, heard
    from composer.theory import make_key

    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    onsets = librosa.onset.onset_strength(y=mono, sr=sample_rate)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onsets, sr=sample_rate))[0])
    chroma = librosa.feature.chroma_stft(y=mono, sr=sample_rate)
    _, tonic, mode = heard([float(weight) for weight in chroma.sum(axis=1)], KRUMHANSL_KESSLER)[0]
    words = [*config.genre_words, f"{round(tempo)} bpm", make_key(tonic, mode).name]
    return ", ".join(words)


def _check_clip(clip: TrainingClip, config: TrainingConfig) -> None:
    where = f"data/{clip.name}"
    samples = clip.samples
    if samples.ndim != 2 or samples.shape[1] not in (1, 2) or samples.shape[0] == 0:
        raise TrainingDataError(where, f"must be mono or stereo audio [frames, channels], got shape {samples.shape}")
    if not 8000 <= clip.sample_rate <= 192000:
        raise TrainingDataError(where, f"its sample rate must be 8000-192000 Hz, got {clip.sample_rate}")
    if not np.isfinite(samples).all():
        raise TrainingDataError(where, "contains NaN or infinite samples")
    seconds = samples.shape[0] / clip.sample_rate
    if seconds < config.min_seconds:
        raise TrainingDataError(where, f"is {seconds:.2f} s long; each file must be at least {config.min_seconds:g} s")
    if float(np.abs(samples).max()) < SILENCE_PEAK:
        raise TrainingDataError(where, "is silent (its peak is below -60 dBFS)")
    if clip.caption is not None and len(clip.caption) > 2000:
        raise TrainingDataError(where, "its caption is over 2000 characters")


def _to_model_audio(model: "MusicGen", samples: npt.NDArray[np.float32], sample_rate: int) -> torch.Tensor:
    """[channels, frames] at the model's rate (soxr, high quality) and channel count (mono: the channels' mean)."""
    import soxr

    if sample_rate != model.sample_rate:
        samples = np.asarray(soxr.resample(samples, sample_rate, model.sample_rate), dtype=np.float32)
    channels = samples.mean(axis=1, keepdims=True) if model.audio_channels == 1 else samples
    if channels.shape[1] != model.audio_channels:  # mono audio for a stereo model: the same on both sides
        channels = np.repeat(channels, model.audio_channels, axis=1)
    return torch.from_numpy(np.ascontiguousarray(channels.T))


def _chunks(audio: torch.Tensor, model: "MusicGen", config: TrainingConfig) -> list[npt.NDArray[np.float32]]:
    """Consecutive chunks of `chunk_seconds`; a remainder of at least `min_seconds` is a shorter last chunk."""
    size = round(config.chunk_seconds * model.sample_rate)
    least = round(config.min_seconds * model.sample_rate)
    frames = audio.shape[-1]
    starts = [start for start in range(0, frames, size) if frames - start >= least] or [0]
    return [audio[:, start : start + size].numpy() for start in starts]


def _encode(model: "MusicGen", chunks: list[npt.NDArray[np.float32]]) -> list[npt.NDArray[np.int64]]:
    """Each chunk's EnCodec tokens [codebooks, frames] (once per run: the codec is not trained)."""
    device = next(model.lm.parameters()).device
    tokens: list[npt.NDArray[np.int64]] = []
    with torch.inference_mode():
        for wav in chunks:
            codes, _ = model.compression_model.encode(torch.from_numpy(wav)[None].to(device))
            tokens.append(codes[0].cpu().numpy().astype(np.int64))
    return tokens


def _split(
    tokens: Mapping[str, list[npt.NDArray[np.int64]]], captions: Mapping[str, str], config: TrainingConfig
) -> tuple[tuple[Chunk, ...], tuple[Chunk, ...]]:
    """Train and validation chunks: whole clips held back when there are two or more clips (chunks of one clip sound
    alike, so holding back part of a clip would flatter the adapter), else chunks of the one clip; chosen by the
    seed, at least one of each."""
    chunks = {name: [Chunk(name, captions[name], codes) for codes in pieces] for name, pieces in tokens.items()}
    rng = np.random.default_rng(config.seed)
    if len(chunks) >= 2:
        units = [chunks[name] for name in sorted(chunks)]
    else:
        units = [[chunk] for chunk in next(iter(chunks.values()))]
    if len(units) < 2:
        raise TrainingDataError(
            "data", "too little audio: training needs at least two chunks (one to train on, one to validate on)"
        )
    order = rng.permutation(len(units))
    held = min(max(1, round(config.validation_fraction * len(units))), len(units) - 1)
    validation = [chunk for index in order[:held] for chunk in units[index]]
    train = [chunk for index in sorted(order[held:]) for chunk in units[index]]
    return tuple(train), tuple(validation)


def _settings(config: TrainingConfig) -> dict[str, Any]:
    names = ("chunk_seconds", "min_seconds", "validation_fraction", "seed", "drop_vocals", "genre_words")
    return {name: getattr(config, name) for name in names}


def _save_prepared(data: PreparedData, path: Path) -> None:
    meta = {
        "base_model": data.base_model,
        "checksums": dict(data.checksums),
        "captions": dict(data.captions),
        "train": [chunk.clip for chunk in data.train],
        "validation": [chunk.clip for chunk in data.validation],
    }
    arrays = {f"chunk_{index}": chunk.tokens for index, chunk in enumerate((*data.train, *data.validation))}
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.npz")
    try:
        np.savez(staging, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def _load_prepared(path: Path) -> PreparedData:
    with np.load(path, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        captions = meta["captions"]
        clips = [*meta["train"], *meta["validation"]]
        chunks = [Chunk(clip, captions[clip], stored[f"chunk_{index}"]) for index, clip in enumerate(clips)]
    split = len(meta["train"])
    return PreparedData(meta["base_model"], tuple(chunks[:split]), tuple(chunks[split:]), meta["checksums"], captions)


# --- training ---------------------------------------------------------------------------------------------------


def train(
    model: "MusicGen",
    data: PreparedData,
    config: TrainingConfig,
    work_dir: Path,
    progress: Callable[[TrainingProgress], None],
    cancelled: Callable[[], bool],
) -> TrainingResult:
    """Trains a LoRA adapter on `model.lm` (see the module's docstring) and returns it with its losses.

    Every `checkpoint_every` steps the adapter and optimiser are saved to `work_dir` (atomically); a run started
    again with the same data and config continues from that step, and, since each step's batch and randomness are
    chosen from the seed and the step alone, ends with the adapter an uninterrupted run would have. `progress` is
    called after each step; `cancelled` before each, and when it turns true TrainingCancelled is raised. The model
    is handed back as it came (no adapter, eval mode), whatever happens."""
    config.validate()
    if data.base_model != name_of(model):
        raise TrainingDataError("data", f"was prepared for model {data.base_model!r}, not {name_of(model)!r}")
    from peft import PeftModel
    from peft.tuners.tuners_utils import BaseTunerLayer

    lm = model.lm
    if any(isinstance(module, BaseTunerLayer) for module in lm.modules()):
        raise RuntimeError("train needs a model of its own, with no adapters applied (load one for training)")
    work_dir.mkdir(parents=True, exist_ok=True)
    requires_grad = {name: parameter.requires_grad for name, parameter in lm.named_parameters()}
    device = next(lm.parameters()).device
    # The run seeds torch's generators (the adapter's initial weights, each step's dropout) and hands them back.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        peft_model = PeftModel(lm, config.lora_config(), TRAINING_ADAPTER)
        try:
            return _train(model, peft_model, data, config, work_dir, progress, cancelled)
        finally:
            lm.eval()
            peft_model.unload()
            for name, parameter in lm.named_parameters():
                parameter.requires_grad_(requires_grad[name])


def _train(
    model: "MusicGen",
    peft_model: "PeftModel",
    data: PreparedData,
    config: TrainingConfig,
    work_dir: Path,
    progress: Callable[[TrainingProgress], None],
    cancelled: Callable[[], bool],
) -> TrainingResult:
    """`train`'s steps, with the adapter in place."""
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

    lm = model.lm
    device = next(lm.parameters()).device
    fingerprint = _sha256_json({"data": data.digest(), "config": _training_settings(config)})
    started = time.monotonic()
    trainable = [parameter for parameter in lm.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate)
    checkpoint = _read_checkpoint(work_dir / CHECKPOINT, fingerprint)
    if checkpoint is None:
        with peft_model.disable_adapter():
            base_loss = validation_loss(model, data.validation, config.batch_size)
        start, losses, earlier = 0, [], 0.0
    else:
        set_peft_model_state_dict(peft_model, checkpoint["adapter"], adapter_name=TRAINING_ADAPTER)
        optimizer.load_state_dict(checkpoint["optimizer"])
        start, losses, earlier = checkpoint["step"], list(checkpoint["losses"]), checkpoint["elapsed"]
        base_loss = checkpoint["base_loss"]
    for step in range(start, config.steps):
        if cancelled():
            raise TrainingCancelled(f"training cancelled after {step} of {config.steps} steps")
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        torch.manual_seed(_step_seed(config.seed, step))  # LoRA dropout: the same at this step on a resume
        lm.train()
        loss = _loss(model, _batch(data.train, step, config), device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(trainable, MAX_GRAD_NORM)
        optimizer.step()
        losses.append(float(loss.detach()))
        elapsed = earlier + time.monotonic() - started
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            adapter = get_peft_model_state_dict(peft_model, adapter_name=TRAINING_ADAPTER)
            _write_checkpoint(
                work_dir / CHECKPOINT,
                {
                    "fingerprint": fingerprint,
                    "step": step + 1,
                    "adapter": adapter,
                    "optimizer": optimizer.state_dict(),
                    "losses": losses,
                    "elapsed": elapsed,
                    "base_loss": base_loss,
                },
            )
        progress(TrainingProgress(step + 1, config.steps, losses[-1], elapsed))
    lm.eval()
    adapter_loss = validation_loss(model, data.validation, config.batch_size)
    state = {
        name: tensor.detach().to("cpu", copy=True)
        for name, tensor in get_peft_model_state_dict(peft_model, adapter_name=TRAINING_ADAPTER).items()
    }
    return TrainingResult(
        base_model=name_of(model),
        config=config,
        state=state,
        base_validation_loss=base_loss,
        adapter_validation_loss=adapter_loss,
        train_losses=tuple(losses),
        data_checksums=dict(data.checksums),
        captions=dict(data.captions),
        seconds=earlier + time.monotonic() - started,
        resumed_from=start,
    )


def validation_loss(model: "MusicGen", chunks: Sequence[Chunk], batch_size: int) -> float:
    """The model's mean cross-entropy per token on `chunks` (as it stands: with whatever adapter is active)."""
    device = next(model.lm.parameters()).device
    total, tokens = 0.0, 0
    was_training = model.lm.training
    model.lm.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(chunks), batch_size):
                batch = list(chunks[start : start + batch_size])
                count = sum(chunk.tokens.size for chunk in batch)
                total += float(_loss(model, batch, device)) * count
                tokens += count
    finally:
        model.lm.train(was_training)
    return total / tokens


def learning_rate_at(step: int, config: TrainingConfig) -> float:
    """A linear warm-up over the first 5% of the steps, then a cosine decay to zero: a function of the step alone,
    so a resumed run follows the same schedule."""
    warmup = max(1, round(WARMUP_FRACTION * config.steps))
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    done = (step - warmup) / max(1, config.steps - warmup)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * done))


def _loss(model: "MusicGen", batch: Sequence[Chunk], device: torch.device) -> torch.Tensor:
    """Cross-entropy of the LM's predictions of each chunk's tokens, given its caption, over the tokens the delay
    pattern predicts (and not the padding of chunks shorter than the longest)."""
    import_audiocraft_models()
    from audiocraft.modules.conditioners import ConditioningAttributes

    lm = model.lm
    frames = max(chunk.tokens.shape[-1] for chunk in batch)
    codes = torch.zeros((len(batch), lm.num_codebooks, frames), dtype=torch.long)
    real = torch.zeros_like(codes, dtype=torch.bool)
    for index, chunk in enumerate(batch):
        codes[index, :, : chunk.tokens.shape[-1]] = torch.from_numpy(chunk.tokens)
        real[index, :, : chunk.tokens.shape[-1]] = True
    codes, real = codes.to(device), real.to(device)
    attributes = [ConditioningAttributes(text={"description": chunk.caption}) for chunk in batch]
    with _autocast(device):
        conditions = lm.condition_provider(lm.condition_provider.tokenize(attributes))
        output = lm.compute_predictions(codes, [], condition_tensors=conditions)
    mask = output.mask & real
    return torch.nn.functional.cross_entropy(output.logits[mask].float(), codes[mask])


def _autocast(device: torch.device) -> torch.autocast:
    """bfloat16 autocast on a GPU (audiocraft loads the LM in float16 there; its own training autocasts), none on
    the CPU."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def _batch(chunks: Sequence[Chunk], step: int, config: TrainingConfig) -> list[Chunk]:
    """The chunks of one step: epoch after epoch through a seeded shuffle, so the step alone says which."""
    per_epoch = math.ceil(len(chunks) / config.batch_size)
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng([config.seed, epoch]).permutation(len(chunks))
    return [chunks[index] for index in order[position * config.batch_size : (position + 1) * config.batch_size]]


def _step_seed(seed: int, step: int) -> int:
    return int(np.random.default_rng([seed, step]).integers(2**62))


def _training_settings(config: TrainingConfig) -> dict[str, Any]:
    """What a checkpoint must agree on to be resumed (how often to checkpoint may change)."""
    return {name: value for name, value in asdict(config).items() if name != "checkpoint_every"}


def _read_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint in the work directory, if it is of this data and config (another run's is ignored)."""
    if not path.is_file():
        return None
    checkpoint: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint if checkpoint.get("fingerprint") == fingerprint else None


def _write_checkpoint(path: Path, checkpoint: Mapping[str, Any]) -> None:
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        torch.save(dict(checkpoint), staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


# --- saving -----------------------------------------------------------------------------------------------------


def save_adapter(result: TrainingResult, directory: Path, name: str, recipe: Mapping[str, Any]) -> Path:
    """Writes the adapter to `directory/name`: peft's ``adapter_config.json`` and ``adapter_model.safetensors``, and
    ``recipe.json`` (base model, hyper-parameters, data checksums and captions, losses, creation time, and the
    caller's `recipe` entries besides). Written in a staging folder renamed into place, so the adapter appears whole
    or not at all. Raises InvalidAdapter for a name that is not a slug or that exists already."""
    from safetensors.torch import save_file

    check_name(name, field="name")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if target.exists():
        raise InvalidAdapter("name", f"an adapter named {name!r} exists already")
    staging = directory / f".staging-{name}-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        save_file({key: tensor.contiguous() for key, tensor in result.state.items()}, staging / ADAPTER_WEIGHTS)
        result.config.lora_config().save_pretrained(str(staging))
        full_recipe = {**recipe, **recipe_of(result)}
        (staging / RECIPE).write_text(json.dumps(full_recipe, indent=2, sort_keys=True) + "\n")
        for written in staging.iterdir():
            _fsync(written)
        try:
            staging.rename(target)
        except OSError as exc:  # made meanwhile by another run
            raise InvalidAdapter("name", f"an adapter named {name!r} exists already") from exc
        _fsync(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def recipe_of(result: TrainingResult) -> dict[str, Any]:
    """What recipe.json records of a run."""
    return {
        "base_model": result.base_model,
        "hyper_parameters": {**asdict(result.config), "genre_words": list(result.config.genre_words)},
        "target_modules": list(TARGET_MODULES),
        "data_checksums": dict(result.data_checksums),
        "captions": dict(result.captions),
        "base_validation_loss": result.base_validation_loss,
        "adapter_validation_loss": result.adapter_validation_loss,
        "train_losses": list(result.train_losses),
        "training_seconds": result.seconds,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=list).encode()).hexdigest()


def _in_range(
    name: str, value: float, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> None:
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (isinstance(value, int | float) and math.isfinite(value) and above and below):
        bounds = f"{'over' if low_open else 'at least'} {low:g}" + (
            "" if math.isinf(high) else f" and {'under' if high_open else 'at most'} {high:g}"
        )
        raise InvalidTraining(name, f"must be {bounds}, got {value!r}")

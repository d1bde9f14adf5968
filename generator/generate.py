"""Text (and melody) to music with a loaded MusicGen: validation, a batch of prompts in one audiocraft call,
progress in tokens over the whole requested length, cancellation between tokens, and long-form generation past the
model's window by audiocraft's own continuation (each new window is prompted with the previous window's last
``window - extend_stride`` seconds of tokens; the token stream is decoded in one piece, so there is no seam)."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import torch

from dgxmusic.models import Musicgen
from generator.errors import GenerationCancelled, GenerationTooLong, InvalidGeneration

if TYPE_CHECKING:
    from audiocraft.models.musicgen import MusicGen

Audio = npt.NDArray[np.float32]
ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]

MAX_PROMPT_CHARS: Final = 2000
# audiocraft's default continuation stride for its 30 s windows: 12 s of context carried into each next window.
EXTEND_STRIDE: Final = 18.0


def set_threads(threads: int) -> None:
    """Intra-op threads torch uses for generation in this process."""
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class GenerationParams:
    """How to generate; the field names are the request's. `seed` None draws a fresh one."""

    duration: float = 10.0
    temperature: float = 1.0
    top_k: int = 250
    top_p: float = 0.0
    cfg_coef: float = 3.0
    seed: int | None = None


class _TokenProgress:
    """Turns audiocraft's per-step callbacks into (tokens done, tokens in total) over the whole clip, and checks
    for cancellation at every step.

    audiocraft calls back once per step of each window with (step, steps in that window); a window's steps include
    the codebook delays, and its count leaves out the continuation prompt, so the count alone does not say how much
    of the clip is done. Window 0 makes tokens [0, window); window i >= 1 makes [window + (i-1) * stride,
    window + i * stride), the last one cut at the total. Each step advances through its window's share.
    """

    def __init__(
        self,
        total: int,
        window: int,
        stride: int,
        on_progress: ProgressCallback | None,
        is_cancelled: CancelCheck | None,
    ) -> None:
        self.total = total
        self.window = window
        self.stride = stride
        self.on_progress = on_progress
        self.is_cancelled = is_cancelled
        self.window_index = 0
        self.steps_done = 0
        self.done = 0

    def __call__(self, _generated: int, steps: int) -> None:
        if self.is_cancelled is not None and self.is_cancelled():
            # audiocraft lets an exception from its callback abort the generation loop.
            raise GenerationCancelled(f"generation cancelled after {self.done} of {self.total} tokens")
        start = 0 if self.window_index == 0 else self.window + (self.window_index - 1) * self.stride
        end = min(self.window + self.window_index * self.stride, self.total)
        self.steps_done += 1
        self.done = start + (end - start) * self.steps_done // steps
        if self.steps_done == steps:
            self.window_index += 1
            self.steps_done = 0
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)


class Generator:
    """One loaded MusicGen and the limits it runs under."""

    def __init__(self, model: "MusicGen", *, max_seconds: float = 300.0, max_batch: int = 16) -> None:
        self.model = model
        self.max_seconds = max_seconds
        self.max_batch = max_batch

    @property
    def name(self) -> str:
        return str(self.model.name)

    @property
    def sample_rate(self) -> int:
        """The rate of every clip returned (32 kHz for MusicGen)."""
        return int(self.model.sample_rate)

    @property
    def channels(self) -> int:
        return int(self.model.audio_channels)

    @property
    def window_seconds(self) -> float:
        """The longest clip the model makes in one window; longer ones continue window after window."""
        return float(self.model.max_duration)

    @property
    def supports_melody(self) -> bool:
        return "self_wav" in self.model.lm.condition_provider.conditioners

    def total_tokens(self, duration: float) -> int:
        """Tokens (codec frames) generating `duration` seconds takes: progress runs from 0 to this."""
        return math.ceil(duration * self.model.frame_rate)

    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        *,
        melody: Sequence[npt.NDArray[np.floating[Any]] | None] | None = None,
        melody_sample_rate: int = 32000,
        continued: npt.NDArray[np.floating[Any]] | None = None,
        continued_sample_rate: int = 32000,
        on_progress: ProgressCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> list[Audio]:
        """One clip per prompt, float32 [frames, channels] at `sample_rate`, exactly `params.duration` long.

        All prompts run as one batch with the same parameters and seed. `melody` (musicgen-melody only): per
        prompt a waveform ([frames] or [frames, channels] at `melody_sample_rate`) or None. `continued`: audio
        ([frames] or [frames, channels] at `continued_sample_rate`) that every clip continues: each clip is that audio
        (at the model's rate and channels) followed by `params.duration` seconds of continuation. Raises
        InvalidGeneration / GenerationTooLong for bad input and GenerationCancelled when `is_cancelled` turns true.
        """
        self.validate(prompts, params, melody, melody_sample_rate, continued, continued_sample_rate)
        if is_cancelled is not None and is_cancelled():
            raise GenerationCancelled("generation cancelled before it started")
        if continued is not None:
            return self._continue(prompts, params, continued, continued_sample_rate, on_progress, is_cancelled)
        tokens = self.total_tokens(params.duration)
        # Whole tokens, then trimmed to the exact length asked for; audiocraft counts int(duration * frame_rate).
        duration = tokens / self.model.frame_rate
        if int(duration * self.model.frame_rate) < tokens:
            duration = math.nextafter(duration, math.inf)
        stride = min(EXTEND_STRIDE, self.window_seconds / 2)
        self.model.set_generation_params(
            use_sampling=True,
            top_k=params.top_k,
            top_p=params.top_p,
            temperature=params.temperature,
            duration=duration,
            cfg_coef=params.cfg_coef,
            extend_stride=stride,
        )
        window = int(min(duration, self.window_seconds) * self.model.frame_rate)
        progress = _TokenProgress(tokens, window, int(stride * self.model.frame_rate), on_progress, is_cancelled)
        self.model.set_custom_progress_callback(progress)
        self._seed(params)
        # oneDNN's first conv_transpose1d of a new long shape in the codec's decoder took ~60 s for 45 s of audio
        # on our 2-core CPU (torch 2.13); torch's native kernels take ~0.1 s. Scoped to this call.
        with torch.inference_mode(), torch.backends.mkldnn.flags(enabled=False):
            if melody is None:
                wavs = self.model.generate(list(prompts), progress=True)
            else:
                wavs = self.model.generate_with_chroma(
                    list(prompts), [_channels_first(wav) for wav in melody], melody_sample_rate, progress=True
                )
        frames = round(params.duration * self.sample_rate)
        return [np.ascontiguousarray(wav[:, :frames].T.numpy(), dtype=np.float32) for wav in wavs]

    def _continue(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        continued: npt.NDArray[np.floating[Any]],
        sample_rate: int,
        on_progress: ProgressCallback | None,
        is_cancelled: CancelCheck | None,
    ) -> list[Audio]:
        """audiocraft's generate_continuation in one window: its prompt is the end of `continued` (as much as the
        window holds besides the new tokens, in whole codec frames so that the new audio starts exactly where the
        prompt ends), and each clip is the whole of `continued` followed by the new audio."""
        from audiocraft.data.audio_utils import convert_audio  # loaded with audiocraft.models, whose import stands in

        wav = _channels_first(continued)
        assert wav is not None
        audio = convert_audio(wav, sample_rate, self.sample_rate, self.channels)
        hop = round(self.sample_rate / self.model.frame_rate)  # samples per codec frame (token)
        new_tokens = self.total_tokens(params.duration)
        prompt_tokens = min(audio.shape[-1] // hop, self.window_tokens - new_tokens)
        prompt = audio[..., audio.shape[-1] - prompt_tokens * hop :]
        duration = (prompt_tokens + new_tokens) / self.model.frame_rate
        if int(duration * self.model.frame_rate) < prompt_tokens + new_tokens:
            duration = math.nextafter(duration, math.inf)
        self.model.set_generation_params(
            use_sampling=True,
            top_k=params.top_k,
            top_p=params.top_p,
            temperature=params.temperature,
            duration=duration,
            cfg_coef=params.cfg_coef,
        )
        self.model.set_custom_progress_callback(_TokenProgress(new_tokens, new_tokens, 1, on_progress, is_cancelled))
        self._seed(params)
        with torch.inference_mode(), torch.backends.mkldnn.flags(enabled=False):
            wavs = self.model.generate_continuation(
                prompt.expand(len(prompts), -1, -1), self.sample_rate, list(prompts), progress=True
            )
        start, frames = prompt_tokens * hop, round(params.duration * self.sample_rate)
        return [
            np.ascontiguousarray(torch.cat([audio, wav[:, start : start + frames]], dim=-1).T.numpy(), np.float32)
            for wav in wavs
        ]

    @property
    def window_tokens(self) -> int:
        return int(self.window_seconds * self.model.frame_rate)

    @staticmethod
    def _seed(params: GenerationParams) -> None:
        if params.seed is None:
            torch.seed()
        else:
            torch.manual_seed(params.seed)

    def validate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        melody: Sequence[npt.NDArray[np.floating[Any]] | None] | None = None,
        melody_sample_rate: int = 32000,
        continued: npt.NDArray[np.floating[Any]] | None = None,
        continued_sample_rate: int = 32000,
    ) -> None:
        """Raises InvalidGeneration naming the first field at fault (GenerationTooLong for the duration limit)."""
        if not 1 <= len(prompts) <= self.max_batch:
            raise InvalidGeneration("prompt", f"give 1-{self.max_batch} prompts, got {len(prompts)}")
        for index, prompt in enumerate(prompts):
            if not prompt.strip():
                raise InvalidGeneration("prompt", f"prompt {index} is empty")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise InvalidGeneration("prompt", f"prompt {index} is over {MAX_PROMPT_CHARS} characters")
        _check("duration", params.duration, minimum=0.0, inclusive=False)
        if round(params.duration * self.sample_rate) < 1:
            raise InvalidGeneration(
                "duration", f"must be at least one sample (1/{self.sample_rate} s), got {params.duration:g}"
            )
        if params.duration > self.max_seconds:
            raise GenerationTooLong("duration", f"must be at most {self.max_seconds:g} s, got {params.duration:g}")
        for field, (lowest, highest, lowest_allowed) in Musicgen.SAMPLING_BOUNDS.items():
            if (value := getattr(params, field)) is not None:  # an unseeded call draws its seed
                _check(field, value, minimum=lowest, maximum=highest, inclusive=lowest_allowed)
        _check("top_k", params.top_k, minimum=0, maximum=self.model.lm.card)
        if melody is not None:
            self._validate_melody(len(prompts), melody, melody_sample_rate)
        if continued is not None:
            self._validate_continued(params, melody, continued, continued_sample_rate)

    def _validate_continued(
        self,
        params: GenerationParams,
        melody: Sequence[npt.NDArray[np.floating[Any]] | None] | None,
        audio: npt.NDArray[np.floating[Any]],
        sample_rate: int,
    ) -> None:
        if melody is not None and any(wav is not None for wav in melody):
            raise InvalidGeneration("continued", "continue audio or follow a melody, not both")
        if not 8000 <= sample_rate <= 192000:
            raise InvalidGeneration("continued", f"its sample rate must be 8000-192000 Hz, got {sample_rate}")
        if audio.ndim not in (1, 2) or audio.shape[0] == 0:
            raise InvalidGeneration("continued", f"must be [frames] or [frames, channels], got shape {audio.shape}")
        if not np.isfinite(audio).all():
            raise InvalidGeneration("continued", "contains NaN or infinite samples")
        if audio.shape[0] / sample_rate < 1 / self.model.frame_rate:
            raise InvalidGeneration("continued", f"must be at least one codec frame ({1000 / self.model.frame_rate:g} "
                                    f"ms) long, got {audio.shape[0]} samples")  # fmt: skip
        if self.total_tokens(params.duration) >= self.window_tokens:
            most = (self.window_tokens - 1) / self.model.frame_rate
            raise InvalidGeneration(
                "duration", f"continuing audio makes at most {most:g} s (one {self.window_seconds:g} s window with at "
                f"least one frame of the audio before it), got {params.duration:g}"
            )  # fmt: skip

    def _validate_melody(
        self, prompts: int, melody: Sequence[npt.NDArray[np.floating[Any]] | None], sample_rate: int
    ) -> None:
        if not self.supports_melody:
            raise InvalidGeneration("melody", f"model {self.name!r} takes no melody; musicgen-melody does")
        if len(melody) != prompts:
            raise InvalidGeneration("melody", f"give one melody (or none) per prompt: {prompts}, got {len(melody)}")
        if not 8000 <= sample_rate <= 192000:
            # Named "melody": the rate comes with the melody (its file's own rate), which is the field a caller sent.
            raise InvalidGeneration("melody", f"its sample rate must be 8000-192000 Hz, got {sample_rate}")
        for wav in melody:
            if wav is None:
                continue
            if wav.ndim not in (1, 2) or wav.shape[0] == 0:
                raise InvalidGeneration("melody", f"must be [frames] or [frames, channels], got shape {wav.shape}")
            if not np.isfinite(wav).all():
                raise InvalidGeneration("melody", "contains NaN or infinite samples")


def _check(field: str, value: float, *, minimum: float, maximum: float = math.inf, inclusive: bool = True) -> None:
    low_ok = value >= minimum if inclusive else value > minimum
    if not (math.isfinite(value) and low_ok and value <= maximum):
        low = f"{'at least' if inclusive else 'over'} {minimum:g}"
        high = "" if math.isinf(maximum) else f" and at most {maximum:g}"
        raise InvalidGeneration(field, f"must be {low}{high}, got {value!r}")


def _channels_first(wav: npt.NDArray[np.floating[Any]] | None) -> torch.Tensor | None:
    if wav is None:
        return None
    two_d = wav[:, np.newaxis] if wav.ndim == 1 else wav
    return torch.from_numpy(np.ascontiguousarray(two_d.T, dtype=np.float32))

"""Triton glue for FluidSynth rendering: one renderer (SoundFont kept loaded) per SoundFont and sample rate,
errors in-band so one bad MIDI file never fails a batch."""

import traceback
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import renderers
from deploy.settings import Settings
from deploy.triton import error_message, past_deadline, unexpected_error_message


def _input(request: Any, name: str) -> Any | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1)[0]


# Logged for each request not rendered (or not finished) because its client stopped waiting.
SKIPPED = "fluidsynth: stopped a request whose client no longer waits"


class _Cancelled(Exception):
    """The client gave up on the request (cancelled it, or its deadline passed)."""


def _given_up(request: Any) -> bool:
    return bool(request.is_cancelled()) or past_deadline(request.parameters())


def _raise_if_cancelled(request: Any) -> None:
    if _given_up(request):
        raise _Cancelled


def _error(field: str, reason: object, code: int, *, too_large: bool = False) -> Any:
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(error_message(field, reason, too_large=too_large), code)
    )


def _cancelled() -> Any:
    return _error("request", "cancelled", pb_utils.TritonError.CANCELLED)


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        self.settings = Settings()
        self.library = renderers.SoundFontLibrary(self.settings.soundfont_dirs, self.settings.default_soundfont)
        self.renderers: dict[tuple[str, int], renderers.FluidSynthRenderer] = {}

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: Any) -> Any:
        # The requests of a batch are rendered one after another: one whose client is gone by its turn (cancelled,
        # or past its deadline) is not rendered for nobody.
        try:
            _raise_if_cancelled(request)
            return self._render(request)
        except _Cancelled:
            pb_utils.Logger.log_info(SKIPPED)
            return _cancelled()
        except Exception as exc:  # a bug: this request fails, not the batch, and the model keeps serving
            pb_utils.Logger.log_error(traceback.format_exc())
            error = pb_utils.TritonError(unexpected_error_message("fluidsynth", exc), pb_utils.TritonError.INTERNAL)
            return pb_utils.InferenceResponse(error=error)

    def finalize(self) -> None:
        for renderer in self.renderers.values():
            renderer.close()

    def _renderer(self, soundfont: renderers.SoundFont, sample_rate: int) -> renderers.FluidSynthRenderer:
        key = (soundfont.name, sample_rate)
        if key not in self.renderers:
            self.renderers[key] = renderers.FluidSynthRenderer(
                soundfont, sample_rate, threads=self.settings.render_threads
            )
        return self.renderers[key]

    def _render(self, request: Any) -> Any:
        midi = _input(request, "MIDI") or b""
        soundfont_name = _input(request, "SOUNDFONT") or b""
        sample_rate = _input(request, "SAMPLE_RATE")
        sample_rate = int(sample_rate) if sample_rate else self.settings.default_sample_rate
        if not renderers.MIN_SAMPLE_RATE <= sample_rate <= renderers.MAX_SAMPLE_RATE:
            reason = f"must be {renderers.MIN_SAMPLE_RATE}-{renderers.MAX_SAMPLE_RATE} Hz, got {sample_rate}"
            return _error("sample_rate", reason, pb_utils.TritonError.INVALID_ARG)
        # Without stems, tracks share synths (cheaper; the mix is then close to, not exactly, the stems' sum).
        with_stems = bool({"STEMS", "STEM_NAMES"} & set(request.requested_output_names()))
        try:
            soundfont = self.library.resolve(soundfont_name.decode("utf-8", "replace"))
            performance = renderers.parse_midi(
                midi, max_seconds=self.settings.max_render_seconds, max_bytes=self.settings.max_midi_bytes
            )
            rendered = self._renderer(soundfont, sample_rate).render(
                performance, stems=with_stems, check=lambda: _raise_if_cancelled(request)
            )
        except renderers.SoundFontNotFound as exc:
            return _error("soundfont", exc, pb_utils.TritonError.INVALID_ARG)
        except renderers.InvalidMidi as exc:
            too_long = isinstance(exc, renderers.MidiTooLong | renderers.MidiTooLarge)
            return _error("midi", exc, pb_utils.TritonError.INVALID_ARG, too_large=too_long)
        except renderers.SoundFontLoadError as exc:
            return _error("soundfont", exc, pb_utils.TritonError.UNAVAILABLE)

        outputs = [pb_utils.Tensor("MIX", rendered.mix[np.newaxis])]
        if with_stems:
            frames = rendered.mix.shape[0]
            stems = np.stack(list(rendered.stems.values())) if rendered.stems else np.zeros((0, frames, 2))
            names = np.array([[name.encode() for name in rendered.stems]], dtype=np.object_).reshape(1, -1)
            outputs.append(pb_utils.Tensor("STEMS", stems.astype(np.float32)[np.newaxis]))
            outputs.append(pb_utils.Tensor("STEM_NAMES", names))
        return pb_utils.InferenceResponse(output_tensors=outputs)

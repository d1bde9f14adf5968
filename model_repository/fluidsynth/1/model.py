"""Triton glue for FluidSynth rendering: one renderer (SoundFont kept loaded) per SoundFont and sample rate,
errors in-band so one bad MIDI file never fails a batch."""

import functools
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import renderers
from deploy.backend import answer, raise_if_given_up, scalar
from deploy.settings import Settings
from dgxmusic.errors import Cancelled
from dgxmusic.models import Fluidsynth

# Logged for each request not rendered (or not finished) because its client stopped waiting.
SKIPPED = "fluidsynth: stopped a request whose client no longer waits"
# Renderers of clients' uploaded SoundFonts kept at once (each holds its font in memory, FluidR3_GM-sized: 141 MB).
MAX_UPLOADED_LOADED = 4


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        self.settings = Settings()
        self.library = renderers.SoundFontLibrary(
            self.settings.soundfont_dirs, self.settings.default_soundfont, uploads=self.settings.soundfont_upload_dir
        )
        self.renderers: dict[tuple[str, int], renderers.FluidSynthRenderer] = {}

    def execute(self, requests: list[Any]) -> list[Any]:
        return [answer(Fluidsynth.NAME, functools.partial(self._answer, request)) for request in requests]

    def _answer(self, request: Any) -> Any:
        # The requests of a batch are rendered one after another: one whose client is gone by its turn (cancelled,
        # or past its deadline) is not rendered for nobody.
        try:
            raise_if_given_up(request)
            return self._render(request)
        except Cancelled:
            pb_utils.Logger.log_info(SKIPPED)
            raise

    def finalize(self) -> None:
        for renderer in self.renderers.values():
            renderer.close()

    def _renderer(self, soundfont: renderers.SoundFont, sample_rate: int) -> renderers.FluidSynthRenderer:
        key = (soundfont.name, sample_rate)
        if key not in self.renderers:
            self._make_room_for(soundfont)
            self.renderers[key] = renderers.FluidSynthRenderer(
                soundfont, sample_rate, threads=self.settings.render_threads
            )
        else:  # the most recently used last, as _make_room_for reads them
            self.renderers[key] = self.renderers.pop(key)
        return self.renderers[key]

    def _make_room_for(self, soundfont: renderers.SoundFont) -> None:
        """Clients' uploaded fonts stay loaded only while few: past MAX_UPLOADED_LOADED the least recently used is
        closed (the server's own fonts are few, and stay)."""
        if not soundfont.name.startswith(renderers.UPLOADED_PREFIX):
            return
        uploaded = [key for key in self.renderers if key[0].startswith(renderers.UPLOADED_PREFIX)]
        for key in uploaded[: max(0, len(uploaded) - MAX_UPLOADED_LOADED + 1)]:
            self.renderers.pop(key).close()

    def _render(self, request: Any) -> Any:
        midi = scalar(request, Fluidsynth.MIDI) or b""
        soundfont_name = scalar(request, Fluidsynth.SOUNDFONT) or b""
        sample_rate = int(scalar(request, Fluidsynth.SAMPLE_RATE) or self.settings.default_sample_rate)
        renderers.check_sample_rate(sample_rate)
        mixing = renderers.MixSettings.from_json(scalar(request, Fluidsynth.MIXING) or b"")
        # Without stems, tracks share synths (cheaper; the mix is then close to, not exactly, the stems' sum).
        with_stems = bool({Fluidsynth.STEMS.name, Fluidsynth.STEM_NAMES.name} & set(request.requested_output_names()))
        soundfont = self.library.resolve(soundfont_name.decode("utf-8", "replace"))
        performance = renderers.parse_midi(
            midi, max_seconds=self.settings.max_render_seconds, max_bytes=self.settings.max_midi_bytes
        )
        rendered = self._renderer(soundfont, sample_rate).render(
            performance, stems=with_stems, check=lambda: raise_if_given_up(request), mixing=mixing
        )
        outputs = [pb_utils.Tensor(Fluidsynth.MIX.name, rendered.mix[np.newaxis])]
        if with_stems:
            frames = rendered.mix.shape[0]
            stems = np.stack(list(rendered.stems.values())) if rendered.stems else np.zeros((0, frames, 2))
            names = np.array([[name.encode() for name in rendered.stems]], dtype=np.object_).reshape(1, -1)
            outputs.append(pb_utils.Tensor(Fluidsynth.STEMS.name, stems.astype(np.float32)[np.newaxis]))
            outputs.append(pb_utils.Tensor(Fluidsynth.STEM_NAMES.name, names))
        return pb_utils.InferenceResponse(output_tensors=outputs)

"""Triton glue for rendering (renderers.Studio: SoundFonts kept loaded, plugin instruments in worker processes, so
a plugin that crashes fails its track and never this stub), and the instrument catalog; errors in-band so one bad
MIDI file never fails a batch."""

import functools
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import renderers
from deploy.backend import answer, raise_if_given_up, scalar, text
from deploy.settings import Settings
from dgxmusic.errors import Cancelled
from dgxmusic.models import Fluidsynth, deadline_of

# Logged for each request not rendered (or not finished) because its client stopped waiting.
SKIPPED = "fluidsynth: stopped a request whose client no longer waits"


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        self.settings = Settings()
        library = renderers.SoundFontLibrary(
            self.settings.soundfont_dirs, self.settings.default_soundfont, uploads=self.settings.soundfont_upload_dir
        )
        self.studio = renderers.Studio(
            library,
            render_threads=self.settings.render_threads,
            plugin_workers=self.settings.plugin_workers,
            plugin_timeout_seconds=self.settings.plugin_render_timeout_seconds,
            max_render_seconds=self.settings.max_render_seconds,
            max_midi_bytes=self.settings.max_midi_bytes,
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        return [answer(Fluidsynth.NAME, functools.partial(self._answer, request)) for request in requests]

    def _answer(self, request: Any) -> Any:
        # The requests of a batch are rendered one after another: one whose client is gone by its turn (cancelled,
        # or past its deadline) is not rendered for nobody.
        try:
            raise_if_given_up(request)
            if scalar(request, Fluidsynth.LIST_INSTRUMENTS):
                catalog = self.studio.catalog(rescan=True).to_json().encode()
                return pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor(Fluidsynth.INSTRUMENT_CATALOG.name, np.array([[catalog]], np.object_))
                    ]
                )
            return self._render(request)
        except Cancelled:
            pb_utils.Logger.log_info(SKIPPED)
            raise

    def finalize(self) -> None:
        self.studio.close()

    def _render(self, request: Any) -> Any:
        sample_rate = int(scalar(request, Fluidsynth.SAMPLE_RATE) or self.settings.default_sample_rate)
        renderers.check_sample_rate(sample_rate)
        # Without stems, tracks share synths (cheaper; the mix is then close to, not exactly, the stems' sum).
        with_stems = bool({Fluidsynth.STEMS.name, Fluidsynth.STEM_NAMES.name} & set(request.requested_output_names()))
        rendered = self.studio.render(
            scalar(request, Fluidsynth.MIDI) or b"",
            text(request, Fluidsynth.SOUNDFONT) or "",
            sample_rate,
            stems=with_stems,
            mixing=renderers.MixSettings.from_json(scalar(request, Fluidsynth.MIXING) or b""),
            instruments=renderers.InstrumentRequest.from_json(scalar(request, Fluidsynth.INSTRUMENTS) or b""),
            check=lambda: raise_if_given_up(request),
            deadline=deadline_of(request.parameters()),
        )
        outputs = [pb_utils.Tensor(Fluidsynth.MIX.name, rendered.mix[np.newaxis])]
        if with_stems:
            frames = rendered.mix.shape[0]
            stems = np.stack(list(rendered.stems.values())) if rendered.stems else np.zeros((0, frames, 2))
            names = np.array([[name.encode() for name in rendered.stems]], dtype=np.object_).reshape(1, -1)
            # np.stack made one copy already: no second one (the stems are float32).
            outputs.append(pb_utils.Tensor(Fluidsynth.STEMS.name, stems.astype(np.float32, copy=False)[np.newaxis]))
            outputs.append(pb_utils.Tensor(Fluidsynth.STEM_NAMES.name, names))
        return pb_utils.InferenceResponse(output_tensors=outputs)

"""Triton glue for the composer: one response per request, errors in-band so one bad prompt never fails a batch."""

import functools
import json
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

import composer
from deploy.backend import answer, text
from dgxmusic.errors import FieldError
from dgxmusic.models import Text2Midi


def _song_request(request: Any) -> composer.SongRequest:
    try:
        options: dict[str, Any] = json.loads(text(request, Text2Midi.OPTIONS) or "{}")
        return composer.SongRequest(prompt=text(request, Text2Midi.PROMPT) or "", **options)
    except (TypeError, ValueError) as exc:  # malformed OPTIONS JSON from a caller other than the gateway
        if isinstance(exc, FieldError):
            raise
        raise FieldError("options", str(exc)) from exc


class TritonPythonModel:
    def execute(self, requests: list[Any]) -> list[Any]:
        return [answer(Text2Midi.NAME, functools.partial(self._compose, request)) for request in requests]

    def _compose(self, request: Any) -> Any:
        song = composer.compose(_song_request(request))
        midi = np.array([[song.midi]], dtype=np.object_)
        metadata = np.array([[json.dumps(song.metadata.to_dict()).encode()]], dtype=np.object_)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor(Text2Midi.MIDI.name, midi),
                pb_utils.Tensor(Text2Midi.METADATA.name, metadata),
            ]
        )

"""`dgx-music ardour run`'s own logic, without the stack: the one error line an action shows, the heartbeat that
keeps the progress window answering, a region read from Ardour's per-channel files, and MusicGen without its
weights said before any generation."""

import io
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile

from clients.ardour.cli import Reporter, check_musicgen, error_line, read_region
from clients.errors import FieldViolation, InvalidRequestError, MissingWeightsError
from dgxmusic.v1 import music_service_pb2 as pb


def test_an_error_is_one_line_with_its_status_and_fields() -> None:
    error = InvalidRequestError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad request:\nsee fields",
        (FieldViolation("options.key", "no key 'H major'"), FieldViolation("prompt", "empty")),
    )
    assert error_line(error) == (
        "INVALID_ARGUMENT: 2 faults in the request; field options.key: no key 'H major'; field prompt: empty"
    )


def test_the_heartbeat_repeats_the_last_progress_while_a_call_blocks() -> None:
    out = io.StringIO()
    reporter = Reporter(out)
    reporter.progress(0.25, "composing\n  bars")
    with reporter.heartbeat():
        time.sleep(0.6)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3
    assert set(lines) == {"progress 0.250 composing bars"}


def test_progress_never_goes_back() -> None:
    out = io.StringIO()
    reporter = Reporter(out)
    reporter.on_progress(pb.Progress(stage=pb.STAGE_RENDERING, fraction=0.5), (0.0, 1.0))
    reporter.on_progress(pb.Progress(stage=pb.STAGE_COMPOSING, fraction=0.1, message="again"), (0.0, 1.0))
    assert out.getvalue().splitlines() == ["progress 0.500 rendering", "progress 0.500 again"]


def test_a_region_is_read_from_its_channel_files_from_its_start_for_its_length(tmp_path: Path) -> None:
    left, right = tmp_path / "left.wav", tmp_path / "right.wav"
    soundfile.write(left, np.arange(100, dtype=np.float32) / 1000, 48000, subtype="FLOAT")
    soundfile.write(right, -np.arange(100, dtype=np.float32) / 1000, 48000, subtype="FLOAT")
    audio, rate = read_region((left, right), 10, 20)
    assert rate == 48000
    assert audio.shape == (20, 2)
    assert audio[0].tolist() == pytest.approx([0.010, -0.010])
    whole, _ = read_region((left,), 0, 0)
    assert whole.shape == (100, 1)
    with pytest.raises(ValueError, match="no audio"):
        read_region((left,), 100, 0)


class Models:
    def __init__(self, *models: pb.ModelStatus) -> None:
        self.models = list(models)

    def list_models(self) -> list[pb.ModelStatus]:
        return self.models


def test_musicgen_without_its_weights_is_said_before_generating() -> None:
    missing = pb.ModelStatus(
        name="musicgen", state=pb.MODEL_STATE_WEIGHTS_MISSING, message="put the weights in /weights/musicgen"
    )
    with pytest.raises(MissingWeightsError) as raised:
        check_musicgen(Models(pb.ModelStatus(name="demucs", state=pb.MODEL_STATE_READY), missing))  # type: ignore[arg-type]
    assert (
        error_line(raised.value) == "FAILED_PRECONDITION: MusicGen is not ready: put the weights in /weights/musicgen"
    )
    check_musicgen(Models(pb.ModelStatus(name="musicgen", state=pb.MODEL_STATE_READY)))  # type: ignore[arg-type]

"""The parts of basic-pitch the transcriber uses, imported in one place and given types.

basic-pitch has no type hints, and importing it logs a warning for each optional backend it lacks (TensorFlow,
CoreML, TFLite); we use only the ONNX model through onnxruntime, so those warnings are noise and are muted here.
It also imports pretty_midi, whose pyfluidsynth prints where it found libfluidsynth to stdout whenever $CI is set:
that line goes to stderr, so a command writing JSON to stdout (`loadtest --triton --json -`) stays parseable.
"""

import contextlib
import logging
import sys
from pathlib import Path

logging.disable(logging.WARNING)
try:
    with contextlib.redirect_stdout(sys.stderr):
        import basic_pitch  # type: ignore[import-untyped]
        from basic_pitch import constants
        from basic_pitch.inference import unwrap_output, window_audio_file  # type: ignore[import-untyped]
        from basic_pitch.note_creation import (  # type: ignore[import-untyped]
            MIDI_OFFSET,
            drop_overlapping_pitch_bends,
            get_infered_onsets,
            get_pitch_bends,
            model_frames_to_time,
            model_output_to_notes,
            note_events_to_midi,
        )
finally:
    logging.disable(logging.NOTSET)

ONNX_MODEL_PATH: Path = basic_pitch.build_icassp_2022_model_path(basic_pitch.FilenameSuffix.onnx)
AUDIO_SAMPLE_RATE: int = constants.AUDIO_SAMPLE_RATE
AUDIO_N_SAMPLES: int = constants.AUDIO_N_SAMPLES
FFT_HOP: int = constants.FFT_HOP
N_FREQ_BINS_NOTES: int = constants.N_FREQ_BINS_NOTES
N_FREQ_BINS_CONTOURS: int = constants.N_FREQ_BINS_CONTOURS

__all__ = [
    "AUDIO_N_SAMPLES",
    "AUDIO_SAMPLE_RATE",
    "FFT_HOP",
    "MIDI_OFFSET",
    "N_FREQ_BINS_CONTOURS",
    "N_FREQ_BINS_NOTES",
    "ONNX_MODEL_PATH",
    "drop_overlapping_pitch_bends",
    "get_infered_onsets",
    "get_pitch_bends",
    "model_frames_to_time",
    "model_output_to_notes",
    "note_events_to_midi",
    "unwrap_output",
    "window_audio_file",
]

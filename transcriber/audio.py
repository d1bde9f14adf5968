"""Audio preparation: any sample rate, mono or stereo, to the model's mono float32 at 22,050 Hz, with checks that
name what is wrong (the model itself answers NaN or silent audio with bogus notes rather than an error)."""

import librosa
import numpy as np
import numpy.typing as npt

from transcriber._basic_pitch import AUDIO_SAMPLE_RATE
from transcriber.errors import AudioTooLong, InvalidAudio, InvalidTranscriptionRequest

MODEL_SAMPLE_RATE: int = AUDIO_SAMPLE_RATE
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 2
DEFAULT_MIN_SECONDS = 0.1
DEFAULT_MAX_SECONDS = 600.0
# One LSB of 16-bit PCM is -90.3 dBFS: a peak below this is digital silence, perhaps dithered. The peak is measured
# as half each channel's peak-to-peak swing, so a constant offset (DC) alone is silence too (the model hears a note in
# its step).
SILENCE_PEAK = 10 ** (-90 / 20)
# soxr's high quality, what librosa.load (and so basic-pitch's own predict) uses.
RESAMPLE_TYPE = "soxr_hq"

Audio = npt.NDArray[np.float32]


def prepare_audio(
    audio: npt.ArrayLike,
    sample_rate: int,
    *,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> Audio:
    """Check `audio` ([frames] or [frames, channels], floating point, -1..1) and return it as mono float32
    at `MODEL_SAMPLE_RATE`; raise `InvalidAudio` (or `AudioTooLong`) naming the problem."""
    check_sample_rate(sample_rate)
    samples = _as_frames_by_channels(audio)
    seconds = samples.shape[0] / sample_rate
    if seconds < min_seconds:
        raise InvalidAudio("audio", f"the audio lasts {seconds:.3f} s, shorter than {min_seconds} s")
    if seconds > max_seconds:
        raise AudioTooLong("audio", f"the audio lasts {seconds:.1f} s, longer than the limit of {max_seconds} s")
    if not np.isfinite(samples).all():
        raise InvalidAudio("audio", "the audio contains NaN or infinite samples")
    # Channels as contiguous rows: numpy's reductions across the interleaved frames are several times slower.
    channels = np.ascontiguousarray(samples.T)
    if float((channels.max(axis=1) - channels.min(axis=1)).max()) < 2 * SILENCE_PEAK:
        raise InvalidAudio("audio", "the audio is silent (or only a constant offset); there is nothing to transcribe")
    mono: Audio = channels.mean(axis=0, dtype=np.float32)
    if sample_rate == MODEL_SAMPLE_RATE:
        return mono
    resampled = librosa.resample(mono, orig_sr=sample_rate, target_sr=MODEL_SAMPLE_RATE, res_type=RESAMPLE_TYPE)
    return np.ascontiguousarray(resampled, dtype=np.float32)


def check_sample_rate(sample_rate: int) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise InvalidTranscriptionRequest("sample_rate", f"the sample rate must be a whole number, not {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        reason = f"the sample rate must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, not {sample_rate}"
        raise InvalidTranscriptionRequest("sample_rate", reason)


def _as_frames_by_channels(audio: npt.ArrayLike) -> npt.NDArray[np.float32]:
    array = np.asarray(audio)
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidAudio("audio", f"samples must be floating point in -1..1, not {array.dtype}")
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2 or not 1 <= array.shape[1] <= MAX_CHANNELS:
        reason = f"expected [frames] or [frames, channels] with 1-{MAX_CHANNELS} channels, got shape {array.shape}"
        raise InvalidAudio("audio", reason)
    if array.shape[0] == 0:
        raise InvalidAudio("audio", "the audio is empty")
    return array.astype(np.float32, copy=False)

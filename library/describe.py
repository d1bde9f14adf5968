"""What the library knows an item by: the words a search matches, their text vector, and a sound vector for "more like
this", with the key, tempo and meter told from the MIDI or audio where the metadata lacks them (a transcription has
none).

The text vector is wordllama's (its 256-dimension model ships inside its wheel: no download). No audio-embedding
model ships its weights offline, so the sound vector is made of features computed here: from the MIDI the pitch-class,
key, tempo, meter, rhythm, instrument, register and density profiles; from audio the pitch-class (chroma), tempo and
spectral statistics. Each block is normalised and weighted, so that no block outweighs the others by its size, and
the whole is unit length: the dot product of two sound vectors is their similarity."""

import math
import shutil
import struct
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from composer.instruments import GM_PROGRAMS
from composer.keyfinding import KRUMHANSL_KESSLER, heard
from composer.tempo import TEMPO_WORDS
from composer.theory import parse_key
from library.query import canonical_key, key_name

Vector = npt.NDArray[np.float32]

TEXT_DIMENSIONS = 256
_WORDLLAMA_CONFIG = "l2_supercat"


@dataclass(frozen=True)
class Description:
    text: str  # the words a search matches: prompt, genre, key, tempo, meter, instruments, sections
    text_vector: Vector  # float32 (TEXT_DIMENSIONS,), unit norm (zero for a text of no known words)
    sound_vector: Vector | None  # float32 (SOUND_DIMENSIONS,), unit norm; None when there is no MIDI or audio
    key: str | None  # canonical (library.query.canonical_key)
    bpm: float | None
    meter: str | None  # "4/4", "6/8"


# --- text -----------------------------------------------------------------------------------------------------

_model_lock = threading.Lock()
_model: Any = None


def _wordllama() -> Any:
    """wordllama's model, loaded once. Its loader looks for the tokenizer config in a directory the wheel does not
    have ("tokenizer/", the wheel's is "tokenizers/") and would then download it: a private cache directory holding
    a copy of the wheel's own config lets it load with downloads disabled."""
    global _model
    with _model_lock:
        if _model is None:
            from wordllama import WordLlama

            config = files("wordllama") / "tokenizers" / f"{_WORDLLAMA_CONFIG}_tokenizer_config.json"
            with tempfile.TemporaryDirectory(prefix="wordllama-") as cache:
                (Path(cache) / "tokenizers").mkdir()
                with config.open("rb") as source, (Path(cache) / "tokenizers" / config.name).open("wb") as copy:
                    shutil.copyfileobj(source, copy)
                _model = WordLlama.load(
                    config=_WORDLLAMA_CONFIG, dim=TEXT_DIMENSIONS, cache_dir=Path(cache), disable_download=True
                )
        return _model


def embed_texts(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """float32 (len(texts), TEXT_DIMENSIONS), each row unit norm (zero for a text of no known words)."""
    if not texts:
        return np.zeros((0, TEXT_DIMENSIONS), np.float32)
    vectors = np.asarray(_wordllama().embed([text.strip() for text in texts], norm=False), dtype=np.float32)
    return _unit_rows(vectors)


def embed_query(words: str) -> Vector:
    """float32 (TEXT_DIMENSIONS,), unit norm: the vector a search's words are ranked by."""
    vector: Vector = embed_texts([words])[0]
    return vector


def _unit_rows(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def describe(
    kind: str,
    prompt: str,
    metadata: Mapping[str, Any],
    midi: bytes | None,
    audio: tuple[npt.NDArray[np.float32], int] | None,
) -> Description:
    """An item's description from its request's prompt, its metadata (a composed song's, or any with the same field
    names: genre, key, bpm, time_signature, tracks, sections, stems), its MIDI and its audio ((n, channels) float32
    samples, sample rate). Raises ValueError for MIDI that cannot be read."""
    notes = _read_midi(midi) if midi else None
    sound = _audio_features(*audio) if audio is not None and len(audio[0]) else None
    key = _metadata_key(metadata)
    if key is None:
        weights = notes.pitch_weights() if notes is not None and notes.pitched.any() else None
        key = _heard_key(weights if weights is not None else sound.chroma if sound is not None else None)
    # A transcription's MIDI tempo and meter are the transcriber's defaults (120 BPM, 4/4), not the music's: its
    # notes tell the tempo, and nothing the meter.
    transcribed = kind == "transcribe"
    bpm = _number(metadata.get("bpm"))
    if bpm is None and notes is not None:
        bpm = notes.onset_tempo() if transcribed or notes.tempo is None else notes.tempo
    if bpm is None and sound is not None:
        bpm = sound.tempo
    meter = str(metadata.get("time_signature") or metadata.get("meter") or "") or None
    if meter is None and notes is not None and not transcribed:
        meter = notes.meter
    text = _text(prompt, metadata, notes if kind != "transcribe" else None, key, bpm, meter)
    return Description(
        text=text,
        text_vector=embed_query(text),
        sound_vector=_sound_vector(notes, sound, key, bpm, meter) if notes is not None or sound is not None else None,
        key=key,
        bpm=None if bpm is None else round(bpm, 2),
        meter=meter or None,
    )


def _metadata_key(metadata: Mapping[str, Any]) -> str | None:
    value = metadata.get("key")
    return canonical_key(value) if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


def _heard_key(weights: npt.NDArray[np.float64] | None) -> str | None:
    if weights is None or not weights.any():
        return None
    _, tonic, mode = heard(list(weights), KRUMHANSL_KESSLER)[0]
    return key_name(tonic, mode)


# The plain tempo words (composer.tempo) a description says its tempo in, so that "slow ambient" finds slow items.
_TEMPO_NAMES = ("very slow", "slow", "moderate", "fast", "very fast")


def _tempo_words(bpm: float) -> list[str]:
    return [name for name in _TEMPO_NAMES if TEMPO_WORDS[name].low < bpm <= TEMPO_WORDS[name].high]


def _text(
    prompt: str,
    metadata: Mapping[str, Any],
    notes: "_Notes | None",
    key: str | None,
    bpm: float | None,
    meter: str | None,
) -> str:
    """The prompt, then what the item is as words; tags are the store's to add."""
    words: list[str] = [prompt.strip()]
    genre = metadata.get("genre")
    if isinstance(genre, str) and genre:
        words.append(genre.replace(" + ", " "))
    if key:
        words.append(key)
    if bpm:
        words += [f"{round(bpm)} bpm", *_tempo_words(bpm)]
    if meter and meter != "4/4":
        words.append(f"{meter} time")
    words += _unique(_instrument_names(metadata, notes))
    words += _unique(_names(metadata.get("sections"), "name"))
    words += _unique(_names(metadata.get("stems"), "name"))
    stem = metadata.get("stem_name")
    if isinstance(stem, str) and stem:
        words.append(stem)
    return ", ".join(word for word in words if word)


def _instrument_names(metadata: Mapping[str, Any], notes: "_Notes | None") -> list[str]:
    named = _names(metadata.get("tracks"), "instrument") + _names(metadata.get("instruments"), "name")
    if named or notes is None:
        return named
    return [("drums" if program < 0 else GM_PROGRAMS[program]) for program in sorted(set(notes.programs.tolist()))]


def _names(values: object, field: str) -> list[str]:
    """The names in a metadata list of strings or of objects with the field."""
    if not isinstance(values, list):
        return []
    names = [
        value if isinstance(value, str) else value.get(field) if isinstance(value, dict) else None for value in values
    ]
    return [name for name in names if isinstance(name, str) and name]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


# --- MIDI -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Notes:
    """A MIDI file's notes as arrays (times in seconds and beats), with its first tempo and meter."""

    start: npt.NDArray[np.float64]  # seconds
    end: npt.NDArray[np.float64]
    beat: npt.NDArray[np.float64]  # the onset in quarter notes from the start
    pitch: npt.NDArray[np.int64]
    velocity: npt.NDArray[np.int64]
    programs: npt.NDArray[np.int64]  # GM program, -1 for drums
    tempo: float | None  # the first tempo written, None when the file writes none
    meter: str | None

    @property
    def pitched(self) -> npt.NDArray[np.bool_]:
        return self.programs >= 0

    def pitch_weights(self) -> npt.NDArray[np.float64]:
        """How long each pitch class sounds, over the pitched notes."""
        pitched = self.pitched
        lengths = np.clip(self.end[pitched] - self.start[pitched], 0.0, 4.0)
        return np.bincount(self.pitch[pitched] % 12, weights=lengths, minlength=12).astype(np.float64)

    def onset_tempo(self) -> float | None:
        """The tempo the onsets pulse at (a transcription's, whose MIDI tempo is the transcriber's default)."""
        if len(self.start) < 8:
            return None
        rate = 100  # frames per second
        envelope = np.bincount((self.start * rate).astype(np.int64), weights=self.velocity / 127.0)
        return _pulse_tempo(envelope.astype(np.float64), rate)


def _pulse_tempo(envelope: npt.NDArray[np.float64], rate: float) -> float | None:
    """The tempo an onset envelope (`rate` frames a second) pulses at, 60-200 BPM: the period whose multiples the
    envelope's autocorrelation peaks at together (a comb: the beat, not a dotted or triplet pulse beside it),
    weighted towards 120 BPM between a tempo and its half or double. Octave errors remain (a half-time trap beat)."""
    smoothing = np.exp(-0.5 * (np.arange(-4, 5) / (0.015 * rate)) ** 2)
    envelope = np.convolve(envelope, smoothing / smoothing.sum(), mode="same")
    envelope = envelope - envelope.mean()
    frames = len(envelope)
    spectrum = np.fft.rfft(envelope, n=2 * frames)
    correlation = np.fft.irfft(spectrum * np.conj(spectrum))[:frames]
    if frames < 2 or correlation[0] <= 0:
        return None
    bpms = np.arange(60.0, 200.5, 0.5)
    score = np.zeros_like(bpms)
    for multiple in range(1, 5):
        lags = 60.0 * rate / bpms * multiple
        inside = lags < frames - 1
        score[inside] += np.interp(lags[inside], np.arange(frames), correlation)
    prior = np.exp(-0.5 * np.log2(bpms / 120.0) ** 2)
    return float(bpms[np.argmax(score * prior)])


def _read_midi(data: bytes) -> _Notes:
    """The notes of a Standard MIDI File. Read here rather than by mido, whose message objects cost ~10 us each:
    a 3-minute song's 8,000 events take 40 ms there and a few here. Raises ValueError for a file it cannot read."""
    try:
        per_beat, tracks = _chunks(data)
        tempos: list[tuple[int, int]] = []  # (tick, microseconds per beat)
        meters: list[tuple[int, str]] = []
        notes: list[tuple[int, int, int, int, int]] = []  # start tick, end tick, pitch, velocity, program
        for track in tracks:
            _read_track(track, notes, tempos, meters)
    except (IndexError, struct.error) as error:
        raise ValueError("the MIDI ends inside an event") from error
    table = np.array(notes, dtype=np.int64).reshape(-1, 5)
    tempos.sort()
    seconds = _tick_seconds(tempos, per_beat)
    return _Notes(
        start=seconds(table[:, 0]),
        end=seconds(table[:, 1]),
        beat=table[:, 0] / per_beat,
        pitch=table[:, 2],
        velocity=table[:, 3],
        programs=table[:, 4],
        tempo=round(60e6 / tempos[0][1], 2) if tempos and tempos[0][1] > 0 else None,
        meter=min(meters)[1] if meters else None,
    )


def _chunks(data: bytes) -> tuple[int, list[bytes]]:
    """(ticks per quarter note, each track's bytes)."""
    if data[:4] != b"MThd":
        raise ValueError("this is not a Standard MIDI File (no MThd header)")
    length, _, count, division = struct.unpack(">IHHh", data[4:14])
    if division <= 0:
        raise ValueError("SMPTE time division is not supported")
    tracks: list[bytes] = []
    at = 8 + length
    while at + 8 <= len(data) and len(tracks) < count:
        kind, size = data[at : at + 4], struct.unpack(">I", data[at + 4 : at + 8])[0]
        if kind == b"MTrk":
            tracks.append(data[at + 8 : at + 8 + size])
        at += 8 + size
    return division, tracks


# Data bytes of each channel message by its status's high nibble.
_DATA_BYTES = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}


def _read_track(
    track: bytes,
    notes: list[tuple[int, int, int, int, int]],
    tempos: list[tuple[int, int]],
    meters: list[tuple[int, str]],
) -> None:
    tick = at = status = 0
    programs = [0] * 16
    sounding: dict[tuple[int, int], tuple[int, int]] = {}
    while at < len(track):
        delta, at = _variable_length(track, at)
        tick += delta
        if track[at] & 0x80:
            status, at = track[at], at + 1
        if status == 0xFF:
            kind = track[at]
            size, at = _variable_length(track, at + 1)
            if kind == 0x51 and size == 3:
                tempos.append((tick, int.from_bytes(track[at : at + 3], "big")))
            elif kind == 0x58 and size >= 2:
                meters.append((tick, f"{track[at]}/{2 ** track[at + 1]}"))
            at += size
            continue
        if status in (0xF0, 0xF7):
            size, at = _variable_length(track, at)
            at += size
            continue
        high, channel = status >> 4, status & 0x0F
        if high not in _DATA_BYTES:
            raise ValueError(f"the MIDI has an unknown status byte {status:#x}")
        first = track[at]
        second = track[at + 1] if _DATA_BYTES[high] == 2 else 0
        at += _DATA_BYTES[high]
        if high == 0x9 and second > 0:
            sounding[(channel, first)] = (tick, second)
        elif high in (0x8, 0x9):
            begun = sounding.pop((channel, first), None)
            if begun is not None:
                notes.append((begun[0], tick, first, begun[1], -1 if channel == 9 else programs[channel]))
        elif high == 0xC:
            programs[channel] = first


def _variable_length(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[at]
        at += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at


def _tick_seconds(tempos: list[tuple[int, int]], per_beat: int) -> Any:
    """Ticks to seconds through the tempo map (120 BPM until the first tempo)."""
    ticks = np.array([0] + [tick for tick, _ in tempos], dtype=np.float64)
    rates = np.array([500_000] + [tempo for _, tempo in tempos], dtype=np.float64) / (per_beat * 1e6)
    starts = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * rates[:-1])])

    def seconds(at: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        index = np.searchsorted(ticks, at, side="right") - 1
        return np.asarray(starts[index] + (at - ticks[index]) * rates[index], dtype=np.float64)

    return seconds


# --- audio ----------------------------------------------------------------------------------------------------

_ANALYSIS_RATE = 11025  # enough for chroma and the spectral shape; a quarter of the work of 44.1 kHz
_FRAME = 1024
_HOP = 256  # 43 frames a second: the onsets of a 140 BPM beat fall 18 frames apart


@dataclass(frozen=True)
class _Sound:
    chroma: npt.NDArray[np.float64]  # mean chroma (12,)
    chroma_spread: npt.NDArray[np.float64]  # its standard deviation over time (12,)
    centroid: tuple[float, float]  # Hz: mean, standard deviation
    rolloff: tuple[float, float]  # Hz (85 % of the energy below)
    flatness: tuple[float, float]  # 0 (tonal) to 1 (noise)
    loudness: tuple[float, float]  # RMS in dBFS
    tempo: float | None


def _audio_features(samples: npt.NDArray[np.float32], rate: int) -> _Sound:
    """Spectral, chroma and tempo statistics of the audio, by an FFT here (librosa's import and JIT cost seconds), in
    float32 with frames as rows, so that a 3-minute song takes tens of milliseconds."""
    import scipy.fft
    import soxr

    audio = np.asarray(samples, dtype=np.float32)
    # A matrix-vector product, not mean(axis=1): numpy's reduction over a short inner axis is ten times slower.
    mono = audio @ np.full(audio.shape[1], 1 / audio.shape[1], np.float32) if audio.ndim == 2 else audio
    mono = soxr.resample(mono, rate, _ANALYSIS_RATE, quality="LQ") if rate != _ANALYSIS_RATE else mono
    if len(mono) < _FRAME:
        mono = np.pad(mono, (0, _FRAME - len(mono)))
    frames = np.lib.stride_tricks.sliding_window_view(mono, _FRAME)[::_HOP] * np.hanning(_FRAME).astype(np.float32)
    spectrum = scipy.fft.rfft(frames, axis=1)
    power = spectrum.real**2 + spectrum.imag**2  # (frames, frequencies)
    log_power = np.log(power + np.float32(1e-10))
    frequencies = np.fft.rfftfreq(_FRAME, 1 / _ANALYSIS_RATE).astype(np.float32)
    energy = power.sum(axis=1) + np.float32(1e-12)
    centroid = power @ frequencies / energy
    rolloff = frequencies[np.argmax(np.cumsum(power, axis=1) >= 0.85 * energy[:, None], axis=1)]
    flatness = np.exp(0.5 * log_power.mean(axis=1)) / (np.sqrt(power).mean(axis=1) + 1e-10)
    loudness = 10 * np.log10(np.maximum(energy / len(frequencies) * 2 / _FRAME, 1e-10))
    chroma = power @ _chroma_filter().T  # (frames, 12)
    chroma /= np.maximum(chroma.max(axis=1, keepdims=True), 1e-10)
    # Spectral flux: how much louder each frequency got since the frame before, summed - the onsets.
    flux = np.maximum(np.diff(log_power, axis=0), 0.0).sum(axis=1).astype(np.float64)
    tempo = _pulse_tempo(flux, _ANALYSIS_RATE / _HOP) if flux.any() else None
    audible = loudness > loudness.max() - 60  # silence would pull the means towards nothing
    return _Sound(
        chroma=chroma[audible].mean(axis=0).astype(np.float64),
        chroma_spread=chroma[audible].std(axis=0).astype(np.float64),
        centroid=_spread(centroid[audible]),
        rolloff=_spread(rolloff[audible]),
        flatness=_spread(flatness[audible]),
        loudness=_spread(loudness[audible]),
        tempo=tempo,
    )


@cache
def _chroma_filter() -> npt.NDArray[np.float32]:
    """(12, frequencies): each FFT bin from A1 to 5 kHz to the pitch class nearest it."""
    frequencies = np.fft.rfftfreq(_FRAME, 1 / _ANALYSIS_RATE)
    inside = (frequencies >= 55.0) & (frequencies <= 5000.0)
    pitch_classes = np.round(69 + 12 * np.log2(np.where(inside, frequencies, 440.0) / 440.0)).astype(np.int64) % 12
    return np.where(inside[None, :], np.arange(12)[:, None] == pitch_classes[None, :], 0.0).astype(np.float32)


def _spread(values: npt.NDArray[np.floating[Any]]) -> tuple[float, float]:
    return (float(values.mean()), float(values.std())) if len(values) else (0.0, 0.0)


# --- the sound vector -----------------------------------------------------------------------------------------


def _soft(value: float, low: float, high: float, bins: int) -> npt.NDArray[np.float64]:
    """A number as a soft one-hot over `bins` points from low to high: nearby numbers overlap, far ones do not, so the
    dot product of two encodings falls smoothly with their distance."""
    centres = np.linspace(low, high, bins)
    width = (high - low) / (bins - 1)
    return np.asarray(np.exp(-0.5 * ((min(max(value, low), high) - centres) / width) ** 2), dtype=np.float64)


_METERS = ("4/4", "3/4", "6/8", "2/4", "12/8")
_BEAT_GRID = 12  # onsets per beat: sixteenths and triplets both fall on it
_RHYTHM_BEATS = 2  # the rhythm profile spans two beats: backbeats and off-beats show
_REGISTER_OCTAVES = 11
_FAMILIES = 17  # the 16 GM families and drums

# (block, dimensions, weight): the weights say what "more like this" means most - the groove, the instruments and
# the tempo over the key (a song in another key is still "like" it).
_BLOCKS: tuple[tuple[str, int, float], ...] = (
    ("pitch classes", 12, 0.5),
    ("key-relative pitch classes", 12, 0.8),
    ("mode", 2, 0.5),
    ("tempo", 12, 1.0),
    ("meter", len(_METERS) + 1, 0.7),
    ("drum rhythm", _BEAT_GRID * _RHYTHM_BEATS, 1.0),
    ("pitched rhythm", _BEAT_GRID * _RHYTHM_BEATS, 0.7),
    ("instrument families", _FAMILIES, 1.2),
    ("register", _REGISTER_OCTAVES, 0.6),
    ("density", 16, 0.8),
    ("chroma spread", 12, 0.5),
    ("spectrum", 4 * 10, 1.0),
)
SOUND_DIMENSIONS = sum(size for _, size, _ in _BLOCKS)


def _sound_vector(
    notes: _Notes | None, sound: _Sound | None, key: str | None, bpm: float | None, meter: str | None
) -> Vector | None:
    blocks: dict[str, npt.NDArray[np.float64]] = {}
    weights = notes.pitch_weights() if notes is not None and notes.pitched.any() else None
    if weights is None and sound is not None:
        weights = sound.chroma
    if weights is not None and weights.any():
        blocks["pitch classes"] = weights
        parsed = _tonic_and_mode(key)
        if parsed is not None:
            blocks["key-relative pitch classes"] = np.roll(weights, -parsed[0])
            blocks["mode"] = np.array([1.0, 0.0]) if parsed[1] else np.array([0.0, 1.0])
    if bpm:
        blocks["tempo"] = _soft(math.log2(bpm), math.log2(60), math.log2(200), 12)
    if meter:
        blocks["meter"] = np.eye(len(_METERS) + 1)[_METERS.index(meter) if meter in _METERS else len(_METERS)]
    if notes is not None and len(notes.start):
        blocks |= _note_blocks(notes)
    if sound is not None:
        blocks["chroma spread"] = sound.chroma_spread
        blocks["spectrum"] = np.concatenate([
            _soft(math.log2(max(sound.centroid[0], 1.0)), math.log2(200), math.log2(4000), 10),
            _soft(math.log2(max(sound.rolloff[0], 1.0)), math.log2(400), math.log2(5500), 10),
            _soft(sound.flatness[0], 0.0, 0.4, 10),
            _soft(sound.loudness[0], -60.0, -10.0, 10),
        ])  # fmt: skip
    parts = []
    for name, size, weight in _BLOCKS:
        block = blocks.get(name)
        norm = float(np.linalg.norm(block)) if block is not None else 0.0
        parts.append(block * (weight / norm) if block is not None and norm > 0 else np.zeros(size))
    vector: Vector = np.concatenate(parts).astype(np.float32)
    length = float(np.linalg.norm(vector))
    return vector / np.float32(length) if length > 0 else None  # a file of no notes, no tempo and no meter


def _tonic_and_mode(key: str | None) -> tuple[int, bool] | None:
    """(tonic pitch class, whether the mode is major-like) of a canonical key name."""
    parsed = parse_key(key) if key else None
    return None if parsed is None else (parsed.tonic, not parsed.minor_like)


def _note_blocks(notes: _Notes) -> dict[str, npt.NDArray[np.float64]]:
    drums = notes.programs < 0
    grid = np.round(notes.beat * _BEAT_GRID).astype(np.int64) % (_BEAT_GRID * _RHYTHM_BEATS)
    size = _BEAT_GRID * _RHYTHM_BEATS
    weight = notes.velocity / 127.0
    families = np.where(drums, _FAMILIES - 1, notes.programs // 8)
    seconds = max(float(notes.end.max() - notes.start.min()), 1.0)
    octave = np.clip(notes.pitch[~drums] // 12, 0, _REGISTER_OCTAVES - 1)
    return {
        "drum rhythm": np.bincount(grid[drums], weights=weight[drums], minlength=size),
        "pitched rhythm": np.bincount(grid[~drums], weights=weight[~drums], minlength=size),
        "instrument families": np.bincount(
            families, weights=np.clip(notes.end - notes.start, 0.05, 2.0), minlength=_FAMILIES
        )
        ** 0.5,
        "register": np.bincount(octave, minlength=_REGISTER_OCTAVES).astype(np.float64),
        "density": np.concatenate(
            [
                _soft(math.log2(1 + drums.sum() / seconds), 0.0, 5.0, 8),
                _soft(math.log2(1 + (~drums).sum() / seconds), 0.0, 5.0, 8),
            ]
        ),
    }

"""MIDI performance -> float32 stereo audio with FluidSynth: exact per-track stems, their mix, one gain (to a peak or
a loudness, renderers.mixing), with the reverb and chorus a request sets.

Each stem renders alone in a fresh synthesizer (a reused one is not bit-exact after a reset), in parallel on
a thread pool: the ctypes calls that synthesise release the GIL. A long-lived "keeper" synth holds the
SoundFont loaded for the renderer's life, so FluidSynth's sample cache makes each fresh synth's load cheap.

Without stems, tracks share synths, one group of tracks per thread, as a one-synth renderer (the CLI) plays
them: every synth runs its own reverb and chorus, which cost as much as the voices of a light track. Voices of
different tracks interact a little inside FluidSynth, so that mix is close to (not equal to) the sum of solo
renders; with stems, the mix is exactly the sum of the stems.
"""

from __future__ import annotations

import heapq
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from dgxmusic.errors import FieldError
from renderers._libfluidsynth import FLUID_FAILED, FLUID_OK, FluidSynthApi, load
from renderers.errors import InvalidSoundFont, RenderError, SoundFontLoadError
from renderers.midi import EventKind, MidiEvent, MidiPerformance, Stem
from renderers.mixing import DEFAULT_PEAK_CEILING_DBFS, MixSettings, integrated_loudness, mix_gain
from renderers.soundfonts import SoundFont

RENDERER_VERSION = "3"  # part of the cache key: bump when the same MIDI renders differently (2: tails, 3: mixing)
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 96000
MAX_TAIL_SECONDS = 60.0
DEFAULT_TAIL_SECONDS = 10.0
PEAK_TARGET_DBFS = DEFAULT_PEAK_CEILING_DBFS
# A render plays on past its last event (releases, reverb) until the mix falls below this, as the fluidsynth CLI does.
SILENCE_DBFS = -90.0
# Each stem synthesises its tail until its own output, before the gain, is this far down: the gain that normalises
# the mix rarely lifts it by 30 dB, so the mix is still above SILENCE_DBFS wherever it is cut.
_RAW_SILENCE = 10 ** ((SILENCE_DBFS - 30) / 20)
_TAIL_BLOCK_SECONDS = 0.05
_MIDI_CHANNELS = 16

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class RenderedAudio:
    """Float32 stereo audio, [frames, 2]; the stems add up to the mix, and one gain was applied to all. It lasts the
    performance and its tail: what sounds on after the last event, down to SILENCE_DBFS."""

    sample_rate: int
    mix: Audio
    stems: dict[str, Audio]
    gain: float
    peak_dbfs: float
    loudness_lufs: float | None = None  # integrated loudness of the mix, when it was asked for a loudness


class _Synth:
    """One FluidSynth synthesizer with its own settings; its pointers are freed exactly once."""

    def __init__(self, api: FluidSynthApi, sample_rate: int, effects: dict[str, float | int] | None = None) -> None:
        self._api = api
        settings = api.new_fluid_settings()
        if not settings:
            raise RenderError("FluidSynth could not create its settings")
        if api.fluid_settings_setnum(settings, b"synth.sample-rate", float(sample_rate)) != FLUID_OK:
            api.delete_fluid_settings(settings)
            raise RenderError(f"FluidSynth rejected sample rate {sample_rate}")
        for name, value in (effects or {}).items():
            if isinstance(value, int):
                status = api.fluid_settings_setint(settings, name.encode(), value)
            else:
                status = api.fluid_settings_setnum(settings, name.encode(), value)
            if status != FLUID_OK:
                api.delete_fluid_settings(settings)
                raise RenderError(f"FluidSynth rejected {name} = {value}")
        synth = api.new_fluid_synth(settings)
        if not synth:
            api.delete_fluid_settings(settings)
            raise RenderError("FluidSynth could not create a synthesizer")
        self._settings: int | None = settings
        self._synth: int | None = synth

    def __enter__(self) -> _Synth:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pointer(self) -> int:
        if self._synth is None:
            raise RenderError("the synthesizer was already deleted")
        return self._synth

    def load_soundfont(self, path: Path) -> None:
        if self._api.fluid_synth_sfload(self.pointer, os.fsencode(path), 1) == FLUID_FAILED:
            raise SoundFontLoadError(f"FluidSynth cannot load the SoundFont {path}")
        # Without an explicit program per channel the synth stays silent after sfload. A font lacking
        # program 0 fails here; the channel then plays whatever the MIDI selects, as the CLI does.
        for channel in range(_MIDI_CHANNELS):
            self._api.fluid_synth_program_change(self.pointer, channel, 0)

    def play(self, event: MidiEvent) -> None:
        # Return codes of channel messages are ignored on purpose: a MIDI file may ask for a program or
        # drum kit the font lacks, and the right outcome is silence on that channel, not a failed job.
        api, synth, channel = self._api, self.pointer, event.channel
        match event.kind:
            case EventKind.NOTE_ON:
                api.fluid_synth_noteon(synth, channel, event.data1, event.data2)
            case EventKind.NOTE_OFF:
                api.fluid_synth_noteoff(synth, channel, event.data1)
            case EventKind.CONTROL_CHANGE:
                api.fluid_synth_cc(synth, channel, event.data1, event.data2)
            case EventKind.PROGRAM_CHANGE:
                api.fluid_synth_program_change(synth, channel, event.data1)
            case EventKind.PITCH_BEND:
                api.fluid_synth_pitch_bend(synth, channel, event.data1)
            case EventKind.CHANNEL_PRESSURE:
                api.fluid_synth_channel_pressure(synth, channel, event.data1)
            case EventKind.KEY_PRESSURE:
                api.fluid_synth_key_pressure(synth, channel, event.data1, event.data2)

    def write(self, out: Audio, start: int, frames: int) -> None:
        """Synthesise `frames` frames into out[start:start + frames] (out is C-contiguous [n, 2])."""
        buffer = out.ctypes.data
        status = self._api.fluid_synth_write_float(self.pointer, frames, buffer, 2 * start, 2, buffer, 2 * start + 1, 2)
        if status != FLUID_OK:
            raise RenderError("FluidSynth failed to synthesise audio")

    def close(self) -> None:
        if self._synth is not None:
            self._api.delete_fluid_synth(self._synth)
            self._synth = None
        if self._settings is not None:
            self._api.delete_fluid_settings(self._settings)
            self._settings = None


class FluidSynthRenderer:
    """Renders MIDI performances with one SoundFont at one sample rate; safe to share between threads."""

    def __init__(self, soundfont: SoundFont, sample_rate: int = 44100, *, threads: int = 2) -> None:
        check_sample_rate(sample_rate)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.soundfont = soundfont
        self.sample_rate = sample_rate
        self._api = load()
        self._keeper = _Synth(self._api, sample_rate)
        try:
            self._keeper.load_soundfont(soundfont.path)
        except RenderError:
            self._keeper.close()
            raise
        self._threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fluidsynth")
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> FluidSynthRenderer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def render(
        self,
        performance: MidiPerformance,
        *,
        stems: bool = True,
        tail_seconds: float = DEFAULT_TAIL_SECONDS,
        check: Callable[[], None] | None = None,
        mixing: MixSettings | None = None,
    ) -> RenderedAudio:
        """Render every stem alone (or, without stems, groups of them) with ``mixing``'s reverb and chorus, sum them
        into the mix, and scale all by one gain: the mix to its loudness target, or its peak to the ceiling (-1 dBFS
        by default), plus its gain_db, never past the ceiling. The audio plays on after the last event until it falls
        below SILENCE_DBFS, for at most ``tail_seconds``. ``check`` is called before waiting for each stem: what it
        raises ends the render, and the stems not yet started are never rendered (e.g. a cancelled request)."""
        mixing = mixing or MixSettings()
        played, frames = self.frames(performance, tail_seconds)
        groups = [[stem] for stem in performance.stems] if stems else _balanced_groups(performance.stems, self._threads)
        pending = deque(self.submit([_merged_events(group) for group in groups], played, frames, mixing))
        mix = np.zeros((frames, 2), dtype=np.float32)
        rendered: dict[str, Audio] = {}
        try:
            # Summed in group order, whatever order they finish in, so the mix is reproducible; each future
            # is dropped once summed so that without stems their audio can be freed early.
            for group in groups:
                if check is not None:
                    check()
                audio = pending.popleft().result()
                mix += audio
                if stems:
                    rendered[group[0].name] = audio
        finally:
            for future in pending:
                future.cancel()
        return finish_render(mix, rendered, played, self.sample_rate, mixing)

    def frames(self, performance: MidiPerformance, tail_seconds: float) -> tuple[int, int]:
        """The frames the performance plays for, and those it may last with its tail."""
        if not (0.0 <= tail_seconds <= MAX_TAIL_SECONDS):
            raise ValueError(f"tail_seconds must be within 0..{MAX_TAIL_SECONDS}, got {tail_seconds!r}")
        played = round(performance.duration_seconds * self.sample_rate)
        return played, played + round(tail_seconds * self.sample_rate)

    def submit(
        self, stems: Sequence[Sequence[MidiEvent]], played: int, frames: int, mixing: MixSettings
    ) -> list[Future[Audio]]:
        """Start rendering each events list alone, unscaled: its `played` frames, then its tail while it sounds (the
        rest of `frames` stays zero), with ``mixing``'s reverb and chorus."""
        effects = mixing.synth_settings()
        with self._lock:
            if self._closed:
                raise RenderError("the renderer is closed")
            return [self._pool.submit(self._render_stem, events, played, frames, effects) for events in stems]

    def close(self) -> None:
        """Wait for running renders, then free the SoundFont. Later renders raise RenderError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True)
        self._keeper.close()

    def _render_stem(
        self, events: Sequence[MidiEvent], played: int, frames: int, effects: dict[str, float | int]
    ) -> Audio:
        """The events' `played` frames, then their tail until it is silent (the rest of `frames` stays zero)."""
        out = np.zeros((frames, 2), dtype=np.float32)
        with _Synth(self._api, self.sample_rate, effects) as synth:
            synth.load_soundfont(self.soundfont.path)
            position = 0
            for event in events:
                at = min(round(event.seconds * self.sample_rate), played)
                if at > position:
                    synth.write(out, position, at - position)
                    position = at
                synth.play(event)
            if played > position:
                synth.write(out, position, played - position)
            block = max(1, round(_TAIL_BLOCK_SECONDS * self.sample_rate))
            for start in range(played, frames, block):
                size = min(block, frames - start)
                synth.write(out, start, size)
                if not np.any(np.abs(out[start : start + size]) >= _RAW_SILENCE):
                    break
        return out


_DRUM_CHANNEL = 9
_DRUM_HIT_SECONDS = 0.15  # GM drum notes are one-shots: their note-off hardly matters
_RELEASE_SECONDS = 0.3
_LONGEST_NOTE_SECONDS = 8.0


def _voice_seconds(stem: Stem) -> float:
    """How long the stem's voices sound in all: what synthesis costs, roughly."""
    started: dict[tuple[int, int], float] = {}
    total = 0.0
    for event in stem.events:
        key = (event.channel, event.data1)
        if event.kind == EventKind.NOTE_ON and event.data2 > 0:
            if event.channel == _DRUM_CHANNEL:
                total += _DRUM_HIT_SECONDS
            else:
                started[key] = event.seconds
        elif event.kind in (EventKind.NOTE_ON, EventKind.NOTE_OFF) and key in started:
            total += min(event.seconds - started.pop(key), _LONGEST_NOTE_SECONDS) + _RELEASE_SECONDS
    return total + len(started) * _LONGEST_NOTE_SECONDS


def _balanced_groups(stems: Sequence[Stem], count: int) -> list[list[Stem]]:
    """At most `count` groups of stems of about equal synthesis cost (largest first into the lightest group),
    in file order within a group."""
    groups: list[list[Stem]] = [[] for _ in range(min(count, len(stems)))]
    loads = [0.0] * len(groups)
    for stem, cost in sorted(((s, _voice_seconds(s)) for s in stems), key=lambda pair: pair[1], reverse=True):
        lightest = loads.index(min(loads))
        groups[lightest].append(stem)
        loads[lightest] += cost
    order = {id(stem): index for index, stem in enumerate(stems)}
    return [sorted(group, key=lambda s: order[id(s)]) for group in groups]


def _merged_events(group: Sequence[Stem]) -> Sequence[MidiEvent]:
    if len(group) == 1:
        return group[0].events
    return list(heapq.merge(*(stem.events for stem in group), key=lambda event: event.seconds))


def finish_render(
    mix: Audio, stems: dict[str, Audio], played: int, sample_rate: int, mixing: MixSettings
) -> RenderedAudio:
    """The render of a mix and its stems (unscaled, `played` frames and their tails): one gain for all, by
    ``mixing``, then cut where the scaled mix falls silent after the played part."""
    gain = mix_gain(mix, sample_rate, mixing)
    end = played + _sounding_frames(mix[played:] * np.float32(gain))
    mix = mix[:end]
    stems = {name: audio[:end] for name, audio in stems.items()}
    for audio in (mix, *stems.values()):
        audio *= np.float32(gain)
    loudness = integrated_loudness(mix, sample_rate) if mixing.loudness_lufs is not None else None
    return RenderedAudio(
        sample_rate=sample_rate, mix=mix, stems=stems, gain=gain, peak_dbfs=_peak_dbfs(mix), loudness_lufs=loudness
    )


def check_soundfont_file(path: Path) -> None:
    """Raise InvalidSoundFont unless the file is a SoundFont 2 (a RIFF 'sfbk' file, its RIFF size its length) that
    FluidSynth loads. Loading parses it only: a SoundFont holds samples and presets, nothing that runs."""
    with path.open("rb") as file:
        head = file.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise InvalidSoundFont("not a SoundFont: a .sf2 file starts with RIFF....sfbk")
    declared = int.from_bytes(head[4:8], "little") + 8
    size = path.stat().st_size
    if declared != size and declared + 1 != size:  # RIFF pads odd chunks to even length
        raise InvalidSoundFont(f"a damaged SoundFont: its RIFF header says {declared} bytes, the file has {size}")
    with _Synth(load(), 44100) as synth:
        try:
            synth.load_soundfont(path)
        except SoundFontLoadError:
            raise InvalidSoundFont("FluidSynth cannot load this SoundFont (damaged or not SoundFont 2)") from None


def check_sample_rate(sample_rate: int) -> None:
    """Raise FieldError (a ValueError) naming sample_rate unless it is an integer FluidSynth accepts."""
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, int)
        or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE
    ):
        raise FieldError(
            "sample_rate", f"must be an integer within {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}, got {sample_rate!r}"
        )


def _sounding_frames(audio: Audio) -> int:
    """How many frames of `audio` there are up to its last one at or above SILENCE_DBFS."""
    if not audio.size:
        return 0
    loud = np.flatnonzero(np.max(np.abs(audio), axis=1) >= 10 ** (SILENCE_DBFS / 20))
    return int(loud[-1]) + 1 if loud.size else 0


def _peak_dbfs(audio: Audio) -> float:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20 * math.log10(peak) if peak > 0.0 else -math.inf

"""Plugin instruments against the FluidSynth path on the same songs (issue #16): speed, levels and note accuracy.

Run: .venv/bin/python benchmarks/instruments.py [--repeat N] [--bars N] [--plugin NAME] [--threads N]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import mir_eval
import numpy as np
import numpy.typing as npt

import composer
import renderers
import transcriber
from composer.genres import EXAMPLE_PROMPTS
from renderers.gm import GM_PROGRAM_NAMES
from renderers.instruments import TrackFacts

READING_GUIDE = """\
Reading guide. Each song is composed from a genre's example prompt and rendered three ways by renderers.Studio, as
the fluidsynth model renders: "plain" is every track on FluidR3_GM (the FluidSynth path, with stems); "studio" is
the built-in instrument set "studio" (the tracks it covers through LV2 plugins in the plugin host's worker
processes, the rest on the SoundFont); the third puts every pitched track on one plugin (--plugin). Times are the
median of --repeat renders taken in turn, after a warm-up; this machine is shared and noisy, so read the ratios to
"plain" rather than the seconds. "x RT" is the song's length over the render time. "studio repeatable" says whether
the studio render's first and last repeats gave the same samples (the tracks that did not are named). Levels: each
plugin track's stem against the same track's SoundFont stem, both divided by their render's mix gain, as an RMS
ratio over the whole render in dB (the studio render matches them, so about 0 dB), and the integrated loudness of
both mixes (before any loudness target). Accuracy: Basic Pitch (transcriber, in-process ONNX) transcribes each
pitched stem alone; the score is mir_eval's note F1 on pitch and onset within 50 ms against the MIDI's notes,
offsets ignored; "(-12)" beside it is the usual interval from the written pitch of the notes heard on time, where
not 0 (an instrument that sounds an octave down scores 0). A plugin's F1 near the SoundFont's means it plays the
right notes at the right times; Basic Pitch's own errors (re-struck sustains, soft pad attacks, low bass) lower both
alike."""

SAMPLE_RATE = 44100
SOUNDFONT = "FluidR3_GM"
STUDIO_SET = "studio"
# Genres whose songs give the studio set's plugins work: mda Piano, ePiano, DX10 and JX10 presets, ZynAddSubFX
# leads and pads, setBfree's organ and avldrums' kit all play in at least one of them.
GENRES = ("house", "techno", "lo-fi hip-hop", "jazz", "reggae", "pop", "ambient")
ONSET_TOLERANCE_SECONDS = 0.05
SEED = 1

Audio = npt.NDArray[np.float32]
RefNote = tuple[float, float, int]  # start, end, pitch
Assignments = dict[str, dict[str, str]]  # song -> track -> the studio set's instrument for it


@dataclass(frozen=True)
class Song:
    genre: str
    midi: bytes
    performance: renderers.MidiPerformance

    @property
    def seconds(self) -> float:
        return self.performance.duration_seconds


@dataclass(frozen=True)
class Way:
    """One way of rendering the songs: a label and the instruments a render asks for (None: the SoundFont alone)."""

    label: str
    instruments: Callable[[Song], renderers.InstrumentRequest | None]


@dataclass
class Timings:
    """A song's renders one way: every repeat's seconds, the first and last render."""

    seconds: list[float]
    first: renderers.RenderedAudio
    last: renderers.RenderedAudio

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def compose_songs(bars: int) -> list[Song]:
    songs = []
    for genre in GENRES:
        midi = composer.compose(composer.SongRequest(EXAMPLE_PROMPTS[genre], bars=bars, seed=SEED)).midi
        songs.append(Song(genre, midi, renderers.parse_midi(midi)))
    return songs


def pitched_tracks(song: Song) -> list[str]:
    return [stem.name for stem in song.performance.stems if not TrackFacts.of(stem).is_drums]


def every_pitched_track_on(plugin: str) -> Callable[[Song], renderers.InstrumentRequest]:
    def request(song: Song) -> renderers.InstrumentRequest:
        return renderers.InstrumentRequest(tuple(renderers.InstrumentChoice(t, plugin) for t in pitched_tracks(song)))

    return request


def render_in_turn(
    studio: renderers.Studio, songs: Sequence[Song], ways: Sequence[Way], repeat: int
) -> dict[tuple[str, str], Timings]:
    """Every song rendered every way, the ways taken in turn on each repeat so that the machine's noise falls on all."""
    timings: dict[tuple[str, str], Timings] = {}
    for song in songs:
        for _ in range(repeat):
            for way in ways:
                instruments = way.instruments(song)
                started = time.perf_counter()
                rendered = studio.render(song.midi, SOUNDFONT, SAMPLE_RATE, instruments=instruments)
                elapsed = time.perf_counter() - started
                key = (song.genre, way.label)
                if key in timings:
                    timings[key].seconds.append(elapsed)
                    timings[key].last = rendered
                else:
                    timings[key] = Timings([elapsed], rendered, rendered)
    return timings


def unrepeatable_tracks(timings: Timings) -> list[str]:
    """The tracks whose stem (before the mix gain) differs between the first and last render."""
    first, last = timings.first, timings.last
    differ = []
    for name, stem in first.stems.items():
        other = last.stems[name]
        frames = min(len(stem), len(other))
        if not np.allclose(stem[:frames] / first.gain, other[:frames] / last.gain, rtol=0.0, atol=1e-6):
            differ.append(name)
    return differ


def level_db(audio: Audio, reference: Audio) -> float:
    """`audio`'s RMS over `reference`'s, in dB, over each one's whole length (energies, so a longer silent tail
    changes nothing)."""
    energy = float(np.sum(np.square(audio, dtype=np.float64)))
    reference_energy = float(np.sum(np.square(reference, dtype=np.float64)))
    return 10 * np.log10(energy / reference_energy) if energy > 0 and reference_energy > 0 else float("-inf")


def reference_notes(stem: renderers.Stem) -> list[RefNote]:
    """The stem's notes from its MIDI events: each note-on to the next note-off of its channel and pitch."""
    sounding: dict[tuple[int, int], list[float]] = {}
    notes: list[RefNote] = []
    for event in stem.events:
        key = (event.channel, event.data1)
        if event.kind is renderers.EventKind.NOTE_ON and event.data2 > 0:
            sounding.setdefault(key, []).append(event.seconds)
        elif event.kind in (renderers.EventKind.NOTE_ON, renderers.EventKind.NOTE_OFF) and sounding.get(key):
            start = sounding[key].pop(0)
            notes.append((start, max(event.seconds, start + 0.01), event.data1))
    return sorted(notes)


def onset_f1(reference: Sequence[RefNote], heard: Iterable[transcriber.Note]) -> float:
    """mir_eval's note F1 on pitch and onset (50 ms), offsets ignored."""
    heard = list(heard)
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        np.array([[start, end] for start, end, _ in reference]).reshape(-1, 2),
        mir_eval.util.midi_to_hz(np.array([pitch for *_, pitch in reference])),
        np.array([[note.start, note.end] for note in heard]).reshape(-1, 2),
        mir_eval.util.midi_to_hz(np.array([note.pitch for note in heard])),
        onset_tolerance=ONSET_TOLERANCE_SECONDS,
        offset_ratio=None,
    )
    return float(f1)


def usual_interval(reference: Sequence[RefNote], heard: Iterable[transcriber.Note]) -> int | None:
    """The most common pitch difference, in semitones, of heard notes from the MIDI's note nearest their onset (within
    50 ms): 0 for a track that sounds as written, -12 for one an octave down; None when no onset matches."""
    onsets = np.array([start for start, *_ in reference])
    intervals: Counter[int] = Counter()
    for note in heard:
        nearest = int(np.argmin(np.abs(onsets - note.start))) if len(onsets) else -1
        if nearest >= 0 and abs(onsets[nearest] - note.start) <= ONSET_TOLERANCE_SECONDS:
            intervals[note.pitch - reference[nearest][2]] += 1
    return intervals.most_common(1)[0][0] if intervals else None


def program_name(stem: renderers.Stem) -> str:
    return GM_PROGRAM_NAMES[TrackFacts.of(stem).program]


def print_speed(
    songs: Sequence[Song], ways: Sequence[Way], timings: dict[tuple[str, str], Timings], assignments: Assignments
) -> None:
    plain, studio_way, one_plugin = ways
    print(f"\nRender time (median), x real time, ratio to plain; {one_plugin.label}: every pitched track on it")
    head = f"{'song':14}{'sec':>6}{'trk':>4}{'plug':>5}"
    for way in ways:
        head += f"{way.label[:13]:>14}{'x RT':>7}" + ("" if way is plain else f"{'/plain':>8}")
    print(head + "  studio repeatable")
    ratios: dict[str, list[float]] = {way.label: [] for way in ways[1:]}
    for song in songs:
        row = f"{song.genre:14}{song.seconds:6.1f}{len(song.performance.stems):4d}{len(assignments[song.genre]):5d}"
        base = timings[song.genre, plain.label].median
        for way in ways:
            median = timings[song.genre, way.label].median
            row += f"{median:13.3f}s{song.seconds / median:6.0f}x"
            if way is not plain:
                ratios[way.label].append(median / base)
                row += f"{median / base:7.2f}x"
        differ = unrepeatable_tracks(timings[song.genre, studio_way.label])
        print(row + ("  yes" if not differ else f"  no: {', '.join(differ)}"))
    total = sum(song.seconds for song in songs)
    summary = f"{'all songs':14}{total:6.0f}{'':9}"
    for way in ways:
        spent = sum(timings[song.genre, way.label].median for song in songs)
        summary += f"{spent:13.3f}s{total / spent:6.0f}x"
        if way is not plain:
            summary += f"{statistics.geometric_mean(ratios[way.label]):7.2f}x"
    print(summary + "  (sums; ratios their geometric mean)")


def studio_instruments(studio: renderers.Studio, songs: Sequence[Song]) -> Assignments:
    """Each song's tracks that the studio set plays on an instrument of its own, and that instrument's name."""
    catalog = studio.catalog()
    assignments: Assignments = {}
    print("\nWhat the studio set plays (the other tracks stay on FluidR3_GM)")
    for song in songs:
        assignment = renderers.InstrumentRequest((), STUDIO_SET).assign(song.performance.stems, catalog)
        assignments[song.genre] = {track: voice.name for track, voice in assignment.voices.items() if voice}
        missing = "".join(f"; {fallback.track}: {fallback.wanted} not installed" for fallback in assignment.fallbacks)
        print(f"  {song.genre:14}" + ", ".join(f"{t}={name}" for t, name in assignments[song.genre].items()) + missing)
    return assignments


def print_levels(
    songs: Sequence[Song], ways: Sequence[Way], timings: dict[tuple[str, str], Timings], assignments: Assignments
) -> None:
    plain_way, studio_way, _ = ways
    print(
        "\nLevels: mix loudness plain -> studio; each plugin track's stem vs its SoundFont stem (before the mix gain)"
    )
    for song in songs:
        plain, studio = timings[song.genre, plain_way.label].first, timings[song.genre, studio_way.label].first
        levels = [
            f"{track} {level_db(studio.stems[track] / studio.gain, plain.stems[track] / plain.gain):+.2f} dB"
            for track in assignments[song.genre]
        ]
        before = renderers.integrated_loudness(plain.mix, SAMPLE_RATE) or float("nan")
        after = renderers.integrated_loudness(studio.mix, SAMPLE_RATE) or float("nan")
        print(f"  {song.genre:14}{before:6.1f} -> {after:5.1f} LUFS ({after - before:+.1f})  " + ", ".join(levels))


def print_accuracy(
    songs: Sequence[Song],
    ways: Sequence[Way],
    timings: dict[tuple[str, str], Timings],
    assignments: Assignments,
    model: transcriber.NoteModel,
) -> None:
    plain_way, studio_way, one_plugin = ways

    def f1(song: Song, way: Way, stem: renderers.Stem, reference: Sequence[RefNote]) -> tuple[float, int | None]:
        rendered = timings[song.genre, way.label].first
        heard = transcriber.transcribe(rendered.stems[stem.name] / rendered.gain, SAMPLE_RATE, model=model).notes
        return onset_f1(reference, heard), usual_interval(reference, heard)

    def shown(score: tuple[float, int | None]) -> str:
        """The F1, and the usual interval where the notes are heard at other pitches than written."""
        f1_score, interval = score
        return f"{f1_score:5.2f}" + (f" ({interval:+d})" if interval else "")

    print("\nNote onset F1 (pitch + onset within 50 ms) of Basic Pitch on each pitched stem alone")
    print(
        f"  {'song':14}{'track':9}{'notes':>5}  {'SoundFont program':24}{'F1':11}  {'studio instrument':44}{'F1':11}"
        f"  {one_plugin.label[:14]:>14}"
    )
    studio_pairs: list[tuple[float, float]] = []
    all_tracks: list[tuple[float, float]] = []
    for song in songs:
        for stem in song.performance.stems:
            if TrackFacts.of(stem).is_drums:
                continue
            reference = reference_notes(stem)
            soundfont, on_one_plugin = f1(song, plain_way, stem, reference), f1(song, one_plugin, stem, reference)
            all_tracks.append((soundfont[0], on_one_plugin[0]))
            instrument = assignments[song.genre].get(stem.name)
            studio_text = f"{'(SoundFont)':44}{'':11}"
            if instrument is not None:
                on_studio = f1(song, studio_way, stem, reference)
                studio_pairs.append((soundfont[0], on_studio[0]))
                studio_text = f"{instrument[:44]:44}{shown(on_studio):11}"
            print(
                f"  {song.genre:14}{stem.name[:9]:9}{len(reference):5d}  {program_name(stem)[:24]:24}"
                f"{shown(soundfont):11}  {studio_text}  {shown(on_one_plugin):>14}"
            )
    soundfont_mean, studio_mean = (statistics.mean(column) for column in zip(*studio_pairs, strict=True))
    print(
        f"  the {len(studio_pairs)} studio plugin tracks: mean F1 {studio_mean:.2f}, "
        f"on the SoundFont {soundfont_mean:.2f}"
    )
    soundfont_mean, plugin_mean = (statistics.mean(column) for column in zip(*all_tracks, strict=True))
    print(
        f"  all {len(all_tracks)} pitched tracks on {one_plugin.label}: mean F1 {plugin_mean:.2f}, "
        f"on the SoundFont {soundfont_mean:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--plugin", default="lv2:mda-piano", help="the plugin every pitched track plays, third way")
    parser.add_argument("--threads", type=int, default=transcriber.DEFAULT_THREADS, help="Basic Pitch's threads")
    args = parser.parse_args()
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    print(READING_GUIDE)

    started = time.perf_counter()
    songs = compose_songs(args.bars)
    ways = (
        Way("plain", lambda song: None),
        Way(STUDIO_SET, lambda song: renderers.InstrumentRequest((), STUDIO_SET)),
        Way(args.plugin, every_pitched_track_on(args.plugin)),
    )
    studio = renderers.Studio(renderers.SoundFontLibrary(renderers.DEFAULT_SOUNDFONT_DIRS))
    try:
        warm_up = time.perf_counter()
        # The first renders load FluidR3_GM, start the plugin host's workers and scan the plugins.
        render_in_turn(studio, songs[:1], ways, 1)
        warm_up = time.perf_counter() - warm_up
        print(
            f"\n{len(songs)} songs of {args.bars} bars (seed {SEED}), {sum(s.seconds for s in songs):.0f} s of music;"
        )
        print(f"warm-up (font load, plugin workers, plugin scan, one render each way): {warm_up:.1f} s")
        assignments = studio_instruments(studio, songs)
        timings = render_in_turn(studio, songs, ways, args.repeat)
    finally:
        studio.close()
    print_speed(songs, ways, timings, assignments)
    print_levels(songs, ways, timings, assignments)
    print_accuracy(songs, ways, timings, assignments, transcriber.NoteModel(threads=args.threads))
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

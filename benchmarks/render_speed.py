"""How fast renderers/ turns MIDI into audio, against the fluidsynth CLI, on one dense 60 s GM song.

Run: .venv/bin/python benchmarks/render_speed.py [--soundfont NAME] [--repeat N]
Prints x-real-time for in-process rendering (1 and 2 threads, and one synth for all tracks) and for the CLI,
plus the time a fresh synth takes to load the SoundFont with and without a keeper synth holding it.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import mido

from renderers import (
    DEFAULT_SOUNDFONT_DIRS,
    EventKind,
    FluidSynthRenderer,
    MidiPerformance,
    SoundFont,
    SoundFontLibrary,
    Stem,
    parse_midi,
)
from renderers._libfluidsynth import load
from renderers.fluidsynth import _Synth

SAMPLE_RATE = 44100
TICKS = 480
BPM = 120
BARS = 30  # 30 bars of 4/4 at 120 bpm: 60 s
SIXTEENTH = TICKS // 4


def dense_song(seed: int = 7) -> bytes:
    """Five GM tracks (piano chords, bass, strings, lead, drums) busy on every sixteenth note."""
    rng = random.Random(seed)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM))]))
    steps = BARS * 16
    roots = [rng.choice((48, 50, 53, 55, 57)) for _ in range(BARS)]

    def part(name: str, channel: int, program: int, notes: Callable[[int], list[int]], length: int) -> None:
        events: list[tuple[int, int, int]] = []  # (tick, order, note or -note-1 for off)
        for step in range(0, steps, length):
            for note in notes(step):
                events.append((step * SIXTEENTH, 1, note))
                events.append(((step + length) * SIXTEENTH, 0, -note - 1))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        track.append(mido.Message("program_change", channel=channel, program=program))
        track.append(mido.Message("control_change", channel=channel, control=1, value=40))
        now = 0
        for tick, _, value in sorted(events):
            if value >= 0:
                message = mido.Message("note_on", channel=channel, note=value, velocity=rng.randint(70, 120))
            else:
                message = mido.Message("note_off", channel=channel, note=-value - 1)
            track.append(message.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)

    def root(step: int) -> int:
        return roots[step // 16]

    part("Piano", 0, 0, lambda s: [root(s) + 12 + i for i in (0, 4, 7, 11)], 2)
    part("Bass", 1, 33, lambda s: [root(s) - 12 + rng.choice((0, 7, 12))], 2)
    part("Strings", 2, 48, lambda s: [root(s) + i for i in (0, 7, 12, 16)], 16)
    part("Lead", 3, 80, lambda s: [root(s) + 24 + rng.choice((0, 2, 4, 7, 9, 12))], 1)
    part("Drums", 9, 0, lambda s: [42] + ([36] if s % 8 == 0 else []) + ([38] if s % 8 == 4 else []), 1)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def best_of(repeat: int, action: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def font_load_seconds(font: SoundFont, repeat: int) -> tuple[float, float]:
    """Median time for a fresh synth to load the font: with no other synth holding it, then with a keeper."""
    api = load()

    def fresh_load() -> None:
        with _Synth(api, SAMPLE_RATE) as synth:
            synth.load_soundfont(font.path)

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    alone = median([best_of(1, fresh_load) for _ in range(repeat)])
    with _Synth(api, SAMPLE_RATE) as keeper:
        keeper.load_soundfont(font.path)
        kept = median([best_of(1, fresh_load) for _ in range(repeat)])
    return alone, kept


def one_synth(performance: MidiPerformance) -> MidiPerformance:
    """The same song as one stem, to price rendering per track against one synth for everything."""
    events = sorted((event for stem in performance.stems for event in stem.events), key=lambda e: e.seconds)
    return MidiPerformance(
        duration_seconds=performance.duration_seconds,
        stems=(Stem("all", tuple(events)),),
        ticks_per_beat=performance.ticks_per_beat,
        midi_type=performance.midi_type,
    )


def render_seconds(font: SoundFont, threads: int, performance: MidiPerformance, repeat: int) -> float:
    with FluidSynthRenderer(font, SAMPLE_RATE, threads=threads) as renderer:
        return best_of(repeat, lambda: renderer.render(performance))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soundfont", default="FluidR3_GM")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    font = SoundFontLibrary(DEFAULT_SOUNDFONT_DIRS).resolve(args.soundfont)
    data = dense_song()
    performance = parse_midi(data)
    seconds = performance.duration_seconds
    notes = sum(1 for stem in performance.stems for e in stem.events if e.kind is EventKind.NOTE_ON and e.data2 > 0)
    print(f"song: {seconds:.1f} s, {len(performance.stems)} tracks, {notes} notes; font {font.name}")

    alone, kept = font_load_seconds(font, args.repeat)
    print(f"fresh-synth font load: {alone * 1000:.0f} ms alone, {kept * 1000:.0f} ms with a keeper")

    parse = best_of(args.repeat, lambda: parse_midi(data))
    print(f"parse_midi: {parse * 1000:.1f} ms")
    in_process = {threads: render_seconds(font, threads, performance, args.repeat) for threads in (1, 2)}
    single = render_seconds(font, 1, one_synth(performance), args.repeat)
    for threads, wall in in_process.items():
        print(f"in-process, stems, {threads} thread(s): {wall:.3f} s = {seconds / wall:.0f}x real time")
    print(f"in-process, one synth, no stems:   {single:.3f} s = {seconds / single:.0f}x real time")
    print(f"parallel speed-up (2 vs 1 thread): {in_process[1] / in_process[2]:.2f}x")

    cli = shutil.which("fluidsynth")
    if cli is None:
        print("fluidsynth CLI not found; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        midi_path = Path(tmp) / "song.mid"
        midi_path.write_bytes(data)
        command = [
            cli,
            "-ni",
            "-F",
            str(Path(tmp) / "out.wav"),
            "-r",
            str(SAMPLE_RATE),
            str(font.path),
            str(midi_path),
        ]
        wall = best_of(args.repeat, lambda: subprocess.run(command, check=True, capture_output=True))
    print(f"CLI (fluidsynth -ni -F, incl. start-up): {wall:.3f} s = {seconds / wall:.0f}x real time")
    print(f"in-process (2 threads, with stems) vs CLI: {wall / in_process[2]:.1f}x faster")


if __name__ == "__main__":
    main()

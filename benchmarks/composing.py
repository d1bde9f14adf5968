"""Composer benchmark (issue: the composer). Prints, per genre, generation time per 100 bars and the quality
figures its tests assert (tempo meta event, bars, notes in the key's scale, same-pitch overlaps, velocities,
the tempo librosa's beat tracker hears in the audio rendered through the stack); then, through the gateway,
GenerateMidi of a 64-bar six-track song (p50/p90) and a batch of 32 prompts vs 32 single calls.

With --captions, without the stack: the text-to-MIDI papers' attribute metrics on benchmarks/captions.py's
MidiCaps-style captions, each measured on the composed MIDI by a tool independent of the composer - tempo bin
(MidiCaps' bins, from the MIDI's tempo event), key (music21's analysis on the notes, as MidiCaps' own pipeline finds
its captions' keys; over seeds 0..4), time signature (mido's first time_signature event) and instrument recall (a
named instrument counts when a track with notes plays one of its exact GM programs). music21 reads channel 10's
notes as unpitched percussion, so the drums add no pitches to its key analysis.

Run: `make bench` (or `.venv/bin/python benchmarks/composing.py`); `.venv/bin/python benchmarks/composing.py
--captions [--seeds N]` for the attribute metrics.
"""

import argparse
import bisect
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import librosa
import mido
import music21
import numpy as np
import pretty_midi

import composer
from clients.client import MusicClient, compose_request, song_options
from composer.genres import EXAMPLE_PROMPTS
from deploy.launcher import Stack, settings_on_free_ports
from dgxmusic.v1 import music_service_pb2 as pb

sys.path.insert(0, str(Path(__file__).parents[1]))  # the caption set beside this file, run as a script
from benchmarks.captions import CAPTIONS, Caption


def quality(song: composer.ComposedSong) -> dict[str, object]:
    meta = song.metadata
    parsed = mido.MidiFile(file=io.BytesIO(song.midi))
    tempo = next(m.tempo for t in parsed.tracks for m in t if m.type == "set_tempo")
    scale = set(meta.scale_pitch_classes)
    pitched, in_scale, overlaps, velocities = 0, 0, 0, []
    for track in parsed.tracks:
        sounding: set[tuple[int, int]] = set()
        for message in track:
            if message.type == "note_on" and message.velocity > 0:
                velocities.append(message.velocity)
                key = (message.channel, message.note)
                overlaps += key in sounding
                sounding.add(key)
                if message.channel != 9:
                    pitched += 1
                    in_scale += message.note % 12 in scale
            elif message.type in ("note_on", "note_off"):
                sounding.discard((message.channel, message.note))
    bar_ticks = parsed.ticks_per_beat * 4
    end = max(sum(m.time for m in track) for track in parsed.tracks)
    return {
        "tempo_ok": abs(mido.tempo2bpm(tempo) - meta.bpm) < 0.01,
        "bars_ok": end == meta.bars * bar_ticks,
        "in_scale": in_scale / max(pitched, 1),
        "overlaps": overlaps,
        "velocities": f"{min(velocities)}-{max(velocities)}",
    }


def heard_tempo(client: MusicClient, prompt: str, bars: int = 16) -> tuple[float, float]:
    """(requested bpm, the tempo librosa hears in the mix rendered through the stack, folded onto it x2/x0.5)."""
    result = client.compose(compose_request(prompt, options=song_options(bars=bars), stems=False))
    mono = result.mix.mean(axis=1)
    tempo, _ = librosa.beat.beat_track(y=mono, sr=result.sample_rate)
    heard = float(np.atleast_1d(tempo)[0])
    wanted = result.info.bpm
    folded = min((heard * f for f in (0.5, 1.0, 2.0)), key=lambda t: abs(t - wanted))
    return wanted, folded


def per_genre(client: MusicClient) -> None:
    print(f"{'genre':<15}{'ms/100 bars':>12}{'tempo':>7}{'bars':>6}{'in scale':>10}{'overlaps':>10}{'velocity':>10}"
          f"{'bpm':>7}{'heard':>8}{'error':>7}")  # fmt: skip
    for genre, prompt in EXAMPLE_PROMPTS.items():
        runs = []
        for seed in range(5):
            began = time.perf_counter()
            song = composer.compose(composer.SongRequest(prompt, bars=100, seed=seed))
            runs.append(time.perf_counter() - began)
        q = quality(song)
        wanted, heard = heard_tempo(client, prompt)
        print(
            f"{genre:<15}{statistics.median(runs) * 1000:>12.1f}{'ok' if q['tempo_ok'] else 'BAD':>7}"
            f"{'ok' if q['bars_ok'] else 'BAD':>6}{q['in_scale']:>10.1%}{q['overlaps']:>10}{q['velocities']:>10}"
            f"{wanted:>7g}{heard:>8.1f}{abs(heard - wanted) / wanted:>7.1%}"
        )


def through_gateway(client: MusicClient) -> None:
    request = pb.GenerateMidiRequest(prompt="future bass buildup, atmospheric", options=song_options(bars=64))
    tracks = len(client.generate_songs(request)[0].info.tracks)
    runs = []
    for _ in range(200):
        began = time.perf_counter()
        client.generate_songs(request)
        runs.append(time.perf_counter() - began)
    p50, p90 = np.percentile(runs, 50) * 1000, np.percentile(runs, 90) * 1000
    print(f"GenerateMidi, 64 bars, {tracks} tracks, through the gateway, 200 calls: p50 {p50:.1f} ms, p90 {p90:.1f} ms")

    prompts = [f"{genre} beat" for genre in EXAMPLE_PROMPTS] * 3
    prompts = prompts[:32]
    batch = pb.GenerateMidiRequest(prompt=prompts[0], more_prompts=prompts[1:], options=song_options(bars=16))
    batched, single = [], []
    for _ in range(5):
        began = time.perf_counter()
        client.generate_songs(batch)
        batched.append((time.perf_counter() - began) / 32)
        began = time.perf_counter()
        for prompt in prompts:
            client.generate_midi(prompt, song_options(bars=16))
        single.append((time.perf_counter() - began) / 32)
    b, s = statistics.median(batched) * 1000, statistics.median(single) * 1000
    print(f"32 prompts of 16 bars: one batched call {b:.2f} ms per prompt, 32 single calls {s:.2f} ms per prompt "
          f"({s / b:.2f}x)")  # fmt: skip


# MidiCaps' tempo bins: a tempo below 40 BPM is Grave, 40 up to 60 Largo... 210 and above Prestissimo.
TEMPO_EDGES = (40, 60, 70, 90, 110, 140, 160, 210)
TEMPO_BINS = ("Grave", "Largo", "Adagio", "Andante", "Moderato", "Allegro", "Vivace", "Presto", "Prestissimo")
# Plain tempo words, as MidiCaps writes them for a song's BPM: up to and including each upper bound.
TEMPO_WORD_RANGES = {"slow": (0.0, 80.0), "moderate": (80.0, 120.0), "fast": (120.0, 160.0), "very fast": (160.0, 1e9)}
DRUM_PROGRAM = 128  # MidiCaps names a drum track "Drums" whatever its kit
# MidiCaps' names for instruments (program -> caption name); every other program goes by its General MIDI name.
CAPTION_NAMES: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 4, 5), "electric piano": (2,), "honky-tonk piano": (3,), "hammond organ": (16,),
    "acoustic guitar": (24, 25), "electric guitar": (26, 28), "clean electric guitar": (27,),
    "overdriven guitar": (29,), "distortion guitar": (30,), "electric bass": (33, 34), "slap bass": (36, 37),
    "synth bass": (38, 39), "string ensemble": (48, 49), "synth strings": (50, 51), "choir aahs": (52,),
    "voice oohs": (53,), "synth voice": (54, 85), "synth brass": (62, 63), "soprano saxophone": (64,),
    "alto saxophone": (65,), "tenor saxophone": (66,), "baritone saxophone": (67,), "bottle blow": (76,),
    "synth lead": (80, 81, 86), "calliope lead": (82,), "chiffer lead": (83,), "charang lead": (84,),
    "brass lead": (87,), "synth pad": tuple(range(88, 96)), "synth effects": tuple(range(96, 104)),
    "shana": (111,), "drums": (DRUM_PROGRAM,),
}  # fmt: skip


def caption_programs(name: str) -> tuple[int, ...]:
    """The GM programs MidiCaps would name `name` by."""
    if name in CAPTION_NAMES:
        return CAPTION_NAMES[name]
    named = {program for programs in CAPTION_NAMES.values() for program in programs}
    programs = tuple(
        program for program in range(128)
        if program not in named and pretty_midi.program_to_instrument_name(program).lower() == name
    )  # fmt: skip
    if not programs:
        raise ValueError(f"no GM program is called {name!r}")
    return programs


def tempo_bin(bpm: float) -> str:
    """MidiCaps' bin: the number of edges the BPM is above."""
    return TEMPO_BINS[bisect.bisect_left(TEMPO_EDGES, bpm)]


def tempo_right(bpm: float, tempo: str) -> bool:
    """The caption's tempo word's range, or its marking's (or BPM number's) bin."""
    if tempo in TEMPO_WORD_RANGES:
        low, high = TEMPO_WORD_RANGES[tempo]
        return low < bpm <= high
    return tempo_bin(bpm) == (tempo if tempo in TEMPO_BINS else tempo_bin(float(tempo)))


def music21_key(midi: bytes) -> tuple[int, str]:
    """(tonic pitch class, 'major' or 'minor') as music21's key analysis finds it in the MIDI's notes."""
    with tempfile.NamedTemporaryFile(suffix=".mid") as file:
        file.write(midi)
        file.flush()
        found = music21.converter.parse(file.name).analyze("key")
    return found.tonic.pitchClass, found.mode


def key_of(name: str) -> tuple[int, str]:
    """'Bb major' -> (10, 'major'), as music21_key reports a key."""
    tonic, mode = name.split()
    return music21.pitch.Pitch(tonic[0] + tonic[1:].replace("b", "-")).pitchClass, mode


def played_programs(parsed: mido.MidiFile) -> set[int]:
    """Programs of the channels that play notes (the drum channel as DRUM_PROGRAM)."""
    programs: dict[int, int] = {}
    sounding: set[int] = set()
    for message in mido.merge_tracks(parsed.tracks):
        if message.type == "program_change":
            programs[message.channel] = message.program
        elif message.type == "note_on" and message.velocity > 0:
            sounding.add(DRUM_PROGRAM if message.channel == 9 else programs.get(message.channel, 0))
    return sounding


def share(hits: Iterable[bool]) -> str:
    values = list(hits)
    return f"{sum(values)}/{len(values)} ({sum(values) / max(len(values), 1):.0%})"


def caption_metrics(captions: tuple[Caption, ...], seeds: int) -> None:
    """Prints the attribute metrics on the captions, and each caption's misses."""
    tempo_hits, meter_hits, instrument_hits = [], [], []
    key_hits: dict[int, list[bool]] = {seed: [] for seed in range(seeds)}
    chosen_hits: list[bool] = []
    for index, caption in enumerate(captions):
        misses = []
        for seed in range(seeds):
            song = composer.compose(composer.SongRequest(caption.text, seed=seed))
            found = music21_key(song.midi)
            key_hits[seed].append(found == key_of(caption.key))
            chosen_hits.append(found == key_of(song.metadata.key))
            if found != key_of(caption.key):
                misses.append(f"seed {seed} key {music21.pitch.Pitch(found[0]).name} {found[1]}")
            if seed:
                continue
            parsed = mido.MidiFile(file=io.BytesIO(song.midi))
            tempo = next(m.tempo for t in parsed.tracks for m in t if m.type == "set_tempo")
            bpm = round(mido.tempo2bpm(tempo), 2)  # the tempo event holds whole microseconds
            tempo_hits.append(tempo_right(bpm, caption.tempo))
            if not tempo_hits[-1]:
                misses.append(f"tempo {bpm:g} ({tempo_bin(bpm)}) for {caption.tempo}")
            signature = next(m for t in parsed.tracks for m in t if m.type == "time_signature")
            meter = f"{signature.numerator}/{signature.denominator}"
            meter_hits.append(meter == caption.time_signature)
            if not meter_hits[-1]:
                misses.append(f"time signature {meter}")
            played = played_programs(parsed)
            for name in caption.instruments:
                instrument_hits.append(bool(played & set(caption_programs(name))))
                if not instrument_hits[-1]:
                    misses.append(f"no {name}")
        if misses:
            print(f"caption {index:2} ({caption.key}): " + "; ".join(misses))
    print(f"{len(captions)} captions")
    print(f"tempo bin right:                     {share(tempo_hits)}")
    print(f"time signature right:                {share(meter_hits)}")
    print(f"named instruments played (exact GM): {share(instrument_hits)}")
    for seed, hits in key_hits.items():
        print(f"key by music21 = caption's, seed {seed}:  {share(hits)}")
    every = [hit for hits in key_hits.values() for hit in hits]
    print(f"key by music21 = caption's, seeds 0..{seeds - 1}: {share(every)}")
    print(f"key by music21 = composer's chosen key, seeds 0..{seeds - 1}: {share(chosen_hits)}")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--captions", action="store_true", help="attribute metrics on the caption set, no stack")
    arguments.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 for the key metric")
    options = arguments.parse_args()
    if options.captions:
        caption_metrics(CAPTIONS, options.seeds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_on_free_ports(Path(tmp) / "stack", log_level="warning")
        with Stack(settings) as stack, MusicClient(stack.gateway_target, timeout=600) as client:
            per_genre(client)
            through_gateway(client)


if __name__ == "__main__":
    main()

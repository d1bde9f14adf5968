"""Composer benchmark (issue: the composer). Prints, per genre, generation time per 100 bars and the quality
figures its tests assert (tempo meta event, bars, notes in the key's scale, same-pitch overlaps, velocities,
the tempo librosa's beat tracker hears in the audio rendered through the stack); then, through the gateway,
GenerateMidi of a 64-bar six-track song (p50/p90) and a batch of 32 prompts vs 32 single calls.

Run: `make bench` (or `.venv/bin/python benchmarks/composing.py`).
"""

import io
import statistics
import tempfile
import time
from pathlib import Path

import librosa
import mido
import numpy as np

import composer
from clients.client import MusicClient, compose_request, song_options
from composer.genres import EXAMPLE_PROMPTS
from deploy.launcher import Stack, settings_on_free_ports
from dgxmusic.v1 import music_service_pb2 as pb


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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_on_free_ports(Path(tmp) / "stack", log_level="warning")
        with Stack(settings) as stack, MusicClient(stack.gateway_target, timeout=600) as client:
            per_genre(client)
            through_gateway(client)


if __name__ == "__main__":
    main()

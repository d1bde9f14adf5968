"""The bridge action in Ardour 7.3's real GUI, under Xvfb (tests/ardour_gui.py): the action triggered over OSC, the
session saved over OSC, the saved session file read back. One Ardour for the module; each test adds its own tracks."""

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile

from ardour_gui import SAMPLE_RATE, ArdourGui, ardour_missing, midi_notes, read_session, running_ardour
from clients.ardour.plan import AudioPart, ImportPlan, Marker, MidiPart, Note
from clients.errors import ArdourError

SYNTH = "ACE Reasonable Synth"
TICK = 13  # samples: a tick of Ardour's musical time at 120 BPM and 48 kHz, rounded up


@pytest.fixture(scope="module")
def ardour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArdourGui]:
    missing = ardour_missing()
    if missing is not None:
        pytest.fail(missing)
    with running_ardour(tmp_path_factory.mktemp("ardour")) as gui:
        yield gui


def song_plan(folder: Path, tag: str, *, seconds_of_audio: float = 2.0) -> ImportPlan:
    """Two MIDI parts, one audio part and two section markers, 4 bars of 4/4 at the session's 120 BPM."""
    folder.mkdir(parents=True)
    audio = folder / f"{tag}-bass.wav"
    frames = int(seconds_of_audio * SAMPLE_RATE)
    soundfile.write(audio, np.full((frames, 2), 0.1, np.float32), SAMPLE_RATE)
    keys = (Note(0.0, 1.0, 60, 100), Note(4.0, 2.0, 64, 90), Note(12.5, 0.5, 67, 80))
    drums = (Note(0.0, 0.25, 36, 110, 9), Note(1.0, 0.25, 38, 100, 9))
    return ImportPlan(
        "compose",
        f"song {tag}",
        bpm=120.0,
        meter=(4, 4),
        length=16.0,
        midi=[
            MidiPart(f"{tag} Keys", folder / f"{tag}-keys.mid", notes=keys, program=4),
            MidiPart(f"{tag} Drums", folder / f"{tag}-drums.mid", notes=drums, channel=9, is_drum=True),
        ],
        audio=[AudioPart(f"{tag} Bass", audio)],
        markers=[Marker("intro", 0), Marker("drop", 2)],
        folder=folder,
    )


def test_a_plan_placed_at_a_bar_is_in_the_saved_session_on_new_tracks_at_that_bar(
    ardour: ArdourGui, tmp_path: Path
) -> None:
    plan = song_plan(tmp_path / "plan", "A")
    with ardour.bridge() as bridge:
        placed = bridge.place(plan, bar=8)
    saved = ardour.save()

    at, end = saved.sample_at_bar(8), saved.sample_at_bar(12)
    assert placed["bar"] == 8
    assert placed["position"] == at == 8 * 4 * SAMPLE_RATE // 2  # 120 BPM: a 4/4 bar is 2 s
    assert sorted((track["name"], track["kind"]) for track in placed["tracks"]) == [
        ("A Bass", "audio"),
        ("A Drums", "midi"),
        ("A Keys", "midi"),
    ]
    for name, notes in (("A Keys", plan.midi[0].notes), ("A Drums", plan.midi[1].notes)):
        track = saved.track(name)
        assert track.kind == "midi"
        assert SYNTH in track.plugins
        [region] = track.regions
        assert (region.position, region.length, region.source_kind) == (at, end - at, "midi")
        assert midi_notes(ardour.session_file, region) == [(n.start, n.length, n.pitch, n.velocity) for n in notes]
    bass = saved.track("A Bass")
    assert bass.kind == "audio"
    assert [(region.position, region.length) for region in bass.regions] == [(at, 2 * SAMPLE_RATE)]
    assert (saved.marker("intro").start, saved.marker("intro").end) == (at, saved.sample_at_bar(10))
    assert (saved.marker("drop").start, saved.marker("drop").end) == (saved.sample_at_bar(10), end)
    assert [marker["name"] for marker in placed["markers"]] == ["intro", "drop"]


def test_a_plan_placed_at_the_playhead_starts_there(ardour: ArdourGui, tmp_path: Path) -> None:
    playhead = 3 * SAMPLE_RATE + 12345
    ardour.osc("/locate", playhead, 0)
    with ardour.bridge() as bridge:
        deadline = time.monotonic() + 10
        while bridge.ping()["playhead"] != playhead and time.monotonic() < deadline:
            time.sleep(0.05)
        plan = song_plan(tmp_path / "plan", "B")
        placed = bridge.place(plan)
    saved = ardour.save()

    assert placed["position"] == playhead
    for name in ("B Keys", "B Drums", "B Bass"):
        [region] = saved.track(name).regions
        assert region.position == playhead
    # Ends and markers go through the tempo map's musical time, whose tick (1/1920 of a quarter) is 12.5 samples.
    start_q = playhead / SAMPLE_RATE * 2  # 120 BPM: 2 quarter notes a second
    assert abs(saved.track("B Keys").regions[0].length - (saved.sample_at_quarters(start_q + 16) - playhead)) <= TICK
    assert abs(saved.markers[0].start - playhead) <= TICK


def test_a_refused_plan_leaves_the_session_as_it_was(ardour: ArdourGui, tmp_path: Path) -> None:
    plan = song_plan(tmp_path / "plan", "C")
    plan.audio[0].path.unlink()
    before = ardour.save()
    with ardour.bridge() as bridge, pytest.raises(ArdourError) as refused:
        bridge.place(plan, bar=2)
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "plan.audio[1].path" in refused.value.message
    after = ardour.save()
    assert after.tracks == before.tracks
    assert after.markers == before.markers


def test_tracks_markers_and_the_tempo_through_the_bridge_are_the_saved_sessions(ardour: ArdourGui) -> None:
    with ardour.bridge() as bridge:
        bridge.set_tempo(90.0, bar=40)
        tracks = bridge.tracks()
        markers = bridge.markers()
    saved = ardour.save()

    assert [(point.quarters, point.quarters_per_minute) for point in saved.tempos][-1] == (160.0, 90.0)
    assert [(track["name"], track["kind"]) for track in tracks] == [(track.name, track.kind) for track in saved.tracks]
    assert [[(r["position"], r["length"]) for r in track["regions"]] for track in tracks] == [
        [(r.position, r.length) for r in track.regions] for track in saved.tracks
    ]
    assert [(marker["name"], marker["position"], marker["end"]) for marker in markers] == [
        (marker.name, marker.start, marker.end) for marker in saved.markers
    ]
    assert [marker["bar"] for marker in markers if marker["name"] == "drop"] == [3, 10]
    assert read_session(ardour.session_file) == saved

"""ImportPlan: a result's files written under unique names (one MIDI file per generated track, its notes with it),
the song's sections as markers, and the Lua Ardour reads back byte for byte, whatever the server's text holds."""

from pathlib import Path

import mido
import numpy as np
import pytest

from ardour_headless import needs_ardour, run_lua
from clients.ardour.plan import (
    ImportPlan,
    MidiPart,
    Note,
    compose_plan,
    generate_plan,
    job_plan,
    lua_literal,
    lua_string,
    parse_meter,
    separate_plan,
    transcribe_plan,
)
from clients.client import AudioResult, ComposeResult, TranscribeResult
from composer.request import SongRequest
from composer.song import compose
from dgxmusic.audio import AudioAssembler, upload_messages
from dgxmusic.v1 import audio_pb2, jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.songs import song_info


def composed(prompt: str, bars: int) -> ComposeResult:
    song = compose(SongRequest(prompt, bars=bars))
    result = song_info(song.midi, song.metadata.to_dict())
    return ComposeResult(midi=result.midi, info=result.info)


def audio_result(streams: dict[str, int], rate: int = 44100) -> AudioResult:
    """An AudioResult as the client assembles one: each stream `frames` of stereo float32 PCM."""
    result = AudioResult(sample_rate=rate, assembler=AudioAssembler())
    for name, frames in streams.items():
        samples = np.zeros((frames, 2), np.float32)
        header = audio_pb2.AudioHeader(
            stem_name=name,
            encoding=audio_pb2.AUDIO_ENCODING_PCM,
            sample_format=audio_pb2.SAMPLE_FORMAT_FLOAT32,
            sample_rate=rate,
            channels=2,
            frames=frames,
        )
        for message in upload_messages(samples.tobytes(), header):
            if isinstance(message, audio_pb2.AudioHeader):
                result.assembler.add_header(message)
            elif result.assembler.add_chunk(message) is not None:
                result.stems[name] = result.assembler.samples(name)
    return result


def test_a_song_becomes_one_midi_file_per_track_with_its_notes_and_its_sections_as_markers(tmp_path: Path) -> None:
    result = composed("trap beat 140 BPM F minor", bars=8)
    plan = compose_plan(result, tmp_path)

    assert (plan.action, plan.bpm, plan.meter, plan.timebase, plan.length) == ("compose", 140.0, (4, 4), "beats", 32.0)
    assert [part.name for part in plan.midi] == [track.name for track in result.info.tracks]
    for part, track in zip(plan.midi, result.info.tracks, strict=True):
        assert len(part.notes) == track.note_count
        assert (part.channel, part.program, part.is_drum) == (track.channel, track.program, track.is_drum)
        single = mido.MidiFile(part.path)
        assert len(single.tracks) == 2
        assert any(message.type == "set_tempo" for message in single.tracks[0])
        played = sum(1 for message in single.tracks[1] if message.type == "note_on" and message.velocity > 0)
        assert played == track.note_count
        assert all(0 <= note.start < 32 and note.length > 0 for note in part.notes)
    assert [(marker.name, marker.bar) for marker in plan.markers] == [
        (section.name, section.start_bar) for section in result.info.sections
    ]
    assert plan.audio == []


def test_two_plans_of_one_song_never_share_a_file_name(tmp_path: Path) -> None:
    result = composed("house 124 BPM", bars=2)
    first, second = compose_plan(result, tmp_path), compose_plan(result, tmp_path)
    names = [part.path.name for part in first.midi + second.midi]
    assert len(set(names)) == len(names)
    assert first.folder != second.folder


def test_the_stems_land_as_audio_parts_when_asked(tmp_path: Path) -> None:
    result = composed("house 124 BPM", bars=2)
    streams = audio_result({track.name: 4410 for track in result.info.tracks})
    result.assembler, result.stems, result.sample_rate = streams.assembler, streams.stems, streams.sample_rate
    with_stems = compose_plan(result, tmp_path, stems=True)
    assert [part.name for part in with_stems.audio] == [track.name for track in result.info.tracks]
    assert all(part.path.suffix == ".wav" and part.path.exists() for part in with_stems.audio)
    assert compose_plan(result, tmp_path, stems=False).audio == []


def test_separated_stems_and_generated_clips_are_named_for_their_tracks(tmp_path: Path) -> None:
    separated = separate_plan(audio_result({"htdemucs/drums": 44100, "htdemucs/bass": 44100}), tmp_path, title="Mix")
    assert [part.name for part in separated.audio] == ["Mix drums", "Mix bass"]
    assert separated.length == pytest.approx(1.0)
    generated = generate_plan(audio_result({"0": 22050}), tmp_path, title="calm piano")
    assert [part.name for part in generated.audio] == ["calm piano"]
    assert generated.timebase == "seconds"
    assert generated.length == pytest.approx(0.5)


def test_a_transcription_keeps_its_notes_in_seconds(tmp_path: Path) -> None:
    notes = [
        pb.Note(start_seconds=0.25, end_seconds=0.75, pitch=64, velocity=200),
        pb.Note(start_seconds=1, end_seconds=1),
    ]
    result = TranscribeResult(transcription=pb.Transcription(midi=b"MThd\x00", notes=notes))
    plan = transcribe_plan(result, tmp_path, title="Vox", seconds=3.0)
    assert (plan.timebase, plan.length) == ("seconds", 3.0)
    [part] = plan.midi
    assert part.notes == (Note(0.25, 0.5, 64, 127),)
    assert part.path.read_bytes() == b"MThd\x00"


def test_a_jobs_result_is_planned_by_its_kind(tmp_path: Path) -> None:
    separated = job_plan(jobs_pb2.Job(kind="Separate"), audio_result({"htdemucs/vocals": 100}), tmp_path)
    assert (separated.action, [part.name for part in separated.audio]) == ("separate", ["separate vocals"])
    generated = job_plan(jobs_pb2.Job(kind="GenerateAudio"), audio_result({"0": 100}), tmp_path, title="x")
    assert generated.action == "generate"
    assert job_plan(jobs_pb2.Job(kind="Transcribe"), TranscribeResult(), tmp_path).action == "transcribe"
    assert job_plan(jobs_pb2.Job(kind="Compose"), composed("house", 2), tmp_path).action == "compose"


def test_lua_strings_are_ascii_with_every_other_byte_escaped() -> None:
    assert lua_string('say "hi"\\\n') == '"say \\034hi\\034\\092\\010"'
    assert lua_string("é") == '"\\195\\169"'
    assert lua_literal({"end": 1, "a b": [True, None, 2.5]}) == '{["end"] = 1, ["a b"] = {true, nil, 2.5}}'
    with pytest.raises(ValueError, match="no literal"):
        lua_literal(float("nan"))


def test_meters_are_read_from_time_signatures() -> None:
    assert parse_meter("6/8") == (6, 8)
    assert parse_meter(" 3 / 4 ") == (3, 4)
    assert parse_meter("") is None
    assert parse_meter("0/4") is None


HOSTILE = 'a "quote" \\ back\nslash ]] ]=] é ♫ \x00 end"); os.execute("touch /tmp/owned'


@needs_ardour
def test_ardour_reads_back_what_the_server_named_byte_for_byte_and_runs_none_of_it(tmp_path: Path) -> None:
    part = MidiPart(name=HOSTILE, path=tmp_path / "x.mid", notes=(Note(0.5, 1.0, 60, 100, 9),))
    plan = ImportPlan(action="compose", title=HOSTILE, bpm=120.0, meter=(7, 8), midi=[part], folder=tmp_path / "p")
    body = f"""
local plan = dgx.load_plan ({lua_string(str(plan.write_lua()))})
local function hex (s)
	return (string.gsub (s, ".", function (c) return string.format ("%02x", string.byte (c)) end))
end
report ("plan", hex (plan.title), hex (plan.midi[1].name), plan.bpm, plan.meter.num, plan.meter.den)
local note = plan.midi[1].notes[1]
report ("note", note[1], note[2], note[3], note[4], note[5])
local ok, err = pcall (dgx.load_plan, {lua_string(str(tmp_path / "evil.lua"))})
report ("evil", ok, err)
"""
    (tmp_path / "evil.lua").write_text('return { title = os.execute ("true") }')
    run = run_lua(body, tmp_path / "ardour")
    assert run.closed, run.output
    expected = HOSTILE.encode().hex()
    assert run.rows("plan") == [[expected, expected, "120.0", "7", "8"]]
    assert run.rows("note") == [["0.5", "1.0", "60", "100", "9"]]
    [(ok, error)] = run.rows("evil")
    assert ok == "false"
    assert "os" in error

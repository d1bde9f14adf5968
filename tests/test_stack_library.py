"""The library through the real stack (Triton, Redis, and the PostgreSQL `dgx-music serve` starts): songs composed
are kept, then found best first with filters, matched by similarity, fetched with their checksums, tagged, pinned and
deleted from the terminal and the client; bad input gets its status."""

import hashlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import mido
import pytest
import soundfile

from clients.client import MusicClient, compose_request, song_options
from clients.errors import DgxMusicError
from deploy.launcher import Stack
from dgxmusic.v1 import library_pb2
from dgxmusic.v1 import music_service_pb2 as pb

SONGS = {
    "dark": "dark trap beat in G minor with heavy 808s",
    "hard": "hard trap beat in G minor with hi-hats",
    "house": "bright house groove in C major with piano",
}


def dgx_music(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "clients.cli", *args, "--server", stack.gateway_target]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def new_items(client: MusicClient, known: set[str], count: int) -> list[library_pb2.LibraryItem]:
    """The `count` items kept since `known` was read (the library writes in the background): newest first."""
    deadline = time.monotonic() + 60
    while True:
        items = [item for item in client.list_items(page_size=1000)[0] if item.id not in known]
        if len(items) >= count or time.monotonic() > deadline:
            assert len(items) == count, [item.prompt for item in items]
            return items
        time.sleep(0.2)


def known_items(client: MusicClient) -> set[str]:
    return {item.id for item in client.list_items(page_size=1000)[0]}


@pytest.fixture(scope="module")
def songs(client: MusicClient) -> dict[str, library_pb2.LibraryItem]:
    """Three songs composed for this module (cache bypassed: each is made, hence kept), by name."""
    known = known_items(client)
    started = datetime.now(UTC)
    for prompt in SONGS.values():
        client.compose(compose_request(prompt, options=song_options(bars=4, seed=7), bypass_cache=True))
    kept = {item.prompt: item for item in new_items(client, known, len(SONGS))}
    assert all(item.created.ToDatetime(tzinfo=UTC) >= started.replace(microsecond=0) for item in kept.values())
    return {name: kept[prompt] for name, prompt in SONGS.items()}


def test_a_composed_song_is_kept_with_its_request_metadata_and_files(
    songs: dict[str, library_pb2.LibraryItem],
) -> None:
    item = songs["dark"]
    assert (item.kind, item.genre, item.key) == ("compose", "trap", "G minor")
    assert item.bpm > 0
    assert json.loads(item.request_json)["prompt"] == SONGS["dark"]
    assert "total" in json.loads(item.timings_json)
    names = {file.name for file in item.files}
    assert {"song.mid", "mix.wav"} <= names
    assert any(name.startswith("stems/") for name in names)
    assert item.size_bytes == sum(file.size_bytes for file in item.files)


def test_every_kind_of_result_is_kept_with_its_files(client: MusicClient) -> None:
    known = known_items(client)
    song = client.generate_midi("lofi hip hop with rhodes at 85", song_options(bars=2, seed=4))
    rendered = client.render(pb.RenderRequest(midi=song.midi, stems=True, bypass_cache=True))
    clip = rendered.mix[: rendered.sample_rate * 2]
    client.transcribe((clip, rendered.sample_rate))
    client.separate((clip, rendered.sample_rate))
    client.generate_audio(pb.GenerateAudioRequest(prompt="dusty lofi drums", seconds=1, seed=2, bypass_cache=True))
    kept = {item.kind: item for item in new_items(client, known, 5)}
    assert set(kept) == {"generate_midi", "render", "transcribe", "separate", "generate_audio"}
    files = {kind: {file.name for file in item.files} for kind, item in kept.items()}
    assert files["generate_midi"] == {"song.mid"}
    assert kept["generate_midi"].genre
    assert "mix.wav" in files["render"]
    assert any(name.startswith("stems/") for name in files["render"])
    assert files["transcribe"] == {"transcription.mid"}
    assert {"stems/drums.wav", "stems/bass.wav", "stems/other.wav", "stems/vocals.wav"} <= files["separate"]
    assert files["generate_audio"]
    for item in kept.values():
        got = client.get_item(item.id)
        assert got.size_bytes == sum(file.size_bytes for file in got.files) > 0


def test_search_finds_the_songs_best_first_with_filters(
    stack: Stack, songs: dict[str, library_pb2.LibraryItem]
) -> None:
    since = min(item.created.ToDatetime(tzinfo=UTC) for item in songs.values()).isoformat()
    done = dgx_music(stack, "library", "search", "dark trap in G minor", "--since", since, "--json")
    assert done.returncode == 0, done.stderr
    found = [item["id"] for item in json.loads(done.stdout)]
    assert found[0] == songs["dark"].id
    assert songs["house"].id not in found  # G minor and trap are filters
    done = dgx_music(stack, "library", "search", "piano", "--since", since, "--genre", "house", "--json")
    assert [item["id"] for item in json.loads(done.stdout)] == [songs["house"].id]
    bpm = songs["house"].bpm
    done = dgx_music(stack, "library", "search", "--since", since, "--bpm", f"{bpm - 1:g}-{bpm + 1:g}", "--json")
    assert songs["house"].id in [item["id"] for item in json.loads(done.stdout)]


def test_similar_ranks_the_song_of_the_same_genre_first(
    client: MusicClient, songs: dict[str, library_pb2.LibraryItem]
) -> None:
    found, _ = client.similar_items(songs["dark"].id, page_size=1000)
    ours = [item.id for item in found if item.id in {songs["hard"].id, songs["house"].id}]
    assert ours == [songs["hard"].id, songs["house"].id]
    assert songs["dark"].id not in [item.id for item in found]


def test_get_writes_the_files_with_their_checksums(
    stack: Stack, songs: dict[str, library_pb2.LibraryItem], tmp_path: Path
) -> None:
    item = songs["house"]
    done = dgx_music(stack, "library", "get", item.id, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for file in item.files:
        data = (tmp_path / file.name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == file.sha256
    assert mido.MidiFile(tmp_path / "song.mid").length > 0
    mix, rate = soundfile.read(tmp_path / "mix.wav")
    assert rate > 0
    assert len(mix) > rate


def test_tag_pin_and_delete(stack: Stack, client: MusicClient, songs: dict[str, library_pb2.LibraryItem]) -> None:
    item = songs["hard"]
    done = dgx_music(stack, "library", "tag", item.id, "keeper", "loud")
    assert (done.returncode, done.stdout.split()) == (0, ["keeper", "loud"]), done.stderr
    found, _ = client.search_library(library_pb2.SearchLibraryRequest(tags=["keeper"], kinds=["compose"]))
    assert [found_item.id for found_item in found] == [item.id]
    assert dgx_music(stack, "library", "tag", item.id, "loud", "--remove").stdout.split() == ["keeper"]
    done = dgx_music(stack, "library", "pin", item.id, "--json")
    assert json.loads(done.stdout)["pinned"] is True
    assert dgx_music(stack, "library", "pin", item.id, "--unpin").stdout.strip() == "unpinned"

    known = known_items(client)
    client.compose(compose_request(SONGS["dark"], options=song_options(bars=4, seed=8), bypass_cache=True))
    [extra] = new_items(client, known, 1)
    done = dgx_music(stack, "library", "delete", extra.id, "--json")
    assert json.loads(done.stdout) == {"deleted": extra.id}
    with pytest.raises(DgxMusicError) as deleted:
        client.get_item(extra.id)
    assert deleted.value.code == grpc.StatusCode.NOT_FOUND
    assert dgx_music(stack, "library", "delete", extra.id).returncode == 2  # not found


def test_a_cache_hit_is_not_kept_twice(client: MusicClient) -> None:
    request = compose_request("calm lo-fi hip-hop loop in D minor", options=song_options(bars=4, seed=3))
    before = known_items(client)
    if not client.compose(request).summary.cache_hit:  # made now: kept (in the background)
        new_items(client, before, 1)
    known = known_items(client)
    result = client.compose(request)
    assert result.summary.cache_hit
    time.sleep(1.0)
    assert known_items(client) == known


def test_bad_input_gets_its_status(stack: Stack, client: MusicClient) -> None:
    with pytest.raises(DgxMusicError) as malformed:
        client.search_library(library_pb2.SearchLibraryRequest(query="trap", bpm="150-x"))
    assert malformed.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [violation.field for violation in malformed.value.violations] == ["bpm"]
    with pytest.raises(DgxMusicError) as not_an_id:
        client.get_item("not-an-id")
    assert not_an_id.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(DgxMusicError) as unknown:
        client.similar_items("0" * 32)
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(DgxMusicError) as page:
        client.list_items(page_token="yesterday")
    assert page.value.code == grpc.StatusCode.INVALID_ARGUMENT
    done = dgx_music(stack, "library", "search", "--bpm", "150-x", "--json")
    assert done.returncode == 2, done.stdout

"""MCP's Ardour tools against the real Ardour 7.3 (its GUI under Xvfb, tests/ardour_gui.py) and the real stack: an
assistant sets the session's tempo, composes a song and puts it into the session at a bar; the saved session file
shows a MIDI track (with an instrument) and an audio track per generated track there, and its sections as markers
at their bars."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp_types import CallToolResult

from ardour_gui import ArdourGui, SavedSession, SavedTrack, ardour_missing, running_ardour
from clients.client import AsyncMusicClient
from clients.mcp.server import ardour_plan
from clients.mcp.tools import ToolConfig, create_app
from deploy.launcher import Stack

pytestmark = pytest.mark.skipif(ardour_missing() is not None, reason=str(ardour_missing()))

AT_BAR = 2


@pytest.fixture(scope="module")
def ardour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArdourGui]:
    with running_ardour(tmp_path_factory.mktemp("ardour-mcp")) as gui:
        yield gui


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


def track_of(saved: SavedSession, kind: str, name: str) -> SavedTrack:
    """The `kind` track made for the song's track `name` (Ardour numbers a name already taken: "Bass 2")."""
    found = [
        track for track in saved.tracks if track.kind == kind and re.fullmatch(rf"{re.escape(name)}( \d+)?", track.name)
    ]
    assert len(found) == 1, f"no one {kind} track {name!r} in {[(t.name, t.kind) for t in saved.tracks]}"
    return found[0]


async def test_a_song_composed_by_an_assistant_lands_in_ardour_at_a_bar(
    stack: Stack, ardour: ArdourGui, tmp_path: Path
) -> None:
    config = ToolConfig(
        out_dir=tmp_path,
        connect=lambda key: AsyncMusicClient(stack.gateway_target, timeout=120, api_key=key),
        ardour=lambda: ardour.bridge(timeout=60),
        import_plan=ardour_plan,
    )
    async with Client(create_app(config)) as client:
        structured(await client.call_tool("ardour_set_tempo", {"bpm": 124}))
        song = structured(await client.call_tool("compose", {"prompt": "house 124 BPM, A minor", "bars": 8}))
        placed = await client.call_tool("ardour_import", {"result_id": song["result_id"], "bar": AT_BAR})
        tracks = structured(await client.call_tool("ardour_tracks", {}))["tracks"]
        markers = structured(await client.call_tool("ardour_markers", {}))["markers"]
    structured(placed)
    saved = ardour.save()

    assert saved.tempos[0].quarters_per_minute == pytest.approx(124)
    start = saved.sample_at_bar(AT_BAR)
    song_length = saved.sample_at_bar(AT_BAR + 8) - start
    assert song["song"]["tracks"]
    assert song["song"]["sections"]
    for track in song["song"]["tracks"]:
        midi = track_of(saved, "midi", track["name"])
        assert "ACE Reasonable Synth" in midi.plugins
        assert len(midi.regions) == 1
        assert abs(midi.regions[0].position - start) <= 1, (track["name"], midi.regions[0].position, start)
        assert abs(midi.regions[0].length - song_length) <= 1
        stem = track_of(saved, "audio", track["name"])
        assert abs(stem.regions[0].position - start) <= 1
    for section in song["song"]["sections"]:
        assert abs(saved.marker(section["name"]).start - saved.sample_at_bar(AT_BAR + section["start_bar"])) <= 1
    listed = {(track["name"], track["kind"]) for track in tracks}
    assert {(track.name, track.kind) for track in saved.tracks} == listed
    assert {section["name"] for section in song["song"]["sections"]} <= {marker["name"] for marker in markers}

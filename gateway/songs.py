"""The composer's metadata as the API's SongInfo."""

import json
from typing import Any

from dgxmusic.v1 import music_service_pb2 as pb


def song_info(midi: bytes, metadata: dict[str, Any]) -> pb.MidiResult:
    info = pb.SongInfo(
        genre=str(metadata.get("genre", "")),
        bpm=float(metadata.get("bpm", 0.0)),
        key=str(metadata.get("key", "")),
        time_signature=str(metadata.get("time_signature", "")),
        bars=int(metadata.get("bars", 0)),
        duration_seconds=float(metadata.get("duration_seconds", 0.0)),
        seed=int(metadata.get("seed", 0)),
        tracks=[
            pb.TrackInfo(
                name=str(t.get("name", "")),
                channel=int(t.get("channel", 0)),
                program=int(t.get("program", 0)),
                instrument=str(t.get("instrument", "")),
                is_drum=bool(t.get("is_drum", False)),
                note_count=int(t.get("note_count", 0)),
            )
            for t in metadata.get("tracks", [])
        ],
        sections=[
            pb.Section(name=str(s.get("name", "")), start_bar=int(s.get("start_bar", 0)), bars=int(s.get("bars", 0)))
            for s in metadata.get("sections", [])
        ],
        metadata_json=json.dumps(metadata, sort_keys=True),
    )
    return pb.MidiResult(midi=midi, info=info)

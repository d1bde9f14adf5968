"""Reading a composed song's notes back with mido, for the composer's tests."""

import io

import mido


def notes(data: bytes, track_name: str) -> list[tuple[int, int]]:
    """(start tick, pitch) of every note the named track plays, in order (the lower pitch first at one tick)."""
    midi = mido.MidiFile(file=io.BytesIO(data))
    for track in midi.tracks[1:]:
        now, name, found = 0, "", []
        for message in track:
            now += message.time
            if message.type == "track_name":
                name = message.name
            elif message.type == "note_on" and message.velocity > 0:
                found.append((now, message.note))
        if name == track_name:
            return sorted(found)
    raise AssertionError(f"no track {track_name!r}")

"""The songs a request asks for, as the composer's requests (their fields checked here), and the composer's
metadata as the API's SongInfo."""

import json
from typing import Any

import composer
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.errors import invalid_argument, request_errors, too_large

MAX_VARIATIONS = 16
MAX_SONGS_PER_CALL = 32


def song_request(
    prompt: str, options: pb.SongOptions, *, seed_offset: int = 0, prompt_field: str = "prompt"
) -> composer.SongRequest:
    """The proto request as the composer's request, its fields checked here; what needs the prompt parsed (an
    unknown key, "900 bars" in the prompt) the text2midi model checks, and its errors name the field too."""
    with request_errors(prefix="options.", renames={"prompt": prompt_field}):
        song = composer.SongRequest(
            prompt=prompt,
            bpm=options.bpm if options.HasField("bpm") else None,
            key=options.key if options.HasField("key") else None,
            bars=options.bars if options.HasField("bars") else None,
            seconds=options.seconds if options.HasField("seconds") else None,
            seed=options.seed + seed_offset,
            time_signature=options.time_signature if options.HasField("time_signature") else None,
        )
        composer.check_fields(song)
    return song


def song_requests(request: pb.GenerateMidiRequest) -> list[tuple[composer.SongRequest, str]]:
    """Every song a GenerateMidi call asks for (each prompt's variations in seed order), with the API field of
    its prompt."""
    variations = request.variations or 1
    if not 1 <= variations <= MAX_VARIATIONS:
        raise invalid_argument("variations", f"must be 1-{MAX_VARIATIONS}, got {variations}")
    prompts = [("prompt", request.prompt)] + [(f"more_prompts[{i}]", p) for i, p in enumerate(request.more_prompts)]
    if len(prompts) * variations > MAX_SONGS_PER_CALL:
        reason = f"{len(prompts)} prompts x {variations} variations is over {MAX_SONGS_PER_CALL} songs per call"
        raise too_large("more_prompts", reason)
    if variations > 1 and request.options.seed + variations - 1 > composer.MAX_SEED:
        reason = f"variations take seeds {request.options.seed}..., past the largest seed {composer.MAX_SEED}"
        raise invalid_argument("variations", reason)
    return [
        (song_request(prompt, request.options, seed_offset=i, prompt_field=field), field)
        for field, prompt in prompts
        for i in range(variations)
    ]


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

"""GenerateMidi with several prompts and variations, batched on the text2midi model by Triton."""

import grpc
import pytest

from clients.client import MusicClient, song_options
from clients.errors import DgxMusicError
from deploy.launcher import Stack
from dgxmusic.v1 import music_service_pb2 as pb
from triton_statistics import settled_counts


def test_variations_use_consecutive_seeds(client: MusicClient) -> None:
    request = pb.GenerateMidiRequest(prompt="drill beat, G minor", options=song_options(bars=2, seed=10), variations=3)
    songs = client.generate_songs(request)
    assert [s.info.seed for s in songs] == [10, 11, 12]
    assert len({s.midi for s in songs}) == 3
    assert {s.info.genre for s in songs} == {"drill"}
    assert {s.info.key for s in songs} == {"G minor"}


def test_several_prompts_come_back_in_order(client: MusicClient) -> None:
    request = pb.GenerateMidiRequest(
        prompt="house 124", more_prompts=["dubstep 140", "boom bap 90"], variations=2, options=song_options(bars=1)
    )
    songs = client.generate_songs(request)
    assert [s.info.genre for s in songs] == ["house", "house", "dubstep", "dubstep", "boom bap", "boom bap"]


def test_a_batch_of_prompts_shares_executions_on_triton(stack: Stack, client: MusicClient) -> None:
    before = settled_counts(stack, "text2midi")
    prompts = [f"{genre} beat" for genre in ("trap", "house", "techno", "pop")] * 8
    songs = client.generate_songs(
        pb.GenerateMidiRequest(prompt=prompts[0], more_prompts=prompts[1:], options=song_options(bars=8))
    )
    after = settled_counts(stack, "text2midi")
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert len(songs) == inferences == 32
    assert executions < inferences, "dynamic batching put several songs in one execution"


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (pb.GenerateMidiRequest(prompt="trap", variations=17), grpc.StatusCode.INVALID_ARGUMENT, "variations"),
        (
            pb.GenerateMidiRequest(prompt="trap", options=song_options(seed=2**63 - 1), variations=2),
            grpc.StatusCode.INVALID_ARGUMENT,
            "variations",
        ),
        (
            pb.GenerateMidiRequest(prompt="trap", more_prompts=["house"] * 16, variations=2),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "more_prompts",
        ),
        (
            pb.GenerateMidiRequest(prompt="trap", more_prompts=["house", " "]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "more_prompts[1]",
        ),
        (
            pb.GenerateMidiRequest(prompt="trap", more_prompts=["house, 900 bars"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "more_prompts[0]",
        ),
    ],
)
def test_bad_batches_name_the_field(
    client: MusicClient, request_: pb.GenerateMidiRequest, code: grpc.StatusCode, field: str
) -> None:
    with pytest.raises(DgxMusicError) as caught:
        client.generate_songs(request_)
    assert caught.value.code == code
    assert [v.field for v in caught.value.violations] == [field]

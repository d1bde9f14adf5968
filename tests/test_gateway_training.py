"""A train job's request and files as the gateway checks them (gateway.validation.train, gateway.training): every
fault named at once, each file by its name. Training itself runs through the real stack (test_stack_training.py)."""

from collections.abc import AsyncIterator

import grpc
import pytest

from dgxmusic.v1 import audio_pb2, jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway import validation
from gateway.errors import ApiError
from gateway.training import receive_files


def test_a_train_request_is_checked_whole() -> None:
    request = pb.TrainRequest(name="Bad Name", steps=0, learning_rate=0.5, chunk_seconds=40, model="x/y")
    with pytest.raises(ApiError) as refused:
        validation.train(request)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    fields = [field for field, _ in refused.value.violations]
    assert fields == ["name", "model", "steps", "learning_rate", "chunk_seconds"]


def test_a_train_request_becomes_the_models_recipe() -> None:
    request = pb.TrainRequest(
        name="my-boombap", steps=100, genre=" boom bap  hip hop ", drop_vocals=True, captions={"a.wav": "dusty"}
    )
    call = validation.train(request)
    assert call.name == "my-boombap"
    assert call.model == ""
    assert call.config == {"steps": 100, "drop_vocals": True, "genre_words": ["boom", "bap", "hip", "hop"]}
    assert call.captions == {"a.wav": "dusty"}


def files(*names: str) -> AsyncIterator[jobs_pb2.SubmitJobRequest]:
    async def messages() -> AsyncIterator[jobs_pb2.SubmitJobRequest]:
        for name in names:
            yield jobs_pb2.SubmitJobRequest(audio_header=audio_pb2.AudioHeader(stem_name=name, total_bytes=2))
            yield jobs_pb2.SubmitJobRequest(audio_chunk=audio_pb2.AudioChunk(stem_name=name, data=b"ab", last=True))

    return messages()


async def received(messages: AsyncIterator[jobs_pb2.SubmitJobRequest]) -> list[str]:
    return [
        part.stem_name
        async for part in receive_files(messages, max_bytes=1024, idle_seconds=5)
        if isinstance(part, audio_pb2.AudioHeader)
    ]


async def test_each_file_arrives_by_its_own_name() -> None:
    assert await received(files("take1.wav", "take 2.flac")) == ["take1.wav", "take 2.flac"]


@pytest.mark.parametrize(
    ("names", "fault"),
    [
        ((), "no audio files"),
        (("",), "name each file"),
        (("a.wav", "a.wav"), "sent twice"),
        (("../a.wav",), "not a file name"),
    ],
)
async def test_files_without_a_name_of_their_own_are_refused(names: tuple[str, ...], fault: str) -> None:
    with pytest.raises(ApiError) as refused:
        await received(files(*names))
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert fault in refused.value.message


async def test_the_files_together_stay_within_the_upload_limit() -> None:
    with pytest.raises(ApiError) as refused:
        [_ async for _ in receive_files(files(*(f"{n}.wav" for n in range(600))), max_bytes=1000, idle_seconds=5)]
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED

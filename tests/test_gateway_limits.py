"""The gateway's own limits: what the cache keeps, when Redis is skipped, how many calls run at once."""

import grpc
import numpy as np
import pytest

from dgxmusic.models import BasicPitch
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.analysis import even_parts
from gateway.cache import Recording, RedisGuard
from gateway.errors import ApiError
from gateway.scope import Admission


def chunk(size: int) -> pb.RenderResponse:
    return pb.RenderResponse(audio_chunk=audio_pb2.AudioChunk(data=bytes(size)))


def test_a_recording_keeps_events_while_they_fit_and_none_once_they_do_not() -> None:
    recording = Recording(max_bytes=10_000)
    for _ in range(3):
        recording.append(chunk(3_000))
    assert len(recording.events) == 3
    assert not recording.overflowed
    recording.append(chunk(3_000))
    assert recording.overflowed
    assert recording.events == [], "a partial result is never cached"
    recording.append(chunk(1))
    assert recording.events == []
    assert Recording(max_bytes=0).overflowed, "0 turns caching of results off"


def test_the_guard_skips_redis_for_its_retry_period_after_a_failure() -> None:
    guard = RedisGuard(retry_seconds=60)
    assert guard.open
    guard.failed("cache_unavailable", TimeoutError("Timeout reading from socket"))
    assert not guard.open
    again = RedisGuard(retry_seconds=0)
    again.failed("cache_unavailable", ConnectionError())
    assert again.open


def test_admission_refuses_past_its_limit_and_admits_again_as_calls_end() -> None:
    admission = Admission(limit=2, per_caller=2)
    admission.enter("a")
    admission.enter("b")
    with pytest.raises(ApiError) as caught:
        admission.enter("c")
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    admission.leave("a")
    admission.enter("c")
    assert admission.running == 2


def test_one_caller_cannot_take_every_slot() -> None:
    admission = Admission(limit=4, per_caller=2)
    admission.enter("greedy")
    admission.enter("greedy")
    with pytest.raises(ApiError, match="2 calls of yours are running") as caught:
        admission.enter("greedy")
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    admission.enter("another")
    admission.leave("greedy")
    admission.enter("greedy")
    assert admission.by_caller == {"greedy": 2, "another": 1}


@pytest.mark.parametrize(("windows", "sizes"), [(1, [1]), (10, [5, 5]), (74, [37, 37]), (150, [38, 38, 37, 37])])
def test_a_transcription_is_sent_as_even_requests_for_both_instances(windows: int, sizes: list[int]) -> None:
    parts = even_parts(np.zeros((windows, 4, 1), np.float32))
    assert [len(part) for part in parts] == sizes
    assert all(len(part) <= BasicPitch.MAX_WINDOWS_PER_REQUEST for part in parts)

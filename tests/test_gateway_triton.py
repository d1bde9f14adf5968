"""The gateway's Triton client against the real Triton of the test stack: deadlines become Triton queue timeouts,
a dead model stub is reloaded once however many requests find it dead, and the channel reconnects quickly."""

import asyncio
import os
import signal
import threading

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from test_stack_errors import long_song
from tritonclient.utils import InferenceServerException

import composer
from deploy import triton
from deploy.launcher import Stack
from dgxmusic.models import FLUIDSYNTH, TEXT2MIDI
from gateway.errors import QUEUE_TIMEOUT_MESSAGE, ApiError
from gateway.memory import model_stubs
from gateway.triton import CHANNEL_ARGS, TritonModels
from waiting import is_gone, wait_until, wait_until_working


def triton_url(stack: Stack) -> str:
    return f"127.0.0.1:{stack.settings.triton_grpc_port}"


def test_the_channel_reconnects_within_two_seconds_and_keeps_the_message_limits() -> None:
    args = dict(CHANNEL_ARGS)
    assert int(args["grpc.max_reconnect_backoff_ms"]) <= 2000
    assert args["grpc.max_send_message_length"] == args["grpc.max_receive_message_length"] == 2**31 - 1


def fluidsynth_stub(stack: Stack) -> int:
    [pid] = model_stubs(stack.settings.triton_grpc_port)[FLUIDSYNTH]
    return pid


def midi_input(midi: bytes) -> list[triton_grpc.InferInput]:
    tensor = triton_grpc.InferInput("MIDI", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[midi]], dtype=np.object_))
    return [tensor]


def test_triton_rejects_a_request_whose_timeout_passed_in_the_queue(stack: Stack) -> None:
    """What gateway/triton.py recognises as a queue timeout (and answers DEADLINE_EXCEEDED) is what Triton says."""
    with triton_grpc.InferenceServerClient(triton_url(stack)) as triton:
        busy = threading.Thread(target=triton.infer, args=(FLUIDSYNTH, midi_input(long_song(1000))))
        busy.start()
        try:
            wait_until_working(fluidsynth_stub(stack), "the long render holds the only instance")
            with pytest.raises(InferenceServerException) as caught:
                triton.infer(FLUIDSYNTH, midi_input(long_song(1001, seconds=1)), timeout=100_000, client_timeout=60)
        finally:
            busy.join()
    assert QUEUE_TIMEOUT_MESSAGE in str(caught.value.message())


async def test_a_queued_request_past_its_deadline_is_deadline_exceeded(stack: Stack) -> None:
    models = TritonModels(triton_url(stack))
    try:
        busy = asyncio.create_task(
            models.render(long_song(1002), soundfont="", sample_rate=44100, stems=True, deadline=60, request_id="b")
        )
        await asyncio.to_thread(wait_until_working, fluidsynth_stub(stack), "the long render holds the only instance")
        with pytest.raises(ApiError) as caught:
            await models.render(
                long_song(1003, seconds=1), soundfont="", sample_rate=44100, stems=False, deadline=0.5, request_id="q"
            )
        assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert (await busy).mix.shape[1] == 2
    finally:
        await models.close()


async def test_requests_that_find_a_dead_stub_share_one_reload(stack: Stack) -> None:
    models = TritonModels(triton_url(stack), triton.grpc_key_headers(stack.settings))
    try:
        pids = model_stubs(stack.settings.triton_grpc_port)[TEXT2MIDI]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(wait_until, lambda: all(map(is_gone, pids)), "the text2midi stubs are dead")
        songs = [composer.SongRequest(prompt=f"lofi hip hop {n}", bars=1) for n in range(8)]
        composed = await asyncio.gather(
            *(models.compose(song, deadline=60, request_id=f"r{n}") for n, song in enumerate(songs))
        )
        assert all(midi.startswith(b"MThd") for midi, _ in composed)
        assert models._reloads == {TEXT2MIDI: 1}
    finally:
        await models.close()

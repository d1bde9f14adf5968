"""Calls made straight to Triton, for comparison with the gateway: each RPC becomes the model calls the gateway makes
for it (GenerateMidi: text2midi; Render: fluidsynth; Compose: both), through the gateway's own Triton client
(gateway.triton.TritonModels), so the difference between the two runs is the gateway's own cost: its gRPC front,
checks, cache lookup and streaming. Server code: `dgx-music loadtest --triton` finds it through the entry point
group "dgx_music.loadtest_targets" (pyproject.toml), so the client never imports it."""

from __future__ import annotations

import time

import composer
from clients.loadtest.scenario import Request
from clients.loadtest.stats import OK, CallResult
from dgxmusic.v1 import music_service_pb2 as pb
from gateway.errors import ApiError
from gateway.triton import TritonModels
from gateway.validation import song_request

# The RPCs that are model calls and nothing more; the others (uploads, streams of stems or generated audio) the
# gateway shapes too much for a like-for-like call on Triton.
DIRECT_RPCS = ("GenerateMidi", "Compose", "Render")
_SAMPLE_RATE = 44100


class TritonTarget:
    """Triton at `url` (host:port of its gRPC endpoint), each call with `timeout` seconds: a
    clients.loadtest.runner.Target."""

    rpcs = DIRECT_RPCS

    def __init__(self, url: str, timeout: float) -> None:
        self.models = TritonModels(url)
        self.timeout = timeout

    async def close(self) -> None:
        await self.models.close()

    async def songs(self, request: pb.GenerateMidiRequest) -> list[bytes]:
        prompts = [request.prompt, *request.more_prompts]
        songs = []
        for prompt in prompts:
            for offset in range(max(1, request.variations)):
                midi, _ = await self.models.compose(
                    _song(prompt, request.options, offset), deadline=self.timeout, request_id="loadtest-songs"
                )
                songs.append(midi)
        return songs

    async def call(self, request: Request, origin: float) -> CallResult:
        started = time.monotonic()
        code = OK
        try:
            await self._call(request)
        except ApiError as exc:
            code = exc.code.name
        return CallResult(started - origin, time.monotonic() - started, None, code)

    async def _call(self, request: Request) -> None:
        message = request.message
        deadline = self.timeout
        if request.rpc == "Render":
            await self._render(message.midi, stems=message.stems)
        elif request.rpc in ("GenerateMidi", "Compose"):
            midi, _ = await self.models.compose(
                _song(message.prompt, message.options), deadline=deadline, request_id=""
            )
            if request.rpc == "Compose":
                await self._render(midi, stems=True)  # Compose streams the stems by default
        else:
            raise ValueError(f"{request.rpc} has no direct Triton form; direct runs take {', '.join(DIRECT_RPCS)}")

    async def _render(self, midi: bytes, *, stems: bool) -> None:
        await self.models.render(
            midi, soundfont="", sample_rate=_SAMPLE_RATE, stems=stems, deadline=self.timeout, request_id=""
        )


def _song(prompt: str, options: pb.SongOptions, offset: int = 0) -> composer.SongRequest:
    return song_request(prompt, options, seed_offset=offset)

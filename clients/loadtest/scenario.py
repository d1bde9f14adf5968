"""What a load test sends: one RPC or a weighted mix of them (a TOML scenario), each call with its own payload - the
prompts taken in turn, a seed of its own, the cache bypassed - so that neither the result cache nor one repeated
request fakes the figures."""

import random
import tomllib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from clients.client import song_options, upload_requests
from dgxmusic.v1 import music_service_pb2 as pb

RPCS = ("GenerateMidi", "Compose", "Render", "Transcribe", "Separate", "GenerateAudio")
# The RPCs that stream their answer: their time to the first event is measured as well as to the end.
STREAMING_RPCS = frozenset(RPCS) - {"GenerateMidi"}
# Render plays songs the server composes once, before the run, this many (taken in turn).
RENDERED_SONGS = 4

PROMPTS = (
    "synthwave with piano and bass, 110 BPM",
    "house 124 BPM, A minor",
    "lo-fi hip hop with rhodes, 80 BPM",
    "techno 128, driving bass",
    "jazz trio, swing, F major",
    "ambient pads, slow, D minor",
    "drum and bass 174 BPM",
    "folk ballad with acoustic guitar, G major",
)
_TONE_RATE = 22050
_SCENARIO_KEYS = {"call"}
T = TypeVar("T")


class ScenarioError(ValueError):
    """A scenario file or option this side refuses, saying which entry and field."""


@dataclass(frozen=True)
class CallSpec:
    """One kind of call in the mix: the RPC, its share of the calls (weight), and its payload's knobs - prompts (none:
    the run's), bars of a composed song, and seconds (of a song for GenerateMidi, Compose and Render's songs; of the
    generated audio for GenerateAudio, 1 by default; of the chord sent to Transcribe and Separate, 3 by default)."""

    rpc: str
    weight: float = 1.0
    prompts: tuple[str, ...] = ()
    bars: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class Scenario:
    """The calls a run makes, picked by weight with a seeded generator (the same run makes the same calls)."""

    calls: tuple[CallSpec, ...]
    prompts: tuple[str, ...] = PROMPTS
    bypass_cache: bool = True
    seed: int = 0

    @classmethod
    def single(cls, rpc: str, **options: Any) -> "Scenario":
        return cls((_checked_call({"rpc": rpc}, "--rpc"),), **options)

    @classmethod
    def from_toml(cls, path: Path, **options: Any) -> "Scenario":
        """A scenario file: one [[call]] table per kind of call, e.g. ``rpc = "Render"``, ``weight = 3``,
        ``prompts = ["..."]``, ``bars = 2``, ``seconds = 4``."""
        try:
            document = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: not TOML ({exc})") from exc
        if unknown := set(document) - _SCENARIO_KEYS:
            raise ScenarioError(f"{path}: unknown key {sorted(unknown)[0]!r}; a scenario has [[call]] tables")
        tables = document.get("call", [])
        if not isinstance(tables, list) or not tables:
            raise ScenarioError(f"{path}: no [[call]] table: name at least one call (rpc = ...)")
        return cls(tuple(_checked_call(table, f"{path}: call {n}") for n, table in enumerate(tables, 1)), **options)

    @property
    def rpcs(self) -> set[str]:
        return {call.rpc for call in self.calls}

    def picks(self) -> Iterator[CallSpec]:
        """The kind of each call in turn, drawn by weight."""
        chooser = random.Random(self.seed)
        weights = [call.weight for call in self.calls]
        while True:
            yield chooser.choices(self.calls, weights)[0]


def _checked_call(table: Any, where: str) -> CallSpec:
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}: a [[call]] table, not {table!r}")
    known = {f.name for f in fields(CallSpec)}
    if unknown := set(table) - known:
        raise ScenarioError(f"{where}: unknown field {sorted(unknown)[0]!r} (fields: {', '.join(sorted(known))})")
    rpc = table.get("rpc")
    if rpc not in RPCS:
        raise ScenarioError(f"{where}: rpc {rpc!r} is none of {', '.join(RPCS)}")
    weight = table.get("weight", 1.0)
    if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
        raise ScenarioError(f"{where}: weight {weight!r} is not a positive number")
    prompts = table.get("prompts", [])
    if not isinstance(prompts, list) or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ScenarioError(f"{where}: prompts is a list of prompts (strings)")
    bars = table.get("bars")
    if bars is not None and (not isinstance(bars, int) or isinstance(bars, bool) or bars < 1):
        raise ScenarioError(f"{where}: bars {bars!r} is not a whole number of bars")
    seconds = table.get("seconds")
    if seconds is not None and (not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0):
        raise ScenarioError(f"{where}: seconds {seconds!r} is not a positive number")
    return CallSpec(rpc, float(weight), tuple(prompts), bars, None if seconds is None else float(seconds))


def read_prompts(path: Path) -> tuple[str, ...]:
    """One prompt per line; blank lines and lines starting with # are left out."""
    prompts = tuple(line.strip() for line in path.read_text().splitlines())
    kept = tuple(prompt for prompt in prompts if prompt and not prompt.startswith("#"))
    if not kept:
        raise ScenarioError(f"{path}: no prompts in it (one a line)")
    return kept


@dataclass(frozen=True)
class Request:
    """One call, ready to send: the RPC, and its request message (or, for an upload, the messages)."""

    rpc: str
    message: Any

    @property
    def streaming(self) -> bool:
        return self.rpc in STREAMING_RPCS


@dataclass
class Payloads:
    """Makes the n-th call's request. Render's songs come from the server (prepare), so that the client needs no
    composer of its own."""

    scenario: Scenario
    songs: list[bytes] = field(default_factory=list)

    async def prepare(self, make_songs: Callable[[pb.GenerateMidiRequest], Awaitable[list[bytes]]]) -> None:
        """What the calls need from the server before the run: songs for Render (one GenerateMidi call)."""
        renders = [call for call in self.scenario.calls if call.rpc == "Render"]
        if renders and not self.songs:
            spec = renders[0]
            prompts = list(spec.prompts or self.scenario.prompts)
            request = pb.GenerateMidiRequest(
                prompt=prompts[0],
                more_prompts=prompts[1:RENDERED_SONGS],
                options=self._options(spec, self.scenario.seed),
                variations=max(1, RENDERED_SONGS // len(prompts[:RENDERED_SONGS])),
            )
            self.songs = await make_songs(request)

    def request(self, spec: CallSpec, n: int) -> Request:
        seed = self.scenario.seed + n
        prompt = _in_turn(spec.prompts or self.scenario.prompts, n)
        bypass = self.scenario.bypass_cache
        if spec.rpc == "GenerateMidi":
            return Request(spec.rpc, pb.GenerateMidiRequest(prompt=prompt, options=self._options(spec, seed)))
        if spec.rpc == "Compose":
            compose = pb.ComposeRequest(prompt=prompt, options=self._options(spec, seed), bypass_cache=bypass)
            return Request(spec.rpc, compose)
        if spec.rpc == "Render":
            if not self.songs:
                raise RuntimeError("Payloads.prepare() gets Render's songs before the run")
            return Request(spec.rpc, pb.RenderRequest(midi=_in_turn(self.songs, n), bypass_cache=bypass))
        if spec.rpc == "GenerateAudio":
            generate = pb.GenerateAudioRequest(
                prompt=prompt, seconds=spec.seconds or 1.0, seed=seed, bypass_cache=bypass
            )
            return Request(spec.rpc, generate)
        chord = (chord_audio(seed, spec.seconds or 3.0), _TONE_RATE)
        if spec.rpc == "Transcribe":
            return Request(spec.rpc, upload_requests(pb.TranscribeRequest, pb.TranscriptionOptions(), chord))
        return Request(spec.rpc, upload_requests(pb.SeparateRequest, pb.SeparationOptions(), chord))

    @staticmethod
    def _options(spec: CallSpec, seed: int) -> pb.SongOptions:
        # A short song unless told: a load test measures the server, not the length of the music.
        bars = spec.bars if spec.bars is not None or spec.seconds is not None else 2
        return song_options(bars=bars, seconds=spec.seconds, seed=seed)


def chord_audio(seed: int, seconds: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A major triad, its root a semitone up per seed (a cycle of 12), [frames, 1] float32 at 22.05 kHz: audio for
    Transcribe and Separate that differs from call to call."""
    root = 220.0 * 2 ** ((seed % 12) / 12)
    t = np.arange(round(seconds * _TONE_RATE)) / _TONE_RATE
    chord = sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1.0, 1.25, 1.5))
    return np.asarray(0.25 * chord, dtype=np.float32)[:, np.newaxis]


def _in_turn(items: Sequence[T], n: int) -> T:
    return items[n % len(items)]

"""`dgx-music ardour`: installs the Ardour actions (`install`) and does their work (`run`, which the actions call
through io.popen).

`run` speaks a line protocol on stdout that the Lua side reads (clients/ardour/scripts/dgx_music.lua, M.run):
``progress <fraction> <text>`` as the work goes (at least every quarter second, so that the editor's progress
window stays responsive and its Cancel is heard: the action closes the pipe, and the next line ends this process),
then ``plan <path>``, the ImportPlan's Lua file; on failure one ``error <gRPC status>: <message>[; field <name>:
<why>]`` line and a non-zero exit (2 for a request to fix, 1 otherwise)."""

import io
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import click
import grpc
import numpy as np
import soundfile

from clients.ardour import install as installer
from clients.ardour.bridge import bridge
from clients.ardour.plan import (
    ImportPlan,
    compose_plan,
    generate_plan,
    parse_meter,
    separate_plan,
    transcribe_plan,
)
from clients.cli import Server, server_option
from clients.client import MusicClient, compose_request, default_target, song_options
from clients.errors import DgxMusicError, MissingWeightsError, NotFoundError, RateLimitedError, faults_told
from dgxmusic.audio import AudioFormatError, FloatAudio
from dgxmusic.v1 import audio_pb2
from dgxmusic.v1 import music_service_pb2 as pb

# The meters the composer writes (SongOptions.time_signature n/d: n 2-15, d 2, 4, 8 or 16); a session in another
# keeps its own, set by the plan.
COMPOSER_BEAT_COUNTS = range(2, 16)
COMPOSER_NOTE_VALUES = (2, 4, 8, 16)
HEARTBEAT_SECONDS = 0.25
_WAV = audio_pb2.AudioFormat(encoding=audio_pb2.AUDIO_ENCODING_WAV)


@click.group()
def ardour() -> None:
    """dgx-music inside Ardour: install its editor actions, the work they ask for, and the OSC bridge."""


ardour.add_command(bridge)


@ardour.command()
@click.option("--uninstall", is_flag=True, help="remove exactly what the install put in place")
@click.option(
    "--server",
    default=default_target,
    show_default="$DGXMUSIC_SERVER, else $DGXMUSIC_HOST:$DGXMUSIC_GRPC_PORT, else 127.0.0.1:50051",
    help="the gateway the actions use",
)
@click.option(
    "--ardour",
    "versions",
    type=click.Choice([str(v) for v in installer.ARDOUR_VERSIONS]),
    multiple=True,
    help="only this Ardour (7, 8, 9; repeat for several) [default: all three]",
)
@click.option(
    "--save-api-key",
    is_flag=True,
    help="keep $DGXMUSIC_API_KEY in a file only you can read, for Ardour started from a desktop menu",
)
def install(uninstall: bool, server: str, versions: tuple[str, ...], save_api_key: bool) -> None:
    """Puts the actions where Ardour 7, 8 and 9 find them ($XDG_CONFIG_HOME/ardourN/scripts) and binds each to an
    action slot (the toolbar's buttons; OSC /access_action LuaAction/script-N). Again: updates in place. Install
    with Ardour closed, or restart it after: Ardour reads its actions when a session opens."""
    chosen = [int(v) for v in versions] or list(installer.ARDOUR_VERSIONS)
    try:
        if uninstall:
            _uninstall(chosen)
        else:
            _install(chosen, server, save_api_key)
    except (installer.InstallError, OSError) as exc:
        click.echo(f"error {exc}", err=True)
        sys.exit(1)


def _install(versions: list[int], server: str, save_api_key: bool) -> None:
    command = installer.dgx_music_command()
    for version in versions:
        done = installer.install(version, command, server)
        click.echo(f"Ardour {version}: {installer.ardour_dir(version) / 'scripts'} ({len(done.files)} scripts)")
        for name, slot in sorted(done.slots.items(), key=lambda item: item[1]):
            click.echo(f"  LuaAction/script-{slot}  {name}")
    click.echo(f"the actions run {' '.join(command)} against {server}")
    if save_api_key:
        key = os.environ.get("DGXMUSIC_API_KEY")
        if not key:
            raise installer.InstallError("--save-api-key keeps $DGXMUSIC_API_KEY, which is not set")
        click.echo(f"API key kept in {installer.save_api_key(key)} (mode 600)")


def _uninstall(versions: list[int]) -> None:
    for version in versions:
        removed = installer.uninstall(version)
        if removed is None:
            click.echo(f"Ardour {version}: nothing installed")
        else:
            slots = ", ".join(f"script-{slot}" for slot in sorted(removed.slots.values()))
            click.echo(f"Ardour {version}: removed {len(removed.files)} scripts and the actions in {slots}")


# run: the work of an action ----------------------------------------------------------------------------------------


class Reporter:
    """Writes the protocol's lines; a heartbeat repeats the last progress line so that the reader hears a
    closed pipe (its Cancel) within a quarter second, even while a call blocks."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.fraction = 0.0
        self.text = "starting"
        self.stopped = threading.Event()

    def line(self, text: str) -> None:
        with self.lock:
            try:
                self.out.write(text + "\n")
                self.out.flush()
            except (BrokenPipeError, ValueError):
                # The action was cancelled (its pipe closed): stop at once, the call in flight with us.
                os._exit(130)

    def progress(self, fraction: float, text: str) -> None:
        self.fraction = max(self.fraction, min(1.0, fraction))
        self.text = " ".join(text.split())
        self.line(f"progress {self.fraction:.3f} {self.text}")

    def on_progress(self, event: pb.Progress, scale: tuple[float, float] = (0.0, 1.0)) -> None:
        text = event.message or pb.Stage.Name(event.stage).removeprefix("STAGE_").lower()
        if event.total:
            text = f"{text} {event.done}/{event.total} ~{event.seconds_left:.0f} s left"
        low, high = scale
        self.progress(low + (high - low) * event.fraction, text)

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        def beat() -> None:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                self.progress(self.fraction, self.text)

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self.stopped.set()
            thread.join()


def error_line(exc: DgxMusicError) -> str:
    """One line: the gRPC status, the message, each field at fault."""
    headline, fields = faults_told(exc)
    parts = [f"{exc.code.name}: {' '.join(headline.split())}", *fields]
    if exc.retry_delay is not None:
        parts.append(f"retry in {exc.retry_delay:.0f} s")
    return "; ".join(parts)


def _run(work: Callable[[Reporter, MusicClient], ImportPlan], server: Server, timeout: float) -> None:
    """Does `work` with a client, reporting as it goes; prints the plan's path, or the error line and exits."""
    reporter = Reporter(sys.stdout)
    try:
        api_key = server.api_key or installer.read_api_key()
        with reporter.heartbeat(), MusicClient(server.target, timeout=timeout, tls=server.tls, api_key=api_key) as c:
            plan = work(reporter, c)
            path = plan.write_lua()
        reporter.progress(1.0, "done")
        reporter.line(f"plan {path}")
    except DgxMusicError as exc:
        reporter.line(f"error {error_line(exc)}")
        bad_request = exc.code.name in {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"} or isinstance(exc, NotFoundError)
        sys.exit(2 if bad_request and not isinstance(exc, RateLimitedError) else 1)
    except (AudioFormatError, installer.InstallError, ValueError) as exc:
        reporter.line(f"error INVALID_ARGUMENT: {' '.join(str(exc).split())}")
        sys.exit(2)
    except OSError as exc:
        reporter.line(f"error {' '.join(str(exc).split())}")
        sys.exit(1)


def _default_out() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache") / "dgx-music" / "ardour"


out_option = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=_default_out,
    show_default="~/.cache/dgx-music/ardour",
    help="folder for the results (a new folder in it per run)",
)
timeout_option = click.option("--timeout", default=300.0, show_default=True, help="deadline in seconds")
audio_options = (
    click.option(
        "--channel",
        "channels",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        multiple=True,
        required=True,
        help="an audio file of the region (Ardour keeps one per channel; repeat, in order)",
    ),
    click.option("--start", type=int, default=0, show_default=True, help="the region's first frame in the files"),
    click.option("--length", type=int, default=0, help="the region's frames (default: to the end)"),
)


def with_audio_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(audio_options):
        command = option(command)
    return command


def read_region(channels: tuple[Path, ...], start: int, length: int) -> tuple[FloatAudio, int]:
    """The region's audio as float32 frames [frames, channels] and its sample rate, from Ardour's files."""
    columns = []
    rates = set()
    for path in channels:
        with soundfile.SoundFile(path) as source:
            rates.add(source.samplerate)
            source.seek(min(start, source.frames))
            frames = source.read(length if length > 0 else -1, dtype="float32", always_2d=True)
        columns.append(frames)
    if len(rates) != 1:
        raise ValueError(f"channel: the region's files have different sample rates ({sorted(rates)})")
    frames = min(len(column) for column in columns)
    if frames == 0:
        raise ValueError("channel: the region holds no audio")
    audio = np.concatenate([column[:frames] for column in columns], axis=1)
    return audio, rates.pop()


@ardour.group()
def run() -> None:
    """The work of an action (the actions call these): progress lines, then the plan's Lua file."""


@run.command("compose")
@click.argument("prompt")
@click.option("--bars", type=int, help="length in bars (default: the prompt's, else the genre's)")
@click.option("--key", help='e.g. "F minor" (default: the prompt\'s)')
@click.option("--seed", type=int)
@click.option("--stems/--no-stems", default=False, show_default=True, help="also the rendered stems as audio tracks")
@click.option("--session-bpm", type=float, help="the session's tempo at the playhead: used unless the prompt names one")
@click.option(
    "--session-meter", help="the session's meter at the playhead (e.g. 3/4): used unless the prompt names one"
)
@out_option
@server_option
@timeout_option
def run_compose(
    prompt: str,
    bars: int | None,
    key: str | None,
    seed: int | None,
    stems: bool,
    session_bpm: float | None,
    session_meter: str | None,
    out: Path,
    server: Server,
    timeout: float,
) -> None:
    """Composes PROMPT: one MIDI part per track, section markers, and (--stems) the stems."""

    def work(reporter: Reporter, client: MusicClient) -> ImportPlan:
        reporter.progress(0.02, "reading the prompt")
        bpm, meter = _session_tempo(client, prompt, key, seed, session_bpm, session_meter)
        options = song_options(bpm=bpm, key=key or None, bars=bars, seed=seed, time_signature=meter)
        request = compose_request(prompt, options=options, audio_format=_WAV, stems=stems)
        if not stems:
            # The MIDI is what lands; the mix alone renders fastest (no stems).
            request.stems = False
        result = client.compose(request, on_progress=lambda event: reporter.on_progress(event, (0.05, 0.95)))
        reporter.progress(0.96, "writing the tracks")
        return compose_plan(result, out, stems=stems)

    _run(work, server, timeout)


def _session_tempo(
    client: MusicClient,
    prompt: str,
    key: str | None,
    seed: int | None,
    session_bpm: float | None,
    session_meter: str | None,
) -> tuple[float | None, str | None]:
    """The tempo and meter to compose in: the session's, except where the prompt names its own. What the prompt
    names is the composer's to say: its sources tell, from a one-bar draft (GenerateMidi, no audio: milliseconds)."""
    if session_bpm is None and session_meter is None:
        return None, None
    draft = client.generate_midi(prompt, song_options(key=key or None, bars=1, seed=seed))
    sources = _sources(draft.info)
    bpm = None if sources.get("bpm") == "prompt" else session_bpm
    meter = None
    if session_meter is not None and sources.get("time_signature") != "prompt":
        parsed = parse_meter(session_meter)
        if parsed and parsed[0] in COMPOSER_BEAT_COUNTS and parsed[1] in COMPOSER_NOTE_VALUES:
            meter = f"{parsed[0]}/{parsed[1]}"
    return bpm, meter


def _sources(info: pb.SongInfo) -> dict[str, str]:
    try:
        sources = json.loads(info.metadata_json or "{}").get("sources", {})
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in sources.items()} if isinstance(sources, dict) else {}


@run.command("transcribe")
@with_audio_options
@click.option("--name", default="transcription", show_default=True, help="the new MIDI track's name")
@out_option
@server_option
@timeout_option
def run_transcribe(
    channels: tuple[Path, ...], start: int, length: int, name: str, out: Path, server: Server, timeout: float
) -> None:
    """Transcribes a region's audio to MIDI (notes in seconds from the region's start)."""

    def work(reporter: Reporter, client: MusicClient) -> ImportPlan:
        reporter.progress(0.02, "reading the region")
        audio, rate = read_region(channels, start, length)
        result = client.transcribe((audio, rate), on_progress=reporter.on_progress)
        return transcribe_plan(result, out, title=name, seconds=len(audio) / rate)

    _run(work, server, timeout)


@run.command("separate")
@with_audio_options
@click.option("--name", default="stems", show_default=True, help="the new tracks are named '<name> <stem>'")
@click.option("--model", default="", help="separation model (default: the server's)")
@out_option
@server_option
@timeout_option
def run_separate(
    channels: tuple[Path, ...],
    start: int,
    length: int,
    name: str,
    model: str,
    out: Path,
    server: Server,
    timeout: float,
) -> None:
    """Separates a region's audio into stems, one audio part each."""

    def work(reporter: Reporter, client: MusicClient) -> ImportPlan:
        reporter.progress(0.02, "reading the region")
        audio, rate = read_region(channels, start, length)
        options = pb.SeparationOptions(model=model, audio_format=_WAV)
        result = client.separate((audio, rate), options, on_progress=reporter.on_progress)
        return separate_plan(result, out, title=name)

    _run(work, server, timeout)


generate_options = (
    click.option("--seconds", type=float, default=8.0, show_default=True),
    click.option("--seed", type=int),
    click.option("--model", default="", help="MusicGen model (default: the server's)"),
    out_option,
    server_option,
    click.option("--timeout", default=3600.0, show_default=True, help="deadline in seconds"),
)


def with_generate_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(generate_options):
        command = option(command)
    return command


@run.command("generate")
@click.argument("prompt")
@click.option("--name", default="", help="the new audio track's name (default: the prompt's first words)")
@with_generate_options
def run_generate(prompt: str, name: str, **options: Any) -> None:
    """Generates audio for PROMPT with MusicGen."""
    _generate(prompt, name or _short(prompt), None, **options)


@run.command("continue")
@click.argument("prompt", default="")
@with_audio_options
@click.option("--name", default="continued", show_default=True, help="the new audio track's name")
@with_generate_options
def run_continue(prompt: str, channels: tuple[Path, ...], start: int, length: int, name: str, **options: Any) -> None:
    """Generates what follows a region with MusicGen, the region's audio as its melody."""
    _generate(prompt, name, (channels, start, length), **options)


def _generate(
    prompt: str,
    name: str,
    region: tuple[tuple[Path, ...], int, int] | None,
    *,
    seconds: float,
    seed: int | None,
    model: str,
    out: Path,
    server: Server,
    timeout: float,
) -> None:
    def work(reporter: Reporter, client: MusicClient) -> ImportPlan:
        request = pb.GenerateAudioRequest(prompt=prompt, model=model, seconds=seconds, audio_format=_WAV)
        if seed is not None:
            request.seed = seed
        if region is not None:
            reporter.progress(0.02, "reading the region")
            audio, rate = read_region(*region)
            request.melody_audio = _wav_bytes(audio, rate)
        reporter.progress(0.03, "checking MusicGen")
        check_musicgen(client)
        result = client.generate_audio(request, on_progress=reporter.on_progress)
        return generate_plan(result, out, title=name)

    _run(work, server, timeout)


def check_musicgen(client: MusicClient) -> None:
    """A MusicGen without its weights is said before the call, as the server words it (how to get them). The musicgen
    Triton model's own state is its default model's; the MusicGen models listed under it (served_by) are the ones a
    call could name instead."""
    for status in client.list_models():
        if status.name == "musicgen" and not status.served_by and status.state == pb.MODEL_STATE_WEIGHTS_MISSING:
            message = f"MusicGen is not ready: {status.message or 'its weights are missing'}"
            raise MissingWeightsError(grpc.StatusCode.FAILED_PRECONDITION, message)


def _wav_bytes(audio: FloatAudio, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def _short(prompt: str) -> str:
    words = re.findall(r"[\w#+-]+", prompt)[:4]
    return " ".join(words) or "generated"

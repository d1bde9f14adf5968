"""`dgx-music`: compose, render and check the server from a terminal. Where the server is installed, its operator
commands (`serve`, `demo`, `plan`, `models pull`) join these through entry points; this module names no server code."""

import functools
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, cast

import click
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clients.client import (
    AudioResult,
    ComposeResult,
    JobResult,
    MusicClient,
    Tls,
    TranscribeResult,
    compose_request,
    job_request,
    song_options,
)
from clients.errors import DgxMusicError, NotFoundError, RateLimitedError
from dgxmusic.audio import AudioFormatError
from dgxmusic.v1 import audio_pb2, jobs_pb2
from dgxmusic.v1 import music_service_pb2 as pb

console = Console(stderr=True)

_ENCODINGS = {"wav": audio_pb2.AUDIO_ENCODING_WAV, "flac": audio_pb2.AUDIO_ENCODING_FLAC}
_SAMPLE_FORMATS = {
    "float32": audio_pb2.SAMPLE_FORMAT_FLOAT32,
    "int16": audio_pb2.SAMPLE_FORMAT_INT16,
    "int24": audio_pb2.SAMPLE_FORMAT_INT24,
}


class _ProgressUpdate:
    """A progress bar's on_progress (and, for a watched job, its on_job); ``ended`` is what the bar says at the end
    of a job that did not succeed, which leaves its bar where it stopped."""

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self.bar = bar
        self.task = task
        self.ended: str | None = None

    def __call__(self, event: pb.Progress) -> None:
        description = event.message or pb.Stage.Name(event.stage)
        if event.total:  # MusicGen counts tokens and estimates the time left
            description = f"{description} {event.done}/{event.total} ~{event.seconds_left:.0f} s left"
        self.bar.update(self.task, completed=event.fraction, description=description)

    def on_job(self, job: jobs_pb2.Job) -> None:
        if job.state == jobs_pb2.JOB_STATE_QUEUED:
            # A job queued again after a failed run says why it runs again.
            again = f" to run again ({job.error_code})" if job.error_code else ""
            self.bar.update(self.task, description=f"queued{again}")
        elif job.state in (jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED):
            self.ended = _state_name(job).lower()


@contextmanager
def _progress_bar() -> Iterator[_ProgressUpdate]:
    columns = (TextColumn("{task.description:<34}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        update = _ProgressUpdate(bar, bar.add_task("starting", total=1.0))
        yield update
        if update.ended is None:
            bar.update(update.task, completed=1.0, description="done")
        else:
            bar.update(update.task, description=update.ended)


@contextmanager
def _errors() -> Iterator[None]:
    # Text from the server or the file system is escaped: rich would take "[frames]" in it for markup.
    try:
        yield
    except DgxMusicError as exc:
        console.print(f"[red]error[/red] {exc.code.name}: {escape(exc.message)}")
        for violation in exc.violations:
            console.print(f"  field [bold]{escape(violation.field)}[/bold]: {escape(violation.description)}")
        if exc.retry_delay is not None:
            console.print(f"  retry in {exc.retry_delay:.1f} s")
        # A request to fix (a bad field, over a limit, naming what is not there) exits 2; one to retry 1.
        bad_request = exc.code.name in {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"} or isinstance(exc, NotFoundError)
        sys.exit(2 if bad_request and not isinstance(exc, RateLimitedError) else 1)
    except AudioFormatError as exc:  # refused here, before anything was sent
        console.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(2)
    except OSError as exc:  # reading the input or writing the output
        console.print(f"[red]error[/red] {escape(str(exc))}")
        sys.exit(1)


def _numbered(out: Path, count: int) -> list[Path]:
    """OUT for one file; OUT's stem with _1, _2... for several."""
    return [out] if count == 1 else [out.with_name(f"{out.stem}_{n}{out.suffix}") for n in range(1, count + 1)]


def _write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _audio_format(sample_rate: int, fmt: str, sample_format: str | None) -> audio_pb2.AudioFormat:
    return audio_pb2.AudioFormat(
        sample_rate=sample_rate,
        encoding=_ENCODINGS[fmt],
        sample_format=_SAMPLE_FORMATS[sample_format] if sample_format else audio_pb2.SAMPLE_FORMAT_UNSPECIFIED,
    )


def _print_song(result: ComposeResult, written: list[Path]) -> None:
    info = result.info
    table = Table(
        title=f"{info.genre} - {info.bpm:g} BPM - {info.key} - {info.bars} bars ({info.duration_seconds:.1f} s)"
    )
    for column in ("track", "instrument", "channel", "notes"):
        table.add_column(column)
    for track in info.tracks:
        table.add_row(escape(track.name), escape(track.instrument), str(track.channel + 1), str(track.note_count))
    console.print(table)
    _print_summary(result.summary)
    for path in written:
        console.print(f"wrote {escape(str(path))}")


def _print_summary(summary: pb.Summary) -> None:
    stages = ", ".join(f"{pb.Stage.Name(t.stage)[6:].lower()} {t.seconds * 1000:.0f} ms" for t in summary.stage_timings)
    source = "from the cache" if summary.cache_hit else "computed"
    console.print(f"{source} in {summary.total_seconds:.2f} s ({stages}); request id {summary.request_id}")


def _print_written(summary: pb.Summary, written: list[Path]) -> None:
    _print_summary(summary)
    for path in written:
        console.print(f"wrote {escape(str(path))}")


# Each command's results as files (the plain command's and its job's alike): written, then told.


def _save_song(result: ComposeResult, out: Path) -> None:
    with _errors():
        written = result.write(out)
    _print_song(result, written)


def _save_audio(result: AudioResult, out: Path, stems_dir: Path | None) -> None:
    with _errors():
        written = result.write_audio(out, stems_dir)
    _print_written(result.summary, written)


def _save_transcription(result: TranscribeResult, out: Path) -> None:
    with _errors():
        _write_file(out, result.transcription.midi)
    _print_summary(result.summary)
    console.print(f"{len(result.transcription.notes)} notes: wrote {escape(str(out))}")


def _save_stems(result: AudioResult, out: Path, suffix: str = ".wav") -> None:
    with _errors():
        written = result.write_stems(out, suffix)
    _print_written(result.summary, written)


def _save_generated(result: AudioResult, out: Path) -> None:
    with _errors():
        paths = _numbered(out, len(result.stems))
        written = [result.write_stream(name, path) for name, path in zip(result.stems, paths, strict=True)]
    _print_written(result.summary, written)


def _save_job_result(job: jobs_pb2.Job, result: JobResult, out: Path) -> None:
    """A succeeded job's results under OUT, named as its command names them by default: song.mid, mix.wav and
    stems/ (compose, render), transcription.mid, one file per stem (separate), generated.wav (generate)."""
    if isinstance(result, ComposeResult):
        _save_song(result, out)
    elif isinstance(result, TranscribeResult):
        _save_transcription(result, out / "transcription.mid")
    elif job.kind == "Render":
        _save_audio(result, out / "mix.wav", out / "stems" if result.stems else None)
    elif job.kind == "Separate":
        _save_stems(result, out)
    else:
        _save_generated(result, out / "generated.wav")


@dataclass(frozen=True)
class Server:
    """The gateway a command talks to, and how: TLS (None: plaintext) and an API key."""

    target: str
    tls: Tls | None = None
    api_key: str | None = None

    def client(self, timeout: float) -> MusicClient:
        return MusicClient(self.target, timeout=timeout, tls=self.tls, api_key=self.api_key)

    def submit(self, timeout: float, request: jobs_pb2.JobRequest, audio: Path | None = None) -> None:
        """`--detach`: queues the request as a job and prints its id, only that, for a script to keep."""
        with _errors(), self.client(timeout) as client:
            job = client.submit_job(request, audio)
        click.echo(job.id)


_PEM_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_SERVER_OPTIONS = (
    click.option(
        "--server",
        default=lambda: os.environ.get("DGXMUSIC_SERVER", "127.0.0.1:50051"),
        show_default="127.0.0.1:50051 or $DGXMUSIC_SERVER",
        help="gateway address",
    ),
    click.option(
        "--api-key", envvar="DGXMUSIC_API_KEY", help="your API key, if the gateway wants one [$DGXMUSIC_API_KEY]"
    ),
    click.option("--tls", is_flag=True, help="TLS, the gateway's certificate checked against the system's CAs"),
    click.option(
        "--ca-file", type=_PEM_FILE, envvar="DGXMUSIC_CA_FILE", help="TLS: the CA of the gateway's certificate"
    ),
    click.option("--client-cert", type=_PEM_FILE, envvar="DGXMUSIC_CLIENT_CERT", help="mTLS: your certificate (PEM)"),
    click.option("--client-key", type=_PEM_FILE, envvar="DGXMUSIC_CLIENT_KEY", help="mTLS: your certificate's key"),
)


def server_option(command: Callable[..., None]) -> Callable[..., None]:
    """The options that say which gateway and how to reach it, given to `command` as one Server (`server`)."""

    @functools.wraps(command)
    def with_server(
        *,
        server: str,
        api_key: str | None,
        tls: bool,
        ca_file: Path | None,
        client_cert: Path | None,
        client_key: Path | None,
        **kwargs: Any,
    ) -> None:
        if (client_cert is None) != (client_key is None):
            raise click.UsageError("--client-cert and --client-key go together")
        secure = tls or ca_file is not None or client_cert is not None
        command(server=Server(server, Tls(ca_file, client_cert, client_key) if secure else None, api_key), **kwargs)

    for option in reversed(_SERVER_OPTIONS):
        with_server = option(with_server)
    return with_server


timeout_option = click.option("--timeout", default=300.0, show_default=True, help="deadline in seconds")
# MusicGen without a GPU takes tens of seconds per second of audio (see benchmarks/generation.py).
generation_timeout_option = click.option(
    "--timeout", default=3600.0, show_default=True, help="deadline in seconds; Ctrl-C cancels sooner"
)
generation_sample_rate_option = click.option("--sample-rate", default=0, help="Hz (default: MusicGen's, 32000)")
sample_rate_option = click.option("--sample-rate", default=0, help="Hz (default: the server's, 44100)")
format_option = click.option("--format", "fmt", type=click.Choice(sorted(_ENCODINGS)), default="wav", show_default=True)
sample_format_option = click.option(
    "--sample-format", type=click.Choice(sorted(_SAMPLE_FORMATS)), help="default float32 (WAV), int24 (FLAC)"
)
detach_option = click.option(
    "--detach",
    is_flag=True,
    help="run it as a job on the server: print its id and return (`dgx-music jobs watch ID --out DIR` gets it)",
)


class _GroupWithServerCommands(click.Group):
    """A command group that also offers the commands registered in the entry-point group `entry_point_group`
    (pyproject.toml): the server's, where the server is installed, and those needing an extra (`dgx-music[daw]`)."""

    def __init__(self, *args: Any, entry_point_group: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entry_point_group = entry_point_group

    def list_commands(self, ctx: click.Context) -> list[str]:
        installed = set()
        for entry_point in entry_points(group=self.entry_point_group):
            with suppress(ImportError):  # the server is not installed: its commands are not offered
                entry_point.load()
                installed.add(entry_point.name)
        return sorted({*super().list_commands(ctx), *installed})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        for entry_point in entry_points(group=self.entry_point_group, name=cmd_name):
            try:
                return cast(click.Command, entry_point.load())
            except ImportError as exc:
                extra = ",".join(entry_point.extras) or "server"
                install = escape(f"pip install 'dgx-music[{extra}]'")
                console.print(f"[red]error[/red] `{cmd_name}` is not installed ({escape(str(exc))}): {install}")
                sys.exit(1)
        return None


@click.group(cls=_GroupWithServerCommands, entry_point_group="dgx_music.commands")
def main() -> None:
    """dgx-music: text to MIDI, audio and stems, served by Triton."""


@main.command()
@click.argument("prompt")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("song"), show_default=True)
@click.option("--bpm", type=float)
@click.option("--key", help='e.g. "F minor", "Am"')
@click.option("--bars", type=int)
@click.option("--seconds", type=float)
@click.option("--seed", type=int)
@click.option("--soundfont", default="", help="SoundFont name (default: the server's)")
@click.option("--no-stems", is_flag=True, help="only the mix")
@click.option("--no-cache", is_flag=True, help="compute afresh even if the server has this song cached")
@click.option("--time-signature", help="2/4, 3/4, 4/4, 5/4, 6/8, 7/8 or 12/8")
@click.option("--transcribe", is_flag=True, help="also transcribe each pitched stem back to MIDI (Basic Pitch)")
@click.option("--separate", default="", help='also separate the mix with this model ("demucs")')
@click.option("--musicgen", default="", help="also generate audio with this MusicGen model, the song as its melody")
@sample_rate_option
@format_option
@sample_format_option
@server_option
@timeout_option
@detach_option
def compose(prompt: str, out: Path, server: Server, timeout: float, detach: bool, **kw: Any) -> None:
    """Compose PROMPT: writes OUT/song.mid, OUT/mix.wav and OUT/stems/<track>.wav."""
    if detach:
        server.submit(timeout, job_request(_compose_request(prompt, **kw)))
    else:
        compose_to(prompt, out, server, timeout, **kw)


def compose_to(prompt: str, out: Path, server: Server, timeout: float, **options: Any) -> ComposeResult:
    """Composes PROMPT with the compose command's `options` and writes the song under OUT."""
    request = _compose_request(prompt, **options)
    with _errors(), server.client(timeout) as client, _progress_bar() as on_progress:
        result = client.compose(request, on_progress=on_progress)
    _save_song(result, out)
    return result


def _compose_request(
    prompt: str,
    *,
    bpm: float | None = None,
    key: str | None = None,
    bars: int | None = None,
    seconds: float | None = None,
    seed: int | None = None,
    soundfont: str = "",
    no_stems: bool = False,
    no_cache: bool = False,
    time_signature: str | None = None,
    transcribe: bool = False,
    separate: str = "",
    musicgen: str = "",
    sample_rate: int = 0,
    fmt: str = "wav",
    sample_format: str | None = None,
) -> pb.ComposeRequest:
    request = compose_request(
        prompt,
        options=song_options(bpm=bpm, key=key, bars=bars, seconds=seconds, seed=seed, time_signature=time_signature),
        soundfont=soundfont,
        audio_format=_audio_format(sample_rate, fmt, sample_format),
        stems=not no_stems,
        bypass_cache=no_cache,
    )
    request.transcribe = transcribe
    request.separate = separate
    request.musicgen = musicgen
    return request


@main.command()
@click.argument("prompts", nargs=-1, required=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("song.mid"), show_default=True)
@click.option("--variations", type=int, default=1, show_default=True, help="songs per prompt (seeds seed, seed+1...)")
@click.option("--bpm", type=float)
@click.option("--key")
@click.option("--bars", type=int)
@click.option("--seconds", type=float)
@click.option("--seed", type=int)
@click.option("--time-signature")
@server_option
@timeout_option
def midi(prompts: tuple[str, ...], out: Path, variations: int, server: Server, timeout: float, **options: Any) -> None:
    """Compose PROMPTS as MIDI files only (GenerateMidi): OUT, or OUT's stem with _1, _2... for several songs."""
    request = pb.GenerateMidiRequest(
        prompt=prompts[0], more_prompts=prompts[1:], variations=variations, options=song_options(**options)
    )
    with _errors():
        with server.client(timeout) as client:
            songs = client.generate_songs(request)
        paths = [
            out if len(songs) == 1 else out.with_name(f"{out.stem}_{n}{out.suffix}") for n in range(1, len(songs) + 1)
        ]
        for path, song in zip(paths, songs, strict=True):
            _write_file(path, song.midi)
    for path, song in zip(paths, songs, strict=True):
        info = song.info
        described = f"{info.genre}, {info.bpm:g} BPM, {info.key}, {info.bars} bars, seed {info.seed}"
        console.print(f"{escape(described)}: wrote {escape(str(path))}")


@main.command()
@click.argument("midi_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("mix.wav"), show_default=True)
@click.option(
    "--stems", "stems_dir", type=click.Path(file_okay=False, path_type=Path), help="also write one file per track here"
)
@click.option("--soundfont", default="")
@sample_rate_option
@format_option
@sample_format_option
@server_option
@timeout_option
@detach_option
def render(
    midi_file: Path,
    out: Path,
    stems_dir: Path | None,
    soundfont: str,
    sample_rate: int,
    fmt: str,
    sample_format: str | None,
    server: Server,
    timeout: float,
    detach: bool,
) -> None:
    """Render MIDI_FILE to audio with FluidSynth on the server."""
    request = pb.RenderRequest(
        midi=midi_file.read_bytes(),
        soundfont=soundfont,
        audio_format=_audio_format(sample_rate, fmt, sample_format),
        stems=stems_dir is not None,
    )
    if detach:
        server.submit(timeout, job_request(request))
        return
    with _errors(), server.client(timeout) as client, _progress_bar() as on_progress:
        result = client.render(request, on_progress=on_progress)
    _save_audio(result, out, stems_dir)


@main.command()
@server_option
@click.option("--timeout", default=5.0, show_default=True)
def health(server: Server, timeout: float) -> None:
    """Print the server's health (exit 0 only when SERVING)."""
    with _errors(), server.client(timeout) as client:
        status = client.health()
    click.echo(status)
    sys.exit(0 if status == "SERVING" else 1)


@main.command()
@click.argument("audio_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="MIDI file to write (default: AUDIO_FILE's name .mid)")
@click.option("--onset-threshold", type=float)
@click.option("--frame-threshold", type=float)
@click.option("--minimum-note-ms", "minimum_note_length_ms", type=float)
@click.option("--minimum-frequency", type=float)
@click.option("--maximum-frequency", type=float)
@click.option("--no-pitch-bends", is_flag=True)
@server_option
@timeout_option
@detach_option
def transcribe(
    audio_file: Path,
    out: Path | None,
    no_pitch_bends: bool,
    server: Server,
    timeout: float,
    detach: bool,
    **thresholds: Any,
) -> None:
    """Transcribe AUDIO_FILE (WAV, FLAC, MP3, Ogg or AIFF; any rate, mono or stereo) to MIDI with Basic Pitch."""
    options = pb.TranscriptionOptions(**{k: v for k, v in thresholds.items() if v is not None})
    if no_pitch_bends:
        options.pitch_bends = False
    if detach:
        server.submit(timeout, job_request(options), audio_file)
        return
    with _errors(), server.client(timeout) as client, _progress_bar() as on_progress:
        result = client.transcribe(audio_file, options, on_progress=on_progress)
    _save_transcription(result, out or audio_file.with_suffix(".mid"))


@main.command()
@click.argument("audio_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("stems"), show_default=True)
@click.option("--model", default="", help="separation model (default: the server's)")
@sample_rate_option
@format_option
@sample_format_option
@server_option
@timeout_option
@detach_option
def separate(
    audio_file: Path,
    out: Path,
    model: str,
    sample_rate: int,
    fmt: str,
    sample_format: str | None,
    server: Server,
    timeout: float,
    detach: bool,
) -> None:
    """Separate AUDIO_FILE into stems (drums, bass, other, vocals with htdemucs) written to OUT."""
    options = pb.SeparationOptions(model=model, audio_format=_audio_format(sample_rate, fmt, sample_format))
    if detach:
        server.submit(timeout, job_request(options), audio_file)
        return
    with _errors(), server.client(timeout) as client, _progress_bar() as on_progress:
        result = client.separate(audio_file, options, on_progress=on_progress)
    _save_stems(result, out, "." + fmt)


@main.command()
@click.argument("prompts", nargs=-1, required=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("generated.wav"), show_default=True)
@click.option("--seconds", type=float, default=8.0, show_default=True, help="past 30 s it continues window by window")
@click.option("--model", default="", help="musicgen-small, musicgen-melody... (default: the server's)")
@click.option("--melody", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="audio to follow")
@click.option("--melody-from", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="MIDI to follow")
@click.option("--temperature", type=float)
@click.option("--top-k", type=int)
@click.option("--top-p", type=float)
@click.option("--cfg-coef", type=float)
@click.option("--seed", type=int, help="same seed, same audio (and a cacheable result)")
@generation_sample_rate_option
@format_option
@sample_format_option
@server_option
@generation_timeout_option
@detach_option
def generate(
    prompts: tuple[str, ...],
    out: Path,
    seconds: float,
    model: str,
    melody: Path | None,
    melody_from: Path | None,
    sample_rate: int,
    fmt: str,
    sample_format: str | None,
    server: Server,
    timeout: float,
    detach: bool,
    **sampling: Any,
) -> None:
    """Generate audio for PROMPTS with MusicGen (32 kHz): OUT, or OUT's stem with _1, _2... for several prompts."""
    request = pb.GenerateAudioRequest(
        prompt=prompts[0],
        more_prompts=prompts[1:],
        model=model,
        seconds=seconds,
        melody_audio=melody.read_bytes() if melody else b"",
        melody_midi=melody_from.read_bytes() if melody_from else b"",
        audio_format=_audio_format(sample_rate, fmt, sample_format),
        **{name: value for name, value in sampling.items() if value is not None},
    )
    if detach:
        server.submit(timeout, job_request(request))
        return
    with _errors(), server.client(timeout) as client, _progress_bar() as on_progress:
        result = client.generate_audio(request, on_progress=on_progress)
    _save_generated(result, out)


def _state_name(job: jobs_pb2.Job) -> str:
    return jobs_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")


def _age(since: datetime, now: datetime) -> str:
    seconds = max((now - since).total_seconds(), 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _progress_percent(job: jobs_pb2.Job) -> str:
    fraction = 1.0 if job.state == jobs_pb2.JOB_STATE_SUCCEEDED else job.progress.fraction
    return f"{fraction:.0%}"


def _jobs_table(jobs: list[jobs_pb2.Job], now: datetime) -> Table:
    table = Table()
    table.add_column("id", no_wrap=True, min_width=32)
    for column in ("kind", "state", "progress", "attempts", "age"):
        table.add_column(column, no_wrap=True)
    table.add_column("description")
    for job in jobs:
        age = _age(job.create_time.ToDatetime(tzinfo=UTC), now)
        state = _state_name(job).lower()
        table.add_row(job.id, job.kind, state, _progress_percent(job), str(job.attempts), age, escape(job.description))
    return table


def _when(timestamp: Timestamp) -> str:
    return f"{timestamp.ToDatetime(tzinfo=UTC):%Y-%m-%d %H:%M:%S} UTC" if timestamp.ByteSize() else "-"


def _job_lines(job: jobs_pb2.Job) -> list[str]:
    """The job as `name  value` lines, for a person (--json gives the whole Job)."""
    lines = [
        f"id          {job.id}",
        f"kind        {job.kind}",
        f"state       {_state_name(job)}",
        f"progress    {_progress_percent(job)} {job.progress.message}".rstrip(),
        f"attempts    {job.attempts}",
        f"description {job.description}",
        f"created     {_when(job.create_time)}",
        f"updated     {_when(job.update_time)}",
        f"expires     {_when(job.expire_time)}",
    ]
    if job.request_id:
        lines.append(f"request id  {job.request_id}")
    if job.error_code:
        lines.append(f"error       {job.error_code}: {job.error_message}")
    if job.result_bytes:
        lines.append(f"results     {job.result_bytes} bytes")
    return lines


def _print_job(job: jobs_pb2.Job, as_json: bool) -> None:
    click.echo(json_format.MessageToJson(job) if as_json else "\n".join(_job_lines(job)))


def _exit_as_job_ended(job: jobs_pb2.Job, *, results_wanted: bool) -> None:
    """Exit 0 for a job that succeeded (or, when no results were asked for, one still under way); 1, saying why,
    for one that failed or was cancelled, or that has no results yet to write."""
    if job.state == jobs_pb2.JOB_STATE_FAILED:
        console.print(f"[red]job {job.id} failed[/red] {job.error_code}: {escape(job.error_message)}")
        sys.exit(1)
    if job.state == jobs_pb2.JOB_STATE_CANCELLED:
        console.print(f"job {job.id} was cancelled: no results")
        sys.exit(1)
    if job.state != jobs_pb2.JOB_STATE_SUCCEEDED and results_wanted:
        console.print(
            f"job {job.id} is {_state_name(job).lower()}, not finished: no results yet "
            f"(`dgx-music jobs watch {job.id} --out DIR` waits for them)"
        )
        sys.exit(1)


_JOB_ID = click.argument("job_id", metavar="ID")
_RESULTS_DIR = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="write a succeeded job's results here, as its command names them",
)
_AS_JSON = click.option("--json", "as_json", is_flag=True, help="the Job as JSON (protobuf's JSON mapping)")


@main.group()
def jobs() -> None:
    """Jobs: work run with --detach (compose, render, transcribe, separate, generate) goes on on the server whether
    or not you stay. Watch it, read it and its results, cancel it; they are kept until they expire."""


@jobs.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="at most this many")
@click.option("--json", "as_json", is_flag=True, help="the jobs as a JSON array")
@server_option
@click.option("--timeout", default=30.0, show_default=True)
def list_jobs(limit: int, as_json: bool, server: Server, timeout: float) -> None:
    """Your jobs, newest first: id, kind, state, progress, attempts, age and what each is about."""
    with _errors(), server.client(timeout) as client:
        found = list(itertools.islice(client.iter_jobs(page_size=min(limit, 1000)), limit))
    if as_json:
        click.echo(json.dumps([json_format.MessageToDict(job) for job in found], indent=2))
    else:
        stdout = Console()
        if not stdout.is_terminal:  # a pipe or a file gets whole rows, not a made-up terminal's 80 columns
            stdout.width = 240
        stdout.print(_jobs_table(found, datetime.now(UTC)))


@jobs.command("watch")
@_JOB_ID
@_RESULTS_DIR
@server_option
@click.option("--timeout", default=3600.0, show_default=True, help="how long to watch, in seconds (the job runs on)")
def watch_job(job_id: str, out: Path | None, server: Server, timeout: float) -> None:
    """Follow job ID until it ends, then print its state (exit 1 if it failed or was cancelled); with --out, write
    its results. Ctrl-C stops watching, not the job."""
    try:
        with _errors(), server.client(timeout) as client, _progress_bar() as on_progress:
            outcome = client.watch_job(job_id, on_progress=on_progress, on_job=on_progress.on_job)
    except KeyboardInterrupt:
        console.print(f"stopped watching; the job runs on (`dgx-music jobs cancel {escape(job_id)}` stops it)")
        sys.exit(130)
    if out is not None and outcome.result is not None:
        _save_job_result(outcome.job, outcome.result, out)
    click.echo(_state_name(outcome.job))
    _exit_as_job_ended(outcome.job, results_wanted=out is not None)


@jobs.command("get")
@_JOB_ID
@_RESULTS_DIR
@_AS_JSON
@server_option
@timeout_option
def get_job(job_id: str, out: Path | None, as_json: bool, server: Server, timeout: float) -> None:
    """Print job ID (exit 1 if it failed or was cancelled); with --out, write its results if it succeeded."""
    with _errors(), server.client(timeout) as client:
        job = client.get_job(job_id)
        # A finished job's watch answers at once: its results.
        done = job.state == jobs_pb2.JOB_STATE_SUCCEEDED
        outcome = client.watch_job(job_id) if out is not None and done else None
    _print_job(job, as_json)
    if out is not None and outcome is not None and outcome.result is not None:
        _save_job_result(outcome.job, outcome.result, out)
    _exit_as_job_ended(job, results_wanted=out is not None)


@jobs.command("cancel")
@_JOB_ID
@_AS_JSON
@server_option
@click.option("--timeout", default=30.0, show_default=True)
def cancel_job(job_id: str, as_json: bool, server: Server, timeout: float) -> None:
    """Stop job ID if it is queued or running (a finished job is left as it is); prints its state."""
    with _errors(), server.client(timeout) as client:
        job = client.cancel_job(job_id)
    if as_json:
        click.echo(json_format.MessageToJson(job))
    else:
        click.echo(_state_name(job))


@main.group(cls=_GroupWithServerCommands, entry_point_group="dgx_music.models_commands")
def models() -> None:
    """The models the server runs, and their weights."""


@models.command("list")
@server_option
@click.option("--timeout", default=30.0, show_default=True)
def list_models(server: Server, timeout: float) -> None:
    """Each model with its state (ready, weights missing, failed, unavailable)."""
    with _errors(), server.client(timeout) as client:
        statuses = client.list_models()
    table = Table()
    for column in ("model", "version", "state", "memory", "details"):
        table.add_column(column)
    for status in statuses:
        state = pb.ModelState.Name(status.state).removeprefix("MODEL_STATE_").lower().replace("_", " ")
        memory = f"{status.memory_bytes / 2**20:.0f} MiB" if status.memory_bytes else "-"
        table.add_row(status.name, status.version, state, memory, escape(status.message))
    Console().print(table)


if __name__ == "__main__":
    main()

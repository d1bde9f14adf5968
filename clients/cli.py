"""`dgx-music`: compose, render and check the server from a terminal. Where the server is installed, its operator
commands (`serve`, `demo`, `plan`, `models pull`) join these through entry points; this module names no server code."""

import functools
import io
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

import click
import soundfile
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clients.client import (
    MAX_MESSAGE_BYTES,
    AudioInput,
    AudioResult,
    ComposeResult,
    JobResult,
    MusicClient,
    Tls,
    TrainResult,
    TranscribeResult,
    compose_request,
    default_target,
    job_request,
    request_id_of,
    song_options,
    training_files,
    unknown_words,
)
from clients.errors import DgxMusicError, faults_told
from clients.render_controls import (
    SOUNDFONT_HELP,
    instrument_options,
    is_soundfont_file,
    mixing_options,
    note_events_csv,
)
from dgxmusic.audio import AudioFormatError
from dgxmusic.v1 import audio_pb2, jobs_pb2, library_pb2
from dgxmusic.v1 import music_service_pb2 as pb

console = Console(stderr=True)

_ENCODINGS = {
    "wav": audio_pb2.AUDIO_ENCODING_WAV,
    "flac": audio_pb2.AUDIO_ENCODING_FLAC,
    "mp3": audio_pb2.AUDIO_ENCODING_MP3,
    "ogg": audio_pb2.AUDIO_ENCODING_OGG,  # Vorbis
    "opus": audio_pb2.AUDIO_ENCODING_OPUS,
}
_SAMPLE_FORMATS = {
    "float32": audio_pb2.SAMPLE_FORMAT_FLOAT32,
    "int16": audio_pb2.SAMPLE_FORMAT_INT16,
    "int24": audio_pb2.SAMPLE_FORMAT_INT24,
}
# `-` as a file: stdin for an input, stdout for an output.
STDIO = Path("-")

# Exit codes a script can act on, sysexits' where one fits; exit_code() is the one mapping to them.
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2  # click's own for a usage error
EXIT_MODEL_MISSING = 69  # EX_UNAVAILABLE: a model or its weights are not on the server; retrying does not help
EXIT_RETRY_LATER = 75  # EX_TEMPFAIL: unavailable, past the deadline, busy or rate limited
EXIT_CODES_HELP = (
    "Exit codes: 0 success; 2 bad input or usage (a field the server refused, a request over a limit, a file that "
    "exists without --overwrite, a prompt word not understood with --strict); 69 a model or its weights are missing "
    "on the server (not retryable); 75 unavailable, deadline exceeded, busy or rate limited (retry later); 1 anything "
    "else."
)
_EXIT_BY_STATUS = {
    "INVALID_ARGUMENT": EXIT_BAD_INPUT,
    "OUT_OF_RANGE": EXIT_BAD_INPUT,
    "NOT_FOUND": EXIT_BAD_INPUT,  # what the request names is not there: no such job, no such model name
    "FAILED_PRECONDITION": EXIT_MODEL_MISSING,  # the gateway's status for weights that are missing
    "UNAVAILABLE": EXIT_RETRY_LATER,
    "DEADLINE_EXCEEDED": EXIT_RETRY_LATER,
    "ABORTED": EXIT_RETRY_LATER,
    "RESOURCE_EXHAUSTED": EXIT_RETRY_LATER,  # busy, rate limited, out of upload memory; over a size limit: below
}


class Refused(Exception):
    """A request this side refuses before (or instead of) any work: bad input or usage, exit 2."""


def exit_code(error: BaseException) -> int:
    """The exit code of what went wrong (documented in `dgx-music --help` as EXIT_CODES_HELP)."""
    if isinstance(error, DgxMusicError):
        if error.code.name == "RESOURCE_EXHAUSTED" and error.violations and error.retry_delay is None:
            return EXIT_BAD_INPUT  # a request over a size limit names its field: make it smaller, not later
        return _EXIT_BY_STATUS.get(error.code.name, EXIT_FAILED)
    if isinstance(error, click.ClickException):
        return error.exit_code
    if isinstance(error, (Refused, AudioFormatError, soundfile.LibsndfileError)):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def _request_id_of_error(error: DgxMusicError) -> str | None:
    """The request id the gateway gave a failed call (in the gRPC error the DgxMusicError was made from)."""
    cause = error.__cause__
    trailing = getattr(cause, "trailing_metadata", None)
    return request_id_of(trailing()) if callable(trailing) else None


def _error_json(error: BaseException, about: str | None) -> dict[str, Any]:
    described: dict[str, Any] = {"exit_code": exit_code(error), "message": str(error)}
    if isinstance(error, DgxMusicError):
        described |= {
            "code": error.code.name,
            "message": error.message,
            "violations": [{"field": v.field, "description": v.description} for v in error.violations],
            "retry_delay": error.retry_delay,
            "request_id": _request_id_of_error(error),
        }
    return {"input": about, "error": described} if about is not None else {"error": described}


def _report(error: BaseException, *, as_json: bool = False, about: str | None = None) -> int:
    """Tells what went wrong (on stderr; with --json also as one object on stdout) and answers its exit code."""
    # Text from the server or the file system is escaped: rich would take "[frames]" in it for markup.
    prefix = f"{escape(about)}: " if about is not None else ""
    if isinstance(error, DgxMusicError):
        headline, fields = faults_told(error)
        console.print(f"[red]error[/red] {prefix}{error.code.name}: {escape(headline)}")
        for line in fields:
            console.print(f"  {escape(line)}")
        if error.retry_delay is not None:
            console.print(f"  retry in {error.retry_delay:.1f} s")
    else:
        console.print(f"[red]error[/red] {prefix}{escape(str(error))}")
    if as_json:
        _emit(_error_json(error, about))
    return exit_code(error)


@contextmanager
def _errors(as_json: bool = False) -> Iterator[None]:
    """What a command's work raises, told and turned into its exit code (exit_code)."""
    try:
        yield
    except (DgxMusicError, Refused, AudioFormatError, soundfile.LibsndfileError, OSError) as exc:
        sys.exit(_report(exc, as_json=as_json))


def _emit(result: dict[str, Any]) -> None:
    """One result (or failure) for --json: one JSON object on one line of stdout."""
    click.echo(json.dumps(result))


def _summary_json(summary: pb.Summary) -> dict[str, Any]:
    return {
        "request_id": summary.request_id,
        "cache_hit": summary.cache_hit,
        "total_seconds": summary.total_seconds,
        "timings": {_stage_name(t.stage): t.seconds for t in summary.stage_timings},
    }


def _song_json(info: pb.SongInfo) -> dict[str, Any]:
    """SongInfo as JSON, its metadata_json as the object it holds."""
    song = json_format.MessageToDict(info, preserving_proto_field_name=True)
    song.pop("metadata_json", None)
    song["metadata"] = json.loads(info.metadata_json) if info.metadata_json else {}
    return song


def _stage_name(stage: int) -> str:
    return pb.Stage.Name(stage).removeprefix("STAGE_").lower()


# Inputs and outputs: `-` for stdin/stdout, and files written only over files a user said may go.

_OWN_SUFFIXES = {".mid", ".midi", ".wav", ".flac", ".mp3", ".ogg", ".opus"}


def _read_input(path: Path) -> bytes:
    return sys.stdin.buffer.read() if path == STDIO else path.read_bytes()


def _audio_input(path: Path) -> AudioInput:
    """An audio file to upload as it is; stdin decoded here (its kind is not in a name), sent as float32 frames."""
    if path != STDIO:
        return path
    try:
        samples, sample_rate = soundfile.read(io.BytesIO(sys.stdin.buffer.read()), dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as exc:
        raise AudioFormatError("audio", f"stdin is not audio libsndfile reads ({exc.error_string})") from exc
    return samples, sample_rate


def _write_output(path: Path, data: bytes) -> Path:
    if path == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        _write_file(path, data)
    return path


def _files_in(folder: Path) -> list[Path]:
    """The MIDI and audio files in `folder` (what a command writes there, and only that)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _OWN_SUFFIXES and p.is_file())


@dataclass
class Targets:
    """What a command is about to write: files, and folders whose MIDI and audio files are all its own (stems: one
    run's set replaces another's whole, so that no stem of an earlier run is left beside the new ones)."""

    overwrite: bool
    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)

    def existing(self) -> list[Path]:
        found = [path for path in self.files if path != STDIO and path.is_file()]
        return found + [path for folder in self.folders for path in _files_in(folder)]

    def check(self) -> None:
        """Refuses, before any work, to write over a file unless --overwrite said it may go."""
        found = self.existing()
        if found and not self.overwrite:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise Refused(f"{found[0]} exists{more}: --overwrite replaces it")

    def clear_stale(self, written: list[Path]) -> None:
        """After an overwrite: removes the files of an earlier run that this one did not write."""
        kept = {path.resolve() for path in written if path != STDIO}
        for path in self.existing():
            if path.resolve() not in kept:
                path.unlink()

    def add(self, other: "Targets") -> None:
        self.files += other.files
        self.folders += other.folders


def _song_targets(out: Path, overwrite: bool) -> Targets:
    """Compose's files under OUT: song.mid, mix.* and the stems/ and transcribed/ folders."""
    mixes = [out / f"mix{suffix}" for suffix in sorted(_OWN_SUFFIXES - {".mid", ".midi"})]
    return Targets(overwrite, [out / "song.mid", *mixes], [out / "stems", out / "transcribed"])


def _suffix(fmt: str) -> str:
    return "." + fmt


class _ProgressUpdate:
    """A progress bar's on_progress (and, for a watched job, its on_job); ``ended`` is what the bar says at the end
    of work that did not succeed, which leaves its bar where it stopped. ``label`` names the input of a bar among
    several."""

    def __init__(self, bar: Progress, task: TaskID, label: str = "") -> None:
        self.bar = bar
        self.task = task
        self.label = f"{label}: " if label else ""
        self.ended: str | None = None

    def __call__(self, event: pb.Progress) -> None:
        description = event.message or pb.Stage.Name(event.stage)
        if event.total:  # MusicGen counts tokens and estimates the time left
            description = f"{description} {event.done}/{event.total} ~{event.seconds_left:.0f} s left"
        self.bar.update(self.task, completed=event.fraction, description=self.label + description)

    def on_job(self, job: jobs_pb2.Job) -> None:
        if job.state == jobs_pb2.JOB_STATE_QUEUED:
            # A job queued again after a failed run says why it runs again.
            again = f" to run again ({job.error_code})" if job.error_code else ""
            self.bar.update(self.task, description=f"queued{again}")
        elif job.state in (jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED):
            self.ended = _state_name(job).lower()


@contextmanager
def _progress_bars(labels: list[str]) -> Iterator[list[_ProgressUpdate]]:
    """One display (on stderr) with a bar per input; one unlabelled bar for one."""
    columns = (TextColumn("{task.description:<34}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        named = len(labels) > 1
        updates = [
            _ProgressUpdate(bar, bar.add_task(f"{label}: starting" if named else "starting", total=1.0), label * named)
            for label in labels
        ]
        yield updates
        for update in updates:
            if update.ended is None:
                bar.update(update.task, completed=1.0, description=f"{update.label}done")
            else:
                bar.update(update.task, description=f"{update.label}{update.ended}")


@contextmanager
def _progress_bar() -> Iterator[_ProgressUpdate]:
    with _progress_bars([""]) as updates:
        yield updates[0]


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


def _print_unknown_words(words: list[str]) -> None:
    if words:
        console.print(
            f"[yellow]not understood[/yellow]: {escape(', '.join(words))} "
            "(composed as if they were not there; --strict refuses them)"
        )


def _refuse_unknown_words(words: list[str]) -> None:
    if words:
        raise Refused(f"prompt: words not understood: {', '.join(words)} (--strict)")


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
    _print_unknown_words(unknown_words(info))
    _print_written(result.summary, written)


def _print_summary(summary: pb.Summary) -> None:
    stages = ", ".join(f"{_stage_name(t.stage)} {t.seconds * 1000:.0f} ms" for t in summary.stage_timings)
    source = "from the cache" if summary.cache_hit else "computed"
    console.print(f"{source} in {summary.total_seconds:.2f} s ({stages}); request id {summary.request_id}")


def _print_written(summary: pb.Summary, written: list[Path]) -> None:
    _print_summary(summary)
    for path in written:
        if path != STDIO:
            console.print(f"wrote {escape(str(path))}")


def _result_json(command: str, summary: pb.Summary, written: list[Path], **more: Any) -> dict[str, Any]:
    files = [str(path) for path in written if path != STDIO]
    return {"command": command, "files": files, **more, **_summary_json(summary)}


# Each command's results as files (the plain command's and its job's alike): written, then told. Each answers
# its --json object.


def _save_song(result: ComposeResult, out: Path, targets: Targets) -> dict[str, Any]:
    targets.check()
    written = result.write(out)
    targets.clear_stale(written)
    _print_song(result, written)
    song = _song_json(result.info)
    failed_stages = [_stage_error_json(failed) for failed in result.failed_stages]
    return _result_json(
        "compose",
        result.summary,
        written,
        song=song,
        unknown_words=unknown_words(result.info),
        failed_stages=failed_stages,
    )


def _stage_error_json(failed: pb.StageError) -> dict[str, Any]:
    """A stage that failed after earlier results were sent: its stage, the field that asked for it, its error."""
    code = code_pb2.Code.Name(failed.code) if failed.code in code_pb2.Code.values() else str(failed.code)
    return {
        "stage": _stage_name(failed.stage),
        "field": failed.field,
        "code": code,
        "message": failed.message,
        "fields": list(failed.fields),
    }


def _save_audio(result: AudioResult, out: Path, stems_dir: Path | None, targets: Targets) -> dict[str, Any]:
    targets.check()
    if out == STDIO:
        written = [_write_output(out, result.file_bytes())]
        if stems_dir is not None:
            written += result.write_stems(stems_dir, result.extension())
    else:
        written = result.write_audio(out, stems_dir)
    targets.clear_stale(written)
    _print_written(result.summary, written)
    return _result_json("render", result.summary, written)


def _save_transcription(result: TranscribeResult, out: Path, targets: Targets) -> dict[str, Any]:
    targets.check()
    _write_output(out, result.transcription.midi)
    _print_summary(result.summary)
    where = "stdout" if out == STDIO else str(out)
    console.print(f"{len(result.transcription.notes)} notes: wrote {escape(where)}")
    return _result_json("transcribe", result.summary, [out], notes=len(result.transcription.notes))


def _save_stems(result: AudioResult, out: Path, targets: Targets, suffix: str = ".wav") -> dict[str, Any]:
    targets.check()
    written = result.write_stems(out, suffix)
    targets.clear_stale(written)
    _print_written(result.summary, written)
    return _result_json("separate", result.summary, written, stems=sorted(result.stems))


# Room in the one message of a generate request for what is not its audio.
_MOST_AUDIO_IN_A_REQUEST = MAX_MESSAGE_BYTES - 64 * 1024


def _audio_in_a_request(path: Path | None) -> bytes:
    """An audio file that goes inside the request (a melody, a take to continue): as it is, or, over what one message
    carries (a float WAV of 45 s is), as 24-bit FLAC, which the gateway reads alike and which is a third the size."""
    if path is None:
        return b""
    data = path.read_bytes()
    if len(data) <= _MOST_AUDIO_IN_A_REQUEST:
        return data
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    flac = io.BytesIO()
    soundfile.write(flac, samples, rate, format="FLAC", subtype="PCM_24")
    return flac.getvalue()


def _save_generated(result: AudioResult, out: Path, targets: Targets) -> dict[str, Any]:
    targets.check()
    if out == STDIO:
        written = [_write_output(out, result.file_bytes(next(iter(result.stems))))]
    else:
        paths = _numbered(out, len(result.stems))
        written = [result.write_stream(name, path) for name, path in zip(result.stems, paths, strict=True)]
    _print_written(result.summary, written)
    return _result_json("generate", result.summary, written)


def _save_job_result(
    job: jobs_pb2.Job, result: JobResult, out: Path, overwrite: bool = False, as_json: bool = False
) -> None:
    """A succeeded job's results under OUT, named as its command names them by default: song.mid, mix.wav and
    stems/ (compose, render), transcription.mid, one file per stem (separate), generated.wav (generate); of a
    compose job that failed in a later stage, what it made before."""
    with _errors(as_json):
        if isinstance(result, TrainResult):
            told = _save_adapter_summary(result, out / "adapter.json", Targets(overwrite, [out / "adapter.json"]))
        elif isinstance(result, ComposeResult):
            told = _save_song(result, out, _song_targets(out, overwrite))
        elif isinstance(result, TranscribeResult):
            path = out / "transcription.mid"
            told = _save_transcription(result, path, Targets(overwrite, [path]))
        elif job.kind == "Render":
            stems_dir = out / "stems" if result.stems else None
            mix = out / f"mix{result.extension()}"
            told = _save_audio(result, mix, stems_dir, Targets(overwrite, [mix], [stems_dir] if stems_dir else []))
        elif job.kind == "Separate":
            told = _save_stems(result, out, Targets(overwrite, folders=[out]))
        else:
            paths = _numbered(out / "generated.wav", len(result.stems))
            generated = [
                path.with_suffix(result.extension(name)) for name, path in zip(result.stems, paths, strict=True)
            ]
            told = _save_generated(result, out / "generated.wav", Targets(overwrite, generated))
    if as_json:
        _emit(told | {"job_id": job.id})


def _save_adapter_summary(result: TrainResult, path: Path, targets: Targets) -> dict[str, Any]:
    """A train job's adapter as JSON (the adapter itself stays on the server, where generation uses it)."""
    targets.check()
    adapter = json_format.MessageToDict(result.adapter, preserving_proto_field_name=True)
    _write_file(path, (json.dumps(adapter, indent=2) + "\n").encode())
    _print_adapter(result.adapter)
    return {"command": "train", "adapter": adapter, "files": [str(path)]}


def _print_adapter(adapter: pb.Adapter) -> None:
    console.print(
        f"adapter {escape(adapter.name)} of {escape(adapter.base_model)}: validation loss "
        f"{adapter.adapter_validation_loss:.4f} (the base model: {adapter.base_validation_loss:.4f}); "
        f"generate with it: --adapter {escape(adapter.name)}"
    )


@dataclass(frozen=True)
class Server:
    """The gateway a command talks to, and how: TLS (None: plaintext) and an API key."""

    target: str
    tls: Tls | None = None
    api_key: str | None = None

    def client(self, timeout: float) -> MusicClient:
        return MusicClient(self.target, timeout=timeout, tls=self.tls, api_key=self.api_key)

    def submit(
        self, timeout: float, request: jobs_pb2.JobRequest, audio: AudioInput | None = None, as_json: bool = False
    ) -> None:
        """`--detach`: queues the request as a job and prints its id, only that, for a script to keep (with --json,
        as {"job_id": ...})."""
        with _errors(as_json), self.client(timeout) as client:
            job = client.submit_job(request, audio)
        if as_json:
            _emit({"job_id": job.id, "kind": job.kind, "request_id": job.request_id})
        else:
            click.echo(job.id)


_PEM_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_SERVER_OPTIONS = (
    click.option(
        "--server",
        default=default_target,
        show_default="$DGXMUSIC_SERVER, else $DGXMUSIC_HOST:$DGXMUSIC_GRPC_PORT as `dgx-music serve` reads them, "
        "else 127.0.0.1:50051",
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
    "--sample-format",
    type=click.Choice(sorted(_SAMPLE_FORMATS)),
    help="default float32 (WAV), int24 (FLAC); none for mp3, ogg (Vorbis) and opus",
)
detach_option = click.option(
    "--detach",
    is_flag=True,
    help="run it as a job on the server: print its id and return (`dgx-music jobs watch ID --out DIR` gets it)",
)
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="one JSON object per result on stdout (files written, metadata, timings, request id; a failure as "
    '{"error": ...}), nothing else there; progress and messages stay on stderr',
)
overwrite_option = click.option(
    "--overwrite",
    is_flag=True,
    help="replace files that exist (an earlier run's stems in a folder go too); without it they are refused",
)
strict_option = click.option(
    "--strict", is_flag=True, help="refuse (exit 2) a prompt with words the composer does not understand"
)
parallel_option = click.option(
    "--parallel", type=click.IntRange(min=1), default=4, show_default=True, help="inputs sent at once"
)
_AUDIO_INPUTS = click.argument(
    "audio_files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
)


class _GroupWithServerCommands(click.Group):
    """A command group that also offers the commands registered in the entry-point group `entry_point_group`
    (pyproject.toml): the server's, where the server is installed, and those needing an extra (`dgx-music[daw]`)."""

    def __init__(self, *args: Any, entry_point_group: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entry_point_group = entry_point_group

    def list_commands(self, ctx: click.Context) -> list[str]:
        from importlib.metadata import entry_points  # here: 20 ms of every command's start, wanted by --help alone

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
        from importlib.metadata import entry_points  # here: 20 ms of every command's start (see list_commands)

        for entry_point in entry_points(group=self.entry_point_group, name=cmd_name):
            try:
                return cast(click.Command, entry_point.load())
            except ImportError as exc:
                extra = ",".join(entry_point.extras) or "server"
                install = escape(f"pip install 'dgx-music[{extra}]'")
                console.print(f"[red]error[/red] `{cmd_name}` is not installed ({escape(str(exc))}): {install}")
                sys.exit(1)
        return None


@click.group(
    cls=_GroupWithServerCommands,
    entry_point_group="dgx_music.commands",
    epilog=f"{EXIT_CODES_HELP}\n\nThe gateway: --server, else $DGXMUSIC_SERVER, else "
    "$DGXMUSIC_HOST:$DGXMUSIC_GRPC_PORT (the settings `dgx-music serve` listens on), else 127.0.0.1:50051. "
    "`-` as a file is stdin or stdout.",
)
def main() -> None:
    """dgx-music: text to MIDI, audio and stems, served by Triton."""


def _refuse_stdout_twice(out: Path, as_json: bool) -> None:
    if out == STDIO and as_json:
        raise click.UsageError("--json and --out - both want stdout: write the file somewhere, or leave out --json")


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("prompt")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("song"), show_default=True)
@click.option("--bpm", type=float)
@click.option("--key", help='e.g. "F minor", "Am"')
@click.option("--bars", type=int)
@click.option("--seconds", type=float)
@click.option("--seed", type=int)
@click.option("--soundfont", default="", help=SOUNDFONT_HELP)
@click.option("--no-stems", is_flag=True, help="only the mix")
@click.option("--no-cache", is_flag=True, help="compute afresh even if the server has this song cached")
@click.option("--time-signature", help="n/d with n 2-15 and d 2, 4, 8 or 16: 4/4, 3/4, 6/8, 7/8, 11/8...")
@click.option("--transcribe", is_flag=True, help="also transcribe each pitched stem back to MIDI (Basic Pitch)")
@click.option(
    "--separate", default="", help='also separate the mix with this model ("demucs": the server\'s; htdemucs_ft...)'
)
@click.option("--musicgen", default="", help="also generate audio with this MusicGen model, the song as its melody")
@click.option("--adapter", default="", help="with --musicgen: a fine-tuned adapter of it (`dgx-music train`)")
@instrument_options
@mixing_options
@sample_rate_option
@format_option
@sample_format_option
@strict_option
@overwrite_option
@json_option
@server_option
@timeout_option
@detach_option
def compose(
    prompt: str,
    out: Path,
    server: Server,
    timeout: float,
    detach: bool,
    strict: bool,
    overwrite: bool,
    as_json: bool,
    **kw: Any,
) -> None:
    """Compose PROMPT: writes OUT/song.mid, OUT/mix.wav and OUT/stems/<track>.wav. The words of PROMPT the composer
    did not understand are printed (--strict refuses them)."""
    with _errors(as_json):
        kw["soundfont"] = _server_soundfont(server, timeout, kw["soundfont"])
    request = _compose_request(prompt, **kw)
    with _errors(as_json):
        if not detach:
            _song_targets(out, overwrite).check()
        if strict:  # the prompt's words are known from its MIDI, in milliseconds: before any rendering
            with server.client(timeout) as client:
                songs = client.generate_songs(pb.GenerateMidiRequest(prompt=prompt, options=request.options))
            _refuse_unknown_words(unknown_words(songs[0].info))
    if detach:
        server.submit(timeout, job_request(request), as_json=as_json)
    else:
        compose_to(prompt, out, server, timeout, overwrite=overwrite, as_json=as_json, **kw)


def compose_to(
    prompt: str,
    out: Path,
    server: Server,
    timeout: float,
    *,
    overwrite: bool = True,
    as_json: bool = False,
    **options: Any,
) -> ComposeResult:
    """Composes PROMPT with the compose command's `options` and writes the song under OUT (refusing files that
    exist there unless `overwrite`)."""
    request = _compose_request(prompt, **options)
    targets = _song_targets(out, overwrite)
    with _errors(as_json):
        targets.check()
        try:
            with server.client(timeout) as client, _progress_bar() as on_progress:
                result = client.compose(request, on_progress=on_progress)
        except DgxMusicError as error:
            if not isinstance(error.partial_result, ComposeResult):
                raise
            _save_partial_song(error, error.partial_result, out, targets, as_json)
        told = _save_song(result, out, targets)
    if as_json:
        _emit(told)
    return result


def _save_partial_song(
    error: DgxMusicError, result: ComposeResult, out: Path, targets: Targets, as_json: bool
) -> NoReturn:
    """Writes what a Compose made before a later stage failed, tells the failed stages (--json: in the song's
    object, with the error) and exits with the first one's exit code."""
    told = _save_song(result, out, targets)
    for failed in result.failed_stages:
        asked = f" (asked for by {failed.field})" if failed.field else ""
        console.print(f"[red]{_stage_name(failed.stage)} failed[/red]{escape(asked)}: kept what came before it")
    code = _report(error)
    if as_json:
        _emit(told | _error_json(error, None))
    sys.exit(code)


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
    adapter: str = "",
    sample_rate: int = 0,
    fmt: str = "wav",
    sample_format: str | None = None,
    mixing: pb.MixingOptions | None = None,
    instruments: list[pb.InstrumentChoice] | None = None,
    instrument_set: str = "",
) -> pb.ComposeRequest:
    request = compose_request(
        prompt,
        options=song_options(bpm=bpm, key=key, bars=bars, seconds=seconds, seed=seed, time_signature=time_signature),
        soundfont=soundfont,
        audio_format=_audio_format(sample_rate, fmt, sample_format),
        stems=not no_stems,
        bypass_cache=no_cache,
        instruments=instruments or (),
        instrument_set=instrument_set,
    )
    request.transcribe = transcribe
    request.separate = separate
    request.musicgen = musicgen
    request.adapter = adapter
    if mixing is not None:
        request.mixing.CopyFrom(mixing)
    return request


def _server_soundfont(server: Server, timeout: float, soundfont: str) -> str:
    """--soundfont as the server names it: a .sf2/.sf3 file of the user's is uploaded first, unless the server
    holds it already (then nothing is sent), and named by its sha256."""
    if not is_soundfont_file(soundfont):
        if "/" in soundfont:  # a path, but to no file: names the server lists have no slash
            raise click.BadParameter(f"no SoundFont file {soundfont!r} here", param_hint="--soundfont")
        return soundfont
    with server.client(timeout) as client:
        name, uploaded = client.upload_soundfont(Path(soundfont))
    if uploaded:
        console.print(f"uploaded {escape(soundfont)} as {name}")
    return name


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("prompts", nargs=-1, required=True)
@click.option(
    "--out", type=click.Path(allow_dash=True, path_type=Path), default=Path("song.mid"), show_default=True,
    help="- writes the (one) song to stdout",
)  # fmt: skip
@click.option("--variations", type=int, default=1, show_default=True, help="songs per prompt (seeds seed, seed+1...)")
@click.option("--bpm", type=float)
@click.option("--key")
@click.option("--bars", type=int)
@click.option("--seconds", type=float)
@click.option("--seed", type=int)
@click.option("--time-signature")
@strict_option
@overwrite_option
@json_option
@server_option
@timeout_option
def midi(
    prompts: tuple[str, ...],
    out: Path,
    variations: int,
    server: Server,
    timeout: float,
    strict: bool,
    overwrite: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Compose PROMPTS as MIDI files only (GenerateMidi): OUT, or OUT's stem with _1, _2... for several songs. The
    words of a prompt the composer did not understand are printed (--strict refuses them)."""
    _refuse_stdout_twice(out, as_json)
    count = len(prompts) * max(variations, 1)
    if out == STDIO and count > 1:
        raise click.UsageError(f"--out - takes one song, not {count}: name a file (OUT_1, OUT_2... are written)")
    request = pb.GenerateMidiRequest(
        prompt=prompts[0], more_prompts=prompts[1:], variations=variations, options=song_options(**options)
    )
    paths = _numbered(out, count)
    with _errors(as_json):
        Targets(overwrite, paths).check()
        with server.client(timeout) as client:
            songs = client.generate_songs(request)
            request_id = client.last_request_id
        words = [unknown_words(song.info) for song in songs]
        if strict:
            _refuse_unknown_words(sorted({word for found in words for word in found}))
        paths = _numbered(out, len(songs))
        for path, song in zip(paths, songs, strict=True):
            _write_output(path, song.midi)
    per_prompt = max(len(songs) // len(prompts), 1)
    for n, (path, song, found) in enumerate(zip(paths, songs, words, strict=True)):
        info = song.info
        described = f"{info.genre}, {info.bpm:g} BPM, {info.key}, {info.bars} bars, seed {info.seed}"
        where = "stdout" if path == STDIO else str(path)
        console.print(f"{escape(described)}: wrote {escape(where)}")
        _print_unknown_words(found)
        if as_json:
            prompt = prompts[min(n // per_prompt, len(prompts) - 1)]
            _emit(
                {"command": "midi", "files": [str(path)], "prompt": prompt, "song": _song_json(info)}
                | {"unknown_words": found, "request_id": request_id}
            )


Work = TypeVar("Work")


def _run_each(
    server: Server,
    timeout: float,
    inputs: list[Path],
    parallel: int,
    work: Callable[[MusicClient, Path, _ProgressUpdate], Work],
) -> list[Work | Exception]:
    """`work` for each input, `parallel` at once on one channel, under one progress display; each input's result,
    or the exception it ended with, in the order of the inputs."""
    outcomes: list[Work | Exception] = []
    labels = [path.name for path in inputs]
    with server.client(timeout) as client, _progress_bars(labels) as updates:
        pool = ThreadPoolExecutor(max_workers=min(parallel, len(inputs)))
        try:
            futures = [pool.submit(work, client, path, update) for path, update in zip(inputs, updates, strict=True)]
            for future, update in zip(futures, updates, strict=True):
                try:
                    outcomes.append(future.result())
                except (DgxMusicError, AudioFormatError, soundfile.LibsndfileError, OSError) as exc:
                    update.ended = "failed"
                    outcomes.append(exc)
        finally:
            # Ctrl-C: what has not started never starts; closing the channel cancels what runs.
            pool.shutdown(wait=False, cancel_futures=True)
    return outcomes


def _save_each(
    inputs: list[Path],
    outcomes: list[Work | Exception],
    save: Callable[[Path, Work], dict[str, Any]],
    as_json: bool,
) -> None:
    """Writes each input's result (`save`), tells each failure (named after its input when there are several), and
    exits with the first failure's code."""
    several = len(inputs) > 1
    failed = 0
    for path, outcome in zip(inputs, outcomes, strict=True):
        try:
            if isinstance(outcome, Exception):
                raise outcome
            told = save(path, outcome)
        except (DgxMusicError, Refused, AudioFormatError, soundfile.LibsndfileError, OSError) as exc:
            code = _report(exc, as_json=as_json, about=str(path) if several else None)
            failed = failed or code
            continue
        if as_json:
            _emit({"input": str(path), **told})
    if failed:
        sys.exit(failed)


def _each_output(inputs: list[Path], out: Path | None, name: Callable[[Path], Path]) -> list[Path]:
    """Where each input's result goes: `out` for one input (else `name` of the input); for several, `name` of each
    input inside `out` (a folder) or, without one, beside its input; refused when two would be the same file."""
    if len(inputs) == 1:
        return [out or name(inputs[0])]
    if STDIO in inputs:
        raise click.UsageError("- (stdin) is one input: give it alone")
    if out == STDIO:
        raise click.UsageError("--out - takes one input's result, not several: name a folder")
    places = [out / name(path).name if out is not None else name(path) for path in inputs]
    seen: dict[Path, Path] = {}
    for path, place in zip(inputs, places, strict=True):
        if place in seen:
            raise click.UsageError(f"{seen[place]} and {path} would both be written to {place}")
        seen[place] = path
    return places


@main.command(epilog=EXIT_CODES_HELP)
@click.argument(
    "midi_files", nargs=-1, required=True,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
)  # fmt: skip
@click.option(
    "--out", type=click.Path(allow_dash=True, path_type=Path),
    help="the audio file (default mix.<format>; - is stdout); for several MIDI files a folder, each written there "
    "as <its name>.<format> (default: beside each MIDI file)",
)  # fmt: skip
@click.option(
    "--stems", "stems_dir", type=click.Path(file_okay=False, path_type=Path),
    help="also write one file per track here (for several MIDI files, in a folder per file)",
)  # fmt: skip
@click.option("--soundfont", default="", help=SOUNDFONT_HELP)
@instrument_options
@mixing_options
@sample_rate_option
@format_option
@sample_format_option
@overwrite_option
@json_option
@parallel_option
@server_option
@timeout_option
@detach_option
def render(
    midi_files: tuple[Path, ...],
    out: Path | None,
    stems_dir: Path | None,
    soundfont: str,
    instruments: list[pb.InstrumentChoice],
    instrument_set: str,
    mixing: pb.MixingOptions,
    sample_rate: int,
    fmt: str,
    sample_format: str | None,
    overwrite: bool,
    as_json: bool,
    parallel: int,
    server: Server,
    timeout: float,
    detach: bool,
) -> None:
    """Render MIDI_FILES (- is stdin) to audio on the server, several at once: with FluidSynth and the SoundFont,
    or track by track on the instruments --instrument and --instrument-set choose."""
    inputs = list(midi_files)
    _refuse_stdout_twice(out or Path("mix.wav"), as_json)
    if len(inputs) == 1:
        outs = [out or Path("mix.wav")]
    else:
        outs = _each_output(inputs, out, lambda path: path.with_suffix(_suffix(fmt)))
    outs = [path if path == STDIO else path.with_suffix(_suffix(fmt)) for path in outs]
    stems = [None if stems_dir is None else stems_dir / path.stem if len(inputs) > 1 else stems_dir for path in inputs]
    if stems_dir is not None and len(set(stems)) < len(stems):
        raise click.UsageError(f"MIDI files of the same name would share their stems' folder in {stems_dir}")
    targets = [Targets(overwrite, [o], [s] if s else []) for o, s in zip(outs, stems, strict=True)]
    audio_format = _audio_format(sample_rate, fmt, sample_format)
    with _errors(as_json):
        soundfont = _server_soundfont(server, timeout, soundfont)

    def request_of(midi_file: Path) -> pb.RenderRequest:
        return pb.RenderRequest(
            midi=_read_input(midi_file),
            soundfont=soundfont,
            audio_format=audio_format,
            stems=stems_dir is not None,
            mixing=mixing,
            instruments=instruments,
            instrument_set=instrument_set,
        )

    if detach:
        for midi_file in inputs:
            server.submit(timeout, job_request(request_of(midi_file)), as_json=as_json)
        return
    with _errors(as_json):
        for target in targets:
            target.check()
        requests = {path: request_of(path) for path in inputs}  # stdin is read here, once

    def work(client: MusicClient, midi_file: Path, on_progress: _ProgressUpdate) -> AudioResult:
        return client.render(requests[midi_file], on_progress=on_progress)

    outcomes = _run_each(server, timeout, inputs, parallel, work)
    places = dict(zip(inputs, zip(outs, stems, targets, strict=True), strict=True))

    def save(midi_file: Path, result: AudioResult) -> dict[str, Any]:
        mix, stems_of, target = places[midi_file]
        return _save_audio(result, mix, stems_of, target)

    _save_each(inputs, outcomes, save, as_json)


@main.command(epilog=EXIT_CODES_HELP)
@server_option
@click.option("--timeout", default=5.0, show_default=True)
@json_option
def health(server: Server, timeout: float, as_json: bool) -> None:
    """Print the server's health: exit 0 only when SERVING, 75 (retry later) when not serving or not there."""
    with _errors(as_json), server.client(timeout) as client:
        status = client.health()
    if as_json:
        _emit({"command": "health", "server": server.target, "status": status})
    else:
        click.echo(status)
    sys.exit(0 if status == "SERVING" else EXIT_RETRY_LATER)


@main.command(epilog=EXIT_CODES_HELP)
@_AUDIO_INPUTS
@click.option(
    "--out", type=click.Path(allow_dash=True, path_type=Path),
    help="the MIDI file (default: AUDIO_FILE's name .mid; - is stdout); for several audio files a folder, each "
    "written there as <its name>.mid (default: beside each audio file)",
)  # fmt: skip
@click.option("--onset-threshold", type=float)
@click.option("--frame-threshold", type=float)
@click.option("--minimum-note-ms", "minimum_note_length_ms", type=float)
@click.option("--minimum-frequency", type=float)
@click.option("--maximum-frequency", type=float)
@click.option("--no-pitch-bends", is_flag=True)
@click.option("--multiple-pitch-bends", is_flag=True, help="bends of overlapping notes too (each on its own channel)")
@click.option("--no-melodia", is_flag=True, help="without Basic Pitch's melodia trick")
@click.option("--midi-tempo", type=float, help="the tempo written in the MIDI file, BPM (default 120)")
@click.option(
    "--note-events", type=click.Path(dir_okay=False, path_type=Path),
    help="also write the notes as CSV, as Basic Pitch does (start_time_s, end_time_s, pitch_midi, velocity, "
    "pitch bends)",
)  # fmt: skip
@click.option(
    "--sonify", type=click.Path(dir_okay=False, path_type=Path),
    help="also render the transcription back to audio on the server (WAV, FLAC, MP3, Ogg or Opus by its suffix)",
)  # fmt: skip
@overwrite_option
@json_option
@parallel_option
@server_option
@timeout_option
@detach_option
def transcribe(
    audio_files: tuple[Path, ...],
    out: Path | None,
    no_pitch_bends: bool,
    multiple_pitch_bends: bool,
    no_melodia: bool,
    note_events: Path | None,
    sonify: Path | None,
    overwrite: bool,
    as_json: bool,
    parallel: int,
    server: Server,
    timeout: float,
    detach: bool,
    **thresholds: Any,
) -> None:
    """Transcribe AUDIO_FILES (WAV, FLAC, MP3, Ogg or AIFF; any rate, mono or stereo; - is stdin) to MIDI with Basic
    Pitch, several at once."""
    inputs = list(audio_files)
    options = _transcription_options(thresholds, no_pitch_bends, multiple_pitch_bends, no_melodia)
    if (note_events or sonify) and (len(inputs) > 1 or detach):
        raise click.UsageError("--note-events and --sonify write one file: give one audio file, without --detach")
    sonify_format = _sonify_format(sonify) if sonify else None
    if detach:
        with _errors(as_json):
            uploads = [_audio_input(path) for path in inputs]
        for source in uploads:
            server.submit(timeout, job_request(options), source, as_json=as_json)
        return
    if inputs == [STDIO] and out is None:
        out = STDIO  # from a pipe, to a pipe
    _refuse_stdout_twice(out or Path(), as_json)
    outs = _each_output(inputs, out, lambda path: path.with_suffix(".mid"))
    extras = [path for path in (note_events, sonify) if path is not None]
    targets = [Targets(overwrite, [path, *extras]) for path in outs]
    with _errors(as_json):
        for target in targets:
            target.check()
        sources = {path: _audio_input(path) for path in inputs}  # stdin is read here, once
    sonified: dict[Path, AudioResult] = {}

    def work(client: MusicClient, audio_file: Path, on_progress: _ProgressUpdate) -> TranscribeResult:
        result = client.transcribe(sources[audio_file], options, on_progress=on_progress)
        if sonify_format is not None:
            render = pb.RenderRequest(midi=result.transcription.midi, audio_format=sonify_format)
            sonified[audio_file] = client.render(render)
        return result

    def save(path: Path, result: TranscribeResult) -> dict[str, Any]:
        told = _save_transcription(result, *places[path])
        if note_events is not None:
            told["files"].append(str(_write_file(note_events, note_events_csv(result.transcription.notes).encode())))
        if sonify is not None:
            told["files"].append(str(sonified[path].write_stream("", sonify)))
        if extras:
            console.print(f"wrote {escape(', '.join(str(extra) for extra in extras))}")
        return told

    outcomes = _run_each(server, timeout, inputs, parallel, work)
    places = dict(zip(inputs, zip(outs, targets, strict=True), strict=True))
    _save_each(inputs, outcomes, save, as_json)


def _transcription_options(
    given: dict[str, Any], no_pitch_bends: bool, multiple_pitch_bends: bool, no_melodia: bool
) -> pb.TranscriptionOptions:
    """The transcribe command's options as Basic Pitch's: only what the user set, the server defaults the rest."""
    options = pb.TranscriptionOptions(**{name: value for name, value in given.items() if value is not None})
    if no_pitch_bends:
        options.pitch_bends = False
    if multiple_pitch_bends:
        options.multiple_pitch_bends = True
    if no_melodia:
        options.melodia_trick = False
    return options


def _sonify_format(path: Path) -> audio_pb2.AudioFormat:
    """--sonify's audio format, told by the file's suffix."""
    fmt = path.suffix.lower().removeprefix(".")
    if fmt not in _ENCODINGS:
        kinds = ", ".join(f".{name}" for name in sorted(_ENCODINGS))
        raise click.UsageError(f"--sonify names its format by its suffix ({kinds}), not {path.name!r}")
    return _audio_format(0, fmt, None)


@main.command(epilog=EXIT_CODES_HELP)
@_AUDIO_INPUTS
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("stems"), show_default=True,
    help="the stems' folder; for several audio files, a folder per file in it, named after the file",
)  # fmt: skip
@click.option("--model", default="", help="separation model, e.g. htdemucs_ft (default: the server's; models list)")
@click.option("--two-stems", metavar="STEM", default="", help='STEM and the rest, as "no_STEM" (e.g. vocals)')
@click.option("--shifts", type=int, help="passes with random time shifts, averaged: better, slower (0-20; 0)")
@click.option("--overlap", type=float, help="of neighbouring chunks (0-0.9; 0.25)")
@click.option("--segment", type=float, help="chunk length in seconds (1 up to the model's own, the default)")
@sample_rate_option
@format_option
@sample_format_option
@overwrite_option
@json_option
@parallel_option
@server_option
@timeout_option
@detach_option
def separate(
    audio_files: tuple[Path, ...],
    out: Path,
    model: str,
    two_stems: str,
    shifts: int | None,
    overlap: float | None,
    segment: float | None,
    sample_rate: int,
    fmt: str,
    sample_format: str | None,
    overwrite: bool,
    as_json: bool,
    parallel: int,
    server: Server,
    timeout: float,
    detach: bool,
) -> None:
    """Separate AUDIO_FILES (- is stdin) into stems (drums, bass, other, vocals with htdemucs) written to OUT, several
    at once. A reused folder keeps no stem of an earlier run: --overwrite replaces them all."""
    inputs = list(audio_files)
    options = pb.SeparationOptions(
        model=model,
        audio_format=_audio_format(sample_rate, fmt, sample_format),
        two_stems=two_stems,
        shifts=shifts,
        overlap=overlap,
        segment=segment,
    )
    if detach:
        with _errors(as_json):
            uploads = [_audio_input(path) for path in inputs]
        for source in uploads:
            server.submit(timeout, job_request(options), source, as_json=as_json)
        return
    folders = [out] if len(inputs) == 1 else _each_output(inputs, out, lambda path: Path(path.stem))
    targets = [Targets(overwrite, folders=[folder]) for folder in folders]
    with _errors(as_json):
        for target in targets:
            target.check()
        sources = {path: _audio_input(path) for path in inputs}

    def work(client: MusicClient, audio_file: Path, on_progress: _ProgressUpdate) -> AudioResult:
        return client.separate(sources[audio_file], options, on_progress=on_progress)

    outcomes = _run_each(server, timeout, inputs, parallel, work)
    places = dict(zip(inputs, zip(folders, targets, strict=True), strict=True))

    def save(audio_file: Path, result: AudioResult) -> dict[str, Any]:
        folder, target = places[audio_file]
        return _save_stems(result, folder, target, _suffix(fmt))

    _save_each(inputs, outcomes, save, as_json)


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("prompts", nargs=-1, required=True)
@click.option(
    "--out", type=click.Path(allow_dash=True, path_type=Path), default=Path("generated.wav"), show_default=True,
    help="- writes the (one prompt's) audio to stdout",
)  # fmt: skip
@click.option("--seconds", type=float, default=8.0, show_default=True, help="past 30 s it continues window by window")
@click.option("--model", default="", help="musicgen-small, musicgen-melody... (default: the server's; models list)")
@click.option("--adapter", default="", help="a fine-tuned adapter of the model (`dgx-music train`; models list)")
@click.option("--melody", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="audio to follow")
@click.option("--melody-from", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="MIDI to follow")
@click.option(
    "--continue", "continue_from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="audio to continue (your take): OUT is it followed by --seconds (under 30) of continuation",
)  # fmt: skip
@click.option("--temperature", type=float)
@click.option("--top-k", type=int)
@click.option("--top-p", type=float)
@click.option("--cfg-coef", type=float)
@click.option("--seed", type=int, help="same seed, same audio (and a cacheable result)")
@generation_sample_rate_option
@format_option
@sample_format_option
@overwrite_option
@json_option
@server_option
@generation_timeout_option
@detach_option
def generate(
    prompts: tuple[str, ...],
    out: Path,
    seconds: float,
    model: str,
    adapter: str,
    melody: Path | None,
    melody_from: Path | None,
    continue_from: Path | None,
    sample_rate: int,
    fmt: str,
    sample_format: str | None,
    overwrite: bool,
    as_json: bool,
    server: Server,
    timeout: float,
    detach: bool,
    **sampling: Any,
) -> None:
    """Generate audio for PROMPTS with MusicGen (32 kHz): OUT, or OUT's stem with _1, _2... for several prompts."""
    _refuse_stdout_twice(out, as_json)
    if out == STDIO and len(prompts) > 1:
        raise click.UsageError(f"--out - takes one prompt's audio, not {len(prompts)}: name a file")
    request = pb.GenerateAudioRequest(
        prompt=prompts[0],
        more_prompts=prompts[1:],
        model=model,
        adapter=adapter,
        seconds=seconds,
        melody_audio=_audio_in_a_request(melody),
        melody_midi=melody_from.read_bytes() if melody_from else b"",
        continue_audio=_audio_in_a_request(continue_from),
        audio_format=_audio_format(sample_rate, fmt, sample_format),
        **{name: value for name, value in sampling.items() if value is not None},
    )
    if detach:
        server.submit(timeout, job_request(request), as_json=as_json)
        return
    targets = Targets(overwrite, [path.with_suffix(_suffix(fmt)) for path in _numbered(out, len(prompts))])
    with _errors(as_json):
        targets.check()
        with server.client(timeout) as client, _progress_bar() as on_progress:
            result = client.generate_audio(request, on_progress=on_progress)
        told = _save_generated(result, out, targets)
    if as_json:
        _emit(told | {"prompts": list(prompts)})


@main.command(epilog=EXIT_CODES_HELP)
@click.option("--name", required=True, help="the adapter's name (a-z, 0-9 and -): generate with --adapter NAME")
@click.option(
    "--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
    help="a folder of audio files (WAV, FLAC, MP3, Ogg...), each with an optional caption in NAME.txt beside it",
)  # fmt: skip
@click.option("--genre", default="", help='words every caption the server makes gets, e.g. "boom bap hip hop"')
@click.option("--model", default="", help="the MusicGen model to fine-tune (default: the server's; models list)")
@click.option("--steps", type=int, help="training steps (default: the server's, 500)")
@click.option("--rank", type=int, help="LoRA rank (default 8)")
@click.option("--learning-rate", type=float, help="default 1e-4")
@click.option("--chunk-seconds", type=float, help="length of the training chunks, 1-30 s (default 15)")
@click.option("--seed", type=int, help="same data and seed, same adapter")
@click.option("--drop-vocals", is_flag=True, help="remove the vocals first (with the server's Demucs)")
@json_option
@server_option
@click.option("--timeout", default=4 * 3600.0, show_default=True, help="how long to watch, in seconds (it runs on)")
@detach_option
def train(
    name: str,
    data_dir: Path,
    genre: str,
    model: str,
    drop_vocals: bool,
    as_json: bool,
    server: Server,
    timeout: float,
    detach: bool,
    **settings: Any,
) -> None:
    """Fine-tune MusicGen on the audio files in --data: a LoRA adapter saved on the server as NAME, trained as a job
    (progress with the loss; Ctrl-C stops watching, `dgx-music jobs cancel ID` the training; a job cut short by a
    crash resumes from its last checkpoint). Prints both validation losses: the base model's and the adapter's."""
    files, captions = training_files(data_dir)
    if not files:
        raise click.BadParameter(f"no audio files (WAV, FLAC, MP3, Ogg...) in {data_dir}", param_hint="--data")
    request = pb.TrainRequest(
        name=name,
        model=model,
        drop_vocals=drop_vocals,
        genre=genre,
        captions=captions,
        **{field: value for field, value in settings.items() if value is not None},
    )
    with _errors(as_json), server.client(timeout) as client:
        job = client.submit_training(request, files)
        if detach:
            _emit({"job_id": job.id, "kind": job.kind, "request_id": job.request_id}) if as_json else click.echo(job.id)
            return
        console.print(f"training {escape(name)} on {len(files)} files as job {job.id}")
        try:
            with _progress_bar() as on_progress:
                outcome = client.watch_job(job.id, on_progress=on_progress, on_job=on_progress.on_job)
        except KeyboardInterrupt:
            console.print(f"stopped watching; the training runs on (`dgx-music jobs cancel {job.id}` stops it)")
            sys.exit(130)
    if isinstance(outcome.result, TrainResult):
        _print_adapter(outcome.result.adapter)
        if as_json:
            adapter = json_format.MessageToDict(outcome.result.adapter, preserving_proto_field_name=True)
            _emit({"command": "train", "job_id": job.id, "adapter": adapter})
    elif as_json:
        _print_job(outcome.job, as_json)
    _exit_as_job_ended(outcome.job, results_wanted=True)


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
    """The job for a person, or (--json) as one line of JSON, as every --json result is."""
    click.echo(json.dumps(json_format.MessageToDict(job)) if as_json else "\n".join(_job_lines(job)))


def _exit_as_job_ended(job: jobs_pb2.Job, *, results_wanted: bool) -> None:
    """Exit 0 for a job that succeeded (or, when no results were asked for, one still under way); for one that
    failed, its error's code as a call's (69 weights missing, 75 retry later, 2 bad input...); 1, saying why, for one
    cancelled or that has no results yet to write."""
    if job.state == jobs_pb2.JOB_STATE_FAILED:
        console.print(f"[red]job {job.id} failed[/red] {job.error_code}: {escape(job.error_message)}")
        # The runner itself retries what waiting helps (busy, rate limited): a job that failed over a limit has
        # input to fix.
        exits = {**_EXIT_BY_STATUS, "RESOURCE_EXHAUSTED": EXIT_BAD_INPUT}
        sys.exit(exits.get(job.error_code, EXIT_FAILED))
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
_AS_JSON = click.option(
    "--json", "as_json", is_flag=True, help="the Job as JSON (protobuf's JSON mapping); with --out, then each result"
)


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
        click.echo(json.dumps([json_format.MessageToDict(job) for job in found]))
    else:
        _print_tables(_jobs_table(found, datetime.now(UTC)))


def _print_tables(*tables: Table) -> None:
    """Tables on stdout; a pipe or a file gets whole rows, not a made-up terminal's 80 columns."""
    stdout = Console()
    if not stdout.is_terminal:
        stdout.width = 240
    for table in tables:
        stdout.print(table)


@jobs.command("watch", epilog=EXIT_CODES_HELP)
@_JOB_ID
@_RESULTS_DIR
@overwrite_option
@_AS_JSON
@server_option
@click.option("--timeout", default=3600.0, show_default=True, help="how long to watch, in seconds (the job runs on)")
def watch_job(job_id: str, out: Path | None, overwrite: bool, as_json: bool, server: Server, timeout: float) -> None:
    """Follow job ID until it ends, then print its state (exit as its error if it failed, 1 if cancelled); with
    --out, write its results. Ctrl-C stops watching, not the job."""
    try:
        with _errors(as_json), server.client(timeout) as client, _progress_bar() as on_progress:
            outcome = client.watch_job(job_id, on_progress=on_progress, on_job=on_progress.on_job)
    except KeyboardInterrupt:
        console.print(f"stopped watching; the job runs on (`dgx-music jobs cancel {escape(job_id)}` stops it)")
        sys.exit(130)
    _print_job(outcome.job, as_json) if as_json else click.echo(_state_name(outcome.job))
    if out is not None and outcome.result is not None:
        _save_job_result(outcome.job, outcome.result, out, overwrite, as_json)
    _exit_as_job_ended(outcome.job, results_wanted=out is not None)


@jobs.command("get", epilog=EXIT_CODES_HELP)
@_JOB_ID
@_RESULTS_DIR
@overwrite_option
@_AS_JSON
@server_option
@timeout_option
def get_job(job_id: str, out: Path | None, overwrite: bool, as_json: bool, server: Server, timeout: float) -> None:
    """Print job ID (exit as its error if it failed, 1 if cancelled); with --out, write its results if it succeeded (or
    those a compose job made before a later stage failed)."""
    with _errors(as_json), server.client(timeout) as client:
        job = client.get_job(job_id)
        # A finished job's watch answers at once: its results (a failed one's made before its failed stage).
        done = job.state == jobs_pb2.JOB_STATE_SUCCEEDED or (
            job.state == jobs_pb2.JOB_STATE_FAILED and job.result_bytes > 0
        )
        outcome = client.watch_job(job_id) if out is not None and done else None
    _print_job(job, as_json)
    if out is not None and outcome is not None and outcome.result is not None:
        _save_job_result(outcome.job, outcome.result, out, overwrite, as_json)
    _exit_as_job_ended(job, results_wanted=out is not None)


@jobs.command("cancel")
@_JOB_ID
@_AS_JSON
@server_option
@click.option("--timeout", default=30.0, show_default=True)
def cancel_job(job_id: str, as_json: bool, server: Server, timeout: float) -> None:
    """Stop job ID if it is queued or running (a finished job is left as it is); prints its state."""
    with _errors(as_json), server.client(timeout) as client:
        job = client.cancel_job(job_id)
    if as_json:
        _print_job(job, as_json)
    else:
        click.echo(_state_name(job))


def _item_json(item: library_pb2.LibraryItem) -> dict[str, Any]:
    """A library item as JSON, its JSON-holding fields as the objects they hold."""
    found = json_format.MessageToDict(item, preserving_proto_field_name=True)
    for name in ("request", "metadata", "timings"):
        text = found.pop(f"{name}_json", "")
        found[name] = json.loads(text) if text else {}
    return found


def _items_table(items: list[library_pb2.LibraryItem], now: datetime, *, scored: bool) -> Table:
    table = Table()
    table.add_column("id", no_wrap=True, min_width=32)
    for column in ("kind", "age", "genre", "key", "bpm", "tags", *(("score",) if scored else ())):
        table.add_column(column, no_wrap=True)
    table.add_column("prompt")
    for item in items:
        age = _age(item.created.ToDatetime(tzinfo=UTC), now)
        tags = ", ".join(["pinned", *item.tags] if item.pinned else item.tags)
        bpm = f"{item.bpm:g}" if item.bpm else ""
        score = (f"{item.score:.3f}",) if scored else ()
        table.add_row(item.id, item.kind, age, item.genre, item.key, bpm, escape(tags), *score, escape(item.prompt))
    return table


def _print_items(items: list[library_pb2.LibraryItem], as_json: bool, *, scored: bool = False) -> None:
    if as_json:
        click.echo(json.dumps([_item_json(item) for item in items]))
    else:
        _print_tables(_items_table(items, datetime.now(UTC), scored=scored))


def _print_item(item: library_pb2.LibraryItem, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_item_json(item)))
        return
    lines = [
        f"id          {item.id}",
        f"kind        {item.kind}",
        f"created     {_when(item.created)}",
        f"prompt      {item.prompt}",
        f"genre       {item.genre}",
        f"key         {item.key}",
        f"bpm         {item.bpm:g}" if item.bpm else "bpm",
        f"meter       {item.meter}",
        f"tags        {', '.join(item.tags)}",
        f"pinned      {'yes' if item.pinned else 'no'}",
        f"size        {item.size_bytes} bytes",
        *(f"file        {file.name} ({file.media_type}, {file.size_bytes} bytes)" for file in item.files),
    ]
    click.echo("\n".join(line.rstrip() for line in lines))


_ITEM_ID = click.argument("item_id", metavar="ID")
_ITEM_JSON = click.option("--json", "as_json", is_flag=True, help="the item as JSON (protobuf's JSON mapping)")
_ITEMS_JSON = click.option("--json", "as_json", is_flag=True, help="the items as a JSON array")
_LIMIT = click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="at most this many")
_LIBRARY_TIMEOUT = click.option("--timeout", default=30.0, show_default=True)


def _pages(
    read: Callable[[int, str], tuple[list[library_pb2.LibraryItem], str]], limit: int
) -> list[library_pb2.LibraryItem]:
    """Up to `limit` items, read a page at a time."""
    found: list[library_pb2.LibraryItem] = []
    token = ""
    while len(found) < limit:
        items, token = read(min(limit - len(found), 1000), token)
        found += items
        if not token:
            break
    return found[:limit]


@main.group()
def library() -> None:
    """The library: every song, render, transcription, separation and generation you made is kept. Search it, find
    what sounds alike, fetch an item's files, tag, pin and delete items."""


@library.command("search")
@click.argument("text", required=False, default="")
@click.option("--key", help="a key, e.g. 'G minor', 'F#m'")
@click.option("--bpm", help="a tempo or a range, e.g. 128 or 130-150")
@click.option("--genre", help="a genre (comma-separated for several)")
@click.option("--since", help="made since: a date (2026-11-30), an age (7d, 12h) or 'last week'")
@click.option("--tag", "tags", multiple=True, help="items with this tag (repeat for several: all of them)")
@click.option(
    "--kind", "kinds", multiple=True, help="compose, generate_midi, render, transcribe, separate, generate_audio"
)
@_LIMIT
@_ITEMS_JSON
@server_option
@_LIBRARY_TIMEOUT
def search_library(
    text: str,
    key: str | None,
    bpm: str | None,
    genre: str | None,
    since: str | None,
    tags: tuple[str, ...],
    kinds: tuple[str, ...],
    limit: int,
    as_json: bool,
    server: Server,
    timeout: float,
) -> None:
    """Your items that match TEXT ("dark trap in G minor last week": the key, tempo, genre and time it names are
    filters, the other words are matched) and the options, best first."""
    request = library_pb2.SearchLibraryRequest(
        query=text, key=key or "", bpm=bpm or "", genre=genre or "", since=since or "", tags=tags, kinds=kinds
    )

    def read(page_size: int, token: str) -> tuple[list[library_pb2.LibraryItem], str]:
        request.page_size, request.page_token = page_size, token
        return client.search_library(request)

    with _errors(as_json), server.client(timeout) as client:
        found = _pages(read, limit)
    _print_items(found, as_json, scored=True)


@library.command("similar")
@_ITEM_ID
@_LIMIT
@_ITEMS_JSON
@server_option
@_LIBRARY_TIMEOUT
def similar_items(item_id: str, limit: int, as_json: bool, server: Server, timeout: float) -> None:
    """Your items closest to item ID (by their sound and their description), best first."""
    with _errors(as_json), server.client(timeout) as client:
        found = _pages(lambda size, token: client.similar_items(item_id, size, token), limit)
    _print_items(found, as_json, scored=True)


@library.command("get", epilog=EXIT_CODES_HELP)
@_ITEM_ID
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="write the item's files here (checksums checked)"
)
@_ITEM_JSON
@server_option
@timeout_option
def get_item(item_id: str, out: Path | None, as_json: bool, server: Server, timeout: float) -> None:
    """Print item ID; with --out, write its files (MIDI, mix, stems, transcriptions) under that folder."""
    with _errors(as_json), server.client(timeout) as client:
        item = client.get_item(item_id)
        written = client.download_item(item_id, out) if out is not None else []
    _print_item(item, as_json)
    for path in written:
        console.print(f"wrote {escape(str(path))}")


@library.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="at most this many")
@_ITEMS_JSON
@server_option
@_LIBRARY_TIMEOUT
def list_items(limit: int, as_json: bool, server: Server, timeout: float) -> None:
    """Your items, newest first."""
    with _errors(as_json), server.client(timeout) as client:
        found = _pages(client.list_items, limit)
    _print_items(found, as_json)


@library.command("tag")
@_ITEM_ID
@click.argument("tags", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="take the tags off instead")
@_ITEM_JSON
@server_option
@_LIBRARY_TIMEOUT
def tag_item(item_id: str, tags: tuple[str, ...], remove: bool, as_json: bool, server: Server, timeout: float) -> None:
    """Put TAGS on item ID (or take them off); prints its tags."""
    with _errors(as_json), server.client(timeout) as client:
        item = client.tag_item(item_id, remove=tags) if remove else client.tag_item(item_id, add=tags)
    _print_item(item, as_json) if as_json else click.echo(" ".join(item.tags))


@library.command("pin")
@_ITEM_ID
@click.option("--unpin", is_flag=True, help="let retention and the size limit take it again")
@_ITEM_JSON
@server_option
@_LIBRARY_TIMEOUT
def pin_item(item_id: str, unpin: bool, as_json: bool, server: Server, timeout: float) -> None:
    """Pin item ID: retention and the library's size limit never take it."""
    with _errors(as_json), server.client(timeout) as client:
        item = client.pin_item(item_id, not unpin)
    _print_item(item, as_json) if as_json else click.echo("pinned" if item.pinned else "unpinned")


@library.command("delete")
@_ITEM_ID
@click.option("--json", "as_json", is_flag=True, help='{"deleted": ID} as JSON')
@server_option
@_LIBRARY_TIMEOUT
def delete_item(item_id: str, as_json: bool, server: Server, timeout: float) -> None:
    """Delete item ID and its files (those no other item holds)."""
    with _errors(as_json), server.client(timeout) as client:
        client.delete_item(item_id)
    click.echo(json.dumps({"deleted": item_id}) if as_json else f"deleted {item_id}")


@main.group(cls=_GroupWithServerCommands, entry_point_group="dgx_music.models_commands")
def models() -> None:
    """The models the server runs, and their weights."""


@models.command("list", epilog=EXIT_CODES_HELP)
@server_option
@click.option("--timeout", default=30.0, show_default=True)
@json_option
def list_models(server: Server, timeout: float, as_json: bool) -> None:
    """Each model with its state (ready, weights missing, failed, unavailable), and under demucs and musicgen each
    separation and MusicGen model --model can name (ready: loaded by its first call; loaded; weights missing)."""
    with _errors(as_json), server.client(timeout) as client:
        found = client.models_and_adapters()
        request_id = client.last_request_id
    statuses = found.models
    if as_json:
        models = [json_format.MessageToDict(status, preserving_proto_field_name=True) for status in statuses]
        adapters = [json_format.MessageToDict(adapter, preserving_proto_field_name=True) for adapter in found.adapters]
        _emit({"command": "models list", "models": models, "adapters": adapters, "request_id": request_id})
        return
    table = Table()
    for column in ("model", "version", "state", "memory", "details"):
        table.add_column(column)
    for status in statuses:
        state = pb.ModelState.Name(status.state).removeprefix("MODEL_STATE_").lower().replace("_", " ")
        memory = f"{status.memory_bytes / 2**20:.0f} MiB" if status.memory_bytes else "-"
        # A separation or MusicGen model, under the Triton model that serves it: --model NAME picks it.
        name = f"  {status.name}{' (default)' if status.is_default else ''}" if status.served_by else status.name
        details = status.message
        if status.served_by and status.state == pb.MODEL_STATE_WEIGHTS_MISSING:
            details = f"fetch with `dgx-music models pull {status.name}` (--json lists the files)"
        table.add_row(name, status.version, state, memory, escape(details))
    tables = [table]
    if found.adapters:
        # Fine-tuned adapters (`dgx-music train`): --adapter NAME generates with one.
        adapter_table = Table(title="adapters")
        for column in ("adapter", "base model", "created", "validation loss (base -> adapter)", "steps"):
            adapter_table.add_column(column)
        for adapter in found.adapters:
            created = adapter.create_time.ToDatetime(UTC).strftime("%Y-%m-%d %H:%M")
            losses = f"{adapter.base_validation_loss:.4f} -> {adapter.adapter_validation_loss:.4f}"
            adapter_table.add_row(escape(adapter.name), escape(adapter.base_model), created, losses, str(adapter.steps))
        tables.append(adapter_table)
    _print_tables(*tables)


# Presets shown per instrument unless --presets asks for all: an instrument can have hundreds.
_PRESETS_SHOWN = 3


@main.group()
def instruments() -> None:
    """The instruments a track can play (--instrument of render and compose) and the built-in instrument sets
    (--instrument-set)."""


@instruments.command("list", epilog=EXIT_CODES_HELP)
@click.option("--presets", "all_presets", is_flag=True, help=f"every preset (default: the first {_PRESETS_SHOWN})")
@server_option
@click.option("--timeout", default=30.0, show_default=True)
@json_option
def list_instruments(all_presets: bool, server: Server, timeout: float, as_json: bool) -> None:
    """Each instrument by the name --instrument takes (SoundFonts "sf2:NAME", LV2 plugins "lv2:NAME", VST2 plugins
    "vst2:NAME"), its format, title and presets ("NAME/PRESET" plays one); then each instrument set, what it plays
    on what, and its instruments this server lacks (their tracks play the SoundFont)."""
    with _errors(as_json), server.client(timeout) as client:
        found = client.list_instruments()
        request_id = client.last_request_id
    if as_json:
        described = json_format.MessageToDict(found, preserving_proto_field_name=True)
        _emit(
            {"command": "instruments list"}
            | {name: described.get(name, []) for name in ("instruments", "instrument_sets")}
            | {"request_id": request_id}
        )
        return
    _print_tables(_instruments_table(found.instruments, all_presets), _instrument_sets_table(found.instrument_sets))


def _instruments_table(instruments: Iterable[pb.Instrument], all_presets: bool) -> Table:
    table = Table(title="instruments")
    for column in ("name", "format", "title", "presets"):
        table.add_column(column)
    for instrument in instruments:
        name = f"{instrument.name} (default)" if instrument.is_default else instrument.name
        kind = pb.InstrumentFormat.Name(instrument.format).removeprefix("INSTRUMENT_FORMAT_").lower()
        table.add_row(escape(name), kind, escape(instrument.title), escape(_presets_told(instrument, all_presets)))
    return table


def _presets_told(instrument: pb.Instrument, all_presets: bool) -> str:
    """A dash for none; else every preset (--presets), or their count and the first few."""
    presets = list(instrument.presets)
    if not presets:
        return "-"
    if all_presets:
        return "\n".join(presets)
    shown = ", ".join(presets[:_PRESETS_SHOWN])
    more = ", ... (--presets lists all)" if len(presets) > _PRESETS_SHOWN else ""
    return f"{len(presets)}: {shown}{more}"


def _instrument_sets_table(sets: Iterable[pb.InstrumentSet]) -> Table:
    table = Table(title="instrument sets")
    for column in ("name", "description", "plays", "missing"):
        table.add_column(column)
    for instrument_set in sets:
        plays = "\n".join(f"{choice.track}={choice.instrument}" for choice in instrument_set.choices)
        missing = ", ".join(instrument_set.missing) or "-"
        table.add_row(escape(instrument_set.name), escape(instrument_set.description), escape(plays), escape(missing))
    return table


if __name__ == "__main__":
    main()

"""Typed Python clients (sync and asyncio) of dgxmusic.v1.MusicService and JobService: they turn the streamed events
back into MIDI bytes, numpy arrays and files, and reach a gateway that faces a network (TLS, mTLS, an API key)."""

import asyncio
import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc
import numpy as np
import soundfile
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.errors import DgxMusicError, NotFoundError, from_rpc_error
from clients.soundfonts import file_sha256, header_only, soundfont_header, upload_soundfont_messages
from dgxmusic.audio import (
    FILE_ENCODINGS,
    FILE_EXTENSIONS,
    AudioAssembler,
    AudioFormatError,
    FloatAudio,
    upload_messages,
)
from dgxmusic.v1 import audio_pb2, jobs_pb2, jobs_pb2_grpc, library_pb2, library_pb2_grpc
from dgxmusic.v1 import music_service_pb2 as pb
from dgxmusic.v1 import music_service_pb2_grpc as pb_grpc

DEFAULT_TARGET = "127.0.0.1:50051"
# Where a server listening on every address is reached from its own machine.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
# Clients send whole MIDI files (and a melody or a take to continue) in one message, at most this (the gateway's
# limit too); the server never sends a message over 1 MiB of audio.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]

ProgressCallback = Callable[[pb.Progress], None]
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9 _.+-]")


@dataclass
class AudioResult:
    """Rendered audio: the mix, the stems by track name, and the bytes exactly as the server sent them."""

    sample_rate: int = 0
    mix: FloatAudio = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    stems: dict[str, FloatAudio] = field(default_factory=dict)
    summary: pb.Summary = field(default_factory=pb.Summary)
    assembler: AudioAssembler = field(default_factory=AudioAssembler)

    def write_audio(self, mix_path: Path, stems_dir: Path | None = None) -> list[Path]:
        """Writes the mix (and stems) as the server encoded them; raw PCM becomes WAV."""
        written = [self._write("", mix_path)]
        if stems_dir is not None:
            written += self.write_stems(stems_dir, mix_path.suffix)
        return written

    def write_stream(self, name: str, path: Path) -> Path:
        """One stream as a file (its extension follows the encoding the server used)."""
        return self._write(name, path)

    def write_stems(self, stems_dir: Path, suffix: str = ".wav") -> list[Path]:
        """One file per stem, named after it ("demucs/drums" -> demucs_drums.wav)."""
        return [self._write(name, stems_dir / f"{safe_file_name(name)}{suffix}") for name in self.stems]

    def extension(self, stream: str = "") -> str:
        """The file extension of one stream ("" the mix) as it is written: the server's encoding's; raw PCM's .wav."""
        return self.assembler.extension(stream)

    def file_bytes(self, stream: str = "") -> bytes:
        """One stream ("" the mix) as the bytes of an audio file, as it would be written (for a pipe, where there is
        no file): as the server encoded it, raw PCM as WAV."""
        return self.assembler.file_bytes(stream)

    def _write(self, stream: str, path: Path) -> Path:
        header = self.assembler.headers[stream]
        path.parent.mkdir(parents=True, exist_ok=True)
        if header.encoding in FILE_EXTENSIONS:
            path = path.with_suffix(self.assembler.extension(stream))
            path.write_bytes(self.assembler.encoded[stream])
        else:  # raw PCM: the file the path's extension names
            subtype = "PCM_16" if header.sample_format == audio_pb2.SAMPLE_FORMAT_INT16 else "FLOAT"
            soundfile.write(path, self.assembler.samples(stream), header.sample_rate, subtype=subtype)
        return path


@dataclass
class ComposeResult(AudioResult):
    """A composed song. `failed_stages` lists the stages that failed after the earlier ones sent their results
    (the call then raised the first one's error, carrying this result as its `partial_result`)."""

    midi: bytes = b""
    info: pb.SongInfo = field(default_factory=pb.SongInfo)
    transcriptions: dict[str, pb.Transcription] = field(default_factory=dict)
    failed_stages: list[pb.StageError] = field(default_factory=list)

    def write(self, out_dir: Path) -> list[Path]:
        """song.mid, mix.wav and stems/<track>.wav under out_dir (of a partial result, what it has)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "song.mid").write_bytes(self.midi)
        written = [out_dir / "song.mid"]
        if "" in self.assembler.headers:  # no mix when the song's rendering failed
            stems_dir = out_dir / "stems" if self.stems else None
            written += self.write_audio(out_dir / "mix.wav", stems_dir)
        for name, transcription in self.transcriptions.items():
            path = out_dir / "transcribed" / f"{safe_file_name(name or 'mix')}.mid"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(transcription.midi)
            written.append(path)
        return written


def write_item_file(out_dir: Path, file: library_pb2.LibraryFile, data: bytes) -> Path:
    """Writes one of a library item's files under `out_dir` by its name ("stems/piano.wav" in a subfolder), once its
    bytes match the SHA-256 the library keeps; DgxMusicError (DATA_LOSS) when they do not."""
    if hashlib.sha256(data).hexdigest() != file.sha256:
        raise DgxMusicError(grpc.StatusCode.DATA_LOSS, f"{file.name}: the bytes received do not match their checksum")
    parts = [safe_file_name(part) for part in file.name.split("/") if part not in ("", ".", "..")]
    path = out_dir.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def safe_file_name(name: str) -> str:
    cleaned = _UNSAFE_FILE_CHARS.sub("_", name).strip(" .")
    return cleaned or "stem"


def default_target() -> str:
    """The gateway the clients reach when not told: $DGXMUSIC_SERVER, else the address the server on this machine
    listens on, read from the same settings the server reads ($DGXMUSIC_HOST, $DGXMUSIC_GRPC_PORT; a server on every
    address is reached through the loopback)."""
    server = os.environ.get("DGXMUSIC_SERVER", "").strip()
    if server:
        return server
    host = os.environ.get("DGXMUSIC_HOST", "127.0.0.1").strip()
    host = _ANY_ADDRESS.get(host, host)
    port = os.environ.get("DGXMUSIC_GRPC_PORT", "50051").strip()
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def unknown_words(info: pb.SongInfo) -> list[str]:
    """The words of the prompt the composer did not understand (it composed as if they were not there), as the
    server reports them in the song's metadata."""
    if not info.metadata_json:
        return []
    words = json.loads(info.metadata_json).get("unknown_words", [])
    return [str(word) for word in words]


def _collect(result: AudioResult, response: Any, on_progress: ProgressCallback | None) -> None:
    """Folds one streamed event (ComposeResponse or RenderResponse) into the result."""
    kind = response.WhichOneof("event")
    if kind == "progress" and on_progress is not None:
        on_progress(response.progress)
    elif kind == "midi" and isinstance(result, ComposeResult):
        result.midi = response.midi.midi
        result.info = response.midi.info
    elif kind == "audio_header":
        result.assembler.add_header(response.audio_header)
        result.sample_rate = response.audio_header.sample_rate
    elif kind == "audio_chunk":
        finished = result.assembler.add_chunk(response.audio_chunk)
        if finished == "":
            result.mix = result.assembler.samples(finished)
        elif finished is not None:
            result.stems[finished] = result.assembler.samples(finished)
    elif kind == "summary":
        result.summary = response.summary
        if isinstance(result, ComposeResult) and not result.failed_stages:
            result.failed_stages = list(response.summary.failed_stages)
    elif kind == "transcription" and isinstance(result, ComposeResult):
        result.transcriptions[response.transcription.stem_name] = response.transcription
    elif kind == "stage_error" and isinstance(result, ComposeResult):
        result.failed_stages.append(response.stage_error)


def _keep_partial(error: DgxMusicError, result: ComposeResult) -> None:
    """Gives the error a Compose ended with what its stages made before one failed, as its `partial_result`."""
    if result.failed_stages:
        error.partial_result = result


AudioInput = Path | tuple[FloatAudio, int]


@dataclass(frozen=True)
class Tls:
    """TLS to the gateway: ``ca_file`` is the CA that signed its certificate (None: the system's CAs); for mTLS,
    ``cert_file`` and ``key_file`` are the client's own certificate and key (PEM)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a client certificate and its key go together")
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes() if self.ca_file else None,
            private_key=self.key_file.read_bytes() if self.key_file else None,
            certificate_chain=self.cert_file.read_bytes() if self.cert_file else None,
        )


Metadata = tuple[tuple[str, str], ...]


# How gRPC's own status for a target where nothing answers begins: nothing listens there, or no such host.
_NO_GATEWAY = ("failed to connect to all addresses", "errors resolving", "DNS resolution failed")


def _call_error(error: grpc.RpcError, target: str) -> DgxMusicError:
    """The DgxMusicError of a failed call; where no gateway answered at all, one that says so in words instead of
    gRPC's connection text. A gateway's own UNAVAILABLE (a model it cannot reach) carries its request id: kept."""
    failure = from_rpc_error(error)
    answered = request_id_of(error.trailing_metadata() if hasattr(error, "trailing_metadata") else None)
    if failure.code == grpc.StatusCode.UNAVAILABLE and answered is None and failure.message.startswith(_NO_GATEWAY):
        return type(failure)(failure.code, f"no gateway at {target} - is `dgx-music serve` running?")
    return failure


def request_id_of(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The x-request-id the gateway answers with (in a unary call's trailing metadata, in a failed call's, in a
    stream's initial metadata): the id of the call in its logs."""
    for key, value in metadata or ():
        if key == "x-request-id":
            return value if isinstance(value, str) else value.decode()
    return None


def _key_metadata(api_key: str | None) -> Metadata:
    """What every call sends: the API key, if the gateway wants one."""
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


@dataclass
class TranscribeResult:
    transcription: pb.Transcription = field(default_factory=pb.Transcription)
    summary: pb.Summary = field(default_factory=pb.Summary)


def upload_requests(request_type: Any, options: Any, source: AudioInput) -> Iterator[Any]:
    """The messages of a Transcribe/Separate call: options, then the audio (an audio file as it is, or float32
    frames [frames, channels] with their sample rate) as a header and chunks. The source is read (and refused with
    AudioFormatError) here, before any call: gRPC consumes the messages in a thread of its own."""
    return _followed_by_audio(request_type(options=options), request_type, source)


def _followed_by_audio(first: Any, request_type: Any, source: AudioInput) -> Iterator[Any]:
    """`first`, then the audio as `request_type` messages (audio_header, then audio_chunk...)."""
    data, header = _upload_source(source)

    def messages() -> Iterator[Any]:
        yield first
        for message in upload_messages(data, header):
            if isinstance(message, audio_pb2.AudioHeader):
                yield request_type(audio_header=message)
            else:
                yield request_type(audio_chunk=message)

    return messages()


def _upload_source(source: AudioInput) -> tuple[bytes, audio_pb2.AudioHeader]:
    if isinstance(source, Path):
        encoding = FILE_ENCODINGS.get(source.suffix.lower())
        if encoding is None:
            kinds = ", ".join(sorted(FILE_ENCODINGS))
            raise AudioFormatError("audio", f"send an audio file ({kinds}), not {source.name}")
        return source.read_bytes(), audio_pb2.AudioHeader(encoding=encoding)
    samples, sample_rate = source
    frames = np.asarray(samples, dtype="<f4").reshape(len(samples), -1)
    header = audio_pb2.AudioHeader(
        encoding=audio_pb2.AUDIO_ENCODING_PCM,
        sample_format=audio_pb2.SAMPLE_FORMAT_FLOAT32,
        sample_rate=sample_rate,
        channels=frames.shape[1],
        frames=frames.shape[0],
    )
    return frames.tobytes(), header


def _collect_transcription(result: TranscribeResult, response: Any, on_progress: ProgressCallback | None) -> None:
    kind = response.WhichOneof("event")
    if kind == "progress" and on_progress is not None:
        on_progress(response.progress)
    elif kind == "transcription":
        result.transcription = response.transcription
    elif kind == "summary":
        result.summary = response.summary


@dataclass
class TrainResult:
    """A train job's result: the adapter it saved (with both validation losses)."""

    adapter: pb.Adapter = field(default_factory=pb.Adapter)
    summary: pb.Summary = field(default_factory=pb.Summary)


def _collect_training(result: TrainResult, response: Any) -> None:
    kind = response.WhichOneof("event")
    if kind == "adapter":
        result.adapter = response.adapter
    elif kind == "summary":
        result.summary = response.summary


def training_files(directory: Path) -> tuple[list[Path], dict[str, str]]:
    """The audio files in `directory` (not its sub-folders), by name, and the caption of each that has one: the text
    of the .txt file of the same stem beside it ("take1.wav" -> "take1.txt")."""
    files = sorted(path for path in directory.iterdir() if path.is_file() and path.suffix.lower() in FILE_ENCODINGS)
    captions = {}
    for path in files:
        caption = path.with_suffix(".txt")
        if caption.is_file():
            captions[path.name] = caption.read_text(errors="replace").strip()
    return files, captions


def training_submission(request: pb.TrainRequest, files: Sequence[Path]) -> Iterator[jobs_pb2.SubmitJobRequest]:
    """The messages of a train job's SubmitJob: the request, then each file (an AudioHeader naming it, then its
    chunks), each read when its turn comes (refused with AudioFormatError if it is no audio file we send)."""
    if not files:
        raise ValueError("a train job needs audio files")
    for path in files:  # refused now, before any call
        if path.suffix.lower() not in FILE_ENCODINGS:
            raise AudioFormatError("audio", f"send audio files ({', '.join(sorted(FILE_ENCODINGS))}), not {path.name}")
    first = jobs_pb2.SubmitJobRequest(request=jobs_pb2.JobRequest(train=request))

    def messages() -> Iterator[jobs_pb2.SubmitJobRequest]:
        yield first
        for path in files:
            data, header = _upload_source(path)
            header.stem_name = path.name
            for message in upload_messages(data, header):
                if isinstance(message, audio_pb2.AudioHeader):
                    yield jobs_pb2.SubmitJobRequest(audio_header=message)
                else:
                    yield jobs_pb2.SubmitJobRequest(audio_chunk=message)

    return messages()


JobResult = ComposeResult | AudioResult | TranscribeResult | TrainResult
JobCallback = Callable[[jobs_pb2.Job], None]
JobRequestOf = (
    pb.ComposeRequest | pb.RenderRequest | pb.TranscriptionOptions | pb.SeparationOptions | pb.GenerateAudioRequest
)

# The JobRequest field of each MusicService request; the same names are WatchJobResponse's result events.
_JOB_FIELDS: dict[type, str] = {
    pb.ComposeRequest: "compose",
    pb.RenderRequest: "render",
    pb.TranscriptionOptions: "transcribe",
    pb.SeparationOptions: "separate",
    pb.GenerateAudioRequest: "generate_audio",
}
_UPLOADING_JOBS = {"transcribe", "separate"}
# Job.kind (the RPC's name) -> its JobRequest field.
_JOB_KINDS = {
    "Compose": "compose",
    "Render": "render",
    "Transcribe": "transcribe",
    "Separate": "separate",
    "GenerateAudio": "generate_audio",
    "Train": "train",
}
_RESULTS: dict[str, type[JobResult]] = {
    "compose": ComposeResult,
    "render": AudioResult,
    "transcribe": TranscribeResult,
    "separate": AudioResult,
    "generate_audio": AudioResult,
    "train": TrainResult,
}


def job_request(request: JobRequestOf) -> jobs_pb2.JobRequest:
    """The job that runs `request` (for transcribe and separate: their options; the audio goes with submit_job)."""
    job = jobs_pb2.JobRequest()
    getattr(job, _JOB_FIELDS[type(request)]).CopyFrom(request)
    return job


def job_submission(request: jobs_pb2.JobRequest, audio: AudioInput | None = None) -> Iterator[Any]:
    """The messages of a SubmitJob call: the request, then for transcribe and separate the audio, read here (and
    refused with AudioFormatError) before any call. A job that needs audio and has none, or has audio it does not
    take, is a ValueError: the server would refuse it anyway, after the upload."""
    kind = request.WhichOneof("request")
    if kind is None:
        raise ValueError("a JobRequest names what to run: compose, render, transcribe, separate or generate_audio")
    first = jobs_pb2.SubmitJobRequest(request=request)
    if kind in _UPLOADING_JOBS:
        if audio is None:
            raise ValueError(f"a {kind} job needs the audio to {kind}")
        return _followed_by_audio(first, jobs_pb2.SubmitJobRequest, audio)
    if audio is not None:
        raise ValueError(f"a {kind} job takes no audio (only transcribe and separate do)")
    return iter([first])


@dataclass
class JobOutcome:
    """How a watched job ended: its last snapshot and, if it SUCCEEDED, its results (ComposeResult for compose,
    TranscribeResult for transcribe, AudioResult for the others); for a compose job that FAILED in a later stage,
    the results its earlier stages made (ComposeResult.failed_stages names the failed ones)."""

    job: jobs_pb2.Job
    result: JobResult | None = None

    @property
    def succeeded(self) -> bool:
        return self.job.state == jobs_pb2.JOB_STATE_SUCCEEDED


class JobWatcher:
    """Folds a WatchJob stream: each job snapshot goes to ``on_job`` (and the progress of a running or succeeded
    one to ``on_progress``); the result events are unwrapped and fed to the collectors of the plain RPCs."""

    def __init__(self, on_progress: ProgressCallback | None = None, on_job: JobCallback | None = None) -> None:
        self.on_progress = on_progress
        self.on_job = on_job
        self.job = jobs_pb2.Job()
        self.result: JobResult | None = None

    def add(self, response: jobs_pb2.WatchJobResponse) -> None:
        kind = response.WhichOneof("event")
        if kind == "job":
            self.job = response.job
            if self.on_job is not None:
                self.on_job(self.job)
            # A queued job has no progress yet, or (queued to run again) that of a run that failed.
            running = self.job.state in (jobs_pb2.JOB_STATE_RUNNING, jobs_pb2.JOB_STATE_SUCCEEDED)
            if self.on_progress is not None and running and self.job.HasField("progress"):
                self.on_progress(self.job.progress)
        elif kind is not None:
            if self.result is None:
                self.result = _RESULTS[kind]()
            event = getattr(response, kind)
            if isinstance(self.result, TranscribeResult):
                _collect_transcription(self.result, event, None)
            elif isinstance(self.result, TrainResult):
                _collect_training(self.result, event)
            else:
                _collect(self.result, event, None)

    def outcome(self) -> JobOutcome:
        outcome = JobOutcome(self.job)
        if outcome.succeeded:
            # A result with no events (none so far) is still the result of its kind.
            outcome.result = self.result or _RESULTS[_JOB_KINDS.get(self.job.kind, "render")]()
        elif isinstance(self.result, ComposeResult) and self.result.failed_stages:
            outcome.result = self.result
        return outcome


def song_options(
    bpm: float | None = None,
    key: str | None = None,
    bars: int | None = None,
    seconds: float | None = None,
    seed: int | None = None,
    time_signature: str | None = None,
) -> pb.SongOptions:
    options = pb.SongOptions()
    if time_signature is not None:
        options.time_signature = time_signature
    if bpm is not None:
        options.bpm = bpm
    if key is not None:
        options.key = key
    if bars is not None:
        options.bars = bars
    if seconds is not None:
        options.seconds = seconds
    if seed is not None:
        options.seed = seed
    return options


def instrument_choices(by_track: Mapping[str, str]) -> list[pb.InstrumentChoice]:
    """InstrumentChoices from track -> instrument ({"drums": "lv2:avldrums", "piano": "lv2:mda-piano"}), in the
    mapping's order: the first choice that picks a track wins."""
    return [pb.InstrumentChoice(track=track, instrument=instrument) for track, instrument in by_track.items()]


def compose_request(
    prompt: str,
    *,
    options: pb.SongOptions | None = None,
    soundfont: str = "",
    audio_format: audio_pb2.AudioFormat | None = None,
    stems: bool = True,
    bypass_cache: bool = False,
    instruments: Iterable[pb.InstrumentChoice] = (),
    instrument_set: str = "",
) -> pb.ComposeRequest:
    """A ComposeRequest; `instruments` and `instrument_set` play tracks on other instruments than the soundfont
    (ListInstruments names them)."""
    return pb.ComposeRequest(
        prompt=prompt,
        options=options,
        soundfont=soundfont,
        audio_format=audio_format,
        stems=stems,
        bypass_cache=bypass_cache,
        instruments=instruments,
        instrument_set=instrument_set,
    )


class MusicClient:
    """Blocking client of the gateway at ``target`` (default: default_target()). ``timeout`` (seconds) becomes each
    call's gRPC deadline, passed on to Triton; ``tls`` (None: plaintext) and ``api_key`` reach a gateway that faces a
    network."""

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout: float | None = 300.0,
        tls: Tls | None = None,
        api_key: str | None = None,
    ) -> None:
        target = target or default_target()
        self.target = target
        # The x-request-id of the last unary call that answered (streams say theirs in their Summary).
        self.last_request_id: str | None = None
        if tls is None:
            self.channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        else:
            self.channel = grpc.secure_channel(target, tls.credentials(), options=_CHANNEL_OPTIONS)
        self.stub = pb_grpc.MusicServiceStub(self.channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.library = library_pb2_grpc.LibraryServiceStub(self.channel)
        self.timeout = timeout
        self.metadata = _key_metadata(api_key)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _stream(self, responses: Iterable[Any]) -> Iterator[Any]:
        try:
            yield from responses
        except grpc.RpcError as exc:
            raise _call_error(exc, self.target) from exc

    def _unary(
        self,
        method: "grpc.UnaryUnaryMultiCallable[Any, Any] | grpc.StreamUnaryMultiCallable[Any, Any]",
        request: Any,
        metadata: Metadata | None = None,
    ) -> Any:
        """One call with one answer, its errors as DgxMusicError."""
        try:
            response, call = method.with_call(
                request, timeout=self.timeout, metadata=self.metadata if metadata is None else metadata
            )
        except grpc.RpcError as exc:
            raise _call_error(exc, self.target) from exc
        self.last_request_id = request_id_of(call.trailing_metadata())
        return response

    def compose(self, request: pb.ComposeRequest, *, on_progress: ProgressCallback | None = None) -> ComposeResult:
        """The song, its audio and what else the request asks for. A stage that fails after earlier ones sent their
        results raises its error with those results as its `partial_result` (ComposeResult.failed_stages says
        which stages failed)."""
        result = ComposeResult()
        try:
            for response in self._stream(self.stub.Compose(request, timeout=self.timeout, metadata=self.metadata)):
                _collect(result, response, on_progress)
        except DgxMusicError as error:
            _keep_partial(error, result)
            raise
        return result

    def generate_midi(self, prompt: str, options: pb.SongOptions | None = None) -> pb.MidiResult:
        """One song for one prompt."""
        return self.generate_songs(pb.GenerateMidiRequest(prompt=prompt, options=options))[0]

    def generate_songs(self, request: pb.GenerateMidiRequest) -> list[pb.MidiResult]:
        """Every song of a request: each prompt's variations in seed order."""
        reply: pb.GenerateMidiResponse = self._unary(self.stub.GenerateMidi, request)
        return list(reply.songs)

    def render(self, request: pb.RenderRequest, *, on_progress: ProgressCallback | None = None) -> AudioResult:
        result = AudioResult()
        for response in self._stream(self.stub.Render(request, timeout=self.timeout, metadata=self.metadata)):
            _collect(result, response, on_progress)
        return result

    def upload_soundfont(self, path: Path) -> tuple[str, bool]:
        """The name ("sha256:<hex>") Render and Compose take for the SoundFont file at `path`, and whether this call
        uploaded it: a header alone asks the server first, and the file is sent only when the server lacks it."""
        header = soundfont_header(path, file_sha256(path))
        try:
            reply: pb.UploadSoundFontResponse = self._unary(self.stub.UploadSoundFont, header_only(header))
            return reply.soundfont, False
        except NotFoundError as error:
            if not any(violation.field == "soundfont" for violation in error.violations):
                raise
        reply = self._unary(self.stub.UploadSoundFont, upload_soundfont_messages(path, header))
        return reply.soundfont, True

    def transcribe(
        self,
        source: AudioInput,
        options: pb.TranscriptionOptions | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TranscribeResult:
        result = TranscribeResult()
        requests = upload_requests(pb.TranscribeRequest, options or pb.TranscriptionOptions(), source)
        for response in self._stream(self.stub.Transcribe(requests, timeout=self.timeout, metadata=self.metadata)):
            _collect_transcription(result, response, on_progress)
        return result

    def separate(
        self,
        source: AudioInput,
        options: pb.SeparationOptions | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> AudioResult:
        """The stems of any audio (no mix: AudioResult.mix stays empty)."""
        result = AudioResult()
        requests = upload_requests(pb.SeparateRequest, options or pb.SeparationOptions(), source)
        for response in self._stream(self.stub.Separate(requests, timeout=self.timeout, metadata=self.metadata)):
            _collect(result, response, on_progress)
        return result

    def generate_audio(
        self, request: pb.GenerateAudioRequest, *, on_progress: ProgressCallback | None = None
    ) -> AudioResult:
        """MusicGen: one clip per prompt in AudioResult.stems, keyed by position ("0", "1"...)."""
        result = AudioResult()
        for response in self._stream(self.stub.GenerateAudio(request, timeout=self.timeout, metadata=self.metadata)):
            _collect(result, response, on_progress)
        return result

    def submit_job(
        self, request: jobs_pb2.JobRequest, audio: AudioInput | None = None, *, request_id: str | None = None
    ) -> jobs_pb2.Job:
        """Queues `request` (with its audio, for transcribe and separate) and answers the queued job at once: it runs
        on the server whether or not this client stays. ``request_id`` labels it in the server's logs."""
        requests = job_submission(request, audio)
        reply: jobs_pb2.SubmitJobResponse = self._unary(
            self.jobs.SubmitJob, requests, _with_request_id(self, request_id)
        )
        return reply.job

    def watch_job(
        self, job_id: str, *, on_progress: ProgressCallback | None = None, on_job: JobCallback | None = None
    ) -> JobOutcome:
        """Follows a job until it ends (at once if it has) and reads its results if it succeeded. A job that failed
        or was cancelled is no error here: its outcome says so (job.state, job.error_code, job.error_message)."""
        watcher = JobWatcher(on_progress, on_job)
        request = jobs_pb2.WatchJobRequest(id=job_id)
        for response in self._stream(self.jobs.WatchJob(request, timeout=self.timeout, metadata=self.metadata)):
            watcher.add(response)
        return watcher.outcome()

    def submit_training(
        self, request: pb.TrainRequest, files: Sequence[Path], *, request_id: str | None = None
    ) -> jobs_pb2.Job:
        """Queues a train job on `files` (audio files, sent by name) and answers the queued job at once; watch_job
        follows it (its progress carries the loss) to its TrainResult."""
        reply: jobs_pb2.SubmitJobResponse = self._unary(
            self.jobs.SubmitJob, training_submission(request, files), _with_request_id(self, request_id)
        )
        return reply.job

    def get_job(self, job_id: str) -> jobs_pb2.Job:
        reply: jobs_pb2.GetJobResponse = self._unary(self.jobs.GetJob, jobs_pb2.GetJobRequest(id=job_id))
        return reply.job

    def list_jobs(self, page_size: int = 0, page_token: str = "") -> tuple[list[jobs_pb2.Job], str]:
        """One page of the caller's jobs, newest first, and the token of the next page ("" after the last)."""
        request = jobs_pb2.ListJobsRequest(page_size=page_size, page_token=page_token)
        reply: jobs_pb2.ListJobsResponse = self._unary(self.jobs.ListJobs, request)
        return list(reply.jobs), reply.next_page_token

    def iter_jobs(self, page_size: int = 0) -> Iterator[jobs_pb2.Job]:
        """All of the caller's jobs, newest first, a page at a time."""
        page_token = ""
        while True:
            jobs, page_token = self.list_jobs(page_size, page_token)
            yield from jobs
            if not page_token:
                return

    def cancel_job(self, job_id: str) -> jobs_pb2.Job:
        """Stops a queued or running job; a finished one is answered as it is."""
        request = jobs_pb2.CancelJobRequest(id=job_id)
        reply: jobs_pb2.CancelJobResponse = self._unary(self.jobs.CancelJob, request)
        return reply.job

    # -- the library ---------------------------------------------------------------------------------------------

    def search_library(self, request: library_pb2.SearchLibraryRequest) -> tuple[list[library_pb2.LibraryItem], str]:
        """One page of the caller's items that match, best first, and the next page's token ("" after the last)."""
        reply: library_pb2.SearchLibraryResponse = self._unary(self.library.SearchLibrary, request)
        return list(reply.items), reply.next_page_token

    def similar_items(
        self, item_id: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[library_pb2.LibraryItem], str]:
        """One page of the caller's items closest to one, best first, and the next page's token."""
        request = library_pb2.SimilarItemsRequest(id=item_id, page_size=page_size, page_token=page_token)
        reply: library_pb2.SimilarItemsResponse = self._unary(self.library.SimilarItems, request)
        return list(reply.items), reply.next_page_token

    def get_item(self, item_id: str) -> library_pb2.LibraryItem:
        reply: library_pb2.GetItemResponse = self._unary(self.library.GetItem, library_pb2.GetItemRequest(id=item_id))
        return reply.item

    def get_item_file(self, item_id: str, name: str) -> bytes:
        """One file of an item, whole."""
        request = library_pb2.GetItemFileRequest(id=item_id, name=name)
        responses = self.library.GetItemFile(request, timeout=self.timeout, metadata=self.metadata)
        return b"".join(response.data for response in self._stream(responses))

    def download_item(self, item_id: str, out_dir: Path) -> list[Path]:
        """Writes an item's files under `out_dir` (by their names), each checked against its SHA-256."""
        item = self.get_item(item_id)
        return [write_item_file(out_dir, file, self.get_item_file(item_id, file.name)) for file in item.files]

    def list_items(self, page_size: int = 0, page_token: str = "") -> tuple[list[library_pb2.LibraryItem], str]:
        """One page of the caller's items, newest first, and the next page's token."""
        request = library_pb2.ListItemsRequest(page_size=page_size, page_token=page_token)
        reply: library_pb2.ListItemsResponse = self._unary(self.library.ListItems, request)
        return list(reply.items), reply.next_page_token

    def tag_item(self, item_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> library_pb2.LibraryItem:
        request = library_pb2.TagItemRequest(id=item_id, add=list(add), remove=list(remove))
        reply: library_pb2.TagItemResponse = self._unary(self.library.TagItem, request)
        return reply.item

    def pin_item(self, item_id: str, pinned: bool = True) -> library_pb2.LibraryItem:
        request = library_pb2.PinItemRequest(id=item_id, pinned=pinned)
        reply: library_pb2.PinItemResponse = self._unary(self.library.PinItem, request)
        return reply.item

    def delete_item(self, item_id: str) -> None:
        self._unary(self.library.DeleteItem, library_pb2.DeleteItemRequest(id=item_id))

    def list_models(self) -> list[pb.ModelStatus]:
        return list(self.models_and_adapters().models)

    def models_and_adapters(self) -> pb.ListModelsResponse:
        """The models and the fine-tuned adapters the server has: the whole answer, as it has both."""
        reply: pb.ListModelsResponse = self._unary(self.stub.ListModels, pb.ListModelsRequest())
        return reply

    def list_instruments(self) -> pb.ListInstrumentsResponse:
        """Every instrument Render and Compose can play a track with (by the name an InstrumentChoice gives it) and
        the built-in instrument sets: the whole answer, as it has both."""
        reply: pb.ListInstrumentsResponse = self._unary(self.stub.ListInstruments, pb.ListInstrumentsRequest())
        return reply

    def health(self, service: str = "") -> str:
        """SERVING, NOT_SERVING, ... for the whole server ("") or one service."""
        try:
            reply = health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            raise _call_error(exc, self.target) from exc
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


class AsyncMusicClient:
    """asyncio client with the same calls and options as MusicClient."""

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout: float | None = 300.0,
        tls: Tls | None = None,
        api_key: str | None = None,
    ) -> None:
        target = target or default_target()
        self.target = target
        # The x-request-id of the last unary call that answered (streams say theirs in their Summary).
        self.last_request_id: str | None = None
        if tls is None:
            self.channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        else:
            self.channel = grpc.aio.secure_channel(target, tls.credentials(), options=_CHANNEL_OPTIONS)
        self.stub = pb_grpc.MusicServiceStub(self.channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.library = library_pb2_grpc.LibraryServiceStub(self.channel)
        self.timeout = timeout
        self.metadata = _key_metadata(api_key)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def _stream(self, responses: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for response in responses:
                yield response
        except grpc.RpcError as exc:
            raise _call_error(exc, self.target) from exc

    async def _unary(self, method: Callable[..., Any], request: Any, metadata: Metadata | None = None) -> Any:
        """One call with one answer, its errors as DgxMusicError."""
        try:
            call = method(request, timeout=self.timeout, metadata=self.metadata if metadata is None else metadata)
            response = await call
            self.last_request_id = request_id_of(await call.trailing_metadata())
        except grpc.RpcError as exc:
            raise _call_error(exc, self.target) from exc
        return response

    async def compose(
        self, request: pb.ComposeRequest, *, on_progress: ProgressCallback | None = None
    ) -> ComposeResult:
        """As MusicClient.compose: a stage failing after earlier ones raises its error with their results as its
        `partial_result`."""
        result = ComposeResult()
        call = self.stub.Compose(request, timeout=self.timeout, metadata=self.metadata)
        try:
            async for response in self._stream(call):
                _collect(result, response, on_progress)
        except DgxMusicError as error:
            _keep_partial(error, result)
            raise
        return result

    async def generate_midi(self, prompt: str, options: pb.SongOptions | None = None) -> pb.MidiResult:
        return (await self.generate_songs(pb.GenerateMidiRequest(prompt=prompt, options=options)))[0]

    async def generate_songs(self, request: pb.GenerateMidiRequest) -> list[pb.MidiResult]:
        reply: pb.GenerateMidiResponse = await self._unary(self.stub.GenerateMidi, request)
        return list(reply.songs)

    async def render(self, request: pb.RenderRequest, *, on_progress: ProgressCallback | None = None) -> AudioResult:
        result = AudioResult()
        async for response in self._stream(self.stub.Render(request, timeout=self.timeout, metadata=self.metadata)):
            _collect(result, response, on_progress)
        return result

    async def upload_soundfont(self, path: Path) -> tuple[str, bool]:
        """As MusicClient.upload_soundfont: the font's name for Render and Compose, and whether it was sent."""
        header = await asyncio.to_thread(lambda: soundfont_header(path, file_sha256(path)))
        try:
            reply: pb.UploadSoundFontResponse = await self._unary(self.stub.UploadSoundFont, header_only(header))
            return reply.soundfont, False
        except NotFoundError as error:
            if not any(violation.field == "soundfont" for violation in error.violations):
                raise
        reply = await self._unary(self.stub.UploadSoundFont, upload_soundfont_messages(path, header))
        return reply.soundfont, True

    async def transcribe(
        self,
        source: AudioInput,
        options: pb.TranscriptionOptions | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TranscribeResult:
        result = TranscribeResult()
        requests = upload_requests(pb.TranscribeRequest, options or pb.TranscriptionOptions(), source)
        async for response in self._stream(
            self.stub.Transcribe(requests, timeout=self.timeout, metadata=self.metadata)
        ):
            _collect_transcription(result, response, on_progress)
        return result

    async def separate(
        self,
        source: AudioInput,
        options: pb.SeparationOptions | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> AudioResult:
        result = AudioResult()
        requests = upload_requests(pb.SeparateRequest, options or pb.SeparationOptions(), source)
        async for response in self._stream(self.stub.Separate(requests, timeout=self.timeout, metadata=self.metadata)):
            _collect(result, response, on_progress)
        return result

    async def generate_audio(
        self, request: pb.GenerateAudioRequest, *, on_progress: ProgressCallback | None = None
    ) -> AudioResult:
        result = AudioResult()
        async for response in self._stream(
            self.stub.GenerateAudio(request, timeout=self.timeout, metadata=self.metadata)
        ):
            _collect(result, response, on_progress)
        return result

    async def submit_job(
        self, request: jobs_pb2.JobRequest, audio: AudioInput | None = None, *, request_id: str | None = None
    ) -> jobs_pb2.Job:
        requests = job_submission(request, audio)
        reply: jobs_pb2.SubmitJobResponse = await self._unary(
            self.jobs.SubmitJob, requests, _with_request_id(self, request_id)
        )
        return reply.job

    async def submit_training(
        self, request: pb.TrainRequest, files: Sequence[Path], *, request_id: str | None = None
    ) -> jobs_pb2.Job:
        reply: jobs_pb2.SubmitJobResponse = await self._unary(
            self.jobs.SubmitJob, training_submission(request, files), _with_request_id(self, request_id)
        )
        return reply.job

    async def watch_job(
        self, job_id: str, *, on_progress: ProgressCallback | None = None, on_job: JobCallback | None = None
    ) -> JobOutcome:
        watcher = JobWatcher(on_progress, on_job)
        request = jobs_pb2.WatchJobRequest(id=job_id)
        async for response in self._stream(self.jobs.WatchJob(request, timeout=self.timeout, metadata=self.metadata)):
            watcher.add(response)
        return watcher.outcome()

    async def get_job(self, job_id: str) -> jobs_pb2.Job:
        reply: jobs_pb2.GetJobResponse = await self._unary(self.jobs.GetJob, jobs_pb2.GetJobRequest(id=job_id))
        return reply.job

    async def list_jobs(self, page_size: int = 0, page_token: str = "") -> tuple[list[jobs_pb2.Job], str]:
        request = jobs_pb2.ListJobsRequest(page_size=page_size, page_token=page_token)
        reply: jobs_pb2.ListJobsResponse = await self._unary(self.jobs.ListJobs, request)
        return list(reply.jobs), reply.next_page_token

    async def iter_jobs(self, page_size: int = 0) -> AsyncIterator[jobs_pb2.Job]:
        page_token = ""
        while True:
            jobs, page_token = await self.list_jobs(page_size, page_token)
            for job in jobs:
                yield job
            if not page_token:
                return

    async def cancel_job(self, job_id: str) -> jobs_pb2.Job:
        request = jobs_pb2.CancelJobRequest(id=job_id)
        reply: jobs_pb2.CancelJobResponse = await self._unary(self.jobs.CancelJob, request)
        return reply.job

    # -- the library ---------------------------------------------------------------------------------------------

    async def search_library(
        self, request: library_pb2.SearchLibraryRequest
    ) -> tuple[list[library_pb2.LibraryItem], str]:
        """One page of the caller's items that match, best first, and the next page's token ("" after the last)."""
        reply: library_pb2.SearchLibraryResponse = await self._unary(self.library.SearchLibrary, request)
        return list(reply.items), reply.next_page_token

    async def similar_items(
        self, item_id: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[library_pb2.LibraryItem], str]:
        """One page of the caller's items closest to one, best first, and the next page's token."""
        request = library_pb2.SimilarItemsRequest(id=item_id, page_size=page_size, page_token=page_token)
        reply: library_pb2.SimilarItemsResponse = await self._unary(self.library.SimilarItems, request)
        return list(reply.items), reply.next_page_token

    async def get_item(self, item_id: str) -> library_pb2.LibraryItem:
        reply: library_pb2.GetItemResponse = await self._unary(
            self.library.GetItem, library_pb2.GetItemRequest(id=item_id)
        )
        return reply.item

    async def get_item_file(self, item_id: str, name: str) -> bytes:
        """One file of an item, whole."""
        request = library_pb2.GetItemFileRequest(id=item_id, name=name)
        responses = self.library.GetItemFile(request, timeout=self.timeout, metadata=self.metadata)
        return b"".join([response.data async for response in self._stream(responses)])

    async def download_item(self, item_id: str, out_dir: Path) -> list[Path]:
        """Writes an item's files under `out_dir` (by their names), each checked against its SHA-256."""
        item = await self.get_item(item_id)
        return [write_item_file(out_dir, file, await self.get_item_file(item_id, file.name)) for file in item.files]

    async def list_items(self, page_size: int = 0, page_token: str = "") -> tuple[list[library_pb2.LibraryItem], str]:
        """One page of the caller's items, newest first, and the next page's token."""
        request = library_pb2.ListItemsRequest(page_size=page_size, page_token=page_token)
        reply: library_pb2.ListItemsResponse = await self._unary(self.library.ListItems, request)
        return list(reply.items), reply.next_page_token

    async def tag_item(
        self, item_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> library_pb2.LibraryItem:
        request = library_pb2.TagItemRequest(id=item_id, add=list(add), remove=list(remove))
        reply: library_pb2.TagItemResponse = await self._unary(self.library.TagItem, request)
        return reply.item

    async def pin_item(self, item_id: str, pinned: bool = True) -> library_pb2.LibraryItem:
        request = library_pb2.PinItemRequest(id=item_id, pinned=pinned)
        reply: library_pb2.PinItemResponse = await self._unary(self.library.PinItem, request)
        return reply.item

    async def delete_item(self, item_id: str) -> None:
        await self._unary(self.library.DeleteItem, library_pb2.DeleteItemRequest(id=item_id))

    async def list_models(self) -> list[pb.ModelStatus]:
        return list((await self.models_and_adapters()).models)

    async def models_and_adapters(self) -> pb.ListModelsResponse:
        reply: pb.ListModelsResponse = await self._unary(self.stub.ListModels, pb.ListModelsRequest())
        return reply

    async def list_instruments(self) -> pb.ListInstrumentsResponse:
        """As MusicClient.list_instruments."""
        reply: pb.ListInstrumentsResponse = await self._unary(self.stub.ListInstruments, pb.ListInstrumentsRequest())
        return reply

    async def health(self, service: str = "") -> str:
        try:
            reply = await health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            raise _call_error(exc, self.target) from exc
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def _with_request_id(client: "MusicClient | AsyncMusicClient", request_id: str | None) -> Metadata:
    """The client's metadata, and an x-request-id to find the call (and its job) in the server's logs."""
    return (*client.metadata, ("x-request-id", request_id)) if request_id else client.metadata

"""The jobs part of the client and the CLI without the stack: requests built and refused client-side, WatchJob events
folded into the results the plain RPCs give, and the calls and commands against a fake JobService in-process."""

import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from rich.console import Console

from clients.cli import _jobs_table, main
from clients.client import (
    AsyncMusicClient,
    AudioResult,
    ComposeResult,
    JobRequestOf,
    JobWatcher,
    MusicClient,
    TranscribeResult,
    job_request,
    job_submission,
)
from clients.errors import InvalidRequestError, NotFoundError
from dgxmusic.audio import AudioFormatError, FloatAudio, upload_messages
from dgxmusic.v1 import audio_pb2, jobs_pb2, jobs_pb2_grpc
from dgxmusic.v1 import music_service_pb2 as pb

RATE = 44100
MIDI = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"


def _audio_events(response_type: Any, stem_name: str, frames: FloatAudio) -> list[Any]:
    """One float32 PCM stream as a plain RPC streams it: a header, then its chunks."""
    header = audio_pb2.AudioHeader(
        stem_name=stem_name,
        sample_rate=RATE,
        channels=frames.shape[1],
        sample_format=audio_pb2.SAMPLE_FORMAT_FLOAT32,
        encoding=audio_pb2.AUDIO_ENCODING_PCM,
        frames=frames.shape[0],
    )
    return [
        response_type(audio_header=m) if isinstance(m, audio_pb2.AudioHeader) else response_type(audio_chunk=m)
        for m in upload_messages(frames.astype("<f4").tobytes(), header, chunk_bytes=1000)
    ]


def _job(state: jobs_pb2.JobState, kind: str = "Compose", fraction: float = 0.0, **fields: Any) -> jobs_pb2.Job:
    job = jobs_pb2.Job(id=uuid.uuid4().hex, kind=kind, state=state, **fields)
    job.progress.fraction = fraction
    job.create_time.GetCurrentTime()
    return job


def _snapshot(job: jobs_pb2.Job, state: jobs_pb2.JobState, fraction: float) -> jobs_pb2.WatchJobResponse:
    copy = jobs_pb2.Job()
    copy.CopyFrom(job)
    copy.state = state
    copy.progress.fraction = fraction
    return jobs_pb2.WatchJobResponse(job=copy)


MIX = np.linspace(-0.5, 0.5, 2 * 441, dtype=np.float32).reshape(441, 2)


def _compose_results() -> list[jobs_pb2.WatchJobResponse]:
    events = [
        pb.ComposeResponse(midi=pb.MidiResult(midi=MIDI, info=pb.SongInfo(genre="trap", bpm=140, bars=2))),
        *_audio_events(pb.ComposeResponse, "", MIX),
        *_audio_events(pb.ComposeResponse, "drums", MIX / 2),
        pb.ComposeResponse(summary=pb.Summary(request_id="r-1", total_seconds=0.5)),
    ]
    return [jobs_pb2.WatchJobResponse(compose=event) for event in events]


def _transcribe_results() -> list[jobs_pb2.WatchJobResponse]:
    transcription = pb.Transcription(midi=MIDI, notes=[pb.Note(pitch=69, start_seconds=0, end_seconds=0.5)])
    return [
        jobs_pb2.WatchJobResponse(transcribe=pb.TranscribeResponse(transcription=transcription)),
        jobs_pb2.WatchJobResponse(transcribe=pb.TranscribeResponse(summary=pb.Summary(request_id="r-2"))),
    ]


# Requests


def test_each_music_service_request_becomes_the_job_of_its_kind() -> None:
    requests: dict[str, JobRequestOf] = {
        "compose": pb.ComposeRequest(prompt="trap"),
        "render": pb.RenderRequest(midi=MIDI),
        "transcribe": pb.TranscriptionOptions(onset_threshold=0.4),
        "separate": pb.SeparationOptions(model="htdemucs"),
        "generate_audio": pb.GenerateAudioRequest(prompt="lofi", seconds=2),
    }
    for kind, request in requests.items():
        job = job_request(request)
        assert job.WhichOneof("request") == kind
        assert getattr(job, kind) == request


def test_a_job_without_audio_is_one_message() -> None:
    request = job_request(pb.ComposeRequest(prompt="trap"))
    assert list(job_submission(request)) == [jobs_pb2.SubmitJobRequest(request=request)]


def test_transcribe_and_separate_jobs_send_their_audio_after_the_request() -> None:
    request = job_request(pb.SeparationOptions(model="htdemucs"))
    messages = list(job_submission(request, (MIX, RATE)))
    assert [m.WhichOneof("message") for m in messages] == ["request", "audio_header", "audio_chunk"]
    assert messages[0].request == request
    header = messages[1].audio_header
    assert (header.sample_rate, header.channels, header.frames) == (RATE, 2, 441)
    assert messages[2].audio_chunk.data == MIX.astype("<f4").tobytes()
    assert messages[2].audio_chunk.last


def test_audio_a_job_needs_is_required_and_audio_it_does_not_take_is_refused() -> None:
    with pytest.raises(ValueError, match="transcribe job needs the audio"):
        job_submission(job_request(pb.TranscriptionOptions()))
    with pytest.raises(ValueError, match="compose job takes no audio"):
        job_submission(job_request(pb.ComposeRequest(prompt="trap")), (MIX, RATE))
    with pytest.raises(ValueError, match="names what to run"):
        job_submission(jobs_pb2.JobRequest())


def test_an_upload_that_is_no_audio_file_is_refused_before_any_call(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    with pytest.raises(AudioFormatError, match=r"notes\.txt"):
        job_submission(job_request(pb.TranscriptionOptions()), notes)


# Watching


def test_a_watched_compose_job_gives_progress_snapshots_and_the_compose_result() -> None:
    job = _job(jobs_pb2.JOB_STATE_QUEUED)
    progress: list[float] = []
    states: list[int] = []
    watcher = JobWatcher(on_progress=lambda p: progress.append(p.fraction), on_job=lambda j: states.append(j.state))
    for response in [
        _snapshot(job, jobs_pb2.JOB_STATE_QUEUED, 0.0),
        _snapshot(job, jobs_pb2.JOB_STATE_RUNNING, 0.25),
        _snapshot(job, jobs_pb2.JOB_STATE_RUNNING, 0.75),
        _snapshot(job, jobs_pb2.JOB_STATE_SUCCEEDED, 1.0),
        *_compose_results(),
    ]:
        watcher.add(response)
    outcome = watcher.outcome()
    assert outcome.succeeded
    assert outcome.job.id == job.id
    assert progress == [0.25, 0.75, 1.0]
    assert states == [jobs_pb2.JOB_STATE_QUEUED] + [jobs_pb2.JOB_STATE_RUNNING] * 2 + [jobs_pb2.JOB_STATE_SUCCEEDED]
    result = outcome.result
    assert isinstance(result, ComposeResult)
    assert (result.midi, result.info.genre, result.sample_rate) == (MIDI, "trap", RATE)
    np.testing.assert_array_equal(result.mix, MIX)
    np.testing.assert_array_equal(result.stems["drums"], MIX / 2)
    assert result.summary.request_id == "r-1"


def test_a_watched_transcribe_job_gives_the_transcription() -> None:
    job = _job(jobs_pb2.JOB_STATE_SUCCEEDED, kind="Transcribe")
    watcher = JobWatcher()
    for response in [jobs_pb2.WatchJobResponse(job=job), *_transcribe_results()]:
        watcher.add(response)
    result = watcher.outcome().result
    assert isinstance(result, TranscribeResult)
    assert [note.pitch for note in result.transcription.notes] == [69]
    assert result.summary.request_id == "r-2"


@pytest.mark.parametrize("kind", ["render", "separate", "generate_audio"])
def test_the_audio_jobs_give_an_audio_result(kind: str) -> None:
    response_type = {"render": pb.RenderResponse, "separate": pb.SeparateResponse}.get(kind, pb.GenerateAudioResponse)
    watcher = JobWatcher()
    watcher.add(jobs_pb2.WatchJobResponse(job=_job(jobs_pb2.JOB_STATE_SUCCEEDED)))
    for event in _audio_events(response_type, "0", MIX):
        watcher.add(jobs_pb2.WatchJobResponse(**{kind: event}))
    result = watcher.outcome().result
    assert type(result) is AudioResult
    np.testing.assert_array_equal(result.stems["0"], MIX)


@pytest.mark.parametrize("state", [jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED])
def test_a_job_that_did_not_succeed_has_no_result_but_its_error(state: jobs_pb2.JobState) -> None:
    job = _job(state, error_code="INVALID_ARGUMENT", error_message="options.bpm: out of range")
    watcher = JobWatcher()
    watcher.add(jobs_pb2.WatchJobResponse(job=job))
    outcome = watcher.outcome()
    assert not outcome.succeeded
    assert outcome.result is None
    assert outcome.job.error_message == "options.bpm: out of range"


def test_a_succeeded_job_without_result_events_still_has_the_result_of_its_kind() -> None:
    watcher = JobWatcher()
    watcher.add(jobs_pb2.WatchJobResponse(job=_job(jobs_pb2.JOB_STATE_SUCCEEDED, kind="Transcribe")))
    assert isinstance(watcher.outcome().result, TranscribeResult)


def test_the_jobs_table_shows_whole_ids_at_a_terminal_s_width() -> None:
    jobs = [
        _job(jobs_pb2.JOB_STATE_RUNNING, fraction=0.5, attempts=1, description="trap beat with 808 bass " * 4),
        _job(jobs_pb2.JOB_STATE_SUCCEEDED, kind="GenerateAudio", attempts=1, description="lofi"),
    ]
    console = Console(width=100, record=True)
    console.print(_jobs_table(jobs, jobs[0].create_time.ToDatetime(tzinfo=UTC)))
    text = console.export_text()
    for job in jobs:
        assert job.id in text
    assert "running" in text
    assert "50%" in text
    assert "100%" in text


# Calls and commands against a fake JobService


@dataclass
class FakeJobs(jobs_pb2_grpc.JobServiceServicer):  # type: ignore[misc]
    """Keeps what it was sent; answers from `jobs` and each job's WatchJob stream in `watches`."""

    jobs: dict[str, jobs_pb2.Job] = field(default_factory=dict)
    watches: dict[str, list[jobs_pb2.WatchJobResponse]] = field(default_factory=dict)
    submitted: list[list[jobs_pb2.SubmitJobRequest]] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)

    def add(self, job: jobs_pb2.Job, results: list[jobs_pb2.WatchJobResponse] | None = None) -> str:
        self.jobs[job.id] = job
        self.watches[job.id] = [jobs_pb2.WatchJobResponse(job=job), *(results or [])]
        return job.id

    def SubmitJob(self, request_iterator: Iterator[jobs_pb2.SubmitJobRequest], context: Any) -> Any:
        messages = list(request_iterator)
        self.submitted.append(messages)
        self.metadata.append(dict(context.invocation_metadata()))
        if messages[0].request.compose.options.bpm < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "options.bpm must be positive")
        kind = {"compose": "Compose", "transcribe": "Transcribe"}[messages[0].request.WhichOneof("request")]
        job = _job(jobs_pb2.JOB_STATE_QUEUED, kind=kind)
        self.add(job)
        return jobs_pb2.SubmitJobResponse(job=job)

    def _found(self, job_id: str, context: Any) -> jobs_pb2.Job:
        if job_id not in self.jobs:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no job {job_id}")
        return self.jobs[job_id]

    def WatchJob(self, request: jobs_pb2.WatchJobRequest, context: Any) -> Iterator[jobs_pb2.WatchJobResponse]:
        self._found(request.id, context)
        yield from self.watches[request.id]

    def GetJob(self, request: jobs_pb2.GetJobRequest, context: Any) -> Any:
        return jobs_pb2.GetJobResponse(job=self._found(request.id, context))

    def ListJobs(self, request: jobs_pb2.ListJobsRequest, context: Any) -> Any:
        newest_first = list(reversed(self.jobs.values()))
        start = int(request.page_token or 0)
        end = start + (request.page_size or 100)
        token = str(end) if end < len(newest_first) else ""
        return jobs_pb2.ListJobsResponse(jobs=newest_first[start:end], next_page_token=token)

    def CancelJob(self, request: jobs_pb2.CancelJobRequest, context: Any) -> Any:
        job = self._found(request.id, context)
        if job.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING):
            job.state = jobs_pb2.JOB_STATE_CANCELLED
            self.add(job)
        return jobs_pb2.CancelJobResponse(job=job)


@dataclass
class Fake:
    jobs: FakeJobs
    target: str


@pytest.fixture
def fake() -> Iterator[Fake]:
    servicer = FakeJobs()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    jobs_pb2_grpc.add_JobServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield Fake(servicer, f"127.0.0.1:{port}")
    server.stop(grace=None)


def _succeeded(kind: str) -> jobs_pb2.Job:
    return _job(jobs_pb2.JOB_STATE_SUCCEEDED, kind=kind, fraction=1.0, attempts=1)


def test_the_client_submits_with_its_key_and_request_id_and_reads_jobs_back(fake: Fake) -> None:
    with MusicClient(fake.target, api_key="k-1") as music:
        job = music.submit_job(job_request(pb.TranscriptionOptions()), (MIX, RATE), request_id="label-1")
        assert job.state == jobs_pb2.JOB_STATE_QUEUED
        assert [m.WhichOneof("message") for m in fake.jobs.submitted[0]] == ["request", "audio_header", "audio_chunk"]
        assert fake.jobs.metadata[0]["authorization"] == "Bearer k-1"
        assert fake.jobs.metadata[0]["x-request-id"] == "label-1"
        assert music.get_job(job.id) == job
        assert music.cancel_job(job.id).state == jobs_pb2.JOB_STATE_CANCELLED


def test_the_client_pages_through_the_jobs_newest_first(fake: Fake) -> None:
    ids = [fake.jobs.add(_job(jobs_pb2.JOB_STATE_QUEUED)) for _ in range(5)]
    with MusicClient(fake.target) as music:
        page, token = music.list_jobs(page_size=2)
        assert ([job.id for job in page], token) == (ids[:2:-1], "2")
        assert [job.id for job in music.iter_jobs(page_size=2)] == ids[::-1]


def test_the_client_raises_not_found_and_bad_requests_as_their_errors(fake: Fake) -> None:
    with MusicClient(fake.target) as music:
        with pytest.raises(NotFoundError):
            music.watch_job("0" * 32)
        with pytest.raises(InvalidRequestError):
            music.submit_job(job_request(pb.ComposeRequest(options=pb.SongOptions(bpm=-1))))


async def test_the_async_client_watches_and_lists_as_the_blocking_one(fake: Fake) -> None:
    job_id = fake.jobs.add(_succeeded("Compose"), _compose_results())
    async with AsyncMusicClient(fake.target) as music:
        outcome = await music.watch_job(job_id)
        assert isinstance(outcome.result, ComposeResult)
        assert outcome.result.midi == MIDI
        assert [job.id async for job in music.iter_jobs(page_size=1)] == [job_id]
        with pytest.raises(NotFoundError):
            await music.get_job("0" * 32)


def _cli(fake: Fake, *args: str) -> Any:
    return CliRunner().invoke(main, [*args, "--server", fake.target])


def test_detach_prints_only_the_job_id(fake: Fake, tmp_path: Path) -> None:
    done = _cli(fake, "compose", "trap", "--bars", "2", "--detach")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() in fake.jobs.jobs
    assert done.stderr == ""
    wav = tmp_path / "take.wav"
    soundfile.write(wav, MIX, RATE)
    done = _cli(fake, "transcribe", str(wav), "--detach")
    assert done.exit_code == 0, done.output
    assert fake.jobs.jobs[done.stdout.strip()].kind == "Transcribe"
    assert fake.jobs.submitted[-1][1].audio_header.encoding == audio_pb2.AUDIO_ENCODING_WAV


def test_watch_out_writes_a_compose_job_s_song_as_compose_does(fake: Fake, tmp_path: Path) -> None:
    job_id = fake.jobs.add(_succeeded("Compose"), _compose_results())
    done = _cli(fake, "jobs", "watch", job_id, "--out", str(tmp_path / "song"))
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "SUCCEEDED"
    assert (tmp_path / "song" / "song.mid").read_bytes() == MIDI
    mix, rate = soundfile.read(tmp_path / "song" / "mix.wav", dtype="float32")
    assert rate == RATE
    np.testing.assert_array_equal(mix, MIX)
    assert (tmp_path / "song" / "stems" / "drums.wav").exists()


def test_get_out_writes_a_transcription_and_says_when_a_job_has_not_finished(fake: Fake, tmp_path: Path) -> None:
    job_id = fake.jobs.add(_succeeded("Transcribe"), _transcribe_results())
    done = _cli(fake, "jobs", "get", job_id, "--out", str(tmp_path))
    assert done.exit_code == 0, done.output
    assert "SUCCEEDED" in done.stdout
    assert (tmp_path / "transcription.mid").read_bytes() == MIDI
    running = fake.jobs.add(_job(jobs_pb2.JOB_STATE_RUNNING, fraction=0.4))
    done = _cli(fake, "jobs", "get", running, "--out", str(tmp_path / "later"))
    assert done.exit_code == 1
    assert "not finished" in done.stderr
    assert not (tmp_path / "later").exists()
    assert _cli(fake, "jobs", "get", running).exit_code == 0


@pytest.mark.parametrize(
    ("state", "error_code", "says", "exit_code"),
    [
        (jobs_pb2.JOB_STATE_FAILED, "UNAVAILABLE", "failed", 75),  # a script may submit it again later
        (jobs_pb2.JOB_STATE_FAILED, "FAILED_PRECONDITION", "failed", 69),  # not until the weights are there
        (jobs_pb2.JOB_STATE_FAILED, "INTERNAL", "failed", 1),
        (jobs_pb2.JOB_STATE_CANCELLED, "", "cancelled", 1),
    ],
)
def test_a_failed_job_exits_as_its_error_and_a_cancelled_one_1_saying_so(
    fake: Fake, state: jobs_pb2.JobState, error_code: str, says: str, exit_code: int
) -> None:
    job_id = fake.jobs.add(_job(state, error_code=error_code, error_message="fluidsynth is [down]"))
    for command in ("watch", "get"):
        done = _cli(fake, "jobs", command, job_id)
        assert done.exit_code == exit_code, done.output
        assert says in done.stderr
    if state == jobs_pb2.JOB_STATE_FAILED:
        assert "fluidsynth is [down]" in " ".join(done.stderr.split())  # as the terminal's width wraps it


def test_an_unknown_job_exits_2_as_other_requests_to_fix(fake: Fake) -> None:
    for command in ("watch", "get", "cancel"):
        done = _cli(fake, "jobs", command, "0" * 32)
        assert done.exit_code == 2, done.output
        assert "NOT_FOUND" in done.stderr


def test_list_and_cancel(fake: Fake) -> None:
    running = fake.jobs.add(_job(jobs_pb2.JOB_STATE_RUNNING, fraction=0.5, description="trap beat"))
    done = _cli(fake, "jobs", "list")
    assert done.exit_code == 0, done.output
    assert running in done.stdout
    assert "trap beat" in done.stdout
    done = _cli(fake, "jobs", "cancel", running)
    assert (done.exit_code, done.stdout.strip()) == (0, "CANCELLED")
    done = _cli(fake, "jobs", "list", "--json")
    assert '"state": "JOB_STATE_CANCELLED"' in done.stdout

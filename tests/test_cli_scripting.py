"""The CLI's own logic for scripts, without a server: one mapping from what went wrong to the exit code, the
gateway's address from the server's settings, files refused or replaced whole, and where each input's result goes.
The same features through the real stack are in test_stack_cli_scripting.py."""

import json
from pathlib import Path

import click
import grpc
import pytest
from click.testing import CliRunner

from clients.cli import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_MODEL_MISSING,
    EXIT_RETRY_LATER,
    STDIO,
    Refused,
    Targets,
    _each_output,
    exit_code,
    main,
)
from clients.client import MusicClient, _call_error, default_target, unknown_words
from clients.errors import (
    DgxMusicError,
    FieldViolation,
    MissingWeightsError,
    NotFoundError,
    RateLimitedError,
    TooLargeError,
    UnavailableError,
)
from dgxmusic.audio import AudioFormatError
from dgxmusic.v1 import music_service_pb2 as pb

S = grpc.StatusCode
FIELD = (FieldViolation("options.bpm", "must be positive"),)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (DgxMusicError(S.INVALID_ARGUMENT, "options.bpm: must be positive", FIELD), EXIT_BAD_INPUT),
        (NotFoundError(S.NOT_FOUND, "id: no job 00"), EXIT_BAD_INPUT),
        (TooLargeError(S.RESOURCE_EXHAUSTED, "midi: over 8 MiB", (FieldViolation("midi", "over 8 MiB"),)), 2),
        (MissingWeightsError(S.FAILED_PRECONDITION, "weights missing: dgx-music models pull demucs"), 69),
        (UnavailableError(S.UNAVAILABLE, "no gateway at 127.0.0.1:1"), EXIT_RETRY_LATER),
        (DgxMusicError(S.DEADLINE_EXCEEDED, "deadline exceeded"), EXIT_RETRY_LATER),
        (TooLargeError(S.RESOURCE_EXHAUSTED, "the server is busy (64 calls running): retry later"), 75),
        (RateLimitedError(S.RESOURCE_EXHAUSTED, "over the rate limit", retry_delay=2.0), EXIT_RETRY_LATER),
        (DgxMusicError(S.INTERNAL, "internal error"), EXIT_FAILED),
        (DgxMusicError(S.UNAUTHENTICATED, "no API key"), EXIT_FAILED),
        (Refused("song/mix.wav exists: --overwrite replaces it"), EXIT_BAD_INPUT),
        (AudioFormatError("audio", "send an audio file"), EXIT_BAD_INPUT),
        (click.UsageError("--json and --out - both want stdout"), EXIT_BAD_INPUT),
        (PermissionError("out.wav"), EXIT_FAILED),
    ],
)
def test_each_failure_has_the_exit_code_a_script_acts_on(error: BaseException, code: int) -> None:
    assert exit_code(error) == code
    assert EXIT_MODEL_MISSING == 69


def test_the_exit_codes_are_documented_in_the_help() -> None:
    done = CliRunner().invoke(main, ["--help"])
    for words in ("0 success", "2 bad input", "69 a model or its weights", "75 unavailable", "1 anything"):
        assert words in " ".join(done.output.split())
    done = CliRunner().invoke(main, ["render", "--help"])
    assert "75 unavailable" in " ".join(done.output.split())


@pytest.mark.parametrize(
    ("env", "target"),
    [
        ({}, "127.0.0.1:50051"),
        ({"DGXMUSIC_GRPC_PORT": "6000"}, "127.0.0.1:6000"),
        ({"DGXMUSIC_HOST": "0.0.0.0", "DGXMUSIC_GRPC_PORT": "6000"}, "127.0.0.1:6000"),
        ({"DGXMUSIC_HOST": "::1"}, "[::1]:50051"),
        ({"DGXMUSIC_HOST": "music.local", "DGXMUSIC_SERVER": "elsewhere:7000"}, "elsewhere:7000"),
    ],
)
def test_the_default_gateway_follows_the_server_s_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], target: str
) -> None:
    for name in ("DGXMUSIC_SERVER", "DGXMUSIC_HOST", "DGXMUSIC_GRPC_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert default_target() == target
    with MusicClient() as client:
        assert client.target == target


def test_a_refused_connection_says_no_gateway_and_exits_75(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGXMUSIC_GRPC_PORT", "1")
    monkeypatch.delenv("DGXMUSIC_SERVER", raising=False)
    monkeypatch.delenv("DGXMUSIC_HOST", raising=False)
    done = CliRunner().invoke(main, ["models", "list", "--json"])
    assert done.exit_code == EXIT_RETRY_LATER
    assert "no gateway at 127.0.0.1:1 - is `dgx-music serve` running?" in done.stderr
    assert "Connection refused" not in done.stderr
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["exit_code"]) == ("UNAVAILABLE", EXIT_RETRY_LATER)


class _Failed(grpc.RpcError):  # type: ignore[misc]  # grpc ships no types
    """A failed call as gRPC raises it: its status, details and trailing metadata."""

    def __init__(self, details: str, trailing: tuple[tuple[str, str], ...]) -> None:
        self._details = details
        self._trailing = trailing

    def code(self) -> grpc.StatusCode:
        return S.UNAVAILABLE

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailing


def test_only_a_gateway_that_did_not_answer_is_said_to_be_missing() -> None:
    refused = "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Connection refused"
    assert _call_error(_Failed(refused, ()), "127.0.0.1:1").message == (
        "no gateway at 127.0.0.1:1 - is `dgx-music serve` running?"
    )
    # The gateway's own word that Triton is down (with its request id) is kept as it is.
    triton_down = "model text2midi is unavailable: failed to connect to all addresses; Connection refused"
    assert _call_error(_Failed(triton_down, (("x-request-id", "ab12"),)), "g:1").message == triton_down
    answered = _Failed(refused, (("x-request-id", "ab12"),))
    assert _call_error(answered, "g:1").message == refused


def test_unknown_words_come_from_the_song_s_metadata() -> None:
    info = pb.SongInfo(metadata_json=json.dumps({"unknown_words": ["asdf", "waltz"], "genre": "pop"}))
    assert unknown_words(info) == ["asdf", "waltz"]
    assert unknown_words(pb.SongInfo()) == []


def test_files_that_exist_are_refused_by_name_unless_overwritten(tmp_path: Path) -> None:
    (tmp_path / "stems").mkdir()
    (tmp_path / "stems" / "drums.wav").write_bytes(b"old")
    (tmp_path / "stems" / "notes.txt").write_text("not ours")
    targets = Targets(False, [tmp_path / "mix.wav"], [tmp_path / "stems"])
    with pytest.raises(Refused, match=r"stems/drums\.wav exists: --overwrite replaces it"):
        targets.check()
    Targets(False, [tmp_path / "new.wav", STDIO], [tmp_path / "empty"]).check()


def test_an_overwrite_leaves_no_stale_stem_beside_the_new_ones(tmp_path: Path) -> None:
    stems = tmp_path / "stems"
    stems.mkdir()
    for name in ("drums.wav", "vocals.wav", "bass.flac"):
        (stems / name).write_bytes(b"old")
    (stems / "notes.txt").write_text("not ours")
    targets = Targets(True, folders=[stems])
    targets.check()
    (stems / "drums.wav").write_bytes(b"new")
    targets.clear_stale([stems / "drums.wav"])
    assert sorted(p.name for p in stems.iterdir()) == ["drums.wav", "notes.txt"]


def test_several_inputs_go_beside_themselves_or_into_the_out_folder(tmp_path: Path) -> None:
    a, b = tmp_path / "a.wav", tmp_path / "sub" / "b.wav"
    to_midi = lambda path: path.with_suffix(".mid")  # noqa: E731
    assert _each_output([a], None, to_midi) == [tmp_path / "a.mid"]
    assert _each_output([a], tmp_path / "x.mid", to_midi) == [tmp_path / "x.mid"]
    assert _each_output([a, b], None, to_midi) == [tmp_path / "a.mid", tmp_path / "sub" / "b.mid"]
    assert _each_output([a, b], Path("out"), to_midi) == [Path("out/a.mid"), Path("out/b.mid")]
    with pytest.raises(click.UsageError, match=r"would both be written to out/a\.mid"):
        _each_output([a, tmp_path / "sub" / "a.wav"], Path("out"), to_midi)
    with pytest.raises(click.UsageError, match="stdin"):
        _each_output([a, STDIO], None, to_midi)
    with pytest.raises(click.UsageError, match="--out -"):
        _each_output([a, b], STDIO, to_midi)


def test_json_and_a_file_on_stdout_are_refused_together(tmp_path: Path) -> None:
    midi = tmp_path / "song.mid"
    midi.write_bytes(b"MThd")
    done = CliRunner().invoke(main, ["render", str(midi), "--out", "-", "--json", "--server", "127.0.0.1:1"])
    assert done.exit_code == EXIT_BAD_INPUT
    assert "both want stdout" in done.output

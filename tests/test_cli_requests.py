"""What the CLI sends and tells, on its own and through the real stack: a refused request's every field at fault
printed once, and an audio file too large for one request message sent as FLAC."""

import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile

from clients import cli
from clients.client import MAX_MESSAGE_BYTES
from clients.errors import FieldViolation, InvalidRequestError, TooLargeError, from_rpc_error
from deploy.launcher import Stack


def test_each_field_at_fault_is_printed_once(capsys: pytest.CaptureFixture[str]) -> None:
    violations = (
        FieldViolation("prompt", "prompt: the prompt is empty; describe the music you want"),
        FieldViolation("options.bpm", "options.bpm: the tempo 1 BPM is outside 40-300 BPM"),
    )
    error = InvalidRequestError(
        grpc.StatusCode.INVALID_ARGUMENT, f"{violations[0].description} (and 1 more)", violations
    )
    assert cli._report(error) == cli.EXIT_BAD_INPUT
    told = capsys.readouterr().err.splitlines()
    assert told == [
        "error INVALID_ARGUMENT: 2 faults in the request",
        "  field prompt: the prompt is empty; describe the music you want",
        "  field options.bpm: the tempo 1 BPM is outside 40-300 BPM",
    ]


def test_one_field_at_fault_is_told_once(capsys: pytest.CaptureFixture[str]) -> None:
    error = InvalidRequestError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "options.key: H major is no key",
        (FieldViolation("options.key", "H major is no key"),),
    )
    cli._report(error)
    assert capsys.readouterr().err.splitlines() == [
        "error INVALID_ARGUMENT: 1 fault in the request",
        "  field options.key: H major is no key",
    ]


def test_a_take_over_one_message_is_sent_as_flac(tmp_path: Path) -> None:
    rate = 44100
    take = 0.5 * np.sin(2 * np.pi * 220 * np.arange(50 * rate) / rate).astype(np.float32)
    path = tmp_path / "take.wav"
    soundfile.write(path, np.stack([take, take], axis=1), rate, subtype="FLOAT")
    assert path.stat().st_size > MAX_MESSAGE_BYTES
    sent = cli._audio_in_a_request(path)
    assert sent.startswith(b"fLaC")
    assert len(sent) < MAX_MESSAGE_BYTES
    small = tmp_path / "small.wav"
    soundfile.write(small, take[:rate], rate)
    assert cli._audio_in_a_request(small) == small.read_bytes()
    assert cli._audio_in_a_request(None) == b""


def test_several_faults_are_each_told_once_through_the_stack(stack: Stack, tmp_path: Path) -> None:
    faults = ["--bpm", "1", "--bars", "0", "--time-signature", "5/9", "--seed", "-1"]
    argv = [sys.executable, "-m", "clients.cli", "midi", "house", *faults, "--out", str(tmp_path / "song.mid")]
    done = subprocess.run(
        [*argv, "--server", stack.gateway_target], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == cli.EXIT_BAD_INPUT, done.stderr
    said = " ".join(done.stderr.split())  # rich wraps at its width
    assert said.startswith("error INVALID_ARGUMENT: 4 faults in the request field options.bpm: ")
    for field in ("options.bpm", "options.bars", "options.time_signature", "options.seed"):
        assert said.count(field) == 1, said
        assert f"field {field}: " in said
    assert not (tmp_path / "song.mid").exists()


class _OverOneMessage(grpc.RpcError):  # type: ignore[misc]  # grpc ships no types
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.RESOURCE_EXHAUSTED

    def details(self) -> str:
        return "CLIENT: Sent message larger than max (17872353 vs. 16777216)"


def test_a_request_over_one_message_is_bad_input_not_a_busy_server() -> None:
    error = from_rpc_error(_OverOneMessage())
    assert isinstance(error, TooLargeError)
    assert [v.field for v in error.violations] == ["request"]
    assert error.message == "request: 17872353 bytes, over the 16777216 bytes one message carries: send a smaller file"
    assert cli.exit_code(error) == cli.EXIT_BAD_INPUT

"""The audio wire format: every encoding round-trips, chunks stay under 1 MiB, bad formats name their field."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from dgxmusic.audio import (
    MAX_CHUNK_BYTES,
    AudioAssembler,
    AudioFormatError,
    AudioStreamError,
    FloatAudio,
    decode_upload,
    downmix_to_stereo,
    resolve_format,
    stream_messages,
)
from dgxmusic.v1 import audio_pb2

SINE = (0.8 * np.sin(np.linspace(0, 2000, 3 * 44100))).astype(np.float32)
STEREO = np.stack([SINE, -SINE], axis=1)


Message = audio_pb2.AudioHeader | audio_pb2.AudioChunk


def round_trip(samples: FloatAudio, requested: audio_pb2.AudioFormat) -> tuple[FloatAudio, list[Message]]:
    fmt = resolve_format(requested, default_sample_rate=44100)
    messages = list(stream_messages("Lead", samples, fmt, chunk_bytes=MAX_CHUNK_BYTES))
    assembler = AudioAssembler()
    for message in messages:
        if isinstance(message, audio_pb2.AudioHeader):
            assembler.add_header(message)
        else:
            assembler.add_chunk(message)
    return assembler.samples("Lead"), messages


@pytest.mark.parametrize(
    ("encoding", "sample_format", "atol"),
    [
        (audio_pb2.AUDIO_ENCODING_UNSPECIFIED, audio_pb2.SAMPLE_FORMAT_UNSPECIFIED, 0),
        (audio_pb2.AUDIO_ENCODING_PCM, audio_pb2.SAMPLE_FORMAT_INT16, 1e-4),
        (audio_pb2.AUDIO_ENCODING_WAV, audio_pb2.SAMPLE_FORMAT_FLOAT32, 0),
        (audio_pb2.AUDIO_ENCODING_WAV, audio_pb2.SAMPLE_FORMAT_INT24, 1e-6),
        (audio_pb2.AUDIO_ENCODING_FLAC, audio_pb2.SAMPLE_FORMAT_UNSPECIFIED, 1e-6),
        (audio_pb2.AUDIO_ENCODING_FLAC, audio_pb2.SAMPLE_FORMAT_INT16, 1e-4),
    ],
)
def test_round_trip(encoding: audio_pb2.AudioEncoding, sample_format: audio_pb2.SampleFormat, atol: float) -> None:
    decoded, messages = round_trip(STEREO, audio_pb2.AudioFormat(encoding=encoding, sample_format=sample_format))
    np.testing.assert_allclose(decoded, STEREO, rtol=0, atol=atol)
    header = messages[0]
    assert isinstance(header, audio_pb2.AudioHeader)
    assert (header.frames, header.channels, header.sample_rate) == (len(STEREO), 2, 44100)
    chunks = [m for m in messages[1:] if isinstance(m, audio_pb2.AudioChunk)]
    assert len(chunks) == len(messages) - 1
    assert all(len(c.data) <= MAX_CHUNK_BYTES for c in chunks)
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]


def test_empty_audio_is_one_final_chunk() -> None:
    decoded, messages = round_trip(np.zeros((0, 2), np.float32), audio_pb2.AudioFormat())
    assert decoded.shape == (0, 2)
    assert len(messages) == 2


@pytest.mark.parametrize(
    ("requested", "field"),
    [
        (audio_pb2.AudioFormat(sample_rate=4000), "audio_format.sample_rate"),
        (audio_pb2.AudioFormat(sample_rate=192000), "audio_format.sample_rate"),
        (audio_pb2.AudioFormat(encoding=99), "audio_format.encoding"),  # type: ignore[arg-type]
        (audio_pb2.AudioFormat(sample_format=99), "audio_format.sample_format"),  # type: ignore[arg-type]
        (audio_pb2.AudioFormat(sample_format=audio_pb2.SAMPLE_FORMAT_INT24), "audio_format.sample_format"),
        (
            audio_pb2.AudioFormat(
                encoding=audio_pb2.AUDIO_ENCODING_FLAC, sample_format=audio_pb2.SAMPLE_FORMAT_FLOAT32
            ),
            "audio_format.sample_format",
        ),
        # Codecs: Opus's and MP3's sample rates; lossy files store no sample format; AIFF is read, never written.
        (audio_pb2.AudioFormat(encoding=audio_pb2.AUDIO_ENCODING_OPUS), "audio_format.sample_rate"),
        (audio_pb2.AudioFormat(encoding=audio_pb2.AUDIO_ENCODING_MP3, sample_rate=96000), "audio_format.sample_rate"),
        (
            audio_pb2.AudioFormat(encoding=audio_pb2.AUDIO_ENCODING_OGG, sample_format=audio_pb2.SAMPLE_FORMAT_INT16),
            "audio_format.sample_format",
        ),
        (audio_pb2.AudioFormat(encoding=audio_pb2.AUDIO_ENCODING_AIFF), "audio_format.encoding"),
    ],
)
def test_formats_that_cannot_be_made_name_the_field(requested: audio_pb2.AudioFormat, field: str) -> None:
    with pytest.raises(AudioFormatError) as caught:
        resolve_format(requested, default_sample_rate=44100)
    assert caught.value.field == field


def test_chunks_without_a_header_or_short_streams_are_refused() -> None:
    assembler = AudioAssembler()
    with pytest.raises(AudioStreamError):
        assembler.add_chunk(audio_pb2.AudioChunk(stem_name="x", data=b"\0" * 8, last=True))
    assembler.add_header(audio_pb2.AudioHeader(stem_name="x", channels=2, total_bytes=16))
    with pytest.raises(AudioStreamError):
        assembler.add_chunk(audio_pb2.AudioChunk(stem_name="x", data=b"\0" * 8, last=True))


def test_a_5_1_file_is_downmixed_to_stereo_without_its_lfe(tmp_path: Path) -> None:
    """WAVE's 5.1 order: front left, front right, centre, LFE, surround left, surround right."""
    frames = np.zeros((1000, 6), dtype=np.float32)
    frames[:, 0] = 0.5  # front left: left only
    frames[:, 2] = 0.25  # centre: both sides, alike
    frames[:, 3] = 0.9  # LFE: left out
    frames[:, 5] = 0.125  # surround right: right only
    path = tmp_path / "surround.wav"
    soundfile.write(path, frames, 48000, subtype="FLOAT")
    samples, sample_rate = decode_upload(
        path.read_bytes(), audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_WAV)
    )
    assert (samples.shape, sample_rate) == ((1000, 2), 48000)
    g = 1 / np.sqrt(2)
    side = 1 + 2 * g  # front, centre and surround: what full scale in all sums to, scaled back to full scale
    np.testing.assert_allclose(samples[0], [(0.5 + 0.25 * g) / side, (0.25 * g + 0.125 * g) / side], rtol=1e-6)


@pytest.mark.parametrize("channels", [3, 4, 5, 6, 7, 8, 12])
def test_downmixes_of_any_channel_count_never_clip(channels: int) -> None:
    full_scale = np.ones((10, channels), dtype=np.float32)
    stereo = downmix_to_stereo(full_scale)
    assert stereo.shape == (10, 2)
    assert stereo.max() <= 1.0 + 1e-6
    assert stereo.min() > 0.5


def test_raw_pcm_of_many_channels_is_read_and_downmixed() -> None:
    pcm = np.full((100, 16), 0.5, dtype=np.float32)
    header = audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_PCM, sample_rate=44100, channels=16)
    samples, _ = decode_upload(pcm.tobytes(), header)
    np.testing.assert_allclose(samples, 0.5, rtol=1e-6)
    with pytest.raises(AudioFormatError, match="1-64 channels"):
        decode_upload(
            pcm.tobytes(), audio_pb2.AudioHeader(encoding=audio_pb2.AUDIO_ENCODING_PCM, sample_rate=44100, channels=65)
        )


@pytest.mark.parametrize(
    ("encoding", "sample_rate"),
    [
        (audio_pb2.AUDIO_ENCODING_MP3, 44100),
        (audio_pb2.AUDIO_ENCODING_OGG, 44100),
        (audio_pb2.AUDIO_ENCODING_OPUS, 48000),
    ],
)
def test_lossy_encodings_round_trip_close_to_the_original(encoding: audio_pb2.AudioEncoding, sample_rate: int) -> None:
    decoded, messages = round_trip(STEREO, audio_pb2.AudioFormat(encoding=encoding, sample_rate=sample_rate))
    header = messages[0]
    assert isinstance(header, audio_pb2.AudioHeader)
    assert (header.encoding, header.sample_rate, header.frames) == (encoding, sample_rate, len(STEREO))
    assert decoded.shape == STEREO.shape
    assert np.corrcoef(decoded[:, 0], STEREO[:, 0])[0, 1] > 0.99
    assert header.total_bytes < STEREO.nbytes / 5, "lossy: much smaller than the samples"

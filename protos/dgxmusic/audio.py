"""Audio on the wire: encoding float32 frames to the requested format, cutting them into AudioHeader + AudioChunk
messages of at most 1 MiB, and putting streams back together into numpy arrays. The gateway and the clients both
use it, so both ends agree on the format by construction."""

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile

from dgxmusic.errors import FieldError
from dgxmusic.v1 import audio_pb2

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 96000
MAX_CHUNK_BYTES = 1024 * 1024
MAX_UPLOAD_CHANNELS = 64
# Files the server reads but does not write.
INPUT_ONLY_ENCODINGS = frozenset({audio_pb2.AUDIO_ENCODING_AIFF})
# Files libsndfile writes, as (format, subtype): the lossless ones in the requested sample format (_SOUNDFILE_SUBTYPES),
# the lossy ones in their codec's, with the sample rates the codec takes (None: any).
_CONTAINERS = {audio_pb2.AUDIO_ENCODING_WAV: "WAV", audio_pb2.AUDIO_ENCODING_FLAC: "FLAC"}
_LOSSY: dict[int, tuple[str, str, frozenset[int] | None]] = {
    audio_pb2.AUDIO_ENCODING_MP3: (
        "MP3",
        "MPEG_LAYER_III",
        frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}),
    ),
    audio_pb2.AUDIO_ENCODING_OGG: ("OGG", "VORBIS", None),
    audio_pb2.AUDIO_ENCODING_OPUS: ("OGG", "OPUS", frozenset({8000, 12000, 16000, 24000, 48000})),
}

FloatAudio = npt.NDArray[np.float32]
# The file an encoded stream is, by its encoding (raw PCM is no file: it is written as WAV).
FILE_EXTENSIONS = {
    audio_pb2.AUDIO_ENCODING_WAV: ".wav",
    audio_pb2.AUDIO_ENCODING_FLAC: ".flac",
    audio_pb2.AUDIO_ENCODING_MP3: ".mp3",
    audio_pb2.AUDIO_ENCODING_OGG: ".ogg",
    audio_pb2.AUDIO_ENCODING_OPUS: ".opus",
}

_PCM_DTYPES: dict[int, np.dtype[Any]] = {
    audio_pb2.SAMPLE_FORMAT_FLOAT32: np.dtype("<f4"),
    audio_pb2.SAMPLE_FORMAT_INT16: np.dtype("<i2"),
}
_SOUNDFILE_SUBTYPES = {
    audio_pb2.SAMPLE_FORMAT_FLOAT32: "FLOAT",
    audio_pb2.SAMPLE_FORMAT_INT16: "PCM_16",
    audio_pb2.SAMPLE_FORMAT_INT24: "PCM_24",
}


class AudioFormatError(FieldError):
    """Audio, or an AudioFormat, that the server cannot read or produce; ``field`` names the offending field."""


@dataclass(frozen=True)
class ResolvedFormat:
    """An AudioFormat with every default filled in and checked."""

    sample_rate: int
    sample_format: audio_pb2.SampleFormat
    encoding: audio_pb2.AudioEncoding


def resolve_format(
    requested: audio_pb2.AudioFormat, *, default_sample_rate: int, field_prefix: str = "audio_format"
) -> ResolvedFormat:
    """Fills in the defaults of a requested AudioFormat and rejects what cannot be produced."""
    sample_rate = requested.sample_rate or default_sample_rate
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioFormatError(
            f"{field_prefix}.sample_rate",
            f"must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, got {sample_rate}",
        )
    encoding = requested.encoding or audio_pb2.AUDIO_ENCODING_PCM
    if encoding not in audio_pb2.AudioEncoding.values():
        raise AudioFormatError(f"{field_prefix}.encoding", f"unknown encoding {encoding}")
    name = audio_pb2.AudioEncoding.Name(encoding).removeprefix("AUDIO_ENCODING_")
    if encoding in INPUT_ONLY_ENCODINGS:
        reason = f"{name} is accepted as input only: use WAV, FLAC, MP3, OGG or OPUS"
        raise AudioFormatError(f"{field_prefix}.encoding", reason)
    if encoding in _LOSSY:
        if requested.sample_format != audio_pb2.SAMPLE_FORMAT_UNSPECIFIED:
            reason = f"{name} is lossy and stores no sample format: leave it unspecified"
            raise AudioFormatError(f"{field_prefix}.sample_format", reason)
        rates = _LOSSY[encoding][2]
        if rates is not None and sample_rate not in rates:
            allowed = ", ".join(str(rate) for rate in sorted(rates))
            raise AudioFormatError(f"{field_prefix}.sample_rate", f"{name} takes {allowed} Hz, not {sample_rate}")
        # What a decoder gives back.
        return ResolvedFormat(sample_rate, audio_pb2.SAMPLE_FORMAT_FLOAT32, encoding)
    sample_format = requested.sample_format
    if sample_format == audio_pb2.SAMPLE_FORMAT_UNSPECIFIED:
        flac = encoding == audio_pb2.AUDIO_ENCODING_FLAC
        sample_format = audio_pb2.SAMPLE_FORMAT_INT24 if flac else audio_pb2.SAMPLE_FORMAT_FLOAT32
    if sample_format not in _SOUNDFILE_SUBTYPES:
        raise AudioFormatError(f"{field_prefix}.sample_format", f"unknown sample format {sample_format}")
    if encoding == audio_pb2.AUDIO_ENCODING_PCM and sample_format not in _PCM_DTYPES:
        raise AudioFormatError(f"{field_prefix}.sample_format", "raw PCM is float32 or int16")
    if encoding == audio_pb2.AUDIO_ENCODING_FLAC and sample_format == audio_pb2.SAMPLE_FORMAT_FLOAT32:
        raise AudioFormatError(f"{field_prefix}.sample_format", "FLAC stores integers: use int16 or int24")
    return ResolvedFormat(sample_rate, sample_format, encoding)


def encode(samples: FloatAudio, fmt: ResolvedFormat) -> bytes:
    """float32 frames [frames, channels] -> bytes in the resolved format."""
    if fmt.encoding == audio_pb2.AUDIO_ENCODING_PCM:
        if fmt.sample_format == audio_pb2.SAMPLE_FORMAT_INT16:
            ints = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
            return bytes(ints.tobytes())
        return bytes(np.ascontiguousarray(samples, dtype="<f4").tobytes())
    if fmt.encoding in _LOSSY:
        container, subtype, _ = _LOSSY[fmt.encoding]
    else:
        container, subtype = _CONTAINERS[fmt.encoding], _SOUNDFILE_SUBTYPES[fmt.sample_format]
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, fmt.sample_rate, subtype=subtype, format=container)
    return buffer.getvalue()


def decode(data: bytes, header: audio_pb2.AudioHeader) -> FloatAudio:
    """The bytes of a finished stream -> float32 frames [frames, channels]."""
    if header.encoding == audio_pb2.AUDIO_ENCODING_PCM:
        dtype = _PCM_DTYPES[header.sample_format]
        values = np.frombuffer(data, dtype=dtype).reshape(-1, header.channels).astype(np.float32)
        return values / np.float32(32767.0) if dtype.kind == "i" else values
    frames, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return np.asarray(frames, dtype=np.float32)


def stream_messages(
    stem_name: str, samples: FloatAudio, fmt: ResolvedFormat, chunk_bytes: int = MAX_CHUNK_BYTES
) -> Iterator[audio_pb2.AudioHeader | audio_pb2.AudioChunk]:
    """One audio stream: its header, then chunks of at most ``chunk_bytes`` (the last one flagged)."""
    header = audio_pb2.AudioHeader(
        stem_name=stem_name,
        sample_rate=fmt.sample_rate,
        channels=samples.shape[1],
        sample_format=fmt.sample_format,
        encoding=fmt.encoding,
        frames=samples.shape[0],
    )
    yield from upload_messages(encode(samples, fmt), header, chunk_bytes)


# Audio files a client may send, by suffix; the server reads each with libsndfile, whatever the header says.
FILE_ENCODINGS = {
    ".wav": audio_pb2.AUDIO_ENCODING_WAV,
    ".flac": audio_pb2.AUDIO_ENCODING_FLAC,
    ".mp3": audio_pb2.AUDIO_ENCODING_MP3,
    ".ogg": audio_pb2.AUDIO_ENCODING_OGG,
    ".oga": audio_pb2.AUDIO_ENCODING_OGG,
    ".opus": audio_pb2.AUDIO_ENCODING_OPUS,
    ".aif": audio_pb2.AUDIO_ENCODING_AIFF,
    ".aiff": audio_pb2.AUDIO_ENCODING_AIFF,
}


def decode_upload(data: bytes, header: audio_pb2.AudioHeader) -> tuple[FloatAudio, int]:
    """Audio a client sent -> (float32 [frames, 1 or 2 channels], sample rate); raises AudioFormatError naming the
    field at fault. Files (WAV, FLAC, MP3, Ogg, AIFF) describe themselves; raw PCM needs the header's description.
    More channels than two are downmixed to stereo (`downmix_to_stereo`): the models hear one or two."""
    samples, sample_rate = _decode_upload(data, header)
    if samples.shape[1] > 2:
        if samples.shape[1] > MAX_UPLOAD_CHANNELS:
            reason = f"has {samples.shape[1]} channels: at most {MAX_UPLOAD_CHANNELS} are taken"
            raise AudioFormatError("audio", reason)
        samples = downmix_to_stereo(samples)
    return samples, sample_rate


# Where each channel of a file goes in a stereo downmix, by channel count, in WAVE's channel order (front left,
# front right, centre, LFE, then the surround pairs): L, R, C (both sides at -3 dB), S (a left or right surround
# at -3 dB to its side; which side alternates), LFE (left out, as ITU-R BS.775 and ffmpeg's default downmix do).
_LAYOUTS = {3: "LRC", 4: "LRSS", 5: "LRCSS", 6: "LRCESS", 7: "LRCECSS", 8: "LRCESSSS"}
_MINUS_3_DB = np.float32(1 / np.sqrt(2))


def downmix_to_stereo(samples: FloatAudio) -> FloatAudio:
    """[frames, n > 2] -> [frames, 2]: the surround layouts of 3-8 channels as _LAYOUTS says (more: even channels
    left, odd right), each side scaled so that full scale in every channel does not clip."""
    channels = samples.shape[1]
    layout = _LAYOUTS.get(channels, "LR" * ((channels + 1) // 2))[:channels]
    matrix = np.zeros((channels, 2), dtype=np.float32)
    surround_side = 0
    for index, role in enumerate(layout):
        if role == "L":
            matrix[index] = (1, 0)
        elif role == "R":
            matrix[index] = (0, 1)
        elif role == "C":
            matrix[index] = (_MINUS_3_DB, _MINUS_3_DB)
        elif role == "S":
            matrix[index, surround_side] = _MINUS_3_DB
            surround_side = 1 - surround_side
    matrix /= matrix.sum(axis=0)
    return np.ascontiguousarray(samples @ matrix, dtype=np.float32)


def _decode_upload(data: bytes, header: audio_pb2.AudioHeader) -> tuple[FloatAudio, int]:
    if header.encoding in (audio_pb2.AUDIO_ENCODING_PCM, audio_pb2.AUDIO_ENCODING_UNSPECIFIED):
        if not MIN_SAMPLE_RATE <= header.sample_rate <= MAX_SAMPLE_RATE:
            reason = f"raw PCM needs a sample rate of {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz, got {header.sample_rate}"
            raise AudioFormatError("audio_header.sample_rate", reason)
        if not 1 <= header.channels <= MAX_UPLOAD_CHANNELS:
            reason = f"raw PCM needs 1-{MAX_UPLOAD_CHANNELS} channels, got {header.channels}"
            raise AudioFormatError("audio_header.channels", reason)
        sample_format = header.sample_format or audio_pb2.SAMPLE_FORMAT_FLOAT32
        if sample_format not in _PCM_DTYPES:
            raise AudioFormatError("audio_header.sample_format", "raw PCM is float32 or int16")
        frame_bytes = _PCM_DTYPES[sample_format].itemsize * header.channels
        if len(data) % frame_bytes:
            raise AudioFormatError("audio", f"{len(data)} bytes is not a whole number of {frame_bytes}-byte frames")
        pcm = audio_pb2.AudioHeader(
            encoding=audio_pb2.AUDIO_ENCODING_PCM, sample_format=sample_format, channels=header.channels
        )
        return decode(data, pcm), header.sample_rate
    try:
        frames, sample_rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFormatError("audio", f"not a readable audio file: {exc}") from exc
    return np.asarray(frames, dtype=np.float32), int(sample_rate)


def upload_messages(
    data: bytes, header: audio_pb2.AudioHeader, chunk_bytes: int = MAX_CHUNK_BYTES
) -> Iterator[audio_pb2.AudioHeader | audio_pb2.AudioChunk]:
    """An audio stream of encoded bytes: the header (total_bytes filled in), then chunks of at most 1 MiB."""
    complete = audio_pb2.AudioHeader()
    complete.CopyFrom(header)
    complete.total_bytes = len(data)
    yield complete
    chunk_bytes = min(chunk_bytes, MAX_CHUNK_BYTES)
    for offset in range(0, len(data), chunk_bytes) if data else range(1):
        yield audio_pb2.AudioChunk(
            stem_name=header.stem_name, data=data[offset : offset + chunk_bytes], last=offset + chunk_bytes >= len(data)
        )


class AudioStreamError(ValueError):
    """Chunks that do not belong to an open stream, or a stream that ended short."""


@dataclass
class AudioAssembler:
    """Collects AudioHeader/AudioChunk messages back into finished streams (raw bytes and float32 frames)."""

    headers: dict[str, audio_pb2.AudioHeader] = field(default_factory=dict)
    encoded: dict[str, bytes] = field(default_factory=dict)
    _parts: dict[str, list[bytes]] = field(default_factory=dict)

    def add_header(self, header: audio_pb2.AudioHeader) -> None:
        self.headers[header.stem_name] = header
        self._parts[header.stem_name] = []

    def add_chunk(self, chunk: audio_pb2.AudioChunk) -> str | None:
        """Adds a chunk; returns the stream's name when this chunk finished it."""
        if chunk.stem_name not in self._parts:
            raise AudioStreamError(f"chunk for stream {chunk.stem_name!r} arrived before its header")
        self._parts[chunk.stem_name].append(chunk.data)
        if not chunk.last:
            return None
        data = b"".join(self._parts.pop(chunk.stem_name))
        expected = self.headers[chunk.stem_name].total_bytes
        if len(data) != expected:
            raise AudioStreamError(f"stream {chunk.stem_name!r} carried {len(data)} bytes, header said {expected}")
        self.encoded[chunk.stem_name] = data
        return chunk.stem_name

    def samples(self, stem_name: str) -> FloatAudio:
        return decode(self.encoded[stem_name], self.headers[stem_name])

    def extension(self, stem_name: str) -> str:
        """The file extension of a finished stream as file_bytes writes it: its encoding's; raw PCM's .wav."""
        return FILE_EXTENSIONS.get(self.headers[stem_name].encoding, ".wav")

    def file_bytes(self, stem_name: str) -> bytes:
        """A finished stream as the bytes of an audio file: as the server encoded it, raw PCM as WAV (in its
        sample format)."""
        header = self.headers[stem_name]
        if header.encoding in FILE_EXTENSIONS:
            return self.encoded[stem_name]
        subtype = "PCM_16" if header.sample_format == audio_pb2.SAMPLE_FORMAT_INT16 else "FLOAT"
        buffer = io.BytesIO()
        soundfile.write(buffer, self.samples(stem_name), header.sample_rate, subtype=subtype, format="WAV")
        return buffer.getvalue()

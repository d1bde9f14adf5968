from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SampleFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAMPLE_FORMAT_UNSPECIFIED: _ClassVar[SampleFormat]
    SAMPLE_FORMAT_FLOAT32: _ClassVar[SampleFormat]
    SAMPLE_FORMAT_INT16: _ClassVar[SampleFormat]
    SAMPLE_FORMAT_INT24: _ClassVar[SampleFormat]

class AudioEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIO_ENCODING_UNSPECIFIED: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_PCM: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_WAV: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_FLAC: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_MP3: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_OGG: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_AIFF: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_OPUS: _ClassVar[AudioEncoding]
SAMPLE_FORMAT_UNSPECIFIED: SampleFormat
SAMPLE_FORMAT_FLOAT32: SampleFormat
SAMPLE_FORMAT_INT16: SampleFormat
SAMPLE_FORMAT_INT24: SampleFormat
AUDIO_ENCODING_UNSPECIFIED: AudioEncoding
AUDIO_ENCODING_PCM: AudioEncoding
AUDIO_ENCODING_WAV: AudioEncoding
AUDIO_ENCODING_FLAC: AudioEncoding
AUDIO_ENCODING_MP3: AudioEncoding
AUDIO_ENCODING_OGG: AudioEncoding
AUDIO_ENCODING_AIFF: AudioEncoding
AUDIO_ENCODING_OPUS: AudioEncoding

class AudioFormat(_message.Message):
    __slots__ = ("sample_rate", "sample_format", "encoding")
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    sample_rate: int
    sample_format: SampleFormat
    encoding: AudioEncoding
    def __init__(self, sample_rate: _Optional[int] = ..., sample_format: _Optional[_Union[SampleFormat, str]] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ...) -> None: ...

class AudioHeader(_message.Message):
    __slots__ = ("stem_name", "sample_rate", "channels", "sample_format", "encoding", "frames", "total_bytes")
    STEM_NAME_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    stem_name: str
    sample_rate: int
    channels: int
    sample_format: SampleFormat
    encoding: AudioEncoding
    frames: int
    total_bytes: int
    def __init__(self, stem_name: _Optional[str] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., sample_format: _Optional[_Union[SampleFormat, str]] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ..., frames: _Optional[int] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("stem_name", "data", "last")
    STEM_NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    stem_name: str
    data: bytes
    last: bool
    def __init__(self, stem_name: _Optional[str] = ..., data: _Optional[bytes] = ..., last: _Optional[bool] = ...) -> None: ...

import datetime

from dgxmusic.v1 import audio_pb2 as _audio_pb2
from dgxmusic.v1 import music_service_pb2 as _music_service_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class JobRequest(_message.Message):
    __slots__ = ("compose", "render", "transcribe", "separate", "generate_audio", "train")
    COMPOSE_FIELD_NUMBER: _ClassVar[int]
    RENDER_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIBE_FIELD_NUMBER: _ClassVar[int]
    SEPARATE_FIELD_NUMBER: _ClassVar[int]
    GENERATE_AUDIO_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    compose: _music_service_pb2.ComposeRequest
    render: _music_service_pb2.RenderRequest
    transcribe: _music_service_pb2.TranscriptionOptions
    separate: _music_service_pb2.SeparationOptions
    generate_audio: _music_service_pb2.GenerateAudioRequest
    train: _music_service_pb2.TrainRequest
    def __init__(self, compose: _Optional[_Union[_music_service_pb2.ComposeRequest, _Mapping]] = ..., render: _Optional[_Union[_music_service_pb2.RenderRequest, _Mapping]] = ..., transcribe: _Optional[_Union[_music_service_pb2.TranscriptionOptions, _Mapping]] = ..., separate: _Optional[_Union[_music_service_pb2.SeparationOptions, _Mapping]] = ..., generate_audio: _Optional[_Union[_music_service_pb2.GenerateAudioRequest, _Mapping]] = ..., train: _Optional[_Union[_music_service_pb2.TrainRequest, _Mapping]] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("request", "audio_header", "audio_chunk")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    AUDIO_HEADER_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    request: JobRequest
    audio_header: _audio_pb2.AudioHeader
    audio_chunk: _audio_pb2.AudioChunk
    def __init__(self, request: _Optional[_Union[JobRequest, _Mapping]] = ..., audio_header: _Optional[_Union[_audio_pb2.AudioHeader, _Mapping]] = ..., audio_chunk: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "kind", "state", "progress", "attempts", "error_code", "error_message", "description", "create_time", "update_time", "expire_time", "request_id", "result_bytes")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_BYTES_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    state: JobState
    progress: _music_service_pb2.Progress
    attempts: int
    error_code: str
    error_message: str
    description: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    request_id: str
    result_bytes: int
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., progress: _Optional[_Union[_music_service_pb2.Progress, _Mapping]] = ..., attempts: _Optional[int] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., result_bytes: _Optional[int] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("job", "compose", "render", "transcribe", "separate", "generate_audio", "train")
    JOB_FIELD_NUMBER: _ClassVar[int]
    COMPOSE_FIELD_NUMBER: _ClassVar[int]
    RENDER_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIBE_FIELD_NUMBER: _ClassVar[int]
    SEPARATE_FIELD_NUMBER: _ClassVar[int]
    GENERATE_AUDIO_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    job: Job
    compose: _music_service_pb2.ComposeResponse
    render: _music_service_pb2.RenderResponse
    transcribe: _music_service_pb2.TranscribeResponse
    separate: _music_service_pb2.SeparateResponse
    generate_audio: _music_service_pb2.GenerateAudioResponse
    train: _music_service_pb2.TrainResponse
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., compose: _Optional[_Union[_music_service_pb2.ComposeResponse, _Mapping]] = ..., render: _Optional[_Union[_music_service_pb2.RenderResponse, _Mapping]] = ..., transcribe: _Optional[_Union[_music_service_pb2.TranscribeResponse, _Mapping]] = ..., separate: _Optional[_Union[_music_service_pb2.SeparateResponse, _Mapping]] = ..., generate_audio: _Optional[_Union[_music_service_pb2.GenerateAudioResponse, _Mapping]] = ..., train: _Optional[_Union[_music_service_pb2.TrainResponse, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

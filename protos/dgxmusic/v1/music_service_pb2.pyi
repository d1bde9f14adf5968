import datetime

from dgxmusic.v1 import audio_pb2 as _audio_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InstrumentFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTRUMENT_FORMAT_UNSPECIFIED: _ClassVar[InstrumentFormat]
    INSTRUMENT_FORMAT_SOUNDFONT: _ClassVar[InstrumentFormat]
    INSTRUMENT_FORMAT_LV2: _ClassVar[InstrumentFormat]
    INSTRUMENT_FORMAT_VST2: _ClassVar[InstrumentFormat]

class ModelState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STATE_UNSPECIFIED: _ClassVar[ModelState]
    MODEL_STATE_READY: _ClassVar[ModelState]
    MODEL_STATE_WEIGHTS_MISSING: _ClassVar[ModelState]
    MODEL_STATE_FAILED: _ClassVar[ModelState]
    MODEL_STATE_UNAVAILABLE: _ClassVar[ModelState]
    MODEL_STATE_LOADED: _ClassVar[ModelState]

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_COMPOSING: _ClassVar[Stage]
    STAGE_RENDERING: _ClassVar[Stage]
    STAGE_STREAMING: _ClassVar[Stage]
    STAGE_CACHE: _ClassVar[Stage]
    STAGE_RECEIVING: _ClassVar[Stage]
    STAGE_TRANSCRIBING: _ClassVar[Stage]
    STAGE_SEPARATING: _ClassVar[Stage]
    STAGE_GENERATING: _ClassVar[Stage]
    STAGE_TRAINING: _ClassVar[Stage]
INSTRUMENT_FORMAT_UNSPECIFIED: InstrumentFormat
INSTRUMENT_FORMAT_SOUNDFONT: InstrumentFormat
INSTRUMENT_FORMAT_LV2: InstrumentFormat
INSTRUMENT_FORMAT_VST2: InstrumentFormat
MODEL_STATE_UNSPECIFIED: ModelState
MODEL_STATE_READY: ModelState
MODEL_STATE_WEIGHTS_MISSING: ModelState
MODEL_STATE_FAILED: ModelState
MODEL_STATE_UNAVAILABLE: ModelState
MODEL_STATE_LOADED: ModelState
STAGE_UNSPECIFIED: Stage
STAGE_COMPOSING: Stage
STAGE_RENDERING: Stage
STAGE_STREAMING: Stage
STAGE_CACHE: Stage
STAGE_RECEIVING: Stage
STAGE_TRANSCRIBING: Stage
STAGE_SEPARATING: Stage
STAGE_GENERATING: Stage
STAGE_TRAINING: Stage

class SongOptions(_message.Message):
    __slots__ = ("bpm", "key", "bars", "seconds", "seed", "time_signature")
    BPM_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TIME_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    bpm: float
    key: str
    bars: int
    seconds: float
    seed: int
    time_signature: str
    def __init__(self, bpm: _Optional[float] = ..., key: _Optional[str] = ..., bars: _Optional[int] = ..., seconds: _Optional[float] = ..., seed: _Optional[int] = ..., time_signature: _Optional[str] = ...) -> None: ...

class ComposeRequest(_message.Message):
    __slots__ = ("prompt", "options", "soundfont", "audio_format", "stems", "bypass_cache", "transcribe", "separate", "transcription_options", "musicgen", "mixing", "instruments", "instrument_set", "adapter")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SOUNDFONT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    STEMS_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIBE_FIELD_NUMBER: _ClassVar[int]
    SEPARATE_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPTION_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    MUSICGEN_FIELD_NUMBER: _ClassVar[int]
    MIXING_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENT_SET_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    options: SongOptions
    soundfont: str
    audio_format: _audio_pb2.AudioFormat
    stems: bool
    bypass_cache: bool
    transcribe: bool
    separate: str
    transcription_options: TranscriptionOptions
    musicgen: str
    mixing: MixingOptions
    instruments: _containers.RepeatedCompositeFieldContainer[InstrumentChoice]
    instrument_set: str
    adapter: str
    def __init__(self, prompt: _Optional[str] = ..., options: _Optional[_Union[SongOptions, _Mapping]] = ..., soundfont: _Optional[str] = ..., audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., stems: _Optional[bool] = ..., bypass_cache: _Optional[bool] = ..., transcribe: _Optional[bool] = ..., separate: _Optional[str] = ..., transcription_options: _Optional[_Union[TranscriptionOptions, _Mapping]] = ..., musicgen: _Optional[str] = ..., mixing: _Optional[_Union[MixingOptions, _Mapping]] = ..., instruments: _Optional[_Iterable[_Union[InstrumentChoice, _Mapping]]] = ..., instrument_set: _Optional[str] = ..., adapter: _Optional[str] = ...) -> None: ...

class ComposeResponse(_message.Message):
    __slots__ = ("progress", "midi", "audio_header", "audio_chunk", "summary", "transcription", "stage_error")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MIDI_FIELD_NUMBER: _ClassVar[int]
    AUDIO_HEADER_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STAGE_ERROR_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    midi: MidiResult
    audio_header: _audio_pb2.AudioHeader
    audio_chunk: _audio_pb2.AudioChunk
    summary: Summary
    transcription: Transcription
    stage_error: StageError
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., midi: _Optional[_Union[MidiResult, _Mapping]] = ..., audio_header: _Optional[_Union[_audio_pb2.AudioHeader, _Mapping]] = ..., audio_chunk: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., transcription: _Optional[_Union[Transcription, _Mapping]] = ..., stage_error: _Optional[_Union[StageError, _Mapping]] = ...) -> None: ...

class GenerateMidiRequest(_message.Message):
    __slots__ = ("prompt", "options", "variations", "more_prompts")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VARIATIONS_FIELD_NUMBER: _ClassVar[int]
    MORE_PROMPTS_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    options: SongOptions
    variations: int
    more_prompts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, prompt: _Optional[str] = ..., options: _Optional[_Union[SongOptions, _Mapping]] = ..., variations: _Optional[int] = ..., more_prompts: _Optional[_Iterable[str]] = ...) -> None: ...

class GenerateMidiResponse(_message.Message):
    __slots__ = ("songs",)
    SONGS_FIELD_NUMBER: _ClassVar[int]
    songs: _containers.RepeatedCompositeFieldContainer[MidiResult]
    def __init__(self, songs: _Optional[_Iterable[_Union[MidiResult, _Mapping]]] = ...) -> None: ...

class RenderRequest(_message.Message):
    __slots__ = ("midi", "soundfont", "audio_format", "stems", "bypass_cache", "mixing", "instruments", "instrument_set")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    SOUNDFONT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    STEMS_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    MIXING_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENT_SET_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    soundfont: str
    audio_format: _audio_pb2.AudioFormat
    stems: bool
    bypass_cache: bool
    mixing: MixingOptions
    instruments: _containers.RepeatedCompositeFieldContainer[InstrumentChoice]
    instrument_set: str
    def __init__(self, midi: _Optional[bytes] = ..., soundfont: _Optional[str] = ..., audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., stems: _Optional[bool] = ..., bypass_cache: _Optional[bool] = ..., mixing: _Optional[_Union[MixingOptions, _Mapping]] = ..., instruments: _Optional[_Iterable[_Union[InstrumentChoice, _Mapping]]] = ..., instrument_set: _Optional[str] = ...) -> None: ...

class InstrumentChoice(_message.Message):
    __slots__ = ("track", "instrument")
    TRACK_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    track: str
    instrument: str
    def __init__(self, track: _Optional[str] = ..., instrument: _Optional[str] = ...) -> None: ...

class MixingOptions(_message.Message):
    __slots__ = ("gain_db", "reverb_level", "reverb_room_size", "chorus_level", "loudness_lufs", "peak_ceiling_dbfs")
    GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    REVERB_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REVERB_ROOM_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHORUS_LEVEL_FIELD_NUMBER: _ClassVar[int]
    LOUDNESS_LUFS_FIELD_NUMBER: _ClassVar[int]
    PEAK_CEILING_DBFS_FIELD_NUMBER: _ClassVar[int]
    gain_db: float
    reverb_level: float
    reverb_room_size: float
    chorus_level: float
    loudness_lufs: float
    peak_ceiling_dbfs: float
    def __init__(self, gain_db: _Optional[float] = ..., reverb_level: _Optional[float] = ..., reverb_room_size: _Optional[float] = ..., chorus_level: _Optional[float] = ..., loudness_lufs: _Optional[float] = ..., peak_ceiling_dbfs: _Optional[float] = ...) -> None: ...

class SoundFontHeader(_message.Message):
    __slots__ = ("total_bytes", "sha256")
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    total_bytes: int
    sha256: str
    def __init__(self, total_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class UploadSoundFontRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: SoundFontHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[SoundFontHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadSoundFontResponse(_message.Message):
    __slots__ = ("soundfont", "sha256", "size_bytes", "already_stored")
    SOUNDFONT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ALREADY_STORED_FIELD_NUMBER: _ClassVar[int]
    soundfont: str
    sha256: str
    size_bytes: int
    already_stored: bool
    def __init__(self, soundfont: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., already_stored: _Optional[bool] = ...) -> None: ...

class RenderResponse(_message.Message):
    __slots__ = ("progress", "audio_header", "audio_chunk", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_HEADER_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    audio_header: _audio_pb2.AudioHeader
    audio_chunk: _audio_pb2.AudioChunk
    summary: Summary
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., audio_header: _Optional[_Union[_audio_pb2.AudioHeader, _Mapping]] = ..., audio_chunk: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class TranscriptionOptions(_message.Message):
    __slots__ = ("onset_threshold", "frame_threshold", "minimum_note_length_ms", "minimum_frequency", "maximum_frequency", "pitch_bends", "multiple_pitch_bends", "melodia_trick", "midi_tempo")
    ONSET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FRAME_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_NOTE_LENGTH_MS_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    PITCH_BENDS_FIELD_NUMBER: _ClassVar[int]
    MULTIPLE_PITCH_BENDS_FIELD_NUMBER: _ClassVar[int]
    MELODIA_TRICK_FIELD_NUMBER: _ClassVar[int]
    MIDI_TEMPO_FIELD_NUMBER: _ClassVar[int]
    onset_threshold: float
    frame_threshold: float
    minimum_note_length_ms: float
    minimum_frequency: float
    maximum_frequency: float
    pitch_bends: bool
    multiple_pitch_bends: bool
    melodia_trick: bool
    midi_tempo: float
    def __init__(self, onset_threshold: _Optional[float] = ..., frame_threshold: _Optional[float] = ..., minimum_note_length_ms: _Optional[float] = ..., minimum_frequency: _Optional[float] = ..., maximum_frequency: _Optional[float] = ..., pitch_bends: _Optional[bool] = ..., multiple_pitch_bends: _Optional[bool] = ..., melodia_trick: _Optional[bool] = ..., midi_tempo: _Optional[float] = ...) -> None: ...

class TranscribeRequest(_message.Message):
    __slots__ = ("options", "audio_header", "audio_chunk")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_HEADER_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    options: TranscriptionOptions
    audio_header: _audio_pb2.AudioHeader
    audio_chunk: _audio_pb2.AudioChunk
    def __init__(self, options: _Optional[_Union[TranscriptionOptions, _Mapping]] = ..., audio_header: _Optional[_Union[_audio_pb2.AudioHeader, _Mapping]] = ..., audio_chunk: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class TranscribeResponse(_message.Message):
    __slots__ = ("progress", "transcription", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    transcription: Transcription
    summary: Summary
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., transcription: _Optional[_Union[Transcription, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class Transcription(_message.Message):
    __slots__ = ("stem_name", "midi", "notes")
    STEM_NAME_FIELD_NUMBER: _ClassVar[int]
    MIDI_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    stem_name: str
    midi: bytes
    notes: _containers.RepeatedCompositeFieldContainer[Note]
    def __init__(self, stem_name: _Optional[str] = ..., midi: _Optional[bytes] = ..., notes: _Optional[_Iterable[_Union[Note, _Mapping]]] = ...) -> None: ...

class Note(_message.Message):
    __slots__ = ("start_seconds", "end_seconds", "pitch", "velocity", "amplitude", "pitch_bends")
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    VELOCITY_FIELD_NUMBER: _ClassVar[int]
    AMPLITUDE_FIELD_NUMBER: _ClassVar[int]
    PITCH_BENDS_FIELD_NUMBER: _ClassVar[int]
    start_seconds: float
    end_seconds: float
    pitch: int
    velocity: int
    amplitude: float
    pitch_bends: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., pitch: _Optional[int] = ..., velocity: _Optional[int] = ..., amplitude: _Optional[float] = ..., pitch_bends: _Optional[_Iterable[int]] = ...) -> None: ...

class SeparationOptions(_message.Message):
    __slots__ = ("model", "audio_format", "two_stems", "shifts", "overlap", "segment")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    TWO_STEMS_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    model: str
    audio_format: _audio_pb2.AudioFormat
    two_stems: str
    shifts: int
    overlap: float
    segment: float
    def __init__(self, model: _Optional[str] = ..., audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., two_stems: _Optional[str] = ..., shifts: _Optional[int] = ..., overlap: _Optional[float] = ..., segment: _Optional[float] = ...) -> None: ...

class SeparateRequest(_message.Message):
    __slots__ = ("options", "audio_header", "audio_chunk")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_HEADER_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    options: SeparationOptions
    audio_header: _audio_pb2.AudioHeader
    audio_chunk: _audio_pb2.AudioChunk
    def __init__(self, options: _Optional[_Union[SeparationOptions, _Mapping]] = ..., audio_header: _Optional[_Union[_audio_pb2.AudioHeader, _Mapping]] = ..., audio_chunk: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ...) -> None: ...

class SeparateResponse(_message.Message):
    __slots__ = ("progress", "audio_header", "audio_chunk", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_HEADER_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    audio_header: _audio_pb2.AudioHeader
    audio_chunk: _audio_pb2.AudioChunk
    summary: Summary
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., audio_header: _Optional[_Union[_audio_pb2.AudioHeader, _Mapping]] = ..., audio_chunk: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class GenerateAudioRequest(_message.Message):
    __slots__ = ("prompt", "more_prompts", "model", "seconds", "temperature", "top_k", "top_p", "cfg_coef", "seed", "melody_audio", "melody_midi", "audio_format", "bypass_cache", "continue_audio", "adapter")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MORE_PROMPTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    CFG_COEF_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MELODY_AUDIO_FIELD_NUMBER: _ClassVar[int]
    MELODY_MIDI_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_AUDIO_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    more_prompts: _containers.RepeatedScalarFieldContainer[str]
    model: str
    seconds: float
    temperature: float
    top_k: int
    top_p: float
    cfg_coef: float
    seed: int
    melody_audio: bytes
    melody_midi: bytes
    audio_format: _audio_pb2.AudioFormat
    bypass_cache: bool
    continue_audio: bytes
    adapter: str
    def __init__(self, prompt: _Optional[str] = ..., more_prompts: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ..., seconds: _Optional[float] = ..., temperature: _Optional[float] = ..., top_k: _Optional[int] = ..., top_p: _Optional[float] = ..., cfg_coef: _Optional[float] = ..., seed: _Optional[int] = ..., melody_audio: _Optional[bytes] = ..., melody_midi: _Optional[bytes] = ..., audio_format: _Optional[_Union[_audio_pb2.AudioFormat, _Mapping]] = ..., bypass_cache: _Optional[bool] = ..., continue_audio: _Optional[bytes] = ..., adapter: _Optional[str] = ...) -> None: ...

class TrainRequest(_message.Message):
    __slots__ = ("name", "model", "steps", "rank", "learning_rate", "chunk_seconds", "drop_vocals", "genre", "captions", "seed")
    class CaptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DROP_VOCALS_FIELD_NUMBER: _ClassVar[int]
    GENRE_FIELD_NUMBER: _ClassVar[int]
    CAPTIONS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    steps: int
    rank: int
    learning_rate: float
    chunk_seconds: float
    drop_vocals: bool
    genre: str
    captions: _containers.ScalarMap[str, str]
    seed: int
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., steps: _Optional[int] = ..., rank: _Optional[int] = ..., learning_rate: _Optional[float] = ..., chunk_seconds: _Optional[float] = ..., drop_vocals: _Optional[bool] = ..., genre: _Optional[str] = ..., captions: _Optional[_Mapping[str, str]] = ..., seed: _Optional[int] = ...) -> None: ...

class Adapter(_message.Message):
    __slots__ = ("name", "base_model", "create_time", "base_validation_loss", "adapter_validation_loss", "steps", "training_chunks", "validation_chunks", "recipe_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    BASE_VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    RECIPE_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    base_model: str
    create_time: _timestamp_pb2.Timestamp
    base_validation_loss: float
    adapter_validation_loss: float
    steps: int
    training_chunks: int
    validation_chunks: int
    recipe_json: str
    def __init__(self, name: _Optional[str] = ..., base_model: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., base_validation_loss: _Optional[float] = ..., adapter_validation_loss: _Optional[float] = ..., steps: _Optional[int] = ..., training_chunks: _Optional[int] = ..., validation_chunks: _Optional[int] = ..., recipe_json: _Optional[str] = ...) -> None: ...

class TrainResponse(_message.Message):
    __slots__ = ("progress", "adapter", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    adapter: Adapter
    summary: Summary
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., adapter: _Optional[_Union[Adapter, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class GenerateAudioResponse(_message.Message):
    __slots__ = ("progress", "audio_header", "audio_chunk", "summary")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_HEADER_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    audio_header: _audio_pb2.AudioHeader
    audio_chunk: _audio_pb2.AudioChunk
    summary: Summary
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., audio_header: _Optional[_Union[_audio_pb2.AudioHeader, _Mapping]] = ..., audio_chunk: _Optional[_Union[_audio_pb2.AudioChunk, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class ListInstrumentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListInstrumentsResponse(_message.Message):
    __slots__ = ("instruments", "instrument_sets")
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENT_SETS_FIELD_NUMBER: _ClassVar[int]
    instruments: _containers.RepeatedCompositeFieldContainer[Instrument]
    instrument_sets: _containers.RepeatedCompositeFieldContainer[InstrumentSet]
    def __init__(self, instruments: _Optional[_Iterable[_Union[Instrument, _Mapping]]] = ..., instrument_sets: _Optional[_Iterable[_Union[InstrumentSet, _Mapping]]] = ...) -> None: ...

class Instrument(_message.Message):
    __slots__ = ("name", "format", "title", "uri", "presets", "is_default")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    PRESETS_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: InstrumentFormat
    title: str
    uri: str
    presets: _containers.RepeatedScalarFieldContainer[str]
    is_default: bool
    def __init__(self, name: _Optional[str] = ..., format: _Optional[_Union[InstrumentFormat, str]] = ..., title: _Optional[str] = ..., uri: _Optional[str] = ..., presets: _Optional[_Iterable[str]] = ..., is_default: _Optional[bool] = ...) -> None: ...

class InstrumentSet(_message.Message):
    __slots__ = ("name", "description", "choices", "missing")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    choices: _containers.RepeatedCompositeFieldContainer[InstrumentChoice]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., choices: _Optional[_Iterable[_Union[InstrumentChoice, _Mapping]]] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "adapters")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelStatus]
    adapters: _containers.RepeatedCompositeFieldContainer[Adapter]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelStatus, _Mapping]]] = ..., adapters: _Optional[_Iterable[_Union[Adapter, _Mapping]]] = ...) -> None: ...

class ModelStatus(_message.Message):
    __slots__ = ("name", "version", "state", "message", "memory_bytes", "served_by", "is_default")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    state: ModelState
    message: str
    memory_bytes: int
    served_by: str
    is_default: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., state: _Optional[_Union[ModelState, str]] = ..., message: _Optional[str] = ..., memory_bytes: _Optional[int] = ..., served_by: _Optional[str] = ..., is_default: _Optional[bool] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "fraction", "message", "done", "total", "seconds_left", "loss")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SECONDS_LEFT_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    stage: Stage
    fraction: float
    message: str
    done: int
    total: int
    seconds_left: float
    loss: float
    def __init__(self, stage: _Optional[_Union[Stage, str]] = ..., fraction: _Optional[float] = ..., message: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., seconds_left: _Optional[float] = ..., loss: _Optional[float] = ...) -> None: ...

class MidiResult(_message.Message):
    __slots__ = ("midi", "info")
    MIDI_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    midi: bytes
    info: SongInfo
    def __init__(self, midi: _Optional[bytes] = ..., info: _Optional[_Union[SongInfo, _Mapping]] = ...) -> None: ...

class SongInfo(_message.Message):
    __slots__ = ("genre", "bpm", "key", "time_signature", "bars", "duration_seconds", "seed", "tracks", "sections", "metadata_json")
    GENRE_FIELD_NUMBER: _ClassVar[int]
    BPM_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    genre: str
    bpm: float
    key: str
    time_signature: str
    bars: int
    duration_seconds: float
    seed: int
    tracks: _containers.RepeatedCompositeFieldContainer[TrackInfo]
    sections: _containers.RepeatedCompositeFieldContainer[Section]
    metadata_json: str
    def __init__(self, genre: _Optional[str] = ..., bpm: _Optional[float] = ..., key: _Optional[str] = ..., time_signature: _Optional[str] = ..., bars: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., seed: _Optional[int] = ..., tracks: _Optional[_Iterable[_Union[TrackInfo, _Mapping]]] = ..., sections: _Optional[_Iterable[_Union[Section, _Mapping]]] = ..., metadata_json: _Optional[str] = ...) -> None: ...

class TrackInfo(_message.Message):
    __slots__ = ("name", "channel", "program", "instrument", "is_drum", "note_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    IS_DRUM_FIELD_NUMBER: _ClassVar[int]
    NOTE_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    channel: int
    program: int
    instrument: str
    is_drum: bool
    note_count: int
    def __init__(self, name: _Optional[str] = ..., channel: _Optional[int] = ..., program: _Optional[int] = ..., instrument: _Optional[str] = ..., is_drum: _Optional[bool] = ..., note_count: _Optional[int] = ...) -> None: ...

class Section(_message.Message):
    __slots__ = ("name", "start_bar", "bars")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_BAR_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    name: str
    start_bar: int
    bars: int
    def __init__(self, name: _Optional[str] = ..., start_bar: _Optional[int] = ..., bars: _Optional[int] = ...) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "seconds")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    stage: Stage
    seconds: float
    def __init__(self, stage: _Optional[_Union[Stage, str]] = ..., seconds: _Optional[float] = ...) -> None: ...

class StageError(_message.Message):
    __slots__ = ("stage", "field", "code", "message", "fields")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    stage: Stage
    field: str
    code: int
    message: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, stage: _Optional[_Union[Stage, str]] = ..., field: _Optional[str] = ..., code: _Optional[int] = ..., message: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("request_id", "cache_hit", "stage_timings", "total_seconds", "failed_stages")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    STAGE_TIMINGS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FAILED_STAGES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    cache_hit: bool
    stage_timings: _containers.RepeatedCompositeFieldContainer[StageTiming]
    total_seconds: float
    failed_stages: _containers.RepeatedCompositeFieldContainer[StageError]
    def __init__(self, request_id: _Optional[str] = ..., cache_hit: _Optional[bool] = ..., stage_timings: _Optional[_Iterable[_Union[StageTiming, _Mapping]]] = ..., total_seconds: _Optional[float] = ..., failed_stages: _Optional[_Iterable[_Union[StageError, _Mapping]]] = ...) -> None: ...

"""The one settings object of dgx-music: every process (gateway, Triton models, launcher) reads it from the
environment (prefix ``DGXMUSIC_``), so the embedded default, the tests and Kubernetes differ only in values."""

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy import triton_url
from dgxmusic.models import MODELS

PROJECT_ROOT = Path(__file__).resolve().parents[1]

MIB = 1024 * 1024

# How large model outputs come from Triton: through its system shared memory (on), over gRPC (off), or the first when
# every Triton replica is on this host (auto). gateway.shared_memory.
SharedMemoryMode = Literal["auto", "on", "off"]


class ApiKey(BaseModel):
    """One client's API key as the gateway keeps it: the key's hash (`dgx-music keys new` prints both), never the key;
    its rate limit: `burst` calls at once, refilled at `requests_per_minute`; and its quota: at most
    `requests_per_day` calls that make something (every RPC but ListModels and reading jobs) per UTC day, counted in
    Redis across gateways (None: no quota)."""

    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="sha256:<hex digest of the key>")
    requests_per_minute: float = Field(60.0, gt=0)
    burst: int = Field(10, ge=1)
    requests_per_day: int | None = Field(None, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DGXMUSIC_", env_nested_delimiter="__")

    # Gateway
    host: str = "127.0.0.1"
    grpc_port: int = Field(50051, ge=1, le=65535)
    metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus /metrics; 0 turns it off")
    # One Triton (host:port), or replicas balanced per request: dns:///name:port, ipv4:a:port,b:port (deploy.triton_url)
    triton_url: str = "127.0.0.1:8001"
    # A render's mix and stems through Triton's system shared memory instead of gRPC (SharedMemoryMode)
    triton_shared_memory: SharedMemoryMode = "auto"
    triton_shared_memory_bytes: int = Field(
        512 * MIB, ge=16 * MIB, description="the gateway's shared memory regions in all; past it, results go over gRPC"
    )
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    default_deadline_seconds: float = Field(120.0, gt=0, description="used when a client sends no deadline")
    max_concurrent_rpcs: int = Field(64, ge=1, description="MusicService calls at once; health is never refused")
    max_concurrent_rpcs_per_caller: int = Field(
        32, ge=1, description="of those, one caller's (its API key, or without keys its address)"
    )
    redis_timeout_seconds: float = Field(
        1.0, gt=0, description="longest wait on Redis; after a failure Redis is skipped for redis_retry_seconds"
    )
    redis_retry_seconds: float = Field(5.0, ge=0)
    # The stack's own keys (deploy.keys): Triton's repository and control APIs answer only requests carrying
    # triton_api_key, Redis requires redis_password, and cached results are signed with cache_signing_key. Unset,
    # `dgx-music serve` generates them at first start and keeps them in data_dir/keys.json (readable by its owner only).
    triton_api_key: SecretStr | None = None
    redis_password: SecretStr | None = None
    cache_signing_key: SecretStr | None = None
    health_poll_seconds: float = Field(2.0, gt=0)

    # Results and limits
    cache_ttl_seconds: int = Field(7 * 24 * 3600, ge=0, description="0 turns the cache off")
    cache_max_entry_bytes: int = Field(
        256 * MIB, ge=0, description="larger results are not cached (past cache_inline_max_bytes they go to cache_dir)"
    )
    cache_inline_max_bytes: int = Field(
        MIB, ge=0, description="larger results are kept in cache_dir, with only their reference in Redis"
    )
    cache_store_max_bytes: int = Field(
        8192 * MIB, ge=0, description="the large results in cache_dir together; past it the oldest go"
    )
    cache_sweep_seconds: float = Field(
        60.0, gt=0, description="how often expired large results are deleted and the cache's metrics updated"
    )
    chunk_bytes: int = Field(MIB, ge=1024, le=MIB, description="audio chunk size on the wire")
    max_midi_bytes: int = Field(8 * MIB, ge=1024)
    max_render_seconds: float = Field(600.0, gt=0)
    default_sample_rate: int = Field(44100, ge=8000, le=96000)
    max_upload_bytes: int = Field(256 * MIB, ge=1024, description="audio a client may stream in")
    max_upload_memory_bytes: int = Field(
        2048 * MIB, ge=MIB, description="memory all uploads in flight may take together (received and decoded)"
    )
    upload_idle_seconds: float = Field(
        30.0, gt=0, description="an upload that sends nothing for this long is closed, freeing its call's slot"
    )
    max_audio_seconds: float = Field(600.0, gt=0, description="audio a client may have transcribed or separated")

    # Durable jobs (JobService): records in Redis, input audio and results in artifact_dir
    job_retention_seconds: float = Field(
        7 * 24 * 3600, ge=60, description="how long a finished job and its results are kept"
    )
    job_workers: int = Field(2, ge=1, description="jobs one gateway runs at once")
    job_max_attempts: int = Field(
        5, ge=1, description="runs of a job cut short by something unavailable (Triton down, a gateway crash)"
    )
    job_lease_seconds: float = Field(
        15.0, gt=0, description="a job whose runner stops renewing its lease (it died) is run by another after this"
    )
    job_timeout_seconds: float = Field(3600.0, gt=0, description="longest run of one job")
    train_timeout_seconds: float = Field(
        48 * 3600.0, gt=0, description="longest run of one train job (fine-tuning MusicGen; it resumes if cut short)"
    )

    # Separation (read by the demucs model; its config.pbtxt parameters override these)
    demucs_model: str = "htdemucs"
    separate_threads: int = Field(2, ge=1)
    max_separate_seconds: float = Field(600.0, gt=0)

    # Generation (read by the musicgen model; its config.pbtxt parameters override these)
    musicgen_model: str = "musicgen-small"
    generate_threads: int = Field(2, ge=1)
    max_generate_seconds: float = Field(300.0, gt=0)

    # Rendering (read by the fluidsynth model)
    soundfont_dirs: list[Path] = [Path("/usr/share/sounds/sf2")]
    default_soundfont: str = "FluidR3_GM"
    render_threads: int = Field(2, ge=1)
    max_soundfont_bytes: int = Field(
        256 * MIB, ge=1024, description="a SoundFont a client may upload (UploadSoundFont); FluidR3_GM is 141 MB"
    )
    max_soundfont_store_bytes: int = Field(
        4096 * MIB, ge=1024, description="uploaded SoundFonts kept in all; past it the least recently used go"
    )
    # Plugin instruments (LV2 from LV2_PATH or lilv's default, VST2 from VST_PATH or the usual directories)
    plugin_workers: int = Field(2, ge=1, description="processes rendering plugin tracks at once, apart from Triton")
    plugin_render_timeout_seconds: float = Field(
        120.0, gt=0, description="a plugin track still rendering after this fails (the plugin hung)"
    )

    # The library (library.store): every finished result, kept in PostgreSQL with its files in data_dir/library.
    # Unset, `dgx-music serve` runs its own PostgreSQL (data_dir/postgres, a private Unix socket) and points the
    # gateway at it; in a cluster, a managed PostgreSQL's DSN (postgresql://user:password@host/db). A gateway with
    # neither keeps nothing and answers LibraryService with UNAVAILABLE.
    library_database_url: SecretStr | None = None
    library_retention_days: float = Field(
        0, ge=0, description="unpinned items older than this are deleted; 0 keeps them until the size limit"
    )
    library_max_bytes: int = Field(
        20 * 1024 * MIB, ge=0, description="files kept in all; past it the oldest unpinned items go (0: no limit)"
    )
    library_max_item_bytes: int = Field(
        512 * MIB, ge=0, description="a result larger than this is not kept (its events are held in memory)"
    )
    library_max_pending: int = Field(
        256,
        ge=1,
        description="results waiting to be kept; past it (a gateway under more load than it can describe) "
        "newer ones are not kept, and counted in dgxmusic_library_not_kept_total",
    )

    # Launcher of the embedded default (`dgx-music serve`)
    data_dir: Path = Path(".dgx-music")
    # Read by the models that load weights (demucs, musicgen); declared after data_dir, its default.
    weights_dir: Path = Field(default_factory=lambda data: Path(data["data_dir"]) / "weights")
    # Fine-tuned MusicGen adapters: musicgen_train writes them, musicgen applies them (Triton's replicas share it).
    adapter_dir: Path = Field(default_factory=lambda data: Path(data["data_dir"]) / "adapters")
    model_repository: Path = PROJECT_ROOT / "model_repository"
    # Clients' uploaded SoundFonts, named by their sha256 (the gateway writes them, the fluidsynth model reads them).
    soundfont_upload_dir: Path = Field(default_factory=lambda data: Path(data["data_dir"]) / "soundfonts")
    # The result cache's large results (the cache's index is Redis); gateways that share Redis share it.
    cache_dir: Path = Field(default_factory=lambda data: Path(data["data_dir"]) / "cache")
    # Jobs' input audio and results; gateways that share jobs (Redis) must share it.
    artifact_dir: Path = Field(default_factory=lambda data: Path(data["data_dir"]) / "jobs")
    # Files of library items, named by their sha256; gateways that share a database must share it.
    library_dir: Path = Field(default_factory=lambda data: Path(data["data_dir"]) / "library")
    redis_port: int = Field(6379, ge=1, le=65535)
    redis_maxmemory: str = "2gb"
    triton_grpc_port: int = Field(8001, ge=1, le=65535)
    triton_http_port: int = Field(8000, ge=1, le=65535)
    triton_metrics_port: int = Field(8002, ge=1, le=65535)
    models: list[str] = [model.NAME for model in MODELS]
    startup_timeout_seconds: float = Field(120.0, gt=0)

    # Facing a network (the gateway). Unset, the gateway speaks plaintext and asks for no key: the embedded default,
    # on a loopback host. A host that is not a loopback address needs api_keys (the gateway refuses to start without).
    tls_cert_file: Path | None = Field(None, description="the gateway's certificate chain (PEM); with tls_key_file")
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = Field(None, description="mTLS: only clients with a certificate it signed get in")
    # By key name, e.g. DGXMUSIC_API_KEYS__ALICE='{"hash": "sha256:...", "requests_per_minute": 60}'.
    api_keys: dict[str, ApiKey] = {}

    @field_validator("triton_url")
    @classmethod
    def _triton_url_form(cls, url: str) -> str:
        triton_url.parse(url)  # TritonUrlError is a ValueError: pydantic names the setting
        return url

    @model_validator(mode="after")
    def _tls_files_together(self) -> "Settings":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file")
        return self

    def masked(self) -> dict[str, Any]:
        """The settings as printed at start: secrets stay masked (SecretStr dumps as '**********')."""
        return self.model_dump(mode="json")

"""Prometheus metrics of the gateway (served on settings.metrics_port at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("dgxmusic_requests_total", "RPCs answered, by method and gRPC status code", ["method", "code"])
REQUEST_SECONDS = Histogram(
    "dgxmusic_request_seconds",
    "RPC latency, by method",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
STAGE_SECONDS = Histogram(
    "dgxmusic_stage_seconds",
    "Time in each pipeline stage",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
IN_FLIGHT = Gauge("dgxmusic_requests_in_flight", "RPCs being served, by method", ["method"])
CACHE = Counter(
    "dgxmusic_cache_lookups_total",
    "Result cache lookups, by result (hit, miss, error, rejected: an entry not signed by this stack, damaged: its blob "
    "gone or not matching its checksum); the hit rate is hit / all",
    ["result"],
)
MODEL_RELOADS = Counter(
    "dgxmusic_model_reloads_total",
    "Models reloaded because a python stub died, by model and by what found it (request: a request failed on it; "
    "canary: the periodic check found the stub gone)",
    ["model", "found_by"],
)
DEAD_STUBS = Counter("dgxmusic_model_stubs_dead_total", "Python stubs the canary found dead, by model", ["model"])
JOBS = Counter("dgxmusic_jobs_finished_total", "Durable jobs finished, by kind and state", ["kind", "state"])
JOB_RUNS = Counter("dgxmusic_job_runs_total", "Runs of durable jobs, by kind and gRPC status code", ["kind", "code"])
TRITON_RETRIES = Counter(
    "dgxmusic_triton_retries_total",
    "Model calls repeated on another Triton replica after theirs went away (UNAVAILABLE), by model",
    ["model"],
)
SHARED_MEMORY_FALLBACKS = Counter(
    "dgxmusic_shared_memory_fallbacks_total",
    "Model calls whose large outputs went over gRPC although the gateway uses shared memory, by model and why "
    "(no_room: the pool was full; unregistered: a replica had lost the regions; too_small: an output outgrew its "
    "place; failed: a region could not be made or registered)",
    ["model", "reason"],
)
SHARED_MEMORY_BYTES = Gauge(
    "dgxmusic_shared_memory_bytes", "Bytes of the gateway's shared memory regions with Triton (made, not yet removed)"
)
CACHE_ENTRIES = Gauge("dgxmusic_cache_entries", "Results in the cache (entries in Redis), as last swept")
CACHE_BLOBS = Gauge("dgxmusic_cache_blobs", "Large cached results kept as blobs in the cache's store, as last swept")
CACHE_BYTES = Gauge(
    "dgxmusic_cache_bytes",
    "Bytes the result cache takes, by where (redis: its entries' memory; store: its blobs on disk), as last swept",
    ["where"],
)
LIBRARY_NOT_KEPT = Counter(
    "dgxmusic_library_not_kept_total",
    "Finished results the library did not keep because library_max_pending were already waiting to be kept",
)
LIBRARY_ITEMS = Counter("dgxmusic_library_items_total", "Results kept in the library, by kind", ["kind"])
LIBRARY_FAILURES = Counter(
    "dgxmusic_library_failures_total",
    "Library reads and writes that failed (PostgreSQL away or refusing, the files' disk); calls went on without it",
)

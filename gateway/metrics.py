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
    "Result cache lookups, by result (hit, miss, error, rejected: an entry not signed by this stack)",
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
LIBRARY_ITEMS = Counter("dgxmusic_library_items_total", "Results kept in the library, by kind", ["kind"])
LIBRARY_FAILURES = Counter(
    "dgxmusic_library_failures_total",
    "Library reads and writes that failed (PostgreSQL away or refusing, the files' disk); calls went on without it",
)

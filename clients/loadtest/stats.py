"""A load-test run's figures from its calls' timings, and the SLO a run is held to.

Percentiles interpolate linearly between the two nearest ranks, as numpy's default (`method="linear"`) and k6 do, so
the p50 of [1, 2] is 1.5; ghz's nearest rank would say 1 or 2. Latency figures are of the calls that succeeded: a call
refused at once would otherwise make the service look fast."""

import bisect
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

OK = "OK"
HISTOGRAM_BUCKETS = 10


@dataclass(frozen=True)
class CallResult:
    """One call's timings, in seconds, all measured on one monotonic clock."""

    started: float  # since the run's start
    latency: float  # from `started` to the call's end: its last message, or its error
    first_event: float | None  # from `started` to a streaming call's first response; None for a unary call or none seen
    code: str  # "OK" or the grpc.StatusCode's name: "UNAVAILABLE", "DEADLINE_EXCEEDED", ...

    @property
    def ok(self) -> bool:
        return self.code == OK


@dataclass(frozen=True)
class Percentiles:
    """A distribution of durations in seconds. p10, p25 and p75 are there for ghz's latency distribution."""

    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    p10: float
    p25: float
    p75: float


PERCENTILE_NAMES = tuple(f.name for f in fields(Percentiles))


@dataclass(frozen=True)
class Summary:
    """One run's figures: a single concurrency or rate of a sweep, named by `label` ("concurrency 4", "rate 10/s")."""

    count: int  # calls that ended, with or without an error
    successes: int
    errors: dict[str, int]  # status code name -> calls that ended with it; OK is not among them
    seconds: float  # the wall time measured, warm-up left out
    rps: float  # count / seconds: every call that ended, errors included, as ghz and k6 count
    latency: Percentiles | None  # of the successes; None when none succeeded
    first_event: Percentiles | None  # of the successes that streamed a response; None for unary RPCs
    histogram: list[tuple[float, int]]  # (bucket's upper bound in seconds, successes in it), ghz-like equal buckets
    label: str = ""

    @property
    def error_count(self) -> int:
        return self.count - self.successes

    @property
    def error_rate(self) -> float:
        """The share of calls that failed, 0 to 1; 0 when no call ended."""
        return self.error_count / self.count if self.count else 0.0


@dataclass(frozen=True)
class Run:
    """A run as the reports take it: its figures and the calls they come from."""

    label: str
    summary: Summary
    results: tuple[CallResult, ...]


def percentile(ordered: Sequence[float], q: float) -> float:
    """The `q`th percentile (0 to 100) of values sorted ascending, interpolated linearly between the nearest ranks."""
    if not ordered:
        raise ValueError("no values to take a percentile of")
    rank = (len(ordered) - 1) * q / 100
    below = math.floor(rank)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (rank - below)


def percentiles(values: Sequence[float]) -> Percentiles | None:
    """The distribution of `values` (any order); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return Percentiles(
        min=ordered[0],
        mean=math.fsum(ordered) / len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
        max=ordered[-1],
        p10=percentile(ordered, 10),
        p25=percentile(ordered, 25),
        p75=percentile(ordered, 75),
    )


def histogram(values: Sequence[float], buckets: int = HISTOGRAM_BUCKETS) -> list[tuple[float, int]]:
    """`buckets` equal-width buckets from the least to the greatest value, as (upper bound, count); a value on a
    bound counts in the lower bucket. One bucket when all values are equal; none when there are no values."""
    if not values:
        return []
    low, high = min(values), max(values)
    if low == high:
        return [(high, len(values))]
    width = (high - low) / buckets
    # The last bound is the greatest value itself, not low + buckets * width, which may differ by a rounding.
    bounds = [low + width * (index + 1) for index in range(buckets - 1)] + [high]
    counts = [0] * buckets
    for value in values:
        counts[bisect.bisect_left(bounds, value)] += 1
    return list(zip(bounds, counts, strict=True))


def summarize(results: Sequence[CallResult], seconds: float, label: str = "") -> Summary:
    """The figures of one run's calls, measured over `seconds` of wall time."""
    successes = [result for result in results if result.ok]
    errors = Counter(result.code for result in results if not result.ok)
    latencies = [result.latency for result in successes]
    return Summary(
        count=len(results),
        successes=len(successes),
        errors=dict(sorted(errors.items(), key=lambda code_count: (-code_count[1], code_count[0]))),
        seconds=seconds,
        rps=len(results) / seconds if seconds > 0 else 0.0,
        latency=percentiles(latencies),
        first_event=percentiles([result.first_event for result in successes if result.first_event is not None]),
        histogram=histogram(latencies),
        label=label,
    )


def format_seconds(seconds: float) -> str:
    """A duration as a person reads it: "312.40 ms", "2.41 s"."""
    return f"{seconds * 1000:.2f} ms" if abs(seconds) < 1 else f"{seconds:.2f} s"


def _format_share(share: float) -> str:
    return f"{share * 100:.3g}%"


class SloSpecError(ValueError):
    """An SLO spec that does not parse; the message names the part at fault, fit for click.BadParameter."""

    def __init__(self, part: str, problem: str) -> None:
        super().__init__(f"{part!r}: {problem}")
        self.part = part


_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"({_NUMBER})(ms|s)")
_SHARE = re.compile(rf"({_NUMBER})%")
_RATE = re.compile(rf"({_NUMBER})(?:/s)?")
_FIRST_EVENT_PREFIX = "first_event_"
SLO_HELP = (
    "comma-separated limits: latency of the successes as min, mean, p10..p99 or max (p99=2s, p50=300ms), time to a "
    "streaming call's first response as first_event_p99=500ms, errors=0.1% (the most that may fail), rps=5 (the least)"
)


@dataclass(frozen=True)
class Slo:
    """The limits a run must keep: `Slo.parse("p99=2s,p50=300ms,errors=0.1%,rps=5")`. A latency equal to its limit
    keeps it; so does an error rate equal to its limit and an rps equal to its floor."""

    latency: dict[str, float] = field(default_factory=dict)  # percentile name -> most seconds
    first_event: dict[str, float] = field(default_factory=dict)  # percentile name -> most seconds
    max_error_rate: float | None = None  # 0 to 1
    min_rps: float | None = None

    @classmethod
    def parse(cls, spec: str) -> "Slo":
        latency: dict[str, float] = {}
        first_event: dict[str, float] = {}
        max_error_rate: float | None = None
        min_rps: float | None = None
        named: set[str] = set()
        parts = [part.strip() for part in spec.split(",") if part.strip()]
        if not parts:
            raise SloSpecError(spec, f"names no limit; {SLO_HELP}")
        for part in parts:
            name, equals, value = (text.strip() for text in part.partition("="))
            name = name.lower()
            if not equals or not value:
                raise SloSpecError(part, "give a limit as name=value, such as p99=2s")
            if name in named:
                raise SloSpecError(part, f"{name} is limited twice")
            named.add(name)
            if name in PERCENTILE_NAMES:
                latency[name] = _parse_duration(part, value)
            elif name.startswith(_FIRST_EVENT_PREFIX) and name.removeprefix(_FIRST_EVENT_PREFIX) in PERCENTILE_NAMES:
                first_event[name.removeprefix(_FIRST_EVENT_PREFIX)] = _parse_duration(part, value)
            elif name == "errors":
                max_error_rate = _parse_share(part, value)
            elif name == "rps":
                min_rps = _parse_rate(part, value)
            else:
                raise SloSpecError(part, f"{name} is not a figure an SLO can limit; {SLO_HELP}")
        return cls(latency, first_event, max_error_rate, min_rps)

    def missed(self, summary: Summary) -> list[str]:
        """A sentence for each limit `summary` does not keep; empty when it keeps them all. A figure that cannot be
        known (a latency when no call succeeded, the error rate when no call ended) misses its limit."""
        missed = [
            *_missed_percentiles(summary.latency, self.latency, "latency", "no call succeeded"),
            *_missed_percentiles(
                summary.first_event, self.first_event, "time to first event", "no call streamed a response"
            ),
        ]
        if self.max_error_rate is not None:
            limit = _format_share(self.max_error_rate)
            if not summary.count:
                missed.append(f"the error rate is unknown: no call ended (SLO {limit})")
            elif summary.error_rate > self.max_error_rate:
                missed.append(
                    f"{_format_share(summary.error_rate)} of calls failed ({summary.error_count} of {summary.count}),"
                    f" over the SLO's {limit}"
                )
        if self.min_rps is not None and summary.rps < self.min_rps:
            missed.append(f"{summary.rps:.2f} requests/s is under the SLO's {self.min_rps:g}")
        return missed


def _missed_percentiles(
    actual: Percentiles | None, limits: dict[str, float], figure: str, why_unknown: str
) -> list[str]:
    if actual is None:
        return [
            f"{name} {figure} is unknown: {why_unknown} (SLO {format_seconds(most)})" for name, most in limits.items()
        ]
    return [
        f"{name} {figure} {format_seconds(getattr(actual, name))} is over the SLO's {format_seconds(most)}"
        for name, most in limits.items()
        if getattr(actual, name) > most
    ]


def _parse_duration(part: str, value: str) -> float:
    match = _DURATION.fullmatch(value.lower())
    if not match:
        raise SloSpecError(part, "a latency is a number with its unit, s or ms: 2s, 300ms")
    number, unit = match.groups()
    return float(number) / 1000 if unit == "ms" else float(number)


def _parse_share(part: str, value: str) -> float:
    match = _SHARE.fullmatch(value)
    if match:
        share = float(match.group(1)) / 100
    elif re.fullmatch(_NUMBER, value) and float(value) == 0:  # a bare zero: no unit needed to say "none may fail"
        share = 0.0
    else:
        raise SloSpecError(part, "errors is a percentage of the calls: 0.1%, 0%")
    if share > 1:
        raise SloSpecError(part, "errors is a percentage from 0% to 100%")
    return share


def _parse_rate(part: str, value: str) -> float:
    match = _RATE.fullmatch(value)
    if not match:
        raise SloSpecError(part, "rps is the least requests per second, a number: 5, 0.5")
    return float(match.group(1))

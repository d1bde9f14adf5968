"""The load-test harness's statistics, SLOs and reports, on calls made up here: no server."""

import base64
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from clients.loadtest.report import PlotsUnavailable, html_report, json_report, png_report, runs_from_json, text_report
from clients.loadtest.stats import (
    PERCENTILE_NAMES,
    CallResult,
    Run,
    Slo,
    SloSpecError,
    histogram,
    summarize,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def made_up_calls(count: int, *, streaming: bool = False, seed: int = 0) -> list[CallResult]:
    """`count` calls 10 ms apart, lognormal latencies; every 20th fails UNAVAILABLE, every 50th past its deadline."""
    generator = random.Random(seed)
    calls = []
    for index in range(count):
        latency = generator.lognormvariate(-2, 0.6)
        code = "DEADLINE_EXCEEDED" if index % 50 == 49 else "UNAVAILABLE" if index % 20 == 19 else "OK"
        first_event = latency * generator.uniform(0.1, 0.9) if streaming else None
        calls.append(CallResult(started=index * 0.01, latency=latency, first_event=first_event, code=code))
    return calls


def a_run(label: str = "concurrency 4", *, streaming: bool = False, seed: int = 0) -> Run:
    calls = made_up_calls(400, streaming=streaming, seed=seed)
    return Run(label, summarize(calls, seconds=4.0, label=label), tuple(calls))


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_equal_numpys_linear_interpolation(seed: int) -> None:
    generator = np.random.default_rng(seed)
    latencies = generator.lognormal(-1, 1, size=int(generator.integers(1, 300))).tolist()
    summary = summarize([CallResult(0.0, latency, None, "OK") for latency in latencies], seconds=1.0)
    assert summary.latency is not None
    for name in PERCENTILE_NAMES:
        if name.startswith("p"):
            expected = np.percentile(latencies, float(name[1:]), method="linear")
            assert getattr(summary.latency, name) == pytest.approx(expected, rel=1e-12), name
    assert summary.latency.min == min(latencies)
    assert summary.latency.max == max(latencies)
    assert summary.latency.mean == pytest.approx(np.mean(latencies), rel=1e-12)


def test_the_median_of_two_calls_lies_between_them() -> None:
    summary = summarize([CallResult(0.0, 1.0, None, "OK"), CallResult(0.0, 2.0, None, "OK")], seconds=1.0)
    assert summary.latency is not None
    assert summary.latency.p50 == 1.5


def test_percentiles_are_ordered() -> None:
    latency = a_run().summary.latency
    assert latency is not None
    ordered = [latency.min, latency.p10, latency.p25, latency.p50, latency.p75, latency.p90, latency.p95]
    ordered += [latency.p99, latency.max]
    assert ordered == sorted(ordered)
    assert latency.min <= latency.mean <= latency.max


def test_errors_are_counted_by_status_code_and_every_call_is_a_success_or_an_error() -> None:
    summary = a_run().summary
    assert summary.errors == {"UNAVAILABLE": 16, "DEADLINE_EXCEEDED": 8}  # most first
    assert summary.count == 400
    assert summary.count == summary.successes + sum(summary.errors.values())
    assert summary.error_count == 24
    assert summary.error_rate == 24 / 400


def test_latency_figures_are_of_the_successes_only() -> None:
    calls = [CallResult(0.0, 0.5, None, "OK"), CallResult(0.0, 0.001, None, "UNAVAILABLE")]
    summary = summarize(calls, seconds=1.0)
    assert summary.latency is not None
    assert summary.latency.min == summary.latency.max == 0.5
    assert summary.histogram == [(0.5, 1)]


def test_rps_counts_every_call_that_ended_over_the_measured_seconds() -> None:
    summary = a_run().summary
    assert summary.seconds == 4.0
    assert summary.rps == 400 / 4.0


def test_time_to_first_event_is_told_only_for_streaming_calls() -> None:
    assert a_run().summary.first_event is None
    streaming = a_run(streaming=True).summary
    assert streaming.first_event is not None
    assert streaming.latency is not None
    assert streaming.first_event.p50 < streaming.latency.p50


def test_no_calls_make_a_summary_without_figures() -> None:
    summary = summarize([], seconds=0.0, label="rate 5/s")
    assert (summary.count, summary.successes, summary.errors, summary.rps) == (0, 0, {}, 0.0)
    assert summary.latency is None
    assert summary.first_event is None
    assert summary.histogram == []
    assert summary.error_rate == 0.0
    assert "no call ended" in text_report(summary)


def test_only_failures_make_no_latency_figures() -> None:
    summary = summarize([CallResult(0.0, 0.2, None, "UNAVAILABLE")] * 3, seconds=1.0)
    assert summary.latency is None
    assert summary.errors == {"UNAVAILABLE": 3}
    assert "[UNAVAILABLE] 3 responses" in text_report(summary)


def test_the_histogram_has_ten_equal_buckets_from_the_fastest_to_the_slowest() -> None:
    buckets = histogram([1.0, 1.5, 2.0, 2.0, 5.0, 11.0])
    assert [bound for bound, _ in buckets] == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    assert [count for _, count in buckets] == [4, 0, 0, 1, 0, 0, 0, 0, 0, 1]  # a value on a bound counts below it
    assert histogram([0.3, 0.3]) == [(0.3, 2)]


def test_a_slo_parses_latencies_in_seconds_or_milliseconds_errors_in_percent_and_rps() -> None:
    slo = Slo.parse("p99=2s, p50=300ms,errors=0.1%,rps=5,first_event_p95=.25s,MAX=1.5s")
    assert slo.latency == {"p99": 2.0, "p50": 0.3, "max": 1.5}
    assert slo.first_event == {"p95": 0.25}
    assert slo.max_error_rate == pytest.approx(0.001)
    assert slo.min_rps == 5.0
    assert Slo.parse("errors=0").max_error_rate == 0.0
    assert Slo.parse("rps=2.5/s").min_rps == 2.5


@pytest.mark.parametrize(
    ("spec", "bad_part", "problem"),
    [
        ("p99=2", "p99=2", "s or ms"),
        ("p99=2m", "p99=2m", "s or ms"),
        ("p50=300ms,p98=1s", "p98=1s", "not a figure"),
        ("errors=0.1", "errors=0.1", "percentage"),
        ("errors=150%", "errors=150%", "0% to 100%"),
        ("rps=fast", "rps=fast", "a number"),
        ("p99", "p99", "name=value"),
        ("p99=", "p99=", "name=value"),
        ("p99=1s,p99=2s", "p99=2s", "twice"),
        (" , ", " , ", "names no limit"),
    ],
)
def test_a_bad_slo_names_the_part_at_fault(spec: str, bad_part: str, problem: str) -> None:
    with pytest.raises(SloSpecError, match=problem) as raised:
        Slo.parse(spec)
    assert raised.value.part == bad_part
    assert repr(bad_part) in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_slo_kept_misses_nothing() -> None:
    summary = a_run().summary
    assert summary.latency is not None
    kept = Slo.parse(f"p99={summary.latency.p99 * 1000}ms,errors=6%,rps={summary.rps}")
    assert kept.missed(summary) == []


def test_a_slo_missed_says_which_figure_by_how_much() -> None:
    summary = summarize(
        [CallResult(0.0, 2.5, None, "OK")] * 3 + [CallResult(0.0, 0.1, None, "UNAVAILABLE")], seconds=2.0
    )
    missed = Slo.parse("p99=2s,p50=300ms,errors=0.1%,rps=5").missed(summary)
    assert missed == [
        "p99 latency 2.50 s is over the SLO's 2.00 s",
        "p50 latency 2.50 s is over the SLO's 300.00 ms",
        "25% of calls failed (1 of 4), over the SLO's 0.1%",
        "2.00 requests/s is under the SLO's 5",
    ]


def test_figures_that_cannot_be_known_miss_their_slo() -> None:
    slo = Slo.parse("p99=1s,first_event_p50=100ms,errors=1%")
    missed = slo.missed(summarize([], seconds=1.0))
    assert missed == [
        "p99 latency is unknown: no call succeeded (SLO 1.00 s)",
        "p50 time to first event is unknown: no call streamed a response (SLO 100.00 ms)",
        "the error rate is unknown: no call ended (SLO 1%)",
    ]


def test_the_text_report_shows_the_figures_as_ghz_does() -> None:
    summary = a_run(streaming=True).summary
    assert summary.latency is not None
    assert summary.first_event is not None
    report = text_report(summary)
    assert report.startswith("Summary: concurrency 4\n")
    assert re.search(r"Count:\s+400\n", report)
    assert re.search(r"Requests/sec:\s+100\.00\n", report)
    assert f"Slowest:      {summary.latency.max * 1000:.2f} ms" in report
    assert f"99 % in {summary.latency.p99 * 1000:.2f} ms" in report
    assert f"Time to first event:\n  10 % in {summary.first_event.p10 * 1000:.2f} ms" in report
    assert "[OK]                376 responses" in report
    assert "[UNAVAILABLE]       16 responses" in report
    assert "[DEADLINE_EXCEEDED] 8 responses" in report
    histogram_lines = re.findall(r"^\s+[\d.]+ \[(\d+)\]\s+\|(∎*)$", report, flags=re.MULTILINE)
    assert len(histogram_lines) == 10
    assert sum(int(count) for count, _ in histogram_lines) == summary.successes
    assert max(len(bar) for _, bar in histogram_lines) == 40


def test_the_json_report_holds_every_figure_and_call_and_reads_back() -> None:
    runs = [a_run("concurrency 1", seed=1), a_run("concurrency 4", streaming=True, seed=2)]
    report = json.loads(json.dumps(json_report(runs)))
    assert runs_from_json(report) == runs
    first = report["runs"][0]
    assert first["summary"]["latency"]["p50"] == runs[0].summary.latency.p50  # type: ignore[union-attr]
    assert first["summary"]["error_rate"] == 24 / 400
    assert len(first["results"]) == 400
    assert first["results"][0] == {
        "started": 0.0,
        "latency": runs[0].results[0].latency,
        "first_event": None,
        "code": "OK",
    }


def test_a_json_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not a load-test report"):
        runs_from_json({"runs": []})


def test_the_png_report_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "latency.png"
    png_report([a_run("concurrency 1", seed=1), a_run("concurrency 4", seed=2)], path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_the_html_report_is_one_file_with_its_plots_inside(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    runs = [a_run("concurrency 1", seed=1), a_run("<rate 5/s>", streaming=True, seed=2)]
    html_report(runs, path)
    page = path.read_text(encoding="utf-8")
    assert "&lt;rate 5/s&gt;" in page
    assert "<rate 5/s>" not in page
    assert "Latency distribution:" in page
    assert 'src="http' not in page
    embedded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert embedded
    assert base64.b64decode(embedded.group(1)).startswith(PNG_SIGNATURE)


def test_plots_of_runs_without_calls_are_still_drawn(tmp_path: Path) -> None:
    empty = Run("rate 1/s", summarize([], seconds=1.0), ())
    failed = [CallResult(0.0, 0.1, None, "UNAVAILABLE")]
    png_report([empty, Run("concurrency 1", summarize(failed, seconds=1.0), tuple(failed))], tmp_path / "empty.png")
    assert (tmp_path / "empty.png").read_bytes().startswith(PNG_SIGNATURE)


def test_plots_without_matplotlib_say_what_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed: importing it raises
    with pytest.raises(PlotsUnavailable, match="matplotlib, which is not installed"):
        png_report([a_run()], tmp_path / "latency.png")
    with pytest.raises(PlotsUnavailable):
        html_report([a_run()], tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()

"""A load test's runs as a person or a program reads them: a ghz-style text block, JSON with every call's timings, and
plots of latency over time and its histogram (PNG, or embedded in one self-contained HTML file).

The plots draw with matplotlib, which the client does not install; it is imported only when a plot is asked for."""

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clients.loadtest.stats import CallResult, Percentiles, Run, Summary, format_seconds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

JSON_FORMAT = "dgx-music loadtest 1"
_BAR = "∎"
_BAR_WIDTH = 40
_DISTRIBUTION = (10, 25, 50, 75, 90, 95, 99)  # ghz's percentiles; Percentiles has a field for each


class PlotsUnavailable(RuntimeError):
    """A plot was asked for but matplotlib, which draws it, is not installed."""


def text_report(summary: Summary) -> str:
    """The run's figures as ghz prints them: summary, response time histogram, latency distribution, time to first
    event (streaming RPCs), status code distribution."""
    sections = [_summary_section(summary)]
    if summary.latency is not None:
        sections += [_histogram_section(summary), _distribution_section("Latency distribution:", summary.latency)]
    if summary.first_event is not None:
        sections.append(_distribution_section("Time to first event:", summary.first_event))
    sections.append(_status_section(summary))
    return "\n\n".join(sections) + "\n"


def _summary_section(summary: Summary) -> str:
    latency = summary.latency
    rows = [
        ("Count", str(summary.count)),
        ("Successes", str(summary.successes)),
        ("Total", format_seconds(summary.seconds)),
        ("Slowest", format_seconds(latency.max) if latency else "-"),
        ("Fastest", format_seconds(latency.min) if latency else "-"),
        ("Average", format_seconds(latency.mean) if latency else "-"),
        ("Requests/sec", f"{summary.rps:.2f}"),
    ]
    title = f"Summary: {summary.label}" if summary.label else "Summary:"
    return "\n".join([title, *(f"  {name + ':':<14}{value}" for name, value in rows)])


def _histogram_section(summary: Summary) -> str:
    scale, unit = (1000, "ms") if summary.histogram[-1][0] < 1 else (1, "s")
    most = max(count for _, count in summary.histogram)
    lines = [
        f"  {bound * scale:>10.3f} [{count}]".ljust(24) + "|" + _BAR * round(count * _BAR_WIDTH / most)
        for bound, count in summary.histogram
    ]
    return "\n".join([f"Response time histogram ({unit}):", *lines])


def _distribution_section(title: str, distribution: Percentiles) -> str:
    lines = [f"  {share} % in {format_seconds(getattr(distribution, f'p{share}'))}" for share in _DISTRIBUTION]
    return "\n".join([title, *lines])


def _status_section(summary: Summary) -> str:
    codes = {"OK": summary.successes, **summary.errors} if summary.successes else dict(summary.errors)
    if not codes:
        return "Status code distribution:\n  no call ended"
    width = max(len(code) for code in codes) + 2
    lines = [f"  {'[' + code + ']':<{width}} {count} responses" for code, count in codes.items()]
    return "\n".join(["Status code distribution:", *lines])


def json_report(runs: Sequence[Run]) -> dict[str, Any]:
    """Every figure of every run and each call's timings (seconds), as JSON-native values; `runs_from_json` reads
    it back."""
    return {"format": JSON_FORMAT, "runs": [_run_json(run) for run in runs]}


def _run_json(run: Run) -> dict[str, Any]:
    summary = run.summary
    return {
        "label": run.label,
        "summary": {
            "count": summary.count,
            "successes": summary.successes,
            "errors": dict(summary.errors),
            "error_rate": summary.error_rate,
            "seconds": summary.seconds,
            "rps": summary.rps,
            "latency": asdict(summary.latency) if summary.latency else None,
            "first_event": asdict(summary.first_event) if summary.first_event else None,
            "histogram": [[bound, count] for bound, count in summary.histogram],
            "label": summary.label,
        },
        "results": [asdict(result) for result in run.results],
    }


def runs_from_json(report: dict[str, Any]) -> list[Run]:
    """The runs a `json_report` holds."""
    if report.get("format") != JSON_FORMAT:
        raise ValueError(f"not a load-test report of format {JSON_FORMAT!r}: format is {report.get('format')!r}")
    return [_run_from_json(run) for run in report["runs"]]


def _run_from_json(run: dict[str, Any]) -> Run:
    summary = run["summary"]
    return Run(
        label=run["label"],
        summary=Summary(
            count=summary["count"],
            successes=summary["successes"],
            errors=dict(summary["errors"]),
            seconds=summary["seconds"],
            rps=summary["rps"],
            latency=Percentiles(**summary["latency"]) if summary["latency"] else None,
            first_event=Percentiles(**summary["first_event"]) if summary["first_event"] else None,
            histogram=[(bound, count) for bound, count in summary["histogram"]],
            label=summary["label"],
        ),
        results=tuple(CallResult(**result) for result in run["results"]),
    )


def png_report(runs: Sequence[Run], path: str | Path) -> None:
    """Writes latency over time and the latency histogram of every run, side by side, to one PNG at `path`.
    Raises PlotsUnavailable without matplotlib."""
    _plots(runs).savefig(path, format="png")


def html_report(runs: Sequence[Run], path: str | Path, title: str = "dgx-music loadtest") -> None:
    """Writes one self-contained HTML file: a table of the runs, the plots (embedded PNG) and each run's text report.
    Raises PlotsUnavailable without matplotlib."""
    image = io.BytesIO()
    _plots(runs).savefig(image, format="png")
    plots = base64.b64encode(image.getvalue()).decode("ascii")
    sections = "\n".join(
        f"<h2>{html.escape(run.label or 'run')}</h2>\n<pre>{html.escape(text_report(run.summary))}</pre>"
        for run in runs
    )
    Path(path).write_text(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
{_runs_table(runs)}
<p><img alt="latency over time and latency histogram" src="data:image/png;base64,{plots}"></p>
{sections}
</body>
</html>
""",
        encoding="utf-8",
    )


def _runs_table(runs: Sequence[Run]) -> str:
    header = ["run", "count", "errors", "rps", "p50", "p90", "p99", "max", "first event p50"]
    rows = []
    for run in runs:
        summary, latency, first_event = run.summary, run.summary.latency, run.summary.first_event
        cells = [
            run.label or "run",
            str(summary.count),
            f"{summary.error_count} ({summary.error_rate:.2%})",
            f"{summary.rps:.2f}",
            *(format_seconds(getattr(latency, name)) if latency else "-" for name in ("p50", "p90", "p99", "max")),
            format_seconds(first_event.p50) if first_event else "-",
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    return "<table>\n<tr>" + "".join(f"<th>{name}</th>" for name in header) + "</tr>\n" + "\n".join(rows) + "\n</table>"


def _plots(runs: Sequence[Run]) -> "Figure":
    """Latency over time (errors as crosses) beside the histogram of the successes' latencies, a colour per run."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise PlotsUnavailable(
            "the HTML and PNG reports draw their plots with matplotlib, which is not installed: pip install matplotlib"
        ) from error
    # A Figure of its own, without pyplot: no global state, no GUI backend; it saves through Agg.
    figure = Figure(figsize=(13, 4.8), layout="constrained")
    over_time, spread = figure.subplots(1, 2)
    every_latency = [result.latency for run in runs for result in run.results if result.ok]
    bins = _shared_bins(every_latency)
    for index, run in enumerate(runs):
        colour, label = f"C{index % 10}", run.label or f"run {index + 1}"
        successes = [result for result in run.results if result.ok]
        failures = [result for result in run.results if not result.ok]
        over_time.scatter(
            [r.started for r in successes], [r.latency for r in successes], s=8, color=colour, label=label
        )
        if failures:
            over_time.scatter(
                [r.started for r in failures], [r.latency for r in failures], s=24, color=colour, marker="x",
                label=f"{label}: errors",
            )  # fmt: skip
        if successes:
            spread.hist([r.latency for r in successes], bins=bins, histtype="step", color=colour, label=label)
    over_time.set(title="Latency over time", xlabel="seconds since the run's start", ylabel="latency (s)")
    spread.set(title="Latency of the successes", xlabel="latency (s)", ylabel="calls")
    if runs:
        over_time.legend(loc="upper right", fontsize="small")
    if every_latency:
        spread.legend(loc="upper right", fontsize="small")
    return figure


def _shared_bins(latencies: Sequence[float], count: int = 30) -> list[float]:
    """Bin edges spanning every run's latencies, so that the runs' histograms compare bar for bar."""
    if not latencies:
        return [0.0, 1.0]
    low, high = min(latencies), max(latencies)
    if low == high:
        low, high = low * 0.9, high * 1.1 + 1e-6
    return [low + (high - low) * edge / count for edge in range(count + 1)]

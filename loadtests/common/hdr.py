"""Exact latency histograms (HdrHistogram, microseconds): create, merge, summarise, save.

Locust's own percentiles are rounded to whole milliseconds; these keep three
significant digits from 1 us to 60 s.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_FIGURES = 3
PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0, "p999_ms": 99.9}


def new_histogram() -> HdrHistogram:
    """Return an empty histogram of microseconds (1 us to 60 s, 3 significant digits)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def record_seconds(histogram: HdrHistogram, seconds: float) -> None:
    """Record one duration given in seconds, clamped to the histogram's range."""
    micros = round(seconds * 1_000_000)
    histogram.record_value(min(max(micros, LOWEST_US), HIGHEST_US))


def encode(histogram: HdrHistogram) -> str:
    """Return the histogram as HdrHistogram's compressed base64 text."""
    encoded = histogram.encode()
    return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)


def merge(encoded: Iterable[str | None]) -> HdrHistogram:
    """Return one histogram holding every encoded histogram given (None is skipped)."""
    total = new_histogram()
    for item in encoded:
        if item:
            total.decode_and_add(item)
    return total


def figures(histogram: HdrHistogram, *, mean: bool = True) -> dict[str, float | None]:
    """Return mean, min, p50, p90, p99, p99.9 and max in milliseconds (None when empty).

    mean=False leaves the mean out (None): hdrh computes it by walking every recorded value
    in Python, ~17 ms a histogram, which the open-loop client paid four times a step."""
    keys = ["mean_ms", "min_ms", *PERCENTILES, "max_ms"]
    if histogram.get_total_count() == 0:
        return dict.fromkeys(keys)
    values = histogram.get_percentile_to_value_dict(list(PERCENTILES.values()))
    out: dict[str, float | None] = {
        "mean_ms": histogram.get_mean_value() / 1000 if mean else None,
        "min_ms": histogram.get_min_value() / 1000,
    }
    for key, percentile in PERCENTILES.items():
        out[key] = values[percentile] / 1000
    out["max_ms"] = histogram.get_max_value() / 1000
    return {k: None if v is None else round(v, 3) for k, v in out.items()}


def distribution(histogram: HdrHistogram) -> tuple[list[int], list[int]]:
    """Return the recorded values (µs, each one's highest equivalent value, as percentiles
    report it) and their counts, ascending: what pooling several histograms needs."""
    values: list[int] = []
    counts: list[int] = []
    for item in histogram.get_recorded_iterator():  # one object, updated at every step
        values.append(int(item.value_iterated_to))
        counts.append(int(item.count_at_value_iterated_to))
    return values, counts


def save(histogram: HdrHistogram, stem: Path) -> dict[str, str]:
    """Write <stem>.hdr (encoded, reloadable) and <stem>.hgrm.csv (percentile table, ms)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    hdr = stem.with_name(stem.name + ".hdr")
    hdr.write_text(encode(histogram) + "\n", encoding="ascii")
    table = io.BytesIO()
    if histogram.get_total_count():
        histogram.output_percentile_distribution(table, 1000, use_csv=True)
    else:
        table.write(b'"Value","Percentile","TotalCount","1/(1-Percentile)"\n')
    csv = stem.with_name(stem.name + ".hgrm.csv")
    csv.write_bytes(table.getvalue())
    return {"hdr": hdr.name, "percentiles_csv": csv.name}


def load(path: Path) -> HdrHistogram:
    """Read back a histogram written by save()."""
    return merge([path.read_text(encoding="ascii").strip()])


def of_seconds(durations_s: Iterable[float]) -> dict[str, float | int | None]:
    """Return count and the figures (ms) of durations given in seconds, through a histogram."""
    histogram = new_histogram()
    for seconds in durations_s:
        record_seconds(histogram, seconds)
    return {"count": histogram.get_total_count(), **figures(histogram)}

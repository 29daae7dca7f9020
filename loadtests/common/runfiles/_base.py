"""The base of every run-file model, and the JSON and CSV helpers they are written with."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

UNITS = {
    "rps": "requests per second",
    "_ms": "milliseconds",
    "_us": "microseconds",
    "_pct": "percent of one core (100 = one core fully busy)",
    "_mb": "MiB",
    "_s": "seconds",
}

M = TypeVar("M", bound=BaseModel)


class RunFile(BaseModel):
    """Base of every run-file model: unknown keys are an error, not silently kept."""

    model_config = ConfigDict(extra="forbid")


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def _csv_value(value: Any) -> Any:
    return "" if value is None else value


def csv_header(path: Path, columns: Sequence[str]) -> None:
    """Start a CSV file with its header row."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(columns)


def append_csv(path: Path, rows: Iterable[BaseModel]) -> None:
    """Append model rows to a CSV file whose header is the model's fields."""
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow(_csv_value(v) for v in row.model_dump(mode="json").values())


def read_csv(path: Path, model: type[M]) -> list[M]:
    """Load a CSV file written by append_csv (empty cells are None)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            model.model_validate({k: (None if v == "" else v) for k, v in row.items()})
            for row in csv.DictReader(handle)
        ]


class Percentiles(RunFile):
    """The latency figures of one HdrHistogram (``loadtests.common.hdr.figures``), in ms."""

    mean_ms: float | None = None
    min_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    max_ms: float | None = None

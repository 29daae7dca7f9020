"""The training data: the Kaggle cardiovascular file, cleaned as the article's notebook did.

The notebook (pandas) dropped ``id`` and ``active``, turned age from days into whole years,
kept plausible blood pressures, then trimmed weight and height to mean +/- 2 sd and
systolic pressure to mean +/- 3 sd, each step's mean and sd taken on the rows left by
the previous one. On the real file this leaves 62,614 rows, 48.3 % positive.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._schema import FEATURE_ORDER

LABEL_COLUMN = "cardio"
DAYS_PER_YEAR = 365
# Open bounds of the plausibility filter on blood pressure (mmHg).
AP_LO_BOUNDS = (50, 150)
AP_HI_BOUNDS = (60, 250)
# Trimming steps in the notebook's order: column, number of standard deviations.
TRIM_STEPS = (("weight", 2.0), ("height", 2.0), ("ap_hi", 3.0))
# pandas' Series.std() is the sample sd. On the real file ddof 0 or 1 and open or closed
# bounds all keep the same 62,614 rows (no value lies within 0.2 of a bound).
TRIM_DDOF = 1


@dataclass(frozen=True)
class Dataset:
    """Features in FEATURE_ORDER order, 0/1 labels, and where they came from."""

    X: np.ndarray  # float64, shape (n, len(FEATURE_ORDER))
    y: np.ndarray  # int64, 0 or 1
    source: str  # "synthetic(seed=1)" or "csv:<name> sha256=<hex>"
    raw_rows: int  # rows before cleaning

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def positive_rate(self) -> float:
        """Return the share of positive labels."""
        return float(self.y.mean()) if len(self) else 0.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_table(path: Path) -> tuple[list[str], np.ndarray]:
    """Return the header and a float64 matrix of the file's rows (';' or ',' separated)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header_line = handle.readline()
            if not header_line.strip():
                raise ValueError(f"{path}: the file is empty (expected a header line)")
            delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
            header = [name.strip().strip('"').lower() for name in header_line.split(delimiter)]
            rows = [row for row in csv.reader(handle, delimiter=delimiter) if row]
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the file ({exc})") from None

    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {number}: {len(row)} fields, the header has {len(header)}"
            )
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    except ValueError:
        values = _locate_bad_value(path, header, rows)
    if not np.isfinite(values).all():
        line, col = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(
            f"{path}, line {line + 2}: column {header[col]!r} is not a finite number "
            f"({rows[line][col]!r})"
        )
    return header, values


def _locate_bad_value(path: Path, header: list[str], rows: list[list[str]]) -> np.ndarray:
    """Raise a ValueError naming the first cell that is not a number."""
    for number, row in enumerate(rows, start=2):
        for name, text in zip(header, row, strict=True):
            try:
                float(text)
            except ValueError:
                raise ValueError(
                    f"{path}, line {number}: column {name!r} is not a number ({text!r})"
                ) from None
    raise ValueError(f"{path}: cannot parse the values as numbers")  # pragma: no cover


def _trim(values: np.ndarray, keep: np.ndarray, n_sd: float) -> np.ndarray:
    """Narrow `keep` to rows within mean +/- n_sd sd of `values` over the kept rows."""
    kept = values[keep]
    centre, spread = kept.mean(), kept.std(ddof=TRIM_DDOF)
    return keep & (values >= centre - n_sd * spread) & (values <= centre + n_sd * spread)


def load_cardio_csv(path: str | Path) -> Dataset:
    """Read the Kaggle cardio file (either separator) and clean it as the article did."""
    path = Path(path)
    header, values = _read_table(path)
    needed = (*FEATURE_ORDER, LABEL_COLUMN)
    missing = [name for name in needed if name not in header]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected a header with {', '.join(needed)}"
        )
    if len(values) == 0:
        raise ValueError(f"{path}: the file has a header but no rows")
    column = {name: values[:, header.index(name)] for name in needed}
    labels = column[LABEL_COLUMN]
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{path}: column {LABEL_COLUMN!r} must hold only 0 and 1")

    column["age"] = np.round(column["age"] / DAYS_PER_YEAR)
    ap_lo, ap_hi = column["ap_lo"], column["ap_hi"]
    keep = (
        (ap_lo > AP_LO_BOUNDS[0])
        & (ap_lo < AP_LO_BOUNDS[1])
        & (ap_hi > AP_HI_BOUNDS[0])
        & (ap_hi < AP_HI_BOUNDS[1])
    )
    for name, n_sd in TRIM_STEPS:
        if not keep.any():
            break
        keep = _trim(column[name], keep, n_sd)
    if not keep.any():
        raise ValueError(f"{path}: no rows left after cleaning")

    X = np.column_stack([column[name][keep] for name in FEATURE_ORDER]).astype(np.float64)
    y = labels[keep].astype(np.int64)
    source = f"csv:{path.name} sha256={_sha256(path)}"
    return Dataset(X=X, y=y, source=source, raw_rows=len(values))

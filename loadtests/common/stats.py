"""Paired ratios, their bootstrap interval, and a verdict that states only what it supports.

Every target is measured once per round, so a contrast (FastAPI:Flask, server:server) is
a ratio taken within each round and the rounds give a sample of ratios. Its median gets
a bootstrap confidence interval (``scipy.stats.bootstrap``, fixed seed: the same rounds
always give the same interval), and the verdict is read off the interval against a tie
band: a difference is stated only when the whole interval lies on one side of the band,
a tie only when it lies wholly inside it, and anything else is "undecided".

Pure functions, no I/O.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from statistics import median
from typing import Literal

import numpy as np
from scipy.stats import bootstrap

SEED = 20240610  # fixed: the same rounds must give the same interval
RESAMPLES = 9999
MIN_ROUNDS = 3  # below this the bootstrap of a median says nothing
TIE_BAND = (0.95, 1.05)
ROUNDS_CAP = 50
TIMES = "\u00d7"  # multiplication sign, after a ratio
DASH = "\u2013"  # en dash, between the ends of an interval

Method = Literal["BCa", "percentile", "constant", "too few", "pooled"]
Word = Literal["faster", "slower", "tie", "undecided"]


@dataclass(frozen=True)
class LeftOut:
    """A round that did not give a ratio, and why."""

    round: int
    reason: str


@dataclass(frozen=True)
class PairedRatios:
    """The per-round ratios, in round order; iterate it as the list of ratios."""

    ratios: tuple[float, ...]
    rounds: tuple[int, ...]  # the round of each ratio
    left_out: tuple[LeftOut, ...] = ()

    def __iter__(self) -> Iterator[float]:
        return iter(self.ratios)

    def __len__(self) -> int:
        return len(self.ratios)


@dataclass(frozen=True)
class Interval:
    """The median of the ratios with its confidence interval (None when it cannot be had)."""

    median: float | None
    low: float | None
    high: float | None
    n: int
    method: Method
    confidence: float = 0.95
    values: tuple[float, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Verdict:
    """What the interval supports; for "undecided", how many rounds would likely settle it."""

    word: Word
    rounds_needed: int | None = None  # None: unknown, or more than ``cap``
    cap: int = ROUNDS_CAP


def paired_ratios(
    numerator: Mapping[int, float | None],
    denominator: Mapping[int, float | None],
    *,
    excluded_rounds: Iterable[int] | Mapping[int, str] = (),
    valid: Mapping[int, bool] | None = None,
) -> PairedRatios:
    """Return numerator/denominator per round, leaving out unusable rounds with the reason.

    ``excluded_rounds`` are rounds flagged as disturbed (a mapping gives the reason);
    ``valid`` marks rounds whose figures are invalid (load generator bound): a round it
    does not name counts as valid.
    """
    flagged = (
        dict(excluded_rounds)
        if isinstance(excluded_rounds, Mapping)
        else dict.fromkeys(excluded_rounds, "")
    )
    ratios: list[float] = []
    used: list[int] = []
    left_out: list[LeftOut] = []
    for rnd in sorted(set(numerator) | set(denominator)):
        reason = _left_out_reason(rnd, numerator, denominator, flagged, valid)
        if reason:
            left_out.append(LeftOut(rnd, reason))
            continue
        num, den = numerator[rnd], denominator[rnd]
        assert num is not None  # _left_out_reason checked both
        assert den is not None
        ratios.append(num / den)
        used.append(rnd)
    return PairedRatios(tuple(ratios), tuple(used), tuple(left_out))


def _left_out_reason(
    rnd: int,
    numerator: Mapping[int, float | None],
    denominator: Mapping[int, float | None],
    flagged: Mapping[int, str],
    valid: Mapping[int, bool] | None,
) -> str:
    """Return why a round gives no ratio ("" when it does)."""
    if rnd not in numerator:
        return "not measured for the numerator"
    if rnd not in denominator:
        return "not measured for the denominator"
    if rnd in flagged:
        return f"flagged: {flagged[rnd]}" if flagged[rnd] else "flagged"
    if valid is not None and not valid.get(rnd, True):
        return "invalid figure"
    num, den = numerator[rnd], denominator[rnd]
    if num is None or den is None:
        return "no figure"
    if not (math.isfinite(num) and math.isfinite(den)) or num <= 0 or den <= 0:
        return "zero or non-finite figure"
    return ""


def deviation_from_median(values: Iterable[float]) -> float | None:
    """Return the largest |value / median - 1| (None with fewer than two values or a zero
    median): how far the furthest of a few repeated measurements strayed."""
    present = list(values)
    if len(present) < 2:
        return None
    mid = median(present)
    return max(abs(v / mid - 1) for v in present) if mid else None


def interval(ratios: Iterable[float], confidence: float = 0.95) -> Interval:
    """Return the median of the ratios with a bootstrap confidence interval.

    BCa first; where it degenerates (few rounds, tied values) the percentile interval.
    Fewer than three ratios give the median and no interval; equal ratios give an
    interval of that one value.
    The order of the ratios does not matter (they are sorted before resampling).
    """
    values = tuple(float(v) for v in ratios)
    n = len(values)
    if n == 0:
        return Interval(None, None, None, 0, "too few", confidence, values)
    mid = median(values)
    if n < MIN_ROUNDS:
        return Interval(mid, None, None, n, "too few", confidence, values)
    if min(values) == max(values):
        return Interval(mid, mid, mid, n, "constant", confidence, values)
    for method in ("BCa", "percentile"):
        bounds = _bootstrap(tuple(sorted(values)), confidence, method)
        if bounds is not None and bounds[0] <= mid <= bounds[1]:
            return Interval(mid, bounds[0], bounds[1], n, method, confidence, values)
    # Not reached with finite data; kept so a surprise never crashes a report.
    return Interval(mid, None, None, n, "too few", confidence, values)


def _bootstrap(
    values: tuple[float, ...], confidence: float, method: Literal["BCa", "percentile"]
) -> tuple[float, float] | None:
    """Return the bootstrap interval of the median, or None if this method fails here."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = bootstrap(
                (np.asarray(values),),
                np.median,
                confidence_level=confidence,
                n_resamples=RESAMPLES,
                method=method,
                rng=np.random.default_rng(SEED),
            )
        except (ValueError, FloatingPointError):
            return None
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if caught or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return low, high


def verdict_word(
    iv: Interval,
    tie_band: tuple[float, float] = TIE_BAND,
    *,
    higher_is_better: bool = True,
    cap: int = ROUNDS_CAP,
) -> Verdict:
    """Return what the interval supports: a difference, a tie, or undecided.

    A ratio above the band means the numerator is "faster" when higher is better
    (throughput) and "slower" when lower is better (latency, CPU per request).
    """
    if iv.low is None or iv.high is None or iv.median is None:
        return Verdict("undecided", None, cap)
    settled = _settled(iv.low, iv.high, tie_band)
    if settled == "above":
        return Verdict("faster" if higher_is_better else "slower", None, cap)
    if settled == "below":
        return Verdict("slower" if higher_is_better else "faster", None, cap)
    if settled == "inside":
        return Verdict("tie", None, cap)
    return Verdict("undecided", rounds_needed(iv, tie_band, cap), cap)


def _settled(low: float, high: float, band: tuple[float, float]) -> str:
    """Return where [low, high] lies against the band: above, below, inside, or ""."""
    if low > band[1]:
        return "above"
    if high < band[0]:
        return "below"
    if band[0] <= low and high <= band[1]:
        return "inside"
    return ""


def rounds_needed(
    iv: Interval, tie_band: tuple[float, float] = TIE_BAND, cap: int = ROUNDS_CAP
) -> int | None:
    """Return the fewest rounds whose projected interval would settle it (None: over cap).

    Each side of the interval is scaled by sqrt(n / m) around the median, as a standard
    error shrinks; the answer is the smallest m > n whose projected interval clears the
    band or fits inside it, assuming the median stays where it is.
    """
    if iv.low is None or iv.high is None or iv.median is None or iv.n < 1:
        return None
    below, above = iv.median - iv.low, iv.high - iv.median
    for m in range(max(iv.n + 1, MIN_ROUNDS), cap + 1):
        shrink = math.sqrt(iv.n / m)
        if _settled(iv.median - below * shrink, iv.median + above * shrink, tie_band):
            return m
    return None


def describe(
    numerator_label: str,
    denominator_label: str,
    iv: Interval,
    word: Verdict | Word,
    figure: str = "throughput",
    unit: str = TIMES,
) -> str:
    """Return one sentence stating the verdict with its interval, nothing beyond it.

    A "faster" or "slower" whose interval includes 1 is refused (ValueError).
    """
    verdict = word if isinstance(word, Verdict) else Verdict(word)
    rounds = f"{iv.n} round{'s' if iv.n != 1 else ''}"
    if iv.median is None:
        return f"{numerator_label} vs {denominator_label} on {figure}: undecided (no usable rounds)"
    estimate = f"{iv.median:.2f}{unit}"
    if iv.low is None or iv.high is None:
        return (
            f"{numerator_label} vs {denominator_label} on {figure}: undecided "
            f"({estimate}, {rounds}: too few for an interval; at least {MIN_ROUNDS} needed)"
        )
    ci = f"{iv.confidence * 100:g} % CI {iv.low:.2f}{DASH}{iv.high:.2f}, {rounds}"
    if verdict.word in ("faster", "slower"):
        if iv.low <= 1 <= iv.high:
            raise ValueError(f"the interval {ci} does not support {verdict.word!r}")
        return (
            f"{numerator_label} is {verdict.word}: {estimate} {denominator_label}'s {figure} ({ci})"
        )
    if verdict.word == "tie":
        return f"{numerator_label} and {denominator_label} are a tie on {figure} ({estimate}, {ci})"
    if verdict.rounds_needed is None:
        more = f"more than {verdict.cap} rounds would likely be needed to settle it"
    else:
        more = f"about {verdict.rounds_needed} rounds would likely settle it"
    return (
        f"{numerator_label} vs {denominator_label} on {figure}: undecided "
        f"({estimate}, {ci}; {more})"
    )

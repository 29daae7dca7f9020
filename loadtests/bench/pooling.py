"""Pooled latency decisions: every round's answers at a rung added up, then judged by MLPerf
LoadGen's early-stopping rule, and intervals from resampling whole rounds. Pure: no I/O.

LoadGen (mlcommons/inference, ``loadgen/early_stopping.cc`` and the server scenario of
``loadgen/results.cc``) does not trust a raw percentile from a short run. It counts the
answers over the latency bound (``t``) and asks whether, had the true share of such answers
been exactly ``1 - percentile``, seeing ``t`` or fewer of them among all the answers would
have been less likely than ``1 - confidence`` (a binomial tail: ``BetaRegularized[p, h,
1 + t]``). With no answer over the bound, a p99 claim at 99 % confidence needs 459 answers;
every answer over it needs more. A rung passes only when nothing failed or was dropped and
the rule accepts the pooled counts; it fails when the pooled counts show the share over the
bound above ``1 - percentile`` at the same confidence (the same tail, the other way), and is
"undecided" otherwise: never "passed" on too few answers.

Intervals: the rounds are the independent unit (each its own server process), so a pooled
figure's interval comes from resampling rounds with replacement, enumerated exactly (every
multiset of rounds, weighted by its multinomial probability; 126 multisets for 5 rounds), and
read off at Hesterberg's expanded percentiles (``expanded_tail``): a plain 2.5th-97.5th
percentile interval of so few units is too narrow (it behaves like a normal interval with the
biased standard deviation), so with 5 rounds the ends are read at the 0.1th and 99.9th. A
figure known only between two values in each resample (a rate found on a ladder lies between
the highest rung that passed and the next rung measured above it) gives its interval from the
lower tail of the low ends and the upper tail of the high ends (``resampled_range``): the
ladder's resolution is then inside the interval, where a point per resample would leave it out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy.special import betainc
from scipy.stats import binom, norm
from scipy.stats import t as student_t

PERCENTILE = 0.99  # the percentile the bound applies to (MLPerf's server scenario: p99)
CONFIDENCE = 0.99  # LoadGen's default confidence for early stopping
MAX_EXACT_ROUNDS = 8  # 6,435 multisets; beyond that the interval would cost seconds
INTERVAL = 0.95

Decision = Literal["pass", "fail", "undecided"]


@lru_cache(maxsize=4096)
def min_passing(over: int, percentile: float = PERCENTILE, confidence: float = CONFIDENCE) -> int:
    """Return LoadGen's h: the fewest answers within the bound that, beside ``over`` answers
    over it, let the rule accept (the smallest h with BetaRegularized[p, h, 1 + t] < 1 - c)."""
    if over < 0 or not 0 < percentile < 1 or not 0 < confidence < 1:
        raise ValueError("over must be >= 0, percentile and confidence within (0, 1)")

    def odds(h: int) -> float:
        return float(betainc(h, 1 + over, percentile)) if h > 0 else 1.0

    low = 1
    high = max(2, math.ceil(math.log(1 - confidence) / math.log(percentile)) + 1)
    while odds(high) >= 1 - confidence:  # grow the bracket: more answers over, more needed
        low, high = high, high * 2
    while low < high:  # the smallest h in [low, high] whose odds fall below 1 - c
        mid = (low + high) // 2
        if odds(mid) < 1 - confidence:
            high = mid
        else:
            low = mid + 1
    return low


def needed(over: int, percentile: float = PERCENTILE, confidence: float = CONFIDENCE) -> int:
    """Return how many answers in all LoadGen's rule needs to accept, ``over`` of them slow."""
    return min_passing(over, percentile, confidence) + over


def accepts(
    answers: int, over: int, percentile: float = PERCENTILE, confidence: float = CONFIDENCE
) -> bool:
    """Tell whether LoadGen's rule accepts "the percentile is within the bound"."""
    return answers >= needed(over, percentile, confidence)


def rejects(
    answers: int, over: int, percentile: float = PERCENTILE, confidence: float = CONFIDENCE
) -> bool:
    """Tell whether the answers show the share over the bound above 1 - percentile at the same
    confidence: so many over that a true share of exactly 1 - percentile makes it unlikely."""
    if answers <= 0 or over <= 0:
        return False
    return float(binom.sf(over - 1, answers, 1 - percentile)) < 1 - confidence


@dataclass(frozen=True)
class Judged:
    """What the pooled counts of one rung support, and why, in words."""

    decision: Decision
    reason: str
    more_needed: int | None = None  # for "undecided": answers within the bound still needed


def judge(
    answers: int,
    over: int,
    failures: int,
    *,
    slo_ms: float,
    percentile: float = PERCENTILE,
    confidence: float = CONFIDENCE,
) -> Judged:
    """Judge a rung's pooled counts: pass, fail or undecided (see the module's docstring)."""
    p = f"p{percentile * 100:g}"
    if failures:
        return Judged("fail", f"{failures} failed or dropped")
    if answers <= 0:
        return Judged("undecided", "no answer measured", needed(0, percentile, confidence))
    within = f"{over} of {answers:,} answers over {slo_ms:g} ms"
    if accepts(answers, over, percentile, confidence):
        return Judged("pass", f"{within}: {p} within the bound at {confidence:.0%} confidence")
    if rejects(answers, over, percentile, confidence):
        return Judged("fail", f"{within}: {p} above the bound at {confidence:.0%} confidence")
    more = needed(over, percentile, confidence) - answers
    return Judged("undecided", f"{within}: {more:,} more answers within it needed", more)


def conservative_rank(
    answers: int, percentile: float = PERCENTILE, confidence: float = CONFIDENCE
) -> int | None:
    """Return which answer, counted from the slowest (1 = the slowest), LoadGen reports as its
    early-stopping percentile estimate: the most answers t it could discard and still accept
    (answers >= h(t) + t); None when even the slowest cannot be vouched for."""
    if answers < needed(1, percentile, confidence):
        return None
    low, high = 1, answers  # accepts(answers, t) holds at low, and needed() grows with t
    while low < high:
        mid = (low + high + 1) // 2
        if needed(mid, percentile, confidence) <= answers:
            low = mid
        else:
            high = mid - 1
    return low


# --- pooled histograms ----------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """Latencies (µs) as sorted distinct values with their counts: histograms added up."""

    values: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_counts(cls, values: Sequence[int], counts: Sequence[int]) -> Pool:
        """Return a pool of distinct values (µs, ascending) with their counts."""
        return cls(np.asarray(values, dtype=np.int64), np.asarray(counts, dtype=np.int64))

    @classmethod
    def of(cls, parts: Iterable[tuple[Pool, int]]) -> Pool:
        """Return the sum of pools, each counted ``weight`` times (a round resampled twice)."""
        chosen = [(p, w) for p, w in parts if w > 0 and p.total]
        if not chosen:
            return EMPTY
        values = np.concatenate([p.values for p, _ in chosen])
        counts = np.concatenate([p.counts * w for p, w in chosen])
        order = np.argsort(values, kind="stable")
        return cls(values[order], counts[order])

    @property
    def total(self) -> int:
        """Return how many latencies the pool holds."""
        return int(self.counts.sum())

    def percentile(self, pct: float) -> float | None:
        """Return the value at pct (0-100) as HdrHistogram reads it: the first value whose
        running count reaches round(pct / 100 x total), at least 1 (ms; None when empty)."""
        total = self.total
        if not total:
            return None
        rank = max(1, int(pct / 100 * total + 0.5))
        index = int(np.searchsorted(np.cumsum(self.counts), rank))
        return float(self.values[min(index, len(self.values) - 1)]) / 1000

    def from_top(self, rank: int) -> float | None:
        """Return the rank-th slowest value (1 = the slowest), ms."""
        total = self.total
        if not total or not 1 <= rank <= total:
            return None
        return self.percentile_rank(total - rank + 1)

    def percentile_rank(self, rank: int) -> float:
        """Return the rank-th fastest value (1-based), ms."""
        index = int(np.searchsorted(np.cumsum(self.counts), rank))
        return float(self.values[min(index, len(self.values) - 1)]) / 1000


EMPTY = Pool(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def pool_into(pools: dict[tuple[float, int], Pool], key: tuple[float, int], pool: Pool) -> None:
    """Add one step's latencies to its (rate, round) pool: a rung measured twice in a round
    (round 1's second look) pools both steps."""
    pools[key] = Pool.of([(pools[key], 1), (pool, 1)]) if key in pools else pool


# --- resampling rounds ----------------------------------------------------------------


def resamples(n: int) -> list[tuple[tuple[int, ...], float]]:
    """Return every multiset of n draws from n rounds as per-round counts, with its probability
    under resampling with replacement (the exact bootstrap distribution)."""
    if not 1 <= n <= MAX_EXACT_ROUNDS:
        raise ValueError(f"exact resampling takes 1 to {MAX_EXACT_ROUNDS} rounds, got {n}")
    out = []
    for combo in itertools.combinations_with_replacement(range(n), n):
        counts = tuple(combo.count(i) for i in range(n))
        ways = math.factorial(n) // math.prod(math.factorial(c) for c in counts)
        out.append((counts, ways / n**n))
    return out


@dataclass(frozen=True)
class Resampled:
    """A pooled statistic on every round (``estimate``) and its exact bootstrap interval."""

    estimate: float | None
    low: float | None
    high: float | None
    rounds: int
    defined_share: float  # share of resamples in which the statistic was defined


def resampled(
    rounds: Sequence[int],
    statistic: Callable[[Mapping[int, int]], float | None],
    interval: float = INTERVAL,
) -> Resampled:
    """Return statistic(weights) on every round once and its percentile interval over every
    resample of the rounds; a resample where it is undefined counts against the interval, which
    is given only when it is defined in at least ``interval`` of them."""

    def point(draw: Mapping[int, int]) -> Range | None:
        value = statistic(draw)
        return None if value is None else Range(value, value, value)

    return resampled_range(rounds, point, interval)


@dataclass(frozen=True)
class Range:
    """A figure and the values it is known to lie between (a rung-quantised rate: the rung
    that passed and the next rung measured above it)."""

    low: float
    value: float
    high: float


def resampled_range(
    rounds: Sequence[int],
    statistic: Callable[[Mapping[int, int]], Range | None],
    interval: float = INTERVAL,
) -> Resampled:
    """Return statistic(weights).value on every round once, with an interval from the lower
    tail of every resample's low end to the upper tail of every resample's high end (exact
    resampling, as ``resampled``; undefined resamples count against the interval)."""
    rounds = list(rounds)
    whole = statistic(dict.fromkeys(rounds, 1)) if rounds else None
    estimate = whole.value if whole is not None else None
    if len(rounds) < 2:
        return Resampled(estimate, None, None, len(rounds), 1.0 if estimate is not None else 0.0)
    lows: list[float] = []
    highs: list[float] = []
    weights: list[float] = []
    undefined = 0.0
    for counts, probability in resamples(len(rounds)):
        found = statistic(dict(zip(rounds, counts, strict=True)))
        if found is None:
            undefined += probability
        else:
            lows.append(found.low)
            highs.append(found.high)
            weights.append(probability)
    defined = 1.0 - undefined
    if estimate is None or defined < interval:
        return Resampled(estimate, None, None, len(rounds), defined)
    tail = expanded_tail(len(rounds), interval)
    low = _weighted_quantile(lows, weights, tail)
    high = _weighted_quantile(highs, weights, 1 - tail, upper=True)
    return Resampled(estimate, min(low, estimate), max(high, estimate), len(rounds), defined)


def expanded_tail(n: int, interval: float = INTERVAL) -> float:
    """Return the share in each tail at which the percentile interval of n resampled units is
    read: Hesterberg's expanded percentile interval (T. Hesterberg, "What teachers should know
    about the bootstrap", The American Statistician 69(4), 2015). A percentile interval from n
    units is too narrow for small n, as a normal interval with z and the standard deviation's
    biased estimate would be; reading it at Phi(-sqrt(n / (n - 1)) * t(n - 1)) instead of
    (1 - interval) / 2 undoes both: 0.1 % for 5 rounds, 0.01 % for 4, 0.9 % for 10."""
    if n < 2 or not 0 < interval < 1:
        raise ValueError("expanded percentiles need at least 2 units and an interval in (0, 1)")
    t = float(student_t.ppf(1 - (1 - interval) / 2, n - 1))
    return float(norm.sf(math.sqrt(n / (n - 1)) * t))


def _weighted_quantile(
    values: Sequence[float], weights: Sequence[float], q: float, *, upper: bool = False
) -> float:
    """Return the q-quantile of a discrete distribution (the lower end's value at or below which
    q of the weight lies; with upper, the value at or above which 1 - q lies)."""
    order = sorted(zip(values, weights, strict=True))
    if upper:
        running = 0.0
        for value, weight in reversed(order):
            running += weight
            if running >= (1 - q) - 1e-12:
                return value
        return order[0][0]
    running = 0.0
    for value, weight in order:
        running += weight
        if running >= q - 1e-12:
            return value
    return order[-1][0]

"""Paired ratios, their bootstrap interval and the verdict read off it."""

from __future__ import annotations

import pytest

from loadtests.common.stats import (
    DASH,
    TIMES,
    Interval,
    LeftOut,
    describe,
    interval,
    paired_ratios,
    rounds_needed,
    verdict_word,
)

FLASK = {1: 1000.0, 2: 1010.0, 3: 990.0, 4: 1005.0, 5: 995.0}


def rounds(ratios: list[float]) -> dict[int, float]:
    """Return FastAPI figures giving these ratios to FLASK, round by round."""
    return {r: FLASK[r] * ratio for r, ratio in zip(FLASK, ratios, strict=False)}


class TestPairedRatios:
    def test_ratio_per_round_present_in_both(self) -> None:
        paired = paired_ratios({1: 20.0, 2: 30.0, 3: 40.0}, {2: 10.0, 3: 20.0, 4: 5.0})
        assert list(paired) == [3.0, 2.0]
        assert paired.rounds == (2, 3)
        assert paired.left_out == (
            LeftOut(1, "not measured for the denominator"),
            LeftOut(4, "not measured for the numerator"),
        )

    def test_none_and_zero_figures_are_left_out(self) -> None:
        paired = paired_ratios({1: None, 2: 5.0, 3: 6.0}, {1: 1.0, 2: 0.0, 3: 2.0})
        assert list(paired) == [3.0]
        assert {lo.round: lo.reason for lo in paired.left_out} == {
            1: "no figure",
            2: "zero or non-finite figure",
        }

    def test_flagged_round_is_left_out_with_its_reason(self) -> None:
        paired = paired_ratios(
            rounds([1.3, 1.3, 1.3]), FLASK, excluded_rounds={2: "steal 8 % of a core"}
        )
        assert paired.rounds == (1, 3)
        assert LeftOut(2, "flagged: steal 8 % of a core") in paired.left_out

    def test_flagged_round_changes_the_verdict(self) -> None:
        # Four clean rounds agree on 1.30; one disturbed round says FastAPI lost.
        fastapi = rounds([1.30, 1.31, 0.70, 1.29, 1.32])
        with_it = interval(paired_ratios(fastapi, FLASK))
        without = interval(paired_ratios(fastapi, FLASK, excluded_rounds=[3]))
        assert verdict_word(with_it).word == "undecided"
        assert verdict_word(without).word == "faster"
        assert without.n == 4

    def test_invalid_figure_never_reaches_the_interval(self) -> None:
        fastapi = rounds([1.30, 1.31, 50.0, 1.29, 1.32])  # round 3: load generator bound
        paired = paired_ratios(fastapi, FLASK, valid={3: False})
        assert 3 not in paired.rounds
        assert LeftOut(3, "invalid figure") in paired.left_out
        iv = interval(paired)
        assert iv.high is not None
        assert iv.high < 2
        assert all(v < 2 for v in iv.values)


class TestInterval:
    def test_same_input_gives_same_interval(self) -> None:
        ratios = [1.52, 1.38, 1.32, 1.41, 1.36, 1.45]
        assert interval(ratios) == interval(ratios)
        shuffled = interval([1.36, 1.52, 1.45, 1.32, 1.41, 1.38])
        assert (shuffled.low, shuffled.high) == (interval(ratios).low, interval(ratios).high)

    def test_interval_contains_the_median(self) -> None:
        iv = interval([1.52, 1.38, 1.32, 1.41, 1.36, 1.45, 1.39, 1.40])
        assert iv.low is not None
        assert iv.high is not None
        assert iv.median is not None
        assert iv.low <= iv.median <= iv.high
        assert iv.n == 8
        assert iv.method in ("BCa", "percentile")

    @pytest.mark.parametrize("ratios", [[], [1.2], [1.2, 1.4]])
    def test_fewer_than_three_give_values_not_an_interval(self, ratios: list[float]) -> None:
        iv = interval(ratios)
        assert (iv.low, iv.high, iv.n, iv.method) == (None, None, len(ratios), "too few")
        assert iv.values == tuple(ratios)
        verdict = verdict_word(iv)
        assert verdict.word == "undecided"
        assert "too few" in describe("FastAPI", "Flask", iv, verdict) or not ratios

    def test_all_equal_is_that_value(self) -> None:
        iv = interval([1.1, 1.1, 1.1, 1.1])
        assert (iv.median, iv.low, iv.high, iv.method) == (1.1, 1.1, 1.1, "constant")

    def test_degenerate_bca_falls_back_to_percentile(self) -> None:
        # Three tied values out of four: BCa cannot be computed, percentile can.
        iv = interval([1.0, 1.0, 1.0, 1.1])
        assert iv.method == "percentile"
        assert iv.low is not None
        assert iv.high is not None


class TestVerdict:
    def test_interval_straddling_one_is_undecided(self) -> None:
        iv = interval([0.93, 1.21, 1.08, 0.98, 1.15])
        verdict = verdict_word(iv)
        assert verdict.word == "undecided"
        sentence = describe("FastAPI", "Flask", iv, verdict)
        assert "undecided" in sentence
        assert "faster" not in sentence
        assert "slower" not in sentence

    def test_tight_set_above_band_is_faster(self) -> None:
        iv = interval([1.30, 1.28, 1.33, 1.31, 1.29])
        assert verdict_word(iv).word == "faster"
        assert describe("FastAPI (uvicorn, def)", "Flask", iv, verdict_word(iv)) == (
            f"FastAPI (uvicorn, def) is faster: 1.30{TIMES} Flask's throughput "
            f"(95 % CI 1.28{DASH}1.33, 5 rounds)"
        )

    def test_tight_set_below_band_is_slower(self) -> None:
        iv = interval([0.80, 0.82, 0.79, 0.81, 0.80])
        assert verdict_word(iv).word == "slower"

    def test_tight_set_within_band_is_a_tie(self) -> None:
        iv = interval([0.99, 1.01, 1.00, 0.98, 1.02])
        assert verdict_word(iv).word == "tie"
        sentence = describe("FastAPI", "Flask", iv, verdict_word(iv))
        assert sentence == (
            f"FastAPI and Flask are a tie on throughput "
            f"(1.00{TIMES}, 95 % CI 0.98{DASH}1.02, 5 rounds)"
        )

    def test_lower_is_better_flips_the_words(self) -> None:
        latency = interval([0.80, 0.82, 0.79, 0.81, 0.80])  # FastAPI's p99 / Flask's
        verdict = verdict_word(latency, higher_is_better=False)
        assert verdict.word == "faster"
        assert verdict_word(interval([1.3, 1.31, 1.29]), higher_is_better=False).word == "slower"
        assert describe("FastAPI", "Flask", latency, verdict, figure="p99 latency").startswith(
            f"FastAPI is faster: 0.80{TIMES} Flask's p99 latency"
        )

    def test_undecided_estimates_the_rounds_that_would_settle_it(self) -> None:
        iv = Interval(median=1.10, low=1.00, high=1.20, n=4, method="percentile")
        # Half-width 0.10 at n=4; clears 1.05 once 0.10 * sqrt(4 / m) < 0.05, i.e. m > 16.
        assert rounds_needed(iv) == 17
        verdict = verdict_word(iv)
        assert (verdict.word, verdict.rounds_needed) == ("undecided", 17)
        assert describe("FastAPI", "Flask", iv, verdict) == (
            f"FastAPI vs Flask on throughput: undecided "
            f"(1.10{TIMES}, 95 % CI 1.00{DASH}1.20, 4 rounds; "
            "about 17 rounds would likely settle it)"
        )

    def test_median_on_the_band_edge_needs_more_than_the_cap(self) -> None:
        iv = Interval(median=1.05, low=0.95, high=1.15, n=5, method="percentile")
        verdict = verdict_word(iv)
        assert (verdict.word, verdict.rounds_needed) == ("undecided", None)
        assert "more than 50 rounds" in describe("FastAPI", "Flask", iv, verdict)

    def test_a_difference_the_interval_does_not_support_is_refused(self) -> None:
        iv = interval([0.93, 1.21, 1.08, 0.98, 1.15])
        with pytest.raises(ValueError, match="does not support"):
            describe("FastAPI", "Flask", iv, "faster")

    def test_the_three_runs_of_the_issue_agree_on_faster_not_on_how_much(self) -> None:
        # 1.52, 1.38, 1.32: with three rounds the interval of the median is their range.
        iv = interval([1.52, 1.38, 1.32])
        assert (iv.low, iv.high) == (1.32, 1.52)
        assert verdict_word(iv).word == "faster"

"""Comparisons: ratios paired within rounds, flagged rounds and invalid figures left out."""

from __future__ import annotations

import random
from collections import Counter

from loadtests.bench.compare import common_rate, compare
from loadtests.bench.pooling import Pool
from loadtests.bench.rungs import closed_loop_capacity
from loadtests.common.runfiles import (
    Comparison,
    Pair,
    RoundFigures,
    Rung,
    RungRound,
    Sustainable,
    TargetSummary,
)

PAIR = Pair(
    name="default",
    numerator="fastapi",
    denominator="flask",
    kind="framework",
    label="default deployments",
    note="",
)


def target(
    name: str, rounds: list[RoundFigures], sustainable: float | None = None
) -> TargetSummary:
    """Return a target's summary entry holding only its per-round figures."""
    return TargetSummary(
        name=name,
        label=f"{name} label",
        colour="#000000",
        description="",
        locust_workers=1,
        status="complete",
        rounds=rounds,
        sustainable_rps=Sustainable(median=sustainable, slo_ms=25.0) if sustainable else None,
    )


def rounds_of(
    rps: list[float], *, locust_valid: bool = True, **extra: object
) -> list[RoundFigures]:
    """Return one RoundFigures per round with the same closed-loop figure from both tools."""
    return [
        RoundFigures(
            round=i + 1,
            locust_rps=v,
            locust_valid=locust_valid,
            wrk_rps=v,
            wrk_valid=True,
            **extra,  # type: ignore[arg-type]
        )
        for i, v in enumerate(rps)
    ]


def pick(found: list[Comparison], figure: str) -> Comparison:
    """Return the comparison of one figure."""
    return next(c for c in found if c.figure == figure)


def test_ratios_are_paired_within_rounds() -> None:
    """Both targets drift together from round to round: the paired ratio stays 1.30."""
    flask = [1000.0, 2000.0, 1500.0, 800.0, 1200.0]
    targets = {
        "fastapi": target("fastapi", rounds_of([1.3 * v for v in flask])),
        "flask": target("flask", rounds_of(flask)),
    }
    throughput = pick(compare(targets, [PAIR], set()), "throughput")
    assert throughput.ratios == dict.fromkeys(range(1, 6), 1.3)
    assert throughput.word == "faster"
    assert (throughput.low, throughput.median, throughput.high) == (1.3, 1.3, 1.3)
    assert "fastapi label is faster" in throughput.sentence


def test_interval_straddling_one_is_undecided() -> None:
    targets = {
        "fastapi": target("fastapi", rounds_of([900.0, 1100.0, 1000.0, 1150.0, 880.0])),
        "flask": target("flask", rounds_of([1000.0] * 5)),
    }
    throughput = pick(compare(targets, [PAIR], set()), "throughput")
    assert throughput.low is not None
    assert throughput.high is not None
    assert throughput.low < 1 < throughput.high
    assert throughput.word == "undecided"
    assert "undecided" in throughput.sentence
    assert "faster" not in throughput.sentence


def test_a_flagged_round_is_left_out() -> None:
    """Round 3 alone says 0.5x; flagged, it leaves the verdict."""
    targets = {
        "fastapi": target("fastapi", rounds_of([1300.0, 1300.0, 500.0, 1300.0])),
        "flask": target("flask", rounds_of([1000.0] * 4)),
    }
    kept = pick(compare(targets, [PAIR], set()), "throughput")
    left = pick(compare(targets, [PAIR], {3}), "throughput")
    assert 3 in kept.ratios
    assert 3 not in left.ratios
    assert left.left_out[3].startswith("flagged")
    assert left.word == "faster"
    assert kept.word != "faster"


def test_an_invalid_figure_never_reaches_the_verdict() -> None:
    """Locust bound in a round: the throughput comes from wrk, named as the source."""
    fastapi = rounds_of([1300.0] * 3)
    fastapi[1] = fastapi[1].model_copy(update={"locust_valid": False, "locust_rps": 99999.0})
    targets = {
        "fastapi": target("fastapi", fastapi),
        "flask": target("flask", rounds_of([1e3] * 3)),
    }
    throughput = pick(compare(targets, [PAIR], set()), "throughput")
    assert throughput.source.startswith("wrk")
    assert throughput.ratios == dict.fromkeys(range(1, 4), 1.3)
    # And where no valid figure exists at all for a round, that round gives no ratio.
    cpu = rounds_of([1.0] * 3, cpu_us_per_request=200.0)
    cpu[0] = cpu[0].model_copy(update={"wrk_valid": False})
    targets = {"fastapi": target("fastapi", cpu), "flask": target("flask", rounds_of([1.0] * 3))}
    for c in compare(targets, [PAIR], set()):
        if c.figure == "cpu_per_request":
            assert 1 not in c.ratios
            assert c.left_out[1] == "invalid figure"


def test_latency_is_compared_at_a_common_rate_below_capacity() -> None:
    """The rate is the highest common rung at most half the slower one's closed-loop peak
    (median of wrk's peaks), whatever the sustainable rates (they move far more)."""
    p99 = {"500": 2.0, "1000": 3.0, "2000": 9.0}
    fastapi = target("fastapi", rounds_of([6000.0] * 3, p99_ms=p99), sustainable=500.0)
    flask = target(
        "flask",
        rounds_of([1990.0, 2100.0, 3000.0], p99_ms={"500": 4.0, "1000": 6.0, "2000": 9.0}),
        sustainable=4000.0,
    )
    assert closed_loop_capacity(flask.rounds) == 2100.0
    assert common_rate(fastapi, flask) == 1000.0  # 2000 is more than half of 2100
    latency = pick(compare({"fastapi": fastapi, "flask": flask}, [PAIR], set()), "p99")
    assert latency.at_rps == 1000.0
    assert latency.median == 0.5
    assert latency.word == "faster"  # lower is better: half the p99
    # Invalid wrk peaks do not count; Locust's stands in when wrk has none.
    flask.rounds[2] = flask.rounds[2].model_copy(update={"wrk_valid": False})
    assert closed_loop_capacity(flask.rounds) == 2045.0
    for i, fig in enumerate(flask.rounds):
        flask.rounds[i] = fig.model_copy(update={"wrk_valid": False, "locust_rps": 4100.0})
    assert closed_loop_capacity(flask.rounds) == 4100.0
    assert common_rate(fastapi, flask) == 2000.0


def test_throughput_comes_from_wrk_whatever_locust_did() -> None:
    """Locust valid in every round must not switch the tool: wrk's figure is compared, so a
    run where Locust happened to keep headroom gives the same kind of ratio as the others."""
    fastapi = [
        RoundFigures(round=r, locust_rps=1500.0, locust_valid=True, wrk_rps=1200.0, wrk_valid=True)
        for r in (1, 2, 3)
    ]
    targets = {
        "fastapi": target("fastapi", fastapi),
        "flask": target("flask", rounds_of([1000.0] * 3)),
    }
    throughput = pick(compare(targets, [PAIR], set()), "throughput")
    assert throughput.source.startswith("wrk")
    assert throughput.ratios == dict.fromkeys(range(1, 4), 1.2)
    # Without wrk (--no-wrk), Locust's peak is compared, and named.
    no_wrk = {
        name: target(name, [f.model_copy(update={"wrk_rps": None}) for f in t.rounds])
        for name, t in targets.items()
    }
    throughput = pick(compare(no_wrk, [PAIR], set()), "throughput")
    assert throughput.source.startswith("Locust")
    assert throughput.ratios == dict.fromkeys(range(1, 4), 1.5)


AA = Pair(
    name="aa",
    numerator="fastapi-aa",
    denominator="fastapi",
    kind="control",
    label="A/A control",
    note="",
)


def test_the_aa_pair_is_computed_like_every_pair() -> None:
    """Both sides drawn from one distribution (5 % noise a round, 4 rounds): mostly undecided,
    and a difference at most as often as a 95 % method allows; the same code with an offset on
    one side gives a word, so the control can fail."""

    def aa(a: list[float], b: list[float]) -> Comparison:
        targets = {
            "fastapi-aa": target("fastapi-aa", rounds_of(a)),
            "fastapi": target("fastapi", rounds_of(b)),
        }
        return pick(compare(targets, [AA], set()), "throughput")

    rng = random.Random(11)
    words = Counter(
        aa(
            [rng.gauss(2000.0, 100.0) for _ in range(4)],
            [rng.gauss(2000.0, 100.0) for _ in range(4)],
        ).word
        for _ in range(300)
    )
    assert words["faster"] + words["slower"] <= 0.05 * 300, words
    assert words["undecided"] > words["tie"]
    offset = aa(
        [rng.gauss(2600.0, 50.0) for _ in range(4)], [rng.gauss(2000.0, 50.0) for _ in range(4)]
    )
    assert offset.word == "faster"
    assert offset.pair == "aa"


def rung(rate: float, per_round: dict[int, tuple[int, int]]) -> Rung:
    """Return a rung with each round's (answers, answers over the bound)."""
    return Rung(
        offered_rps=rate,
        rounds=[
            RungRound(round=r, sent=n, ok=n, over=o, failures=0) for r, (n, o) in per_round.items()
        ],
    )


def test_sustainable_compares_pooled_rungs_with_resampled_rounds() -> None:
    clean = dict.fromkeys((1, 2, 3, 4), (1000, 0))
    slow = dict.fromkeys((1, 2, 3, 4), (1000, 50))  # 5 % over the bound in every round
    fastapi = target("fastapi", rounds_of([3000.0] * 4)).model_copy(
        update={
            "rungs": [rung(2000.0, clean), rung(3000.0, clean), rung(3300.0, slow)],
            "sustainable_rps": Sustainable(slo_ms=25.0),
        }
    )
    flask = target("flask", rounds_of([1500.0] * 4)).model_copy(
        update={
            "rungs": [rung(1000.0, clean), rung(1500.0, clean), rung(2000.0, slow)],
            "sustainable_rps": Sustainable(slo_ms=25.0),
        }
    )
    found = pick(compare({"fastapi": fastapi, "flask": flask}, [PAIR], set()), "sustainable")
    assert found.median == 2.0
    assert found.method == "pooled"
    # Each side lies between its passing rung and the next one measured: fastapi 3,000-3,300,
    # flask 1,500-2,000, so the ratio lies between 3,000 / 2,000 and 3,300 / 1,500.
    assert (found.low, found.high) == (1.5, 2.2)
    assert found.word == "faster"
    assert found.ratios == {}
    # A flagged round is left out of both sides' pools, and named.
    found = pick(compare({"fastapi": fastapi, "flask": flask}, [PAIR], {2}), "sustainable")
    assert found.left_out == {2: "flagged"}
    assert found.median == 2.0


def test_latency_is_compared_at_the_pairs_fixed_rung_on_pooled_rounds() -> None:
    def pool(value_us: int, n: int = 500) -> Pool:
        return Pool.from_counts([value_us], [n])

    clean = dict.fromkeys((1, 2, 3, 4), (500, 0))
    targets = {
        name: target(name, rounds_of([3000.0] * 4)).model_copy(
            update={"rungs": [rung(1000.0, clean)]}
        )
        for name in ("fastapi", "flask")
    }
    pools = {
        "fastapi": {(1000.0, r): pool(2000) for r in (1, 2, 3, 4)},
        "flask": {(1000.0, r): pool(4000 if r != 3 else 5000) for r in (1, 2, 3, 4)},
    }
    found = compare(targets, [PAIR], set(), pools=pools, pair_rungs={"default": 1000.0})
    p99, p50 = pick(found, "p99"), pick(found, "p50")
    assert p99.at_rps == p50.at_rps == 1000.0
    assert p99.median == 0.4  # pooled: round 3's answers are a quarter, 5 ms, past the p99
    assert p50.median == 0.5
    assert p99.word == "faster"
    assert p99.higher_is_better is False
    assert "1000 req/s" in p99.sentence


def test_sustainable_one_rung_apart_is_not_a_difference() -> None:
    """Two targets whose pooled rungs part by one ladder step (8 %), every round alike: each
    resample gives the same point ratio, 1.075, which alone would read "faster"; with each
    side known only up to its next rung, the interval reaches 1 and the word is undecided."""
    clean = dict.fromkeys((1, 2, 3, 4, 5), (800, 0))
    slow = dict.fromkeys((1, 2, 3, 4, 5), (900, 90))
    ladder = (1364.0, 1500.0, 1612.0, 1732.0)

    def side(name: str, passes_to: float) -> TargetSummary:
        return target(name, rounds_of([2500.0] * 5)).model_copy(
            update={
                "rungs": [rung(r, clean if r <= passes_to else slow) for r in ladder],
                "sustainable_rps": Sustainable(slo_ms=25.0),
            }
        )

    targets = {"fastapi": side("fastapi", 1612.0), "flask": side("flask", 1500.0)}
    found = pick(compare(targets, [PAIR], set()), "sustainable")
    assert round(found.median, 3) == round(1612 / 1500, 3)
    assert (found.low, round(found.high, 3)) == (1.0, round(1732 / 1500, 3))
    assert found.word == "undecided"

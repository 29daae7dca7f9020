"""The open-loop steps of a bench run: round 1's climb and bisection, later rounds' fixed rungs.

``LadderSteps`` runs one step at a time through the open-loop client's worker process
(``loadtests.loadgen.stepworker``): a seeded Poisson schedule at one offered rate, timed from
each intended send, every answer counted ok, failed or dropped, and the ok answers slower
than the bound counted exactly. Where the ladder goes is ``loadtests.bench.ladder``'s; what
the steps add up to is ``loadtests.bench.rungs``'.
"""

from __future__ import annotations

import json
import time
import zlib

from loadtests.bench import cpu as _cpu
from loadtests.bench.config import STEP_OVERHEAD_S
from loadtests.bench.ladder import (
    STOP_FACTOR,
    SUSPECT_KNEE_SHARE,
    Climb,
    Reading,
    climb,
    climb_rungs,
    comparison_rung,
    headline_rung,
    lag_limit_ms,
    p99_fit,
    pair_rung,
    recovery_rungs,
)
from loadtests.bench.phases import Phases
from loadtests.bench.pooling import Pool
from loadtests.bench.results import TargetRecord
from loadtests.bench.rungs import closed_loop_capacity
from loadtests.bench.serving import Server
from loadtests.common import hdr as _hdr
from loadtests.common.net import settle
from loadtests.common.runfiles import Pair, PhaseRow, RoundInfo, Step, Timing, append_csv
from loadtests.loadgen.openloop import StepResult
from loadtests.loadgen.stepworker import StepWorker
from shared_model import EXAMPLE

# Each step is sent but not measured for this long first, so its connections are open and its
# queue settled (a queue below the knee settles within tens of ms: at 90 % load and 0.15 ms
# service, S/(1-rho)^2 = 15 ms).
STEP_WARMUP_S = 0.1
# An answer later than this counts as dropped. 40x the default bound: such a step fails
# anyway, and an overloaded step drains for up to this long after its window.
LADDER_TIMEOUT_S = 1.0
# A step within this long of a clean pass on the same server skips the settle: nothing else
# of the run can have loaded the server in between.
CLEAN_FOR_S = 1.0
SETTLE_AFTER_LADDER_S = 30.0  # a granian worker took over 30 s to drain 8,000 req/s


class LadderSteps(Phases):
    """Measure open-loop steps of one target; the run's state is the subclass's."""

    timing: Timing  # where the run's time goes (the open-loop budget is measured on it)
    records: dict[str, TargetRecord]
    pair_rungs: dict[str, float]  # pair -> the rung its latency is compared at
    headline: float | None  # the rung the headline shows every p99 at
    warnings: list[str]
    overloaded = False  # the last step failed: wait for the server to go idle first
    clean_after: tuple[tuple[str, int | None], float] | None = None  # server, when: a clean pass

    @property
    def stepper(self) -> StepWorker:
        """Return the open-loop client's worker process."""
        raise NotImplementedError

    def pairs(self, names: list[str]) -> list[Pair]:
        """Return the run's pairs of targets (the subclass's)."""
        raise NotImplementedError

    def rounds(self) -> list[RoundInfo]:
        """Return every finished round with its flags (the subclass's)."""
        raise NotImplementedError

    def fix_rungs(self) -> None:
        """After round 1: fix each pair's latency rung, the headline rung, and every target's
        rungs for the later rounds (its knee window and the rungs of its pairs)."""
        climbs = {n: r.climb for n, r in self.records.items() if r.climb is not None}
        ladder = sorted({rate for c in climbs.values() for rate in c.rungs})
        capacities = {  # round 1's closed-loop figure: wrk's, else Locust's
            n: closed_loop_capacity([r.per_round[1]]) if 1 in r.per_round else None
            for n, r in self.records.items()
        }
        for pair in self.pairs(list(self.records)):
            a, b = climbs.get(pair.numerator), climbs.get(pair.denominator)
            if a is None or b is None:
                continue
            sides = [capacities.get(pair.numerator), capacities.get(pair.denominator)]
            rate = comparison_rung(sides, ladder) if all(sides) else pair_rung(a, b)
            if rate is not None:
                self.pair_rungs[pair.name] = rate
                for name in (pair.numerator, pair.denominator):
                    self.records[name].roles[rate].add(f"pair {pair.name}")
        known = [capacities.get(n) for n in climbs]
        self.headline = (comparison_rung(known, ladder) if all(known) else None) or headline_rung(
            climbs.values(), ladder
        )
        for name, rec in self.records.items():
            rates = set(rec.climb.window if rec.climb else [])
            first = rec.per_round.get(1)
            # wrk's figure alone, as the recovery shares were measured against (no Locust peak).
            capacity = first.wrk_rps if first is not None and first.wrk_valid else None
            # A knee at the top of the climb is a lower bound, and a given --ladder is the
            # user's own: neither is a climb cut short.
            real = rec.climb is not None and not rec.climb.at_least and not self.s.ladder
            knee = rec.climb.knee if rec.climb and real else None
            extra = recovery_rungs(knee, capacity)
            if extra and knee and capacity:
                rates |= set(extra)
                for rate in extra:
                    rec.roles[rate].add("recovery")
                self.warnings.append(
                    f"{name}: round 1's knee ({knee:g} req/s) lies below "
                    f"{SUSPECT_KNEE_SHARE * 100:.0f} % of its closed-loop capacity "
                    f"({capacity:,.0f} req/s, wrk): a disturbed climb, likely; the later "
                    "rounds also measure "
                    f"{', '.join(f'{r:g}' for r in extra)} req/s"
                )
            rates |= {
                rate
                for rate, roles in rec.roles.items()
                if any(role.startswith("pair ") for role in roles)
            }
            if self.headline is not None and name in climbs:
                rates.add(self.headline)
                rec.roles[self.headline].add("headline")
            rec.fixed = sorted(rates)
            self.reporter.log(
                f"{name}: knee {rec.climb.knee if rec.climb else None}; rungs of rounds 2-"
                f"{self.s.rounds}: {', '.join(f'{r:g}' for r in rec.fixed)}"
            )

    def warn_if_placed_by_a_disturbed_round(self) -> None:
        """Warn when round 1, whose climbs fixed every target's rungs, was flagged: the
        pooled rungs may then sit away from the knees a quiet machine would show."""
        first = next((r for r in self.rounds() if r.round == 1), None)
        climbed = any(rec.climb is not None for rec in self.records.values())
        if first is not None and first.flags and climbed:
            self.warnings.append(
                "round 1, whose climbs fixed every target's rungs for the later rounds, was "
                f"disturbed ({'; '.join(first.flags)}): the fixed rungs may sit away from the "
                "knees, so read this run's sustainable throughput as placed by a disturbed "
                "round, and run again when the machine is quiet"
            )

    def step(
        self,
        tag: str,
        rec: TargetRecord,
        rnd: int,
        server: Server,
        rate: float,
        kind: str,
        again: int = 0,
    ) -> Step:
        """Offer one rate for one step; record the step, its latencies and its row."""
        name = rec.info["name"]
        seconds = self.s.step_s_at(rate, later=rnd > 1)
        self.reporter.step(f"{tag} · open loop at {rate:g} req/s ({seconds:g} s)")
        began = time.monotonic()
        if self.overloaded:  # clients gave up on requests the server may still be working off
            waited = _cpu.wait_idle(server.pid)
            self.overloaded = False
            if waited > 1.0:
                self.reporter.log(f"{tag} · waited {waited:.1f} s for the server to go idle")
        clean = self.clean_after
        # A step that passed with every answer in has left no queue behind: straight after
        # one on the same server, /health need not be asked (about 45 ms a step, 8 s a run).
        if not (clean and clean[0] == (server.url, server.pid) and began - clean[1] < CLEAN_FOR_S):
            if not settle(server.url):  # a failed step, or anything else, may have left a queue
                self.reporter.log(f"{tag} · {server.url} still slow before {rate:g} req/s")
        result = self.stepper.run(
            server.url,
            rate,
            seconds,
            body=json.dumps(EXAMPLE).encode(),
            expected=server.answers.predict,
            seed=zlib.crc32(f"{name}:{rnd}:{rate:g}".encode()) + again,
            warmup_s=STEP_WARMUP_S,
            timeout_s=max(LADDER_TIMEOUT_S, STOP_FACTOR * self.s.slo_ms / 1000),
            bound_s=self.s.slo_ms / 1000,
        )
        stem = f"r{rnd}-ladder-{rate:g}" + (f"-{again + 1}" if again else "")
        hdr_path = self.dir / "hdr" / name / f"{stem}.hdr"
        hdr_path.parent.mkdir(parents=True, exist_ok=True)
        hdr_path.write_text(result.latency_hdr + "\n", encoding="ascii")
        histogram = _hdr.merge([result.latency_hdr])
        step = step_of(result, rnd, self.s.slo_ms, kind, f"hdr/{name}/{stem}.hdr")
        step.wall_s = round(time.monotonic() - began, 3)
        self.overloaded = bool(step.failures) or not step.passed
        self.clean_after = None if self.overloaded else ((server.url, server.pid), time.monotonic())
        rec.add_step(step, Pool.from_counts(*_hdr.distribution(histogram)), kind)
        self.timing.open_loop_measured_s += seconds
        self.timing.open_loop_wall_s += step.wall_s
        self.timing.open_loop_steps += 1
        self.timing.open_loop_invalid += not step.valid
        self.timing.measured_s += seconds
        self._log_step(tag, rec, rnd, step, seconds)
        self.reporter.advance(seconds + STEP_OVERHEAD_S)
        return step

    def climb_phase(
        self, tag: str, rec: TargetRecord, server: Server, peak_rps: float | None
    ) -> Climb:
        """Round 1: climb the common rungs, bisect the knee on its grid, fix its window."""
        rungs = climb_rungs(self.s.ladder, peak_rps)
        common = set(rungs)

        times: dict[float, int] = {}

        def measure(rate: float) -> Reading:
            kind = "climb" if rate in common else "bisect"
            again = times[rate] = times.get(rate, -1) + 1
            step = self.step(tag, rec, 1, server, rate, kind, again)
            return Reading(rate, step.p99_ms, step.failures, step.send_lag_p99_ms)

        found = climb(measure, rungs, slo_ms=self.s.slo_ms)
        self.drain(server)
        for rate in found.window:
            rec.roles[rate].add("knee window")
        rec.climb = found
        for note in found.notes:
            self.reporter.log(f"{tag} · {note}")
        self.write_summary()
        return found

    def fixed_phase(self, tag: str, rec: TargetRecord, rnd: int, server: Server) -> None:
        """Rounds 2...: measure exactly the rungs fixed after round 1, lowest first."""
        for rate in rec.fixed:
            self.step(tag, rec, rnd, server, rate, "fixed")
        self.drain(server)
        self.write_summary()

    def drain(self, server: Server) -> None:
        """After the ladder, let an overloaded server work off its queue before wrk again."""
        if self.overloaded:
            _cpu.wait_idle(server.pid)
            self.overloaded = False
        settle(server.url, timeout=SETTLE_AFTER_LADDER_S)

    def _log_step(self, tag: str, rec: TargetRecord, rnd: int, step: Step, seconds: float) -> None:
        row = PhaseRow(
            target=rec.info["name"],
            round=rnd,
            section="ladder",
            phase=f"ladder-{step.offered_rps:g}",
            kind="open",
            path="/predict",
            offered_rps=step.offered_rps,
            duration_s=seconds,
            requests=step.sent,
            successes=step.ok,
            failures=step.failures,
            rps=step.achieved_rps,
            p50_ms=step.p50_ms,
            p99_ms=step.p99_ms,
            p999_ms=step.p999_ms,
            lg_cpu_max_pct=step.client_cpu_pct,
            valid=step.valid,
            hdr=step.hdr or "",
        )
        append_csv(self.phases_path, [row])
        verdict = "pass" if step.passed else "FAIL"
        invalid = "" if step.valid else f"  [yellow]INVALID: {step.invalid_reason}[/yellow]"
        self.reporter.log(
            f"{tag:<16} {row.phase:<18} {step.achieved_rps or 0:>8.1f} req/s  "
            f"p50 {step.p50_ms or 0:7.2f}  p99 {step.p99_ms or 0:7.2f} ms  "
            f"over {step.over:>4}  lag {step.send_lag_p99_ms or 0:5.2f} ms  {verdict} "
            f"({step.kind}){f'  {step.failures} failed/dropped' if step.failures else ''}"
            f"{invalid}"
        )


def step_of(result: StepResult, rnd: int, slo_ms: float, kind: str, hdr: str) -> Step:
    """Return a step's record: its counts, figures, and whether its send lag lets it decide.

    Latency runs from the intended send, so a late client can only add to it: a step that
    passed stands whatever its lag, and so does one where requests failed or went unanswered;
    one whose p99 alone failed is invalid for the bound's decision when its send-lag p99 is
    above a tenth of the bound, and its p99 is unfit to report when the lag
    is above a tenth of that p99.
    """
    failures = result.failed + result.dropped
    passed = failures == 0 and result.p99_ms is not None and result.p99_ms <= slo_ms
    lag = result.send_lag_p99_ms
    limit = lag_limit_ms(slo_ms)
    # A late client cannot make a request fail or go unanswered: such a step always counts.
    valid = passed or bool(failures) or lag is None or lag <= limit
    fit = p99_fit(result.p99_ms, lag)
    reason = None
    if not valid:
        reason = f"send lag p99 {lag:.2f} ms (limit {limit:g} ms for the bound's decision)"
    elif not fit:
        reason = f"send lag p99 {lag:.2f} ms, over a tenth of the p99 ({result.p99_ms} ms)"
    return Step(
        round=rnd,
        offered_rps=result.offered_rps,
        achieved_rps=round(result.achieved_rps, 1),
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        p999_ms=result.p999_ms,
        failures=failures,
        valid=valid,
        invalid_reason=reason,
        sent=result.sent,
        ok=result.ok,
        failed=result.failed,
        dropped=result.dropped,
        passed=passed,
        over=result.over,
        kind=kind,  # type: ignore[arg-type]
        p99_fit=fit,
        send_lag_p99_ms=lag,
        client_cpu_pct=round(result.client_cpu_percent, 1),
        client_cpu_us_per_request=result.client_cpu_us_per_request,
        connections_opened=result.connections_opened,
        hdr=hdr,
    )

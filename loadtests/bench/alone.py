"""After the rounds, each target alone: the run checked against the tool, and what it costs.

The Locust master and the open-loop client are stopped first, so nothing else of the run is
alive. Each target then gets one more fresh process, warmed up like a round's, and:

- wrk passes of the same script at the same concurrency, as many as a visit makes, the mean
  of the valid ones (a pass whose server did not get its core is left out, as in a round).
  It should agree with the run's figure (the median of the rounds' wrk figures) within
  ALONE_TOLERANCE. Once every target has run alone, a larger gap is read
  (``loadtests.bench.gap``): the machine's speed moved for every target, one more process's
  speed within what the rounds allow, or something of the run; the run warns with it;
- ``strace -c -f`` on the server for one more wrk second (untimed: the tracer stops the
  server at every call), for the system calls per request;
- the invalid-input matrix, its /docs, /redoc and /openapi.json, and the overload run when
  asked for.
"""

from __future__ import annotations

import json
from statistics import mean, median

from loadtests.bench import cpu as _cpu
from loadtests.bench.config import WRK_CONNECTIONS
from loadtests.bench.docs import check as check_docs
from loadtests.bench.gap import ALONE_TOLERANCE, read_run, why_apart
from loadtests.bench.results import TargetRecord
from loadtests.bench.serving import Server
from loadtests.bench.visit import Visits
from loadtests.common.runfiles import Alone
from loadtests.loadgen import wrk as _wrk
from loadtests.targets import TARGETS, get_target
from shared_model import EXAMPLE


class AloneVisits(Visits):
    """Measure each target alone after the rounds; the run's state is the subclass's."""

    warnings: list[str]

    def machine_off(self) -> float | None:
        """Return how far the server core's calibration just before the standalone passes
        lies off the run's median (+0.2: 20 % slower; None: not measured)."""
        raise NotImplementedError

    def alone_phase(self, name: str) -> None:
        """Start the target alone and run the standalone pass, the system-call count, the
        matrix, the documentation check and the overload run that this run asks for."""
        rec = self.records[name]
        started = self.clock()
        self.reporter.step(f"{name} alone · starting a fresh server")
        server = self.serve(name, "onnx", 0)
        try:
            self.watch(f"{name}:alone", server, lg_pid=0)
            if self.s.alone and self.s.wrk and not self.s.url:
                self.standalone(name, rec, server)
            if self.s.matrix:
                self.matrix_phase(name, server)
            rec.docs = check_docs(server.url)
            if self.s.overload_s and name in TARGETS and get_target(name).handler != "seed":
                self.overload_phase(name, rec, server)
        finally:
            self.release(server)
            self.timing.alone_s += self.clock() - started
        self.write_summary()

    def standalone(self, name: str, rec: TargetRecord, server: Server) -> None:
        """Warmed-up wrk passes of the run's script, as many as a visit's (their mean), then one
        more under strace (untimed)."""
        if self.s.server_warmup_s:
            self.wrk(name, server, "alone-warmup", self.s.server_warmup_s)
        passes = [
            self.wrk(name, server, f"alone-{n}", self.s.duration_s)
            for n in range(1, max(1, self.s.wrk_passes) + 1)
        ]
        self.reporter.advance((1 + len(passes)) * self.s.wrk_s())
        for n, figures in enumerate(passes, 1):
            if not figures["valid"]:
                self.warnings.append(
                    f"{name}: wrk pass {n} alone left out: {figures['invalid_reason']}"
                )
        counted = [f for f in passes if f["valid"]] or passes  # as a round's passes count
        rounds = [f.wrk_rps for f in rec.per_round.values() if f.wrk_rps and f.wrk_valid]
        run_rps = median(rounds) if rounds else None
        alone_rps = round(mean(f["rps"] or 0.0 for f in counted), 1) or None
        ratio = round(run_rps / alone_rps, 3) if run_rps and alone_rps else None
        agrees = None if ratio is None else abs(ratio - 1) <= ALONE_TOLERANCE
        off = self.machine_off()
        self.reporter.step(f"{name} alone · system calls (strace, untimed)")
        calls = self.syscalls(name, server)
        rec.alone = Alone(
            server_pid=server.pid,
            wrk_rps=alone_rps,
            run_wrk_rps=round(run_rps, 1) if run_rps else None,
            run_wrk_low=round(min(rounds), 1) if rounds else None,
            run_wrk_high=round(max(rounds), 1) if rounds else None,
            ratio=ratio,
            agrees=agrees,
            machine_off=None if off is None else round(off, 3),
            syscalls_per_request=calls.per_request if calls else None,
            syscalls_requests=calls.requests if calls else None,
            syscalls_top={k: round(v / calls.requests, 2) for k, v in calls.top.items()}
            if calls and calls.requests
            else {},
            note=None if calls else "system calls not counted (strace missing or not allowed)",
        )
        self.reporter.log(
            f"{name} alone: wrk {alone_rps or 0:,.0f} req/s, the run's {run_rps or 0:,.0f} "
            f"(run / alone {ratio}); {calls.per_request if calls else '-'} system calls a request"
        )

    def read_gaps(self) -> None:
        """Once every target has run alone: read each gap past the tolerance against the
        machine's shift (every target's run : alone) and one more round's spread, record the
        reading in the target's Alone, and warn with it."""
        shift, gaps = read_run(
            {n: (r.alone, r.per_round.values()) for n, r in self.records.items()}
        )
        for name, gap in gaps.items():
            rec = self.records[name]
            alone = rec.alone
            if alone is None:
                continue
            rec.alone = alone.model_copy(
                update={
                    "machine_shift": None if shift is None else round(shift, 3),
                    "after_shift": None if gap.after_shift is None else round(gap.after_shift, 3),
                    "one_more_low": None if gap.low is None else round(gap.low, 1),
                    "one_more_high": None if gap.high is None else round(gap.high, 1),
                    "gap_cause": gap.cause if alone.agrees is False else None,
                }
            )
            if alone.agrees is False:
                self.warnings.append(
                    f"{name}: the run's wrk figure ({alone.run_wrk_rps or 0:,.0f} req/s) is "
                    f"{alone.ratio or 0:.2f}x wrk against the same target alone "
                    f"({alone.wrk_rps or 0:,.0f}): more than {ALONE_TOLERANCE:.0%} apart; "
                    + why_apart(gap)
                )
        self.write_summary()

    def syscalls(self, name: str, server: Server) -> _cpu.Syscalls | None:
        """Count the server's system calls during one wrk second (strace -c -f)."""
        if server.pid is None:
            return None
        script = self.dir / "wrk" / "predict.lua"
        if not script.exists():
            _wrk.write_script(script, "POST", json.dumps(EXAMPLE).encode(), "application/json")

        def load() -> int:
            result = _wrk.run(
                f"{server.url}/predict",
                script,
                connections=WRK_CONNECTIONS,
                duration_s=1,
                cores=self.s.lg_cores,
                out_path=self.dir / "wrk" / f"{name}-strace.txt",
                ledger=self.ledger,
                registry=self.registry,
            )
            return result.requests - result.non_2xx

        return _cpu.count_syscalls(
            server.pid, load, self.dir / "strace" / f"{name}.txt", self.s.lg_cores
        )

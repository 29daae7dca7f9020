"""One target's visit in one round, on a server process of its own started for the visit.

A visit starts a fresh process of the target's server pinned to the server cores (nothing
else of the run is resident there: the previous visit's process is gone, and the noop twin
lives only for its own control phase), warms it up with one uncounted wrk second, then:
wrk; in round 1 the Locust sweep, the /health and noop controls; the open-loop ladder (round
1's climb, or the rungs fixed after it); in round 1 the invalid mix; wrk again; and, with
--instances N, N - 1 more fresh processes measured by wrk alone. The process is stopped by
PID right after, so each round samples a process's own speed like any other noise.
"""

from __future__ import annotations

from loadtests.bench.config import WRK_CONNECTIONS
from loadtests.bench.results import TargetRecord
from loadtests.bench.serving import Server, start_server, stop_server
from loadtests.bench.steps import LadderSteps
from loadtests.bench.summary import peak_of
from loadtests.common.procs import ProcessError
from loadtests.loadgen.locust_phase import health_spec, mix_specs, predict_spec


class Visits(LadderSteps):
    """Measure one target in one round; the run's state is the subclass's (``Bench``)."""

    records: dict[str, TargetRecord]

    def serve(self, name: str, backend: str, rnd: int, instance: int = 1) -> Server:
        """Start and verify one fresh server process for this visit (timed as server time)."""
        started = self.clock()
        suffix = f"-{instance}" if instance > 1 else ""
        log = self.dir / "logs" / f"{name}-{backend}-r{rnd}{suffix}.log"
        try:
            return start_server(
                name, backend, self.s, log, self.ledger, self.registry, instance=instance
            )
        finally:
            self.timing.servers_s += self.clock() - started

    def release(self, server: Server) -> None:
        """Stop a visit's server by PID (timed as server time)."""
        started = self.clock()
        stop_server(server, self.registry)
        self.timing.servers_s += self.clock() - started

    def clock(self) -> float:
        """Return a monotonic clock reading (seconds)."""
        raise NotImplementedError

    def visit(self, name: str, rnd: int) -> None:
        """Measure one target once; a failure is recorded on its record, not raised, unless the
        load generator itself is gone."""
        rec = self.records[name]
        if rec.status == "failed":
            return
        rec.status = "running"
        try:
            self._visit(name, rec, rnd)
        except LadderError:
            raise  # bad input: the run stops
        except ProcessError as exc:
            rec.status, rec.error = "failed", str(exc)
            self.reporter.log(f"[red]{name}: FAILED[/red] {exc}")
            if not self.lg.proc.alive():
                raise  # without a load generator no other target can be measured
        else:
            rec.repeats += 1
            rec.status = "complete" if rec.repeats >= self.s.rounds else "partial"
        finally:
            self.write_summary()

    def _visit(self, name: str, rec: TargetRecord, rnd: int) -> None:
        when = f"{rnd}/{self.s.rounds}" if rnd <= self.s.rounds else f"spare {rnd - self.s.rounds}"
        tag = f"[{when}] {name}"
        first, twin = rnd == 1, bool(rec.info.get("twin_of"))
        self.reporter.step(f"{tag} · starting a fresh server")
        server = self.serve(name, "onnx", rnd)
        fig = rec.round_figures(rnd)
        fig.instance = rnd
        fig.server_pid = server.pid
        fig.server_pids = [server.pid] if server.pid else []
        try:
            self.watch(f"{name}:onnx", server)
            if self.s.wrk:
                self.warm_up(tag, rec, rnd, server)
                self.wrk_phase(tag, rec, rnd, server, pass_no=1)
            if first and not twin:
                self.sweep_and_controls(tag, rec, rnd, server)
            elif not self.s.wrk:  # Locust's peak is the throughput figure then
                config = self.config(
                    f"sweep-c{rec.level}",
                    "PredictUser",
                    rec.level or 32,
                    [predict_spec(server.answers.predict)],
                )
                rec.add_peak(
                    self.locust_phase(tag, rec, rnd, "sweep", config, server.url, key=rec.level),
                    rnd,
                )
            if first:
                self.check_ladder(name, fig.wrk_samples[0] if fig.wrk_samples else None)
                self.climb_phase(tag, rec, server, self.peak(rec, rnd))
            else:
                self.fixed_phase(tag, rec, rnd, server)
            if first and not twin:
                self.invalid_mix(tag, rec, rnd, server)
            if self.s.wrk and self.s.wrk_passes > 1:
                self.wrk_phase(tag, rec, rnd, server, pass_no=2)
        finally:
            self.release(server)
        for instance in range(2, self.s.instances + 1):
            self.extra_instance(tag, name, rec, rnd, instance)

    def locust_peak(self, tag: str, rec: TargetRecord, rnd: int, server: Server) -> None:
        """Measure Locust's peak at round 1's peak level (the throughput figure without wrk)."""
        users = rec.level or 32
        config = self.config(
            f"sweep-c{users}", "PredictUser", users, [predict_spec(server.answers.predict)]
        )
        peak = self.locust_phase(tag, rec, rnd, "sweep", config, server.url, key=users)
        rec.add_peak(peak, rnd)

    def warm_up(self, tag: str, rec: TargetRecord, rnd: int, server: Server) -> None:
        """Warm a fresh server with uncounted wrk seconds; keep what its first second did."""
        if not self.s.server_warmup_s:
            return
        self.reporter.step(f"{tag} · warm-up (wrk, not counted)")
        figures = self.wrk(rec.info["name"], server, f"r{rnd}-warmup", self.s.server_warmup_s)
        rec.round_figures(rnd).warmup_rps = figures["rps"]
        self.reporter.advance(self.s.wrk_s())

    def extra_instance(
        self, tag: str, name: str, rec: TargetRecord, rnd: int, instance: int
    ) -> None:
        """Measure one more fresh process of the target with wrk alone (--instances)."""
        server = self.serve(name, "onnx", rnd, instance)
        rec.round_figures(rnd).server_pids.append(server.pid or 0)
        try:
            self.warm_up(tag, rec, rnd, server)
            self.wrk_phase(tag, rec, rnd, server, pass_no=self.s.wrk_passes + instance - 1)
        finally:
            self.release(server)

    def peak(self, rec: TargetRecord, rnd: int) -> float | None:
        """Return the visit's closed-loop peak: wrk's first pass, else Locust's."""
        fig = rec.round_figures(rnd)
        return fig.wrk_samples[0] if fig.wrk_samples else fig.locust_rps

    def check_ladder(self, name: str, peak: float | None) -> None:
        """Refuse a given ladder whose lowest rung is above a target's peak (nothing to climb)."""
        if self.s.ladder and peak and min(self.s.ladder) > peak:
            raise LadderError(
                f"--ladder starts at {min(self.s.ladder):g} req/s, above {name}'s peak of "
                f"{peak:,.0f} req/s (wrk, c={WRK_CONNECTIONS}): give a rung below it"
            )

    def sweep_and_controls(self, tag: str, rec: TargetRecord, rnd: int, server: Server) -> None:
        """Round 1: the Locust sweep over every level, then /health and the noop twin at the
        peak level (the noop twin started for this phase alone, and stopped)."""
        predict = [predict_spec(server.answers.predict)]
        measured = []
        for users in self.s.levels:
            config = self.config(f"sweep-c{users}", "PredictUser", users, predict)
            measured.append(
                self.locust_phase(tag, rec, rnd, "sweep", config, server.url, key=users)
            )
        peak = peak_of(measured)
        assert peak is not None
        rec.level = int(peak["users"])
        rec.add_peak(peak, rnd)
        users = rec.level
        config = self.config(
            f"health-c{users}", "HealthUser", users, [health_spec(server.answers.health)]
        )
        self.locust_phase(tag, rec, rnd, "health", config, server.url)
        if self.s.url and not self.s.noop_url:
            return
        noop = self.serve(rec.info["name"], "noop", rnd)
        try:
            self.watch(f"{rec.info['name']}:noop", noop)
            config = self.config(
                f"noop-c{users}", "PredictUser", users, [predict_spec(noop.answers.predict)]
            )
            self.locust_phase(tag, rec, rnd, "noop", config, noop.url)
        finally:
            self.release(noop)
            self.watch(f"{rec.info['name']}:onnx", server)

    def invalid_mix(self, tag: str, rec: TargetRecord, rnd: int, server: Server) -> None:
        """Round 1: 20 % bad bodies from the catalogue at the peak level (the error path)."""
        users = rec.level or 32
        config = self.config(
            f"invalid-mix-c{users}",
            "InvalidMixUser",
            users,
            mix_specs(server.answers.predict),
            bad_fraction=self.s.invalid_fraction,
        )
        self.locust_phase(tag, rec, rnd, "invalid_mix", config, server.url)


class LadderError(ProcessError):
    """A given ladder cannot measure a target (its rungs are all above the target's peak)."""

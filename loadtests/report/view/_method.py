"""Lay out a run's method for the templates: machine, settings, model, how to repeat it."""

from __future__ import annotations

import shlex
from typing import Any

from loadtests.bench.config import WRK_CONNECTIONS
from loadtests.bench.gap import ALONE_TOLERANCE
from loadtests.bench.ladder import (
    KNEE_STEP,
    LAG_SHARE,
    PAIR_RUNG_SHARE,
    STOP_FACTOR,
    WINDOW_BELOW,
)
from loadtests.bench.noise import DRIFT_LIMIT, STEAL_LIMIT_PCT
from loadtests.bench.results import LG_LIMIT_PCT, SATURATION_LIMIT_PCT, SEND_LAG_LIMIT_MS
from loadtests.common.stats import MIN_ROUNDS, TIE_BAND
from loadtests.report.format import DASH, TIMES, fmt
from loadtests.report.load import (
    LOCUST_WRK_TOLERANCE,
    SPREAD_WARN_LATENCY,
    SPREAD_WARN_RPS,
    Data,
    Run,
    lookup,
)
from loadtests.report.view._tables import describe

OLD_TOLERANCE = 0.05  # the bisection's tolerance before the pooled ladder (older runs)
# Why a gunicorn sync worker behaves as it does under this load: written by hand, shown
# in the method section when not empty.
GUNICORN_NOTE = (
    "A gunicorn sync worker serves one connection at a time: it accepts the oldest "
    "connection in the kernel's listen queue and blocks reading it until a whole request "
    "has arrived. A client that opens a connection before it has something to send (an idle "
    "keep-alive pool, a browser, a load generator with think time) stalls the worker while "
    "every other request waits, so latency rises while the server sits partly idle; "
    "measured on flask at 500 req/s, p50 went from 2.3 ms (connect and send at once) to 50 ms "
    "with eight connections opened ahead and left idle. A production deployment puts sync "
    "workers behind a buffering reverse proxy (nginx, as gunicorn's documentation says), "
    "which reads each request whole before handing it over. This run's open-loop client "
    "connects and sends at once, as such a proxy would, and opens a new connection per "
    "request where the server closes it; its latency is the server's, not the client's."
)

LIMITS = {
    "alone": ALONE_TOLERANCE,
    "lg_pct": LG_LIMIT_PCT,
    "send_lag_ms": SEND_LAG_LIMIT_MS,
    "tie_low": TIE_BAND[0],
    "tie_high": TIE_BAND[1],
    "min_rounds": MIN_ROUNDS,
    "drift": DRIFT_LIMIT,
    "steal_pct": STEAL_LIMIT_PCT,
    "saturation_pct": SATURATION_LIMIT_PCT,
    "knee_step": KNEE_STEP,
    "stop_factor": STOP_FACTOR,
    "lag_share": LAG_SHARE,
    "common_share": PAIR_RUNG_SHARE,
    "spread_rps": SPREAD_WARN_RPS,
    "spread_latency": SPREAD_WARN_LATENCY,
    "locust_wrk": LOCUST_WRK_TOLERANCE,
}


def step_rule(run: Run) -> str:
    """Return how long this run's ladder steps lasted, from its own settings."""
    settings = run.summary.get("settings") or {}
    least = settings.get("step_min_requests")
    later = settings.get("later_step_min_requests")
    step = settings.get("step_s")
    if least and later is not None and later != least:
        return (
            f"Every step lasts {step} s or offers at least {least} requests in round 1 and "
            f"{later} in later rounds (whose answers are only ever pooled), whichever is longer"
        )
    if least:
        return f"Every step lasts {step} s or offers at least {least} requests, whichever is longer"
    return f"Every step lasts {step} s"


def wrk_rule(run: Run) -> str:
    """Return how this run measured wrk: its concurrency and its passes a visit."""
    settings = run.summary.get("settings") or {}
    if settings.get("wrk") is False:
        return "wrk was not run"
    passes = settings.get("wrk_passes") or 1
    text = f"wrk runs at {WRK_CONNECTIONS} connections for every target"
    if passes > 1 and _fresh(settings):
        return (
            f"{text}, twice a visit (before and after its ladder); the round's figure is their mean"
        )
    if passes > 1:
        return (
            f"{text}, twice a round: before the ladders in the round's order and after them "
            "in the reverse order, so both passes centre on the same moment for every target "
            "and a drift across the round cancels; the round's figure is their mean"
        )
    return f"{text}, once a round"


def _fresh(settings: Data) -> bool:
    """Tell whether a run started a fresh server process for every visit (runs since the A/A
    control; older ones started every server at the beginning)."""
    return "aa" in settings


def servers_rule(run: Run) -> str:
    """Return how this run started each target's servers."""
    settings = run.summary.get("settings") or {}
    if settings.get("url"):
        return "the deployment at the given URL is one set of processes for the whole run"
    if _fresh(settings):
        instances = settings.get("instances") or 1
        more = (
            f"; {instances - 1} more fresh process(es) a visit are measured by wrk alone, and "
            "the round's throughput is the mean of all"
            if instances > 1
            else ""
        )
        return (
            "every visit starts a fresh process of the target's server, pinned to the server "
            "core, verifies it, and stops it by PID right after, so while a target is measured "
            "nothing else of the run is resident there (its noop twin only during its own "
            "control phase), and each round samples a process's own speed (a process keeps one "
            f"for its life: `make drift`){more}"
        )
    rounds = settings.get("rounds") or 1
    processes = min(settings.get("instances") or 1, rounds)
    if processes < 2:
        return "every target's servers start once, at the beginning"
    return (
        f"every target's real server starts as {processes} processes at the beginning (its "
        f"noop twin as one), and they take turns: round r measures process (r - 1) mod "
        f"{processes} + 1"
    )


def ladder_rule(run: Run) -> str:
    """Return how this run's ladder went and which steps it could not use (its own version)."""
    s = run.summary
    settings = s.get("settings") or {}
    text = (
        "open loop at absolute offered rates common to every target "
        f"({', '.join(f'{r:g}' for r in s.get('ladder') or [])} req/s), Poisson arrivals, "
        "latency from each request's intended send time (HdrHistogram, microsecond "
        "resolution), so a stalled server cannot hide its queue (no coordinated omission). "
        f"{step_rule(run)}. "
    )
    client = (
        "The client runs on its own core at real-time priority so it sends on time (this run: "
        f"{lookup(s, 'client_scheduling') or 'not recorded'})."
    )
    if "confidence" not in settings:  # before the pooled ladder
        return text + (
            f"Each round climbed the ladder (stopping at failures or p99 above {STOP_FACTOR:g}"
            f"{TIMES} the bound), then bisected between the last passing and the first failing "
            f"rate to within {OLD_TOLERANCE * 100:.0f} %; a step whose verdict rested on a few "
            f"tail answers was measured again 2{TIMES} as long and the longer one decided. "
            f"{client} A step whose send-lag p99 passed {SEND_LAG_LIMIT_MS:.1f} ms was invalid"
        )
    return text + (
        f"Round 1 climbs the common rates (stopping at failures or p99 above {STOP_FACTOR:g}"
        f"{TIMES} "
        "the bound; the first rung that did not pass is measured once more if it failed "
        "mildly, and it caps the knee even if a higher rung passed) and bisects the knee's "
        f"bracket on a grid of about {KNEE_STEP:.0%} steps; the "
        f"knee, the grid step above it and {WINDOW_BELOW} below it, each pair's rung (the "
        "highest common rate at or below "
        f"{PAIR_RUNG_SHARE:.0%} of the lower of the two targets' round-1 closed-loop "
        "capacities: well below the knees, where p99 is not all or nothing, and placed by a "
        "figure that moves less from run to run than a knee) and the headline rung (the "
        "same rule over every target) are then fixed, and every later round measures "
        f"exactly those. {client} Its lateness is "
        "inside every latency it reports, so it can only make a server look slower: a step "
        f"whose send-lag p99 is above {LAG_SHARE:.0%} of the bound is left out of the bound's "
        f"decision unless it passed, and one whose lag is above {LAG_SHARE:.0%} of its p99 is "
        "not used for that p99"
    )


def cpu_rule(run: Run) -> str:
    """Return how this run computed the server's CPU per request (its own version)."""
    if "confidence" not in (run.summary.get("settings") or {}):
        return (
            "server CPU % (whole process tree, psutil, 100 = one core) / 100 / answered req/s "
            f"{TIMES} 10⁶, at wrk's peak, per round"
        )
    return (
        "the CPU time (user + kernel) the server's whole process tree spent during a wrk pass "
        "(psutil cpu_times, before and after) / the requests wrk got answered, per round (the "
        "mean of the round's passes)"
    )


def sustainable_rule(run: Run) -> str:
    """Return how this run decided the sustainable throughput (its own version)."""
    settings = run.summary.get("settings") or {}
    slo = settings.get("slo_ms")
    text = (
        f"the highest offered rate with p99 within {slo} ms and nothing failed or dropped "
        "(the MLPerf server scenario). "
    )
    if "confidence" not in settings:
        return text + (
            f"Each round bisected it to within {OLD_TOLERANCE * 100:.0f} %; the median over "
            "rounds got a 95 % bootstrap interval"
        )
    return text + (
        "Each rung is decided on every round's answers there pooled, by MLPerf LoadGen's "
        f"early-stopping rule at {settings['confidence']:.0%} confidence: with no answer over "
        "the bound 459 answers are needed, and each answer over it needs more; a rung the "
        "pooled count cannot decide is undecided, never passed. The interval comes from "
        "resampling whole rounds (each its own server process), so it covers the process and "
        "the round, not the machine; a lower bound is marked when no higher rung was measured"
    )


def calibration_text(run: Run) -> str:
    """Return the run's median CPU calibration in words (tells two machines apart)."""
    cal = (run.summary.get("calibration") or {}) or {}
    if not cal:
        return "not measured"
    return (
        f"{fmt(cal.get('best_ms'), 'ms')} ms best, {fmt(cal.get('median_ms'), 'ms')} ms median "
        f"({cal.get('score', 0):,.0f} loops/s)"
    )


_FLAGS = (
    ("targets", "--targets"),
    ("levels", "--levels"),
    ("duration_s", "--duration"),
    ("warmup_s", "--warmup"),
    ("server_warmup_s", "--server-warmup"),
    ("rounds", "--rounds"),
    ("slo_ms", "--slo-ms"),
    ("step_s", "--step"),
    ("step_min_requests", "--step-min-requests"),
    ("wrk_passes", "--wrk-passes"),
    ("instances", "--instances"),
    ("spare_rounds", "--spare-rounds"),
    ("aa", "--aa"),
    ("confidence", "--confidence"),
    ("ladder", "--ladder"),
    ("invalid_fraction", "--invalid-fraction"),
    ("server_workers", "--server-workers"),
    ("server_cores", "--server-cores"),
    ("lg_cores", "--lg-cores"),
    ("locust_workers", "--locust-workers"),
    ("sample_interval_s", "--sample-interval"),
    ("bench_max_time_s", "--bench-max-time"),
)


def reproduce(summary: Data) -> str:
    """Return the command line that repeats the run with every setting explicit."""
    settings = summary.get("settings") or {}
    argv = ["python", "-m", "loadtests.bench"]
    if settings.get("url"):
        argv += ["--url", settings["url"], "--name", str(settings.get("name"))]
        if settings.get("noop_url"):
            argv += ["--noop-url", settings["noop_url"]]
    for key, flag in _FLAGS:
        value = settings.get(key)
        if value is None or (key == "targets" and settings.get("url")):
            continue
        if isinstance(value, list | tuple):
            value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        argv += [flag, str(value)]
    if "aa" in settings and settings.get("aa") is None and not settings.get("url"):
        argv += ["--aa", "none"]
    for key, flag in (
        ("benches", "--no-benches"),
        ("wrk", "--no-wrk"),
        ("matrix", "--no-matrix"),
        ("alone", "--no-alone"),
    ):
        if settings.get(key) is False:
            argv.append(flag)
    return shlex.join(argv)


def train_command(model: Data) -> str:
    """Return the command that trains the run's model again (same data, seed and rows)."""
    argv = ["python", "-m", "shared_model.train"]
    if model.get("seed") is not None:
        argv += ["--seed", str(model["seed"])]
    if model.get("synthetic"):
        if model.get("raw_rows"):
            argv += ["--rows", str(model["raw_rows"])]
    elif model.get("data_source"):
        argv += ["--data", str(model["data_source"])]
    return shlex.join(argv)


def method(run: Run) -> dict[str, Any]:
    """Return the method and environment facts of the run."""
    s, env = run.summary, run.summary.get("environment") or {}
    settings = s.get("settings") or {}
    model = env.get("model") or {}
    git = env.get("git") or {}
    commit = git.get("commit")
    commit_text = (
        f"{commit[:12]}{' (dirty tree)' if git.get('dirty') else ''}"
        if commit
        else "not recorded (no git commit)"
    )
    data = "synthetic" if model.get("synthetic") else "real (from a file)"
    ladder = s.get("ladder") or []
    return {
        "run_id": run.run_id,
        "started_at": s.get("started_at"),
        "finished_at": s.get("finished_at"),
        "wall_s": s.get("wall_s"),
        "status": s.get("status"),
        "mode": s.get("mode"),
        "calibration": calibration_text(run),
        "client_scheduling": lookup(run.summary, "client_scheduling") or "not recorded",
        "step_rule": step_rule(run),
        "wrk_rule": wrk_rule(run),
        "servers_rule": servers_rule(run),
        "ladder_rule": ladder_rule(run),
        "sustainable_rule": sustainable_rule(run),
        "cpu_rule": cpu_rule(run),
        "gunicorn_note": GUNICORN_NOTE,
        "machine": [
            ("CPU", f"{env.get('cpu_model', '?')}, {env.get('cpu_count', '?')} logical cores"),
            ("CPU calibration (median of the run)", calibration_text(run)),
            ("OS / kernel", f"{env.get('os', '?')}"),
            ("Python", f"{env.get('python', '?')} ({env.get('python_implementation', '?')})"),
            ("wrk", str(env.get("wrk") or "not used")),
        ],
        "settings": [
            ("server cores", join_list(env.get("server_cores") or settings.get("server_cores"))),
            (
                "load-generator cores",
                join_list(env.get("load_generator_cores") or settings.get("lg_cores")),
            ),
            ("server workers", settings.get("server_workers")),
            ("Locust worker processes", settings.get("locust_workers")),
            ("rounds (interleaved)", settings.get("rounds")),
            ("concurrency levels", join_list(settings.get("levels"))),
            (
                "phase duration / warm-up",
                f"{settings.get('duration_s')} s / {settings.get('warmup_s')} s "
                f"(+{settings.get('server_warmup_s')} s per fresh server)",
            ),
            ("ladder of offered rates (req/s)", join_list([f"{r:g}" for r in ladder])),
            ("ladder step", f"{settings.get('step_s')} s per rate"),
            ("latency bound (p99)", f"{settings.get('slo_ms')} ms"),
            ("bad bodies in the invalid mix", join_list([settings.get("invalid_fraction")], True)),
            ("resource sampling", f"every {settings.get('sample_interval_s')} s (psutil)"),
            ("quick preset", "yes" if settings.get("quick") else "no"),
        ],
        "model": [
            ("estimator", model.get("model", "?")),
            ("training data", f"{data}: {model.get('data_source', '?')}"),
            (
                "rows (train / test)",
                f"{model.get('train_rows', '?')} / {model.get('test_rows', '?')}",
            ),
            ("held-out accuracy", _num(model.get("held_out_accuracy"))),
            ("held-out ROC AUC", _num(model.get("held_out_roc_auc"))),
            ("served as", "ONNX Runtime, one single-threaded session (FVF_BACKEND=onnx)"),
        ],
        "packages": sorted((env.get("packages") or {}).items()),
        "commit": commit_text,
        "command": reproduce(s),
        "train": train_command(model),
        "targets": [
            (n, describe(t), shlex.join(t.get("command") or [])) for n, t in run.targets.items()
        ],
        "files": {k: v for k, v in (s.get("files") or {}).items() if v},
    }


def join_list(values: Any, pct: bool = False) -> str:
    """Return a list of values as comma-separated text (percentages with pct)."""
    if not values:
        return "not pinned" if values is not None else DASH
    return ", ".join(f"{v:.0%}" if pct and v is not None else str(v) for v in values)


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else DASH

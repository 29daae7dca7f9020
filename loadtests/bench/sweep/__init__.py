"""The model-cost sweep: how the FastAPI:Flask throughput ratio moves as the model gets dearer.

For each model cost (``FVF_BACKEND``: noop, onnx, sklearn, burn:N), every target is
started at once with its exact command, verified, moved onto the server core(s) and
warmed up; then, in rounds, each target in turn gets a closed-loop wrk run on
``POST /predict`` at a fixed concurrency (load generator on the other core(s)) while a
thread probes ``GET /health`` at a low fixed rate, timed from the intended send time.
An ``async def`` handler running a CPU-bound model blocks its event loop: the probe
shows it. Ratios are paired within a round (same cost, same round, neighbouring runs).

    python -m loadtests.bench.sweep [--rounds 3] [--quick] [--out DIR]

Writes ``sweep.json`` (the ``Sweep`` model, rewritten after every visit) and
``sweep.csv`` (one row per visit) into the run folder; every server is stopped by PID
on any exit, Ctrl-C included.

Modules, in the order they import one another: ``files`` (the models of both files),
``probe`` (the /health probe and the server-core meter), ``tables`` (the per-round
ratios and the printed tables), ``runner`` (servers, visits, rounds), ``cli``.
"""

from loadtests.bench.sweep.cli import (
    DEFAULT_COSTS,
    DEFAULT_TARGETS,
    build_parser,
    main,
    make_run_dir,
    settings_from,
)
from loadtests.bench.sweep.files import (
    DEFAULT,
    DISTURBED_PCT,
    QUICK,
    VERSION,
    Ending,
    Preset,
    Ratio,
    Sweep,
    SweepSettings,
    TargetInfo,
    Visit,
)
from loadtests.bench.sweep.probe import PROBE_TIMEOUT_S, CoreMeter, HealthProbe
from loadtests.bench.sweep.runner import (
    MODEL_TIMING_S,
    Sweeper,
    model_cost_us,
    utc_now,
    warm_up,
)
from loadtests.bench.sweep.tables import framework_pairs, health_table, paired_ratios, ratio_table

__all__ = [
    "DEFAULT",
    "DEFAULT_COSTS",
    "DEFAULT_TARGETS",
    "DISTURBED_PCT",
    "MODEL_TIMING_S",
    "PROBE_TIMEOUT_S",
    "QUICK",
    "VERSION",
    "CoreMeter",
    "Ending",
    "HealthProbe",
    "Preset",
    "Ratio",
    "Sweep",
    "SweepSettings",
    "Sweeper",
    "TargetInfo",
    "Visit",
    "build_parser",
    "framework_pairs",
    "health_table",
    "main",
    "make_run_dir",
    "model_cost_us",
    "paired_ratios",
    "ratio_table",
    "settings_from",
    "utc_now",
    "warm_up",
]

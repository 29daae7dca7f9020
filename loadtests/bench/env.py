"""Describe where a run happened: machine, OS, Python, locked versions, commit, model."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from shared_model import ModelError, get_settings, read_metadata

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK_FILE = REPO_ROOT / "requirements.lock"
KEY_PACKAGES = (
    "flask",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "uvloop",
    "httptools",
    "gunicorn",
    "granian",
    "werkzeug",
    "onnxruntime",
    "scikit-learn",
    "numpy",
    "locust",
    "gevent",
    "geventhttpclient",
    "hdrhistogram",
    "psutil",
    "pytest-benchmark",
)


def cpu_model() -> str:
    """Return the CPU model name as the kernel reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def locked_versions(lock_file: Path = LOCK_FILE) -> dict[str, str]:
    """Return name -> version of every pinned line of requirements.lock."""
    try:
        text = lock_file.read_text(encoding="utf-8")
    except OSError:
        return {}
    pins = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)", text, flags=re.MULTILINE)
    return {name.lower(): version for name, version in pins}


def installed_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str | None]:
    """Return the installed version of each key package (None if absent)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _command(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=REPO_ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if done.returncode in (0, 1) and text else None


def git_commit() -> dict[str, Any] | None:
    """Return the commit and whether the tree had changes, or None outside a repository."""
    commit = _command(["git", "rev-parse", "HEAD"])
    if not commit or not re.fullmatch(r"[0-9a-f]{40}", commit):
        return None
    status = subprocess.run(
        ["git", "status", "--porcelain"], capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )
    return {"commit": commit, "dirty": bool(status.stdout.strip())}


def model_metadata() -> dict[str, Any] | None:
    """Return the served model's metadata.json (None if not trained)."""
    try:
        return read_metadata(get_settings().model_dir)
    except ModelError:
        return None


def machine_busy_pct(seconds: float = 0.5) -> float:
    """Return how busy the whole machine is right now, in percent of one core."""
    return round(psutil.cpu_percent(interval=seconds) * (psutil.cpu_count() or 1), 1)


def describe(server_cores: list[int] | None, lg_cores: list[int] | None) -> dict[str, Any]:
    """Return everything a reader needs to judge or repeat the run's figures."""
    uname = platform.uname()
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "server_cores": server_cores,
        "load_generator_cores": lg_cores,
        "os": platform.platform(),
        "kernel": uname.release,
        "machine": uname.machine,
        "hostname": uname.node,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "wrk": _command(["wrk", "-v"]),
        "packages": installed_versions(),
        "locked_packages": locked_versions(),
        "git": git_commit(),
        "model": model_metadata(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "busy_cpu_pct_at_start": machine_busy_pct(),
    }

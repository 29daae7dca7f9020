"""Start one target of the table in the foreground: ``python -m loadtests.serve flask``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from loadtests.targets import DEFAULT_WORKERS, TARGETS, Target, get_target


def resolve(target: Target, host: str, port: int, workers: int) -> tuple[list[str], dict[str, str]]:
    """Return the argv (server found beside this Python, else on PATH) and environment."""
    argv = target.command(host, port, workers)
    local = Path(sys.executable).parent / argv[0]
    argv[0] = str(local) if local.exists() else (shutil.which(argv[0]) or argv[0])
    return argv, {**os.environ, **target.env}


def main(argv: list[str] | None = None) -> int:
    """Replace this process with the target's server."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.serve", description=__doc__)
    parser.add_argument("target", choices=sorted(TARGETS), help="a target of loadtests/targets.py")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="server workers")
    args = parser.parse_args(argv)
    command, env = resolve(get_target(args.target), args.host, args.port, args.workers)
    print("+", " ".join(command), flush=True)
    os.execvpe(command[0], command, env)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())

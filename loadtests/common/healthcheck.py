"""Exit 0 if and only if a server's ``GET /health`` answers ``{"status": "ok"}``.

The containers' health check (docker-compose.yml)::

    python -m loadtests.common.healthcheck [URL]     # default http://127.0.0.1:8000/health

It is ``loadtests.common.net.status_ok`` (standard library only, so it costs a fraction of
a second every interval). It is a module
rather than ``python -c "<code>"`` because podman's Docker-compatible API (4.3) splits an
exec-form health check at the spaces inside its arguments; this argv has none.
"""

from __future__ import annotations

import sys

from loadtests.common.net import status_ok

DEFAULT_URL = "http://127.0.0.1:8000/health"
TIMEOUT_S = 2.0  # under the compose file's `timeout: 3s`


def main(argv: list[str] | None = None) -> int:
    """Check the URL given (or the default) and return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        print("usage: python -m loadtests.common.healthcheck [URL]", file=sys.stderr)
        return 2
    return 0 if status_ok(args[0] if args else DEFAULT_URL, TIMEOUT_S) else 1


if __name__ == "__main__":
    raise SystemExit(main())

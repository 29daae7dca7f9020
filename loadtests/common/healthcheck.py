"""Exit 0 if and only if a server's ``GET /health`` answers ``{"status": "ok"}``.

The containers' health check (docker-compose.yml)::

    python -m loadtests.common.healthcheck [URL]     # default http://127.0.0.1:8000/health

Standard library only, so it costs a fraction of a second every interval. It is a module
rather than ``python -c "<code>"`` because podman's Docker-compatible API (4.3) splits an
exec-form health check at the spaces inside its arguments; this argv has none.
"""

from __future__ import annotations

import http.client
import json
import sys
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/health"
TIMEOUT_S = 2.0  # under the compose file's `timeout: 3s`


def healthy(url: str = DEFAULT_URL, timeout: float = TIMEOUT_S) -> bool:
    """Return whether url answers 200 with the JSON object {"status": "ok"}."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
            return response.status == 200 and body == {"status": "ok"}
    except (OSError, ValueError, http.client.HTTPException):
        # Refused, timed out, a non-2xx (HTTPError), not JSON, or a broken answer.
        return False


def main(argv: list[str] | None = None) -> int:
    """Check the URL given (or the default) and return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        print("usage: python -m loadtests.common.healthcheck [URL]", file=sys.stderr)
        return 2
    return 0 if healthy(args[0] if args else DEFAULT_URL) else 1


if __name__ == "__main__":
    raise SystemExit(main())

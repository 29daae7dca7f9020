"""The article's way of running its FastAPI app: ``uvicorn.run(app)`` with uvicorn's defaults.

``python -m fastapi_app.article --host H --port P`` does what the article's
``if __name__ == "__main__":`` block does, with only host and port set. The article's
text is cut inside that block, so its arguments are inferred: ``uvicorn.run(app)`` with
uvicorn's defaults otherwise (one process; loop and HTTP parser "auto", i.e. uvloop and
httptools when installed; access log on, log level info). Served as the
``article-fastapi`` target; settings come from ``FVF_*`` as usual.
"""

from __future__ import annotations

import argparse

import uvicorn

from fastapi_app.seed import create_app


def main(argv: list[str] | None = None) -> None:
    """Serve the article's FastAPI app with uvicorn.run(app) on host:port until stopped."""
    parser = argparse.ArgumentParser(prog="python -m fastapi_app.article", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    args = parser.parse_args(argv)
    app = create_app()
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()

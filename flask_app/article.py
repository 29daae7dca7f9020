"""The article's way of running its Flask app: ``app.run()``, Werkzeug's development server.

``python -m flask_app.article --host H --port P`` does what the article's
``if __name__ == "__main__":`` block does, with only host and port set. The article's
text is cut inside that block, so its arguments are inferred: ``app.run()`` with Flask's
defaults otherwise (threaded, one process, no debugger, no reloader, one log line per
request). Served as the ``article-flask`` target; settings come from ``FVF_*`` as usual.
"""

from __future__ import annotations

import argparse

from flask_app.seed import create_app


def main(argv: list[str] | None = None) -> None:
    """Serve the article's Flask app with app.run() on host:port until stopped."""
    parser = argparse.ArgumentParser(prog="python -m flask_app.article", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port (default %(default)s)")
    args = parser.parse_args(argv)
    app = create_app()
    app.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()

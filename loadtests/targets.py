"""The targets table: frontend x handler x server, each with its exact start command.

This is the one place a target is defined. ``make serve``, the bench runner, the
integration tests and ``docker-compose.yml`` all read or mirror it (a test checks
the compose file against it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_WORKERS = 1


@dataclass(frozen=True)
class Target:
    """One servable configuration and the command line that starts it."""

    name: str
    framework: str  # "flask" or "fastapi"
    handler: str  # "seed", "def" or "async"
    server: str  # "gunicorn", "uvicorn" or "granian"
    argv: tuple[str, ...]  # with {host}, {port}, {workers} placeholders
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def command(
        self, host: str = "127.0.0.1", port: int = 8000, workers: int = DEFAULT_WORKERS
    ) -> list[str]:
        """Return the argv that starts this target on host:port."""
        values = {"host": host, "port": port, "workers": workers}
        return [part.format(**values) for part in self.argv]


_GUNICORN = (
    "gunicorn",
    "--workers",
    "{workers}",
    "--worker-class",
    "sync",
    "--bind",
    "{host}:{port}",
    "--log-level",
    "warning",
)
_UVICORN = (
    "uvicorn",
    "--factory",
    "--host",
    "{host}",
    "--port",
    "{port}",
    "--workers",
    "{workers}",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
)
_GRANIAN = (
    "granian",
    "--factory",
    "--host",
    "{host}",
    "--port",
    "{port}",
    "--workers",
    "{workers}",
    # Like gunicorn's master, replace a worker that dies (granian's default is to exit).
    "--respawn-failed-workers",
    "--log-level",
    "warning",
)

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "flask-seed",
            "flask",
            "seed",
            "gunicorn",
            (*_GUNICORN, "flask_app.seed:create_app()"),
            description="The article's unvalidated Flask handler, gunicorn sync worker",
        ),
        Target(
            "flask",
            "flask",
            "def",
            "gunicorn",
            (*_GUNICORN, "flask_app.app:create_app()"),
            description="Validated Flask handler, gunicorn sync worker",
        ),
        Target(
            "flask-granian",
            "flask",
            "def",
            "granian",
            (*_GRANIAN, "--interface", "wsgi", "flask_app.app:create_app"),
            description="Validated Flask handler, granian WSGI",
        ),
        Target(
            "fastapi",
            "fastapi",
            "def",
            "uvicorn",
            (*_UVICORN, "fastapi_app.app:create_app"),
            description="FastAPI def handler, uvicorn (uvloop, httptools)",
        ),
        Target(
            "fastapi-async",
            "fastapi",
            "async",
            "uvicorn",
            (*_UVICORN, "fastapi_app.app:create_app"),
            env={"FVF_HANDLER": "async"},
            description="FastAPI async def handler, uvicorn (uvloop, httptools)",
        ),
        Target(
            "fastapi-granian",
            "fastapi",
            "def",
            "granian",
            (*_GRANIAN, "--interface", "asgi", "fastapi_app.app:create_app"),
            description="FastAPI def handler, granian ASGI",
        ),
    )
}


def get_target(name: str) -> Target:
    """Return the target called name, or raise KeyError listing the known names."""
    try:
        return TARGETS[name]
    except KeyError:
        raise KeyError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None

"""The targets table: frontend x handler x server, each with its exact start command.

This is the one place a target is defined. ``make serve``, the bench runner, the
integration tests and ``docker-compose.yml`` all read or mirror it (a test checks
the compose file against it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_WORKERS = 1


@dataclass(frozen=True)
class Versus:
    """A comparison of the target that holds it (numerator) with another (denominator)."""

    name: str  # the pair's id in summary.json and the report
    other: str  # the denominator's target name
    kind: Literal["framework", "other"]  # FastAPI:Flask, or server/handler/validation
    label: str
    note: str  # why the two are comparable


@dataclass(frozen=True)
class Target:
    """One servable configuration, the command line that starts it, and how it is shown."""

    name: str
    framework: str  # "flask" or "fastapi"
    handler: str  # "seed", "def" or "async"
    server: str  # "gunicorn", "uvicorn", "granian" or "werkzeug"
    argv: tuple[str, ...]  # with {host}, {port}, {workers} placeholders
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""
    colour: str = "#000000"  # in every chart (Okabe-Ito, readable with colour blindness)
    versus: tuple[Versus, ...] = ()  # the like-for-like comparisons it is the numerator of
    default: bool = True  # measured by a plain `make bench` (the budget keeps the pairs)
    quick: bool = False  # measured by `make bench QUICK=1` (a minute: the default pair only)
    title: str | None = None  # the label, where framework, server and handler do not say it

    @property
    def label(self) -> str:
        """Return the framework, server and handler in a few words, for tables and charts."""
        if self.title:
            return self.title
        server = {"gunicorn": "gunicorn sync"}.get(self.server, self.server)
        if self.framework == "flask":
            return f"Flask ({server}{', unvalidated' if self.handler == 'seed' else ''})"
        handler = {"seed": "article's app", "def": "def", "async": "async def"}[self.handler]
        return f"FastAPI ({server}, {handler})"

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

# The article's own entry points take only host and port: one process, whatever {workers}.
_HOST_PORT = ("--host", "{host}", "--port", "{port}")
_ONE_PROCESS = "always one process (the workers setting does not apply)"

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
            colour="#CC79A7",
            default=False,
        ),
        Target(
            "flask",
            "flask",
            "def",
            "gunicorn",
            (*_GUNICORN, "flask_app.app:create_app()"),
            description="Validated Flask handler, gunicorn sync worker",
            colour="#E69F00",
            quick=True,
            versus=(
                Versus(
                    "validation",
                    "flask-seed",
                    "other",
                    "validated : seed (Flask, gunicorn)",
                    "the cost of validation",
                ),
            ),
        ),
        Target(
            "flask-granian",
            "flask",
            "def",
            "granian",
            (*_GRANIAN, "--interface", "wsgi", "flask_app.app:create_app"),
            description="Validated Flask handler, granian WSGI",
            colour="#D55E00",
            versus=(
                Versus(
                    "flask_server",
                    "flask",
                    "other",
                    "granian : gunicorn (Flask)",
                    "same app, the server alone",
                ),
            ),
        ),
        Target(
            "fastapi",
            "fastapi",
            "def",
            "uvicorn",
            (*_UVICORN, "fastapi_app.app:create_app"),
            description="FastAPI def handler, uvicorn (uvloop, httptools)",
            colour="#0072B2",
            quick=True,
            versus=(
                Versus(
                    "default",
                    "flask",
                    "framework",
                    "default deployments",
                    "uvicorn vs gunicorn sync: not the same server",
                ),
            ),
        ),
        Target(
            "fastapi-async",
            "fastapi",
            "async",
            "uvicorn",
            (*_UVICORN, "fastapi_app.app:create_app"),
            env={"FVF_HANDLER": "async"},
            description="FastAPI async def handler, uvicorn (uvloop, httptools)",
            colour="#56B4E9",
            versus=(
                Versus(
                    "async",
                    "flask",
                    "framework",
                    "async handler vs Flask",
                    "FastAPI async def (uvicorn) vs Flask (gunicorn sync)",
                ),
                Versus(
                    "handler",
                    "fastapi",
                    "other",
                    "async def : def (FastAPI, uvicorn)",
                    "thread pool vs event loop",
                ),
            ),
        ),
        Target(
            "fastapi-granian",
            "fastapi",
            "def",
            "granian",
            (*_GRANIAN, "--interface", "asgi", "fastapi_app.app:create_app"),
            description="FastAPI def handler, granian ASGI",
            colour="#009E73",
            versus=(
                Versus(
                    "granian",
                    "flask-granian",
                    "framework",
                    "same server (granian)",
                    "same server, def handlers: the framework alone",
                ),
                Versus(
                    "fastapi_server",
                    "fastapi",
                    "other",
                    "granian : uvicorn (FastAPI)",
                    "same app, the server alone",
                ),
            ),
        ),
        Target(
            "fastapi-seed",
            "fastapi",
            "seed",
            "uvicorn",
            (*_UVICORN, "fastapi_app.seed:create_app"),
            description="The article's FastAPI app (lax float fields), uvicorn (uvloop, httptools)",
            colour="#F0E442",
            versus=(
                Versus(
                    "seed",
                    "flask-seed",
                    "framework",
                    "the article's apps",
                    "the article's two handlers, uvicorn vs gunicorn sync: not the same server",
                ),
            ),
            default=False,
        ),
        Target(
            "article-flask",
            "flask",
            "seed",
            "werkzeug",
            ("python", "-m", "flask_app.article", *_HOST_PORT),
            description="The article's Flask handler under app.run(): Werkzeug's development "
            f"server, threaded; {_ONE_PROCESS}",
            colour="#882255",
            title="Flask (app.run(): Werkzeug dev server, unvalidated)",
        ),
        Target(
            "article-fastapi",
            "fastapi",
            "seed",
            "uvicorn",
            ("python", "-m", "fastapi_app.article", *_HOST_PORT),
            description="The article's FastAPI app under uvicorn.run(app) defaults; "
            + _ONE_PROCESS,
            colour="#332288",
            title="FastAPI (uvicorn.run(app) defaults, article's app)",
            versus=(
                Versus(
                    "article",
                    "article-flask",
                    "framework",
                    "as the article ran them",
                    "app.run() (Werkzeug) vs uvicorn.run(app): each as the article started it",
                ),
            ),
        ),
    )
}


DEFAULT_TARGETS: tuple[str, ...] = tuple(t.name for t in TARGETS.values() if t.default)
QUICK_TARGETS: tuple[str, ...] = tuple(t.name for t in TARGETS.values() if t.quick)


def pairs(names: Iterable[str]) -> list[tuple[Target, Versus]]:
    """Return the comparisons among names: FastAPI:Flask ones first, each kind in table order."""
    present = set(names)
    found = [
        (t, v)
        for t in TARGETS.values()
        if t.name in present
        for v in t.versus
        if v.other in present
    ]
    return sorted(found, key=lambda pair: pair[1].kind != "framework")


def get_target(name: str) -> Target:
    """Return the target called name, or raise KeyError listing the known names."""
    try:
        return TARGETS[name]
    except KeyError:
        raise KeyError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None

"""Run-time settings, read once from ``FVF_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, NewType

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = REPO_ROOT / "models"
MAX_BODY_BYTES = 16 * 1024
BACKENDS = ("onnx", "sklearn", "noop")
BURN_PREFIX = "burn:"
# "burn:<microseconds>", checked by Settings; a type of its own so that a type checker
# still refuses a misspelt backend name, as it did when every backend was a literal.
BurnBackend = NewType("BurnBackend", str)


def burn_microseconds(backend: str) -> int | None:
    """Return N for a ``burn:N`` backend (N a positive integer), None for any other name."""
    if not backend.startswith(BURN_PREFIX):
        return None
    digits = backend.removeprefix(BURN_PREFIX)
    if not (digits.isascii() and digits.isdigit()) or int(digits) <= 0:
        raise ValueError(
            f"backend {backend!r}: after {BURN_PREFIX!r} give the CPU time to spend per "
            "prediction in microseconds, a positive integer (e.g. burn:500)"
        )
    return int(digits)


class Settings(BaseSettings):
    """Settings shared by both frontends (env prefix ``FVF_``)."""

    model_config = SettingsConfigDict(env_prefix="FVF_", frozen=True, protected_namespaces=())

    model_dir: Path = DEFAULT_MODEL_DIR
    backend: Literal["onnx", "sklearn", "noop"] | BurnBackend = "onnx"
    handler: Literal["def", "async"] = "def"
    max_body_bytes: int = MAX_BODY_BYTES

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        """Refuse a backend that is neither a known name nor ``burn:<positive integer>``."""
        if value not in BACKENDS and burn_microseconds(value) is None:
            raise ValueError(
                f"unknown backend {value!r}; use one of {', '.join(BACKENDS)} "
                f"or {BURN_PREFIX}<microseconds>"
            )
        return value


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once."""
    return Settings()

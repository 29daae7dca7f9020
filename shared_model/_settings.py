"""Run-time settings, read once from ``FVF_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = REPO_ROOT / "models"
MAX_BODY_BYTES = 16 * 1024


class Settings(BaseSettings):
    """Settings shared by both frontends (env prefix ``FVF_``)."""

    model_config = SettingsConfigDict(env_prefix="FVF_", frozen=True, protected_namespaces=())

    model_dir: Path = DEFAULT_MODEL_DIR
    backend: Literal["onnx", "sklearn", "noop"] = "onnx"
    handler: Literal["def", "async"] = "def"
    max_body_bytes: int = MAX_BODY_BYTES


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once."""
    return Settings()

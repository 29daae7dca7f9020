"""FastAPI frontend of the contract."""

from .app import create_app

__all__ = ["create_app"]

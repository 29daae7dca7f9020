"""Model artifacts on disk: names, checksums, metadata, verified reading.

Nothing is loaded before its SHA-256 matches the one recorded at training time,
and the bytes that were checked are the bytes that get loaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ._messages import MSG_MODEL_MISSING, MSG_MODEL_TAMPERED

ONNX_FILE = "model.onnx"
SKOPS_FILE = "model.skops"
METADATA_FILE = "metadata.json"


class ModelError(RuntimeError):
    """The model cannot be served: missing, tampered with, or untrusted."""


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 of data as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def read_metadata(model_dir: Path) -> dict[str, Any]:
    """Read metadata.json from model_dir, or raise ModelError saying how to train."""
    path = Path(model_dir) / METADATA_FILE
    try:
        metadata: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(MSG_MODEL_MISSING.format(path=model_dir)) from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot read {path}: {exc}. Retrain with `make train`.") from None
    if not isinstance(metadata.get("artifacts"), dict):
        raise ModelError(f"{path} has no 'artifacts' section. Retrain with `make train`.")
    return metadata


def read_verified(model_dir: Path, filename: str) -> bytes:
    """Return the bytes of one artifact after checking them against metadata.json."""
    model_dir = Path(model_dir)
    metadata = read_metadata(model_dir)
    entry = metadata["artifacts"].get(filename)
    if not isinstance(entry, dict) or "sha256" not in entry:
        raise ModelError(f"{model_dir / METADATA_FILE} records no checksum for {filename}.")
    path = model_dir / filename
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(MSG_MODEL_MISSING.format(path=model_dir)) from None
    found = sha256_hex(data)
    if found != entry["sha256"]:
        raise ModelError(
            MSG_MODEL_TAMPERED.format(
                path=path, metadata=METADATA_FILE, expected=entry["sha256"], found=found
            )
        )
    return data


def write_artifacts(
    model_dir: Path, blobs: dict[str, bytes], metadata: dict[str, Any]
) -> dict[str, Any]:
    """Write each artifact and a metadata.json recording their sizes and checksums."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    artifacts = {}
    for name, data in blobs.items():
        (model_dir / name).write_bytes(data)
        artifacts[name] = {"sha256": sha256_hex(data), "bytes": len(data)}
    full = {**metadata, "artifacts": artifacts}
    (model_dir / METADATA_FILE).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return full

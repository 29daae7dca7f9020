"""Train the model and write its artifacts: ``python -m shared_model.train --help``.

Fits the article's GradientBoostingClassifier (100 trees, depth 3, learning rate 0.1)
on 67 % of the data, scores the other 33 %, and writes ``model.onnx`` (served),
``model.skops`` (the scikit-learn object) and ``metadata.json``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

from ._artifacts import ONNX_FILE, SKOPS_FILE, write_artifacts
from ._data import Dataset, load_cardio_csv
from ._schema import FEATURE_ORDER, FIELD_NAMES
from ._settings import DEFAULT_MODEL_DIR
from ._synthetic import make_synthetic

TEST_SIZE = 0.33
DEFAULT_SEED = 1
DEFAULT_ROWS = 70_000
_VERSIONED = ("scikit-learn", "numpy", "skl2onnx", "onnx", "onnxruntime", "skops")


@dataclass
class Fitted:
    """A fitted estimator with its held-out split and scores."""

    estimator: GradientBoostingClassifier
    X_test: np.ndarray
    y_test: np.ndarray
    accuracy: float
    roc_auc: float
    train_rows: int
    seconds: float


def fit(dataset: Dataset, seed: int = DEFAULT_SEED) -> Fitted:
    """Split as the article did (33 % held out), fit the classifier and score it."""
    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X, dataset.y, test_size=TEST_SIZE, random_state=seed
    )
    started = time.perf_counter()
    estimator = GradientBoostingClassifier(
        n_estimators=100, max_depth=3, learning_rate=0.1, random_state=seed
    ).fit(X_train, y_train)
    seconds = time.perf_counter() - started
    accuracy = float(accuracy_score(y_test, estimator.predict(X_test)))
    roc_auc = float(roc_auc_score(y_test, estimator.predict_proba(X_test)[:, 1]))
    return Fitted(estimator, X_test, y_test, accuracy, roc_auc, len(y_train), seconds)


def to_onnx(estimator: GradientBoostingClassifier) -> bytes:
    """Convert the estimator to ONNX: float32 input, label and probabilities out."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    model = convert_sklearn(
        estimator,
        initial_types=[("input", FloatTensorType([None, len(FEATURE_ORDER)]))],
        options={id(estimator): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return bytes(model.SerializeToString())


def to_skops(estimator: GradientBoostingClassifier) -> bytes:
    """Serialise the estimator with skops, a format that cannot run code on load."""
    import skops.io

    return bytes(skops.io.dumps(estimator))


def export(fitted: Fitted, dataset: Dataset, model_dir: Path, seed: int) -> dict[str, Any]:
    """Write the ONNX model, the skops file and metadata.json into model_dir."""
    metadata = {
        "model": "GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1)",
        "feature_order": list(FEATURE_ORDER),
        "field_names": list(FIELD_NAMES),
        "data_source": dataset.source,
        "synthetic": dataset.source.startswith("synthetic"),
        "rows": len(dataset.y),
        "raw_rows": dataset.raw_rows,
        "train_rows": fitted.train_rows,
        "test_rows": len(fitted.y_test),
        "seed": seed,
        "test_size": TEST_SIZE,
        "held_out_accuracy": round(fitted.accuracy, 6),
        "held_out_roc_auc": round(fitted.roc_auc, 6),
        "fit_seconds": round(fitted.seconds, 3),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": {name: version(name) for name in _VERSIONED},
    }
    blobs = {ONNX_FILE: to_onnx(fitted.estimator), SKOPS_FILE: to_skops(fitted.estimator)}
    return write_artifacts(model_dir, blobs, metadata)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of the training script."""
    parser = argparse.ArgumentParser(
        prog="python -m shared_model.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--data", type=Path, help="the real cardio_train.csv (';' or ','); default: synthetic"
    )
    parser.add_argument(
        "--rows", type=int, default=DEFAULT_ROWS, help="synthetic rows (default %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="split, model and generator seed"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_MODEL_DIR, help="model folder (default: models/)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Train, export and print the held-out scores."""
    args = build_parser().parse_args(argv)
    try:
        dataset = load_cardio_csv(args.data) if args.data else make_synthetic(args.rows, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fitted = fit(dataset, args.seed)
    metadata = export(fitted, dataset, args.out, args.seed)
    print(
        f"trained on {metadata['data_source']}: {metadata['rows']} rows, "
        f"held-out accuracy {fitted.accuracy:.4f}, ROC AUC {fitted.roc_auc:.4f} "
        f"({fitted.seconds:.1f} s) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

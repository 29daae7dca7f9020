"""One ``predict`` for both frontends, over three interchangeable backends.

- ``onnx`` (default): ONNX Runtime, one single-threaded session: 20-36 us a row on the
  reference machine, against 500-740 us for ``predict_proba``, almost all of it
  scikit-learn's fixed per-call overhead (benchmarks/test_model.py).
- ``sklearn``: the scikit-learn estimator itself, loaded with skops (no pickle).
- ``noop``: a constant answer through the same code path, the control that isolates
  the model's cost in the HTTP benchmarks.
- ``burn:<microseconds>``: the noop answer after spinning that much CPU time in a
  pure-Python loop, holding the GIL as a pure-Python model would: a model of known cost
  for the model-cost sweep (loadtests/bench/sweep.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ._artifacts import ONNX_FILE, SKOPS_FILE, ModelError, read_metadata, read_verified
from ._messages import MSG_MODEL_UNTRUSTED, STATEMENTS
from ._settings import Settings, burn_microseconds, get_settings

# skops refuses unknown types unless trusted; only scikit-learn and numpy are.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.")


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one patient."""

    label: int
    probability: float
    statement: str

    def as_response(self) -> dict[str, Any]:
        """Return the JSON body of the contract's 200 response."""
        return {"prediction": self.statement, "label": self.label, "probability": self.probability}

    def as_dict(self) -> dict[str, Any]:
        """Return every field as a plain dict."""
        return asdict(self)


def _make(label: int, probability: float) -> Prediction:
    return Prediction(label, probability, STATEMENTS[label])


class Predictor:
    """A loaded model backend: ``predict(features)`` for one row of ten numbers."""

    backend: str
    metadata: dict[str, Any]

    def __init__(self, backend: str, model_dir: Path) -> None:
        self.backend = backend
        burn = burn_microseconds(backend)
        self.metadata = {} if backend == "noop" or burn else read_metadata(model_dir)
        self._predict_row: Callable[[Sequence[float]], Prediction]
        if burn:
            self._predict_row = self._load_burn(burn)
        else:
            self._predict_row = {
                "onnx": self._load_onnx,
                "sklearn": self._load_sklearn,
                "noop": self._load_noop,
            }[backend](Path(model_dir))

    def predict(self, features: Sequence[float]) -> Prediction:
        """Predict the label, probability and statement for one row of features."""
        return self._predict_row(features)

    def predict_labels(self, rows: np.ndarray) -> np.ndarray:
        """Predict the labels of many rows at once (used by tests and benches)."""
        return np.array([self._predict_row(row).label for row in rows])

    @staticmethod
    def _load_noop(model_dir: Path) -> Callable[[Sequence[float]], Prediction]:
        constant = _make(0, 0.0)
        return lambda features: constant

    @staticmethod
    def _load_burn(microseconds: int) -> Callable[[Sequence[float]], Prediction]:
        constant = _make(0, 0.0)
        budget_ns = microseconds * 1000
        clock = time.thread_time_ns  # this thread's CPU time: time spent preempted is not counted

        def predict_row(features: Sequence[float]) -> Prediction:
            deadline = clock() + budget_ns
            while clock() < deadline:
                pass
            return constant

        return predict_row

    @staticmethod
    def _load_onnx(model_dir: Path) -> Callable[[Sequence[float]], Prediction]:
        import onnxruntime as ort

        data = read_verified(model_dir, ONNX_FILE)
        options = ort.SessionOptions()
        # One thread: the server gets one core per worker; threads would only contend.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"ONNX Runtime cannot load {ONNX_FILE}: {exc}") from None
        input_name = session.get_inputs()[0].name
        run = session.run

        def predict_row(features: Sequence[float]) -> Prediction:
            row = np.asarray(features, dtype=np.float32).reshape(1, -1)
            labels, probabilities = run(None, {input_name: row})
            return _make(int(labels[0]), float(probabilities[0, 1]))

        return predict_row

    @staticmethod
    def _load_sklearn(model_dir: Path) -> Callable[[Sequence[float]], Prediction]:
        estimator = load_estimator(model_dir)

        def predict_row(features: Sequence[float]) -> Prediction:
            row = np.asarray(features, dtype=np.float64).reshape(1, -1)
            probabilities = estimator.predict_proba(row)[0]
            label = int(estimator.classes_[int(np.argmax(probabilities))])
            return _make(label, float(probabilities[1]))

        return predict_row


def load_estimator(model_dir: Path) -> Any:
    """Load the scikit-learn estimator from model.skops, verified and allow-listed."""
    import skops.io

    data = read_verified(model_dir, SKOPS_FILE)
    untrusted = skops.io.get_untrusted_types(data=data)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if refused:
        raise ModelError(MSG_MODEL_UNTRUSTED.format(path=SKOPS_FILE, types=refused))
    return skops.io.loads(data, trusted=untrusted)


@lru_cache(maxsize=8)
def _cached(backend: str, model_dir: Path) -> Predictor:
    return Predictor(backend, model_dir)


def load_predictor(settings: Settings | None = None) -> Predictor:
    """Return the predictor for the settings' backend and model folder (loaded once)."""
    settings = settings or get_settings()
    return _cached(settings.backend, Path(settings.model_dir).resolve())


def predict(features: Sequence[float], settings: Settings | None = None) -> Prediction:
    """Predict one row of ten features (in ``FEATURE_ORDER``) with the configured backend."""
    return load_predictor(settings).predict(features)

"""Model cost alone: one prediction of the example on each backend."""

from __future__ import annotations

import pytest

from shared_model import Settings, load_predictor
from shared_model._synthetic import make_synthetic


@pytest.mark.benchmark(group="model")
@pytest.mark.parametrize("backend", ["onnx", "sklearn", "noop"])
def test_predict(benchmark, settings: Settings, features: tuple[float, ...], backend: str) -> None:
    predictor = load_predictor(settings.model_copy(update={"backend": backend}))
    prediction = benchmark(predictor.predict, features)
    assert prediction.label in (0, 1)
    assert 0.0 <= prediction.probability <= 1.0
    if backend != "noop":
        reference = load_predictor(settings.model_copy(update={"backend": "sklearn"}))
        assert prediction.label == reference.predict(features).label


@pytest.mark.benchmark(group="data")
def test_make_synthetic(benchmark) -> None:
    dataset = benchmark(make_synthetic, 70_000, 2)
    assert dataset.X.shape == (70_000, 10)

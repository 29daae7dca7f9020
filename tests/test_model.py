"""The model package: training, artifacts, verification and the two backends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

import shared_model
from shared_model import (
    EXAMPLE,
    FIELD_NAMES,
    METADATA_FILE,
    ModelError,
    Settings,
    predict,
    read_metadata,
)
from shared_model._artifacts import ONNX_FILE, SKOPS_FILE
from shared_model._messages import STATEMENT_NEGATIVE, STATEMENT_POSITIVE, STATEMENTS
from shared_model._predict import Predictor, load_estimator
from shared_model._synthetic import make_synthetic
from shared_model.train import TEST_SIZE, main

EXAMPLE_ROW = [float(EXAMPLE[name]) for name in FIELD_NAMES]


def held_out(model_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild the held-out split of a model trained on synthetic data."""
    metadata = read_metadata(model_dir)
    assert metadata["synthetic"], "these checks need a model trained on synthetic data"
    data = make_synthetic(metadata["rows"], metadata["seed"])
    _, X_test, _, y_test = train_test_split(
        data.X, data.y, test_size=TEST_SIZE, random_state=metadata["seed"]
    )
    return X_test, y_test


def test_each_label_is_served_with_its_statement(model_dir: Path) -> None:
    """Over the held-out rows both labels occur, each answered with its own statement."""
    X_test, _ = held_out(model_dir)
    predictor = Predictor("onnx", model_dir)
    served = {}
    for row in X_test[:400]:
        prediction = predictor.predict(row)
        served.setdefault(prediction.label, prediction.as_response()["prediction"])
    assert served == {0: STATEMENT_NEGATIVE, 1: STATEMENT_POSITIVE}
    assert "consult a doctor" in served[1]
    assert "will not suffer" in served[0]


def test_metadata_records_what_was_trained(model_dir: Path) -> None:
    metadata = read_metadata(model_dir)
    assert metadata["feature_order"] == [
        "age", "gender", "height", "weight", "ap_hi", "ap_lo", "cholesterol", "gluc", "smoke",
        "alco",
    ]  # fmt: skip
    assert metadata["field_names"] == list(FIELD_NAMES)
    assert 0.5 < metadata["held_out_accuracy"] <= 1
    assert 0.5 < metadata["held_out_roc_auc"] <= 1
    assert metadata["rows"] == metadata["train_rows"] + metadata["test_rows"]
    assert set(metadata["artifacts"]) == {ONNX_FILE, SKOPS_FILE}
    for name, entry in metadata["artifacts"].items():
        assert (model_dir / name).stat().st_size == entry["bytes"]
        assert len(entry["sha256"]) == 64
    assert {"scikit-learn", "onnxruntime", "skops", "skl2onnx"} <= set(metadata["versions"])


@pytest.mark.parametrize("backend", ["onnx", "sklearn"])
def test_predict_returns_label_probability_statement(model_dir: Path, backend: str) -> None:
    prediction = predict(EXAMPLE_ROW, Settings(model_dir=model_dir, backend=backend))
    assert prediction.label in (0, 1)
    assert 0 <= prediction.probability <= 1
    assert (prediction.probability > 0.5) == bool(prediction.label)
    assert prediction.statement == STATEMENTS[prediction.label]


def test_backends_agree_on_the_example(model_dir: Path) -> None:
    onnx = Predictor("onnx", model_dir).predict(EXAMPLE_ROW)
    sklearn = Predictor("sklearn", model_dir).predict(EXAMPLE_ROW)
    assert onnx.label == sklearn.label
    assert onnx.probability == pytest.approx(sklearn.probability, abs=1e-5)


def test_onnx_gives_sklearn_label_on_every_held_out_row(model_dir: Path) -> None:
    """The fast serving path, one row at a time as served, equals estimator.predict."""
    X_test, _ = held_out(model_dir)
    expected = load_estimator(model_dir).predict(X_test)
    served = Predictor("onnx", model_dir).predict_labels(X_test)
    mismatches = np.flatnonzero(served != expected)
    assert mismatches.size == 0, f"{mismatches.size} of {len(X_test)} rows differ"


def test_noop_backend_needs_no_model(tmp_path: Path) -> None:
    prediction = Predictor("noop", tmp_path / "absent").predict(EXAMPLE_ROW)
    assert (prediction.label, prediction.probability) == (0, 0.0)
    assert prediction.statement == STATEMENT_NEGATIVE


def test_training_is_deterministic(tmp_path: Path) -> None:
    rows = np.asarray(make_synthetic(500, seed=7).X)
    predictions = []
    for run in ("a", "b"):
        assert main(["--rows", "4000", "--seed", "3", "--out", str(tmp_path / run)]) == 0
        predictor = Predictor("onnx", tmp_path / run)
        predictions.append([predictor.predict(row) for row in rows])
    assert predictions[0] == predictions[1]
    first, second = (read_metadata(tmp_path / run) for run in ("a", "b"))
    assert first["held_out_accuracy"] == second["held_out_accuracy"]


@pytest.fixture
def model_copy(model_dir: Path, tmp_path: Path) -> Path:
    """Return a private copy of the trained model that a test may damage."""
    return Path(shutil.copytree(model_dir, tmp_path / "model"))


@pytest.mark.parametrize(("backend", "artifact"), [("onnx", ONNX_FILE), ("sklearn", SKOPS_FILE)])
def test_tampered_artifact_is_refused(model_copy: Path, backend: str, artifact: str) -> None:
    data = bytearray((model_copy / artifact).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_copy / artifact).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"does not match the SHA-256.*make train"):
        Predictor(backend, model_copy)


def test_swapped_checksum_is_refused(model_copy: Path) -> None:
    metadata = json.loads((model_copy / METADATA_FILE).read_text())
    metadata["artifacts"][ONNX_FILE]["sha256"] = "0" * 64
    (model_copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match="refusing to load"):
        Predictor("onnx", model_copy)


def test_missing_model_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="make train"):
        Predictor("onnx", tmp_path)


def test_frontends_refuse_to_start_without_a_model(tmp_path: Path) -> None:
    from fastapi_app import create_app as create_fastapi
    from flask_app import create_app as create_flask

    for create in (create_flask, create_fastapi):
        with pytest.raises(ModelError, match="make train"):
            create(Settings(model_dir=tmp_path / "none"))


def test_train_cli_reports_a_bad_data_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cardio.csv"
    bad.write_text("not,a,cardio,file\n1,2,3,4\n")
    assert main(["--data", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_no_pickle_in_the_serving_path() -> None:
    """Artifacts are never unpickled: skops and ONNX only."""
    package = Path(shared_model.__file__).parent
    for source in package.glob("*.py"):
        text = source.read_text()
        assert "pickle.load" not in text, source
        assert "joblib.load" not in text, source

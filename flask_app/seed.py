"""The article's handler, kept as it was: each field through ``float()``, no checks.

Served as the ``flask-seed`` target (and, under ``app.run()``, ``article-flask``) so the
report can show what the article showed: a string where a number belongs crashes the
handler with a 500.
"""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from shared_model import FIELD_NAMES, Settings, get_settings, load_predictor


def create_app(settings: Settings | None = None) -> Flask:
    """Build the article's app on the JSON contract, with the shared model."""
    settings = settings or get_settings()
    predictor = load_predictor(settings)
    app = Flask(__name__)

    @app.post("/predict")
    def predict() -> ResponseReturnValue:
        """Predict from one JSON body, as the article did (no validation)."""
        data = request.get_json()
        features = [float(data[name]) for name in FIELD_NAMES]
        prediction = predictor.predict(features)
        return jsonify(
            prediction=prediction.statement,
            label=prediction.label,
            probability=prediction.probability,
        )

    @app.get("/health")
    def health() -> ResponseReturnValue:
        """Report that the server is up."""
        return {"status": "ok"}

    return app

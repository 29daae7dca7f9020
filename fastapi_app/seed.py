"""The article's app, kept as it was: every field a ``float`` in a plain pydantic model.

Served as the ``fastapi-seed`` target (and, under ``uvicorn.run(app)``, ``article-fastapi``)
so the report can show what the article showed: pydantic's lax mode takes "52", " 52 ",
true, -5, 1e308, "NaN" and "inf" and ignores unknown fields; only null, a non-numeric
string, a list or an object get FastAPI's own 422. A value the model cannot take (NaN
with the sklearn backend) is a 500, shown, never fixed.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import create_model

from shared_model import FIELD_NAMES, Settings, get_settings, load_predictor

# The article's request body: ten float fields, pydantic's defaults (lax, extras ignored).
_FIELDS: dict[str, Any] = dict.fromkeys(FIELD_NAMES, (float, ...))
RequestBody = create_model("request_body", **_FIELDS)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the article's app on the JSON contract, with the shared model."""
    settings = settings or get_settings()
    predictor = load_predictor(settings)
    app = FastAPI()

    # The article declared no response model; None keeps the return annotation from adding one.
    @app.post("/predict", response_model=None)
    def predict(data: RequestBody) -> dict[str, Any]:  # type: ignore[valid-type]
        """Predict from one JSON body, as the article did (lax float fields)."""
        # .dict() is deprecated since pydantic 2 (a DeprecationWarning); the article called it.
        values = data.dict()  # type: ignore[attr-defined]
        features = [values[name] for name in FIELD_NAMES]
        prediction = predictor.predict(features)
        return {"prediction": prediction.statement}

    @app.get("/health", response_model=None)
    async def health() -> dict[str, str]:
        """Report that the server is up."""
        return {"status": "ok"}

    return app

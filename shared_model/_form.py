"""The article's HTML form: one template and one submit routine for both frontends."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._errors import validation_detail
from ._messages import MSG_FORM_INTEGER, MSG_FORM_NUMBER, MSG_FORM_REQUIRED
from ._predict import Prediction, Predictor
from ._schema import FIELDS, PatientIn

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
FORM_TEMPLATE = "form.html"


def form_context(
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    prediction: Prediction | None = None,
) -> dict[str, Any]:
    """Return the template context of the form page."""
    return {
        "fields": FIELDS,
        "values": dict(values or {}),
        "errors": dict(errors or {}),
        "prediction": prediction,
    }


def _convert(kind: str, text: str) -> tuple[int | float | None, str | None]:
    """Convert one form string to a number, or return the field's message."""
    if not text:
        return None, MSG_FORM_REQUIRED
    try:
        value: int | float = int(text) if kind == "int" else float(text)
    except ValueError:
        return None, MSG_FORM_INTEGER if kind == "int" else MSG_FORM_NUMBER
    if isinstance(value, float) and not math.isfinite(value):
        return None, MSG_FORM_NUMBER
    return value, None


def submit_form(form: Mapping[str, str], predictor: Predictor) -> dict[str, Any]:
    """Validate a submitted form and return the page's context: result or messages."""
    values = {spec.name: str(form.get(spec.name, "")).strip() for spec in FIELDS}
    payload: dict[str, int | float] = {}
    errors: dict[str, str] = {}
    for spec in FIELDS:
        number, message = _convert(spec.kind, values[spec.name])
        if message is not None:
            errors[spec.name] = message
        elif number is not None:
            payload[spec.name] = number
    try:
        patient = PatientIn.model_validate(payload)
    except ValidationError as exc:
        for item in validation_detail(exc.errors(include_url=False), prefix=()):
            name = str(item["loc"][0]) if item["loc"] else ""
            errors.setdefault(name, item["msg"])
        return form_context(values, errors)
    if errors:
        return form_context(values, errors)
    return form_context(values, errors, predictor.predict(patient.features()))

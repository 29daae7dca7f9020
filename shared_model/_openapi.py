"""The contract's OpenAPI document, built from the schema; both frontends serve it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from ._schema import EXAMPLE, HealthOut, PatientIn, PredictionOut

TITLE = "Cardiovascular disease prediction"
VERSION = "1.0.0"


class ErrorItem(BaseModel):
    """One offending part of a request."""

    loc: list[str | int] = Field(description="Where: ['body', field] or ['header', name]")
    msg: str
    type: str
    input: Any = Field(default=None, description="A short excerpt of the offending value")


class ErrorBody(BaseModel):
    """The body of every 4xx answer of the contract."""

    detail: list[ErrorItem]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


@lru_cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of the JSON contract."""
    schemas: dict[str, Any] = {}
    for model in (PatientIn, PredictionOut, HealthOut, ErrorBody):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    errors = {
        "413": _json("ErrorBody", "Body larger than 16 KiB (not read)"),
        "415": _json("ErrorBody", "Content-Type is not application/json"),
        "422": _json("ErrorBody", "Invalid body: every offending field is named"),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Predicts cardiovascular disease from ten inputs. "
            "Served identically by the Flask and the FastAPI frontend.",
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict",
                    "operationId": "predict",
                    "description": "Predict from one JSON body.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref("PatientIn"), "example": EXAMPLE}
                        },
                    },
                    "responses": {"200": _json("PredictionOut", "The prediction"), **errors},
                }
            },
            "/health": {
                "get": {
                    "summary": "Health",
                    "operationId": "health",
                    "description": "Report that the server is up.",
                    "responses": {"200": _json("HealthOut", "The server is up")},
                }
            },
        },
        "components": {"schemas": schemas},
    }

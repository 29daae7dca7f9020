"""The model, the contract and the messages shared by both frontends.

The names below are what the frontends, the load tests and the benches use; tests reach
the private modules (``shared_model._schema`` and so on) for anything else.
"""

from ._artifacts import METADATA_FILE, ModelError, read_metadata
from ._body import (
    decode_json,
    is_json_content_type,
    parse_body,
    too_large,
    unsupported_media_type,
    validate_payload,
)
from ._docs import ASSETS_URL, DOCS_URL, REDOC_URL, docs_asset, redoc_page, swagger_ui_page
from ._errors import ContractError, http_error, method_not_allowed, validation_detail
from ._form import FORM_TEMPLATE, TEMPLATE_DIR, form_context, submit_form
from ._openapi import openapi_document
from ._predict import load_predictor, predict
from ._schema import EXAMPLE, FIELD_NAMES, FIELDS, FieldSpec, HealthOut, PatientIn, PredictionOut
from ._settings import MAX_BODY_BYTES, Settings, get_settings

__all__ = [
    "ASSETS_URL",
    "DOCS_URL",
    "EXAMPLE",
    "FIELDS",
    "FIELD_NAMES",
    "FORM_TEMPLATE",
    "MAX_BODY_BYTES",
    "METADATA_FILE",
    "REDOC_URL",
    "TEMPLATE_DIR",
    "ContractError",
    "FieldSpec",
    "HealthOut",
    "ModelError",
    "PatientIn",
    "PredictionOut",
    "Settings",
    "decode_json",
    "docs_asset",
    "form_context",
    "get_settings",
    "http_error",
    "is_json_content_type",
    "load_predictor",
    "method_not_allowed",
    "openapi_document",
    "parse_body",
    "predict",
    "read_metadata",
    "redoc_page",
    "submit_form",
    "swagger_ui_page",
    "too_large",
    "unsupported_media_type",
    "validate_payload",
    "validation_detail",
]

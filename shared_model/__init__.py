"""The model, the contract and the messages shared by both frontends."""

from ._artifacts import METADATA_FILE, ONNX_FILE, SKOPS_FILE, ModelError, read_metadata
from ._errors import (
    ContractError,
    error_item,
    http_error,
    is_json_content_type,
    loads_json,
    parse_json,
    too_large,
    unsupported_media_type,
    validate_payload,
    validation_detail,
)
from ._form import FORM_TEMPLATE, TEMPLATE_DIR, form_context, submit_form
from ._messages import STATEMENT_NEGATIVE, STATEMENT_POSITIVE, STATEMENTS
from ._openapi import ErrorBody, openapi_document
from ._predict import Prediction, Predictor, load_estimator, load_predictor, predict
from ._schema import (
    EXAMPLE,
    FEATURE_ORDER,
    FIELD_NAMES,
    FIELDS,
    FieldSpec,
    HealthOut,
    PatientIn,
    PredictionOut,
)
from ._settings import MAX_BODY_BYTES, Settings, get_settings

__all__ = [
    "EXAMPLE",
    "FEATURE_ORDER",
    "FIELDS",
    "FIELD_NAMES",
    "FORM_TEMPLATE",
    "MAX_BODY_BYTES",
    "METADATA_FILE",
    "ONNX_FILE",
    "SKOPS_FILE",
    "STATEMENTS",
    "STATEMENT_NEGATIVE",
    "STATEMENT_POSITIVE",
    "TEMPLATE_DIR",
    "ContractError",
    "ErrorBody",
    "FieldSpec",
    "HealthOut",
    "ModelError",
    "PatientIn",
    "Prediction",
    "PredictionOut",
    "Predictor",
    "Settings",
    "error_item",
    "form_context",
    "get_settings",
    "http_error",
    "is_json_content_type",
    "load_estimator",
    "load_predictor",
    "loads_json",
    "openapi_document",
    "parse_json",
    "predict",
    "read_metadata",
    "submit_form",
    "too_large",
    "unsupported_media_type",
    "validate_payload",
    "validation_detail",
]

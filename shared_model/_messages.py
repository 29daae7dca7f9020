"""User-facing strings: the two result statements and the error messages."""

from typing import Final

STATEMENT_NEGATIVE: Final = (
    "Result: the model predicts you will not suffer a cardiac arrest, "
    "but you should still take care of yourself."
)
STATEMENT_POSITIVE: Final = (
    "Result: you should consult a doctor: the model predicts you will suffer a cardiac arrest."
)
STATEMENTS: Final = {0: STATEMENT_NEGATIVE, 1: STATEMENT_POSITIVE}

MSG_JSON_INVALID: Final = "JSON decode error"
MSG_BODY_MISSING: Final = "Field required"
MSG_MORE_ERRORS: Final = "{count} more errors not listed"
MSG_TOO_LARGE: Final = "Request body is larger than {limit} bytes"
MSG_UNSUPPORTED_MEDIA: Final = "Content-Type must be application/json"
MSG_DIASTOLIC: Final = "Lower_blood_pressure must be below Upper_blood_pressure ({systolic})"
MSG_NOT_FOUND: Final = "Not Found"
MSG_METHOD: Final = "Method Not Allowed"
MSG_INTERNAL: Final = "Internal Server Error"

MSG_FORM_REQUIRED: Final = "Please enter a value."
MSG_FORM_INTEGER: Final = "Please enter a whole number."
MSG_FORM_NUMBER: Final = "Please enter a number."

MSG_MODEL_MISSING: Final = (
    "No trained model in {path}: run `make train` (or `python -m shared_model.train`) first."
)
MSG_MODEL_TAMPERED: Final = (
    "Model artifact {path} does not match the SHA-256 recorded in {metadata} "
    "(expected {expected}, found {found}): refusing to load it. "
    "Retrain with `make train`."
)
MSG_MODEL_UNTRUSTED: Final = (
    "Model artifact {path} contains types outside the allow-list ({types}): refusing to load it."
)

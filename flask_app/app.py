"""Flask frontend: the JSON contract, the HTML form and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from shared_model import (
    FORM_TEMPLATE,
    TEMPLATE_DIR,
    ContractError,
    Settings,
    form_context,
    get_settings,
    http_error,
    is_json_content_type,
    load_predictor,
    openapi_document,
    parse_json,
    submit_form,
    too_large,
    unsupported_media_type,
    validate_payload,
)

ErrorResponse = tuple[dict[str, Any], int]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; the model is loaded (and verified) here, once per worker."""
    settings = settings or get_settings()
    predictor = load_predictor(settings)
    app = Flask(__name__, template_folder=str(TEMPLATE_DIR))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes

    @app.get("/")
    def form() -> str:
        """Show the empty form."""
        return render_template(FORM_TEMPLATE, **form_context())

    @app.post("/")
    def submit() -> str:
        """Show the form again with the statement, or with a message by each bad field."""
        return render_template(FORM_TEMPLATE, **submit_form(request.form, predictor))

    @app.post("/predict")
    def predict() -> dict[str, Any]:
        """Predict from one JSON body."""
        patient = validate_payload(parse_json(read_json_body()))
        return predictor.predict(patient.features()).as_response()

    @app.get("/health")
    def health() -> dict[str, str]:
        """Report that the server is up."""
        return {"status": "ok"}

    @app.get("/openapi.json")
    def openapi() -> dict[str, Any]:
        """Serve the contract's OpenAPI document."""
        return openapi_document()

    def read_json_body() -> bytes:
        """Return the body: 413 past the limit (checked before reading), 415 unless JSON."""
        if request.content_length is None and request.environ.get("wsgi.input_terminated"):
            # werkzeug cuts a streamed (chunked) body at MAX_CONTENT_LENGTH without an
            # error, so count it here: one byte past the limit is a 413.
            raw = request.environ["wsgi.input"].read(settings.max_body_bytes + 1)
            if len(raw) > settings.max_body_bytes:
                raise too_large(settings.max_body_bytes)
        else:
            raw = request.get_data(cache=False)
        if not is_json_content_type(request.headers.get("content-type")):
            raise unsupported_media_type(request.headers.get("content-type"))
        return raw

    @app.errorhandler(ContractError)
    def contract_error(exc: ContractError) -> ErrorResponse:
        """Answer a refused request in the contract's error shape."""
        return exc.body(), exc.status

    @app.errorhandler(HTTPException)
    def http_exception(exc: HTTPException) -> ErrorResponse:
        """Answer 404, 405, 413 and 500 in the contract's error shape, never a debug page."""
        status = exc.code or 500
        error = (
            too_large(settings.max_body_bytes) if status == 413 else http_error(status, exc.name)
        )
        return error.body(), error.status

    return app

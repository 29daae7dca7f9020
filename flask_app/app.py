"""Flask frontend: the JSON contract, the HTML form, the OpenAPI document and its pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request, send_file
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from shared_model import (
    ASSETS_URL,
    DOCS_URL,
    FORM_TEMPLATE,
    REDOC_URL,
    TEMPLATE_DIR,
    ContractError,
    Settings,
    docs_asset,
    form_context,
    get_settings,
    http_error,
    is_json_content_type,
    load_predictor,
    method_not_allowed,
    openapi_document,
    parse_body,
    redoc_page,
    submit_form,
    swagger_ui_page,
    too_large,
    unsupported_media_type,
    validate_payload,
)

ErrorResponse = tuple[dict[str, Any], int, dict[str, str]]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; the model is loaded (and verified) here, once per worker."""
    settings = settings or get_settings()
    predictor = load_predictor(settings)
    app = Flask(__name__, template_folder=str(TEMPLATE_DIR))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # FastAPI answers OPTIONS with 405 too: no automatic OPTIONS route, so Allow matches.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False

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
        patient = validate_payload(parse_body(read_json_body()))
        return predictor.predict(patient.features()).as_response()

    @app.get("/health")
    def health() -> dict[str, str]:
        """Report that the server is up."""
        return {"status": "ok"}

    @app.get("/openapi.json")
    def openapi() -> dict[str, Any]:
        """Serve the contract's OpenAPI document."""
        return openapi_document()

    @app.get(DOCS_URL)
    def docs() -> Response:
        """Show the document in Swagger UI, assets served locally."""
        return Response(swagger_ui_page(), mimetype="text/html")

    @app.get(REDOC_URL)
    def redoc() -> Response:
        """Show the document in ReDoc, assets served locally."""
        return Response(redoc_page(), mimetype="text/html")

    @app.get(f"{ASSETS_URL}/<name>")
    def docs_assets(name: str) -> Response:
        """Serve one JavaScript, CSS or icon file of the docs pages."""
        path = docs_asset(name)
        if path is None:
            raise http_error(404)
        return send_file(path, max_age=86400)

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
        return exc.body(), exc.status, exc.headers

    @app.errorhandler(HTTPException)
    def http_exception(exc: HTTPException) -> ErrorResponse:
        """Answer 404, 405, 413 and 500 in the contract's error shape, never a debug page."""
        status = exc.code or 500
        if status == 413:
            error = too_large(settings.max_body_bytes)
        elif isinstance(exc, MethodNotAllowed):
            error = method_not_allowed(exc.valid_methods or ())
        else:
            error = http_error(status)
        return contract_error(error)

    return app

"""FastAPI frontend: the JSON contract, the HTML form and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared_model import (
    FORM_TEMPLATE,
    TEMPLATE_DIR,
    ContractError,
    HealthOut,
    PatientIn,
    PredictionOut,
    Settings,
    form_context,
    get_settings,
    http_error,
    is_json_content_type,
    load_predictor,
    loads_json,
    openapi_document,
    submit_form,
    too_large,
    unsupported_media_type,
    validation_detail,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the model is loaded (and verified) here, once per worker."""
    settings = settings or get_settings()
    predictor = load_predictor(settings)
    app = FastAPI()
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.router.route_class = ContractRoute
    app.openapi = openapi_document  # type: ignore[method-assign]  # FastAPI's recipe
    templates = Jinja2Templates(directory=TEMPLATE_DIR)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def form(request: Request) -> Response:
        """Show the empty form."""
        return templates.TemplateResponse(request, FORM_TEMPLATE, form_context())

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def submit(request: Request) -> Response:
        """Show the form again with the statement, or with a message by each bad field."""
        fields = await request.form()
        context = submit_form({k: str(v) for k, v in fields.items()}, predictor)
        return templates.TemplateResponse(request, FORM_TEMPLATE, context)

    def predict(patient: PatientIn) -> dict[str, Any]:  # type: ignore[valid-type]
        """Predict from one JSON body."""
        return predictor.predict(patient.features()).as_response()  # type: ignore[attr-defined]

    async def predict_async(patient: PatientIn) -> dict[str, Any]:  # type: ignore[valid-type]
        """Predict from one JSON body."""
        return predictor.predict(patient.features()).as_response()  # type: ignore[attr-defined]

    app.post("/predict", response_model=PredictionOut, dependencies=[Depends(read_json_body)])(
        predict_async if settings.handler == "async" else predict
    )

    @app.get("/health", response_model=HealthOut)
    async def health() -> dict[str, str]:
        """Report that the server is up."""
        return {"status": "ok"}

    @app.exception_handler(ContractError)
    async def contract_error(request: Request, exc: ContractError) -> Response:
        """Answer a refused request in the contract's error shape."""
        return JSONResponse(exc.body(), exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> Response:
        """Answer 422 naming every bad field, without echoing the body back."""
        return JSONResponse({"detail": validation_detail(exc.errors())}, 422)

    @app.exception_handler(HTTPException)
    async def http_exception(request: Request, exc: HTTPException) -> Response:
        """Answer 404, 405 and 413 in the contract's error shape."""
        status = exc.status_code
        error = (
            too_large(settings.max_body_bytes) if status == 413 else http_error(status, exc.detail)
        )
        return JSONResponse(error.body(), error.status)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        """Answer an unexpected failure with a bare 500, never a traceback."""
        error = http_error(500, "Internal Server Error")
        return JSONResponse(error.body(), error.status)

    return app


async def read_json_body(request: Request) -> None:
    """Refuse a body not declared as JSON (415); FastAPI has already applied the 413 limit."""
    content_type = request.headers.get("content-type")
    if not is_json_content_type(content_type):
        raise unsupported_media_type(content_type)


class BodyLimit:
    """Answer 413 for a body over the limit: from Content-Length before reading anything,
    or as soon as the streamed bytes pass it. The Flask twin is ``MAX_CONTENT_LENGTH``.

    FastAPI's own ``max_body_size`` is not used: when the header already exceeds the
    limit it replaces every response, ours included, with a plain-text 413.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an over-long body; pass everything else through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                error = too_large(self.limit)
                await JSONResponse(error.body(), error.status)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                # An HTTPException passes through FastAPI's body reading to our handler.
                raise HTTPException(413)
            return message

        await self.app(scope, limited_receive, send)


class ContractRequest(Request):
    """A request whose JSON is parsed by the contract's one parser (``loads_json``)."""

    async def json(self) -> Any:
        """Parse the body; every failure is a JSONDecodeError, which FastAPI answers with 422."""
        if not hasattr(self, "_json"):
            self._json = loads_json(await self.body())
        return self._json


class ContractRoute(APIRoute):
    """Route whose handler sees a ContractRequest (FastAPI's custom request class recipe)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the default handler so that it receives a ContractRequest."""
        handler = super().get_route_handler()

        async def contract_handler(request: Request) -> Response:
            return await handler(ContractRequest(request.scope, request.receive))

        return contract_handler

"""FastAPI frontend: the JSON contract, the HTML form, the OpenAPI document and its pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared_model import (
    ASSETS_URL,
    DOCS_URL,
    FORM_TEMPLATE,
    REDOC_URL,
    TEMPLATE_DIR,
    ContractError,
    HealthOut,
    PatientIn,
    PredictionOut,
    Settings,
    decode_json,
    docs_asset,
    form_context,
    get_settings,
    http_error,
    is_json_content_type,
    load_predictor,
    method_not_allowed,
    openapi_document,
    redoc_page,
    submit_form,
    swagger_ui_page,
    too_large,
    unsupported_media_type,
    validation_detail,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the model is loaded (and verified) here, once per worker."""
    settings = settings or get_settings()
    predictor = load_predictor(settings)
    app = FastAPI(docs_url=None, redoc_url=None)  # FastAPI's own pages load from a CDN
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

    @app.get(DOCS_URL, response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> Response:
        """Show the document in Swagger UI, assets served locally."""
        return HTMLResponse(swagger_ui_page())

    @app.get(REDOC_URL, response_class=HTMLResponse, include_in_schema=False)
    async def redoc() -> Response:
        """Show the document in ReDoc, assets served locally."""
        return HTMLResponse(redoc_page())

    @app.get(f"{ASSETS_URL}/{{name}}", include_in_schema=False)
    async def docs_assets(name: str) -> Response:
        """Serve one JavaScript, CSS or icon file of the docs pages."""
        path = docs_asset(name)
        if path is None:
            raise http_error(404)
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    @app.exception_handler(ContractError)
    async def contract_error(request: Request, exc: ContractError) -> Response:
        """Answer a refused request in the contract's error shape."""
        return JSONResponse(exc.body(), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> Response:
        """Answer 422 naming every bad field, without echoing the body back."""
        return JSONResponse({"detail": validation_detail(exc.errors())}, 422)

    @app.exception_handler(HTTPException)
    async def http_exception(request: Request, exc: HTTPException) -> Response:
        """Answer 404, 405 and 413 in the contract's error shape."""
        status = exc.status_code
        if status == 413:
            error = too_large(settings.max_body_bytes)
        elif status == 405:
            error = method_not_allowed(allowed_methods(request))
        else:
            error = http_error(status)
        return await contract_error(request, error)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        """Answer an unexpected failure with a bare 500, never a traceback."""
        return await contract_error(request, http_error(500))

    return app


def allowed_methods(request: Request) -> set[str]:
    """Return the methods of every route on the request's path (the Flask twin: werkzeug's
    ``valid_methods``); Starlette's own ``Allow`` names only the first route's methods."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL:  # the path matches, the method does not
            methods |= getattr(route, "methods", None) or set()
    return methods


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
    """A request whose JSON is decoded by the contract's one decoder (``decode_json``)."""

    async def json(self) -> Any:
        """Parse the body; every failure is a JSONDecodeError, which FastAPI answers with 422."""
        if not hasattr(self, "_json"):
            self._json = decode_json(await self.body())
        return self._json


class ContractRoute(APIRoute):
    """Route whose handler sees a ContractRequest (FastAPI's custom request class recipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.methods and "GET" in self.methods:
            self.methods.add("HEAD")  # as werkzeug and Starlette's own routes do

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the default handler so that it receives a ContractRequest."""
        handler = super().get_route_handler()

        async def contract_handler(request: Request) -> Response:
            return await handler(ContractRequest(request.scope, request.receive))

        return contract_handler

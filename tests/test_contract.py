"""The JSON contract, run unchanged against both validated frontends (in-process)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from shared_model import (
    EXAMPLE,
    FIELD_NAMES,
    FIELDS,
    FieldSpec,
    Settings,
    openapi_document,
    predict,
)
from shared_model._docs import ASSETS, ASSETS_URL
from shared_model._messages import STATEMENTS
from tests.conftest import FRONTENDS, make_client

JSON_HEADERS = {"content-type": "application/json"}


def post(client: httpx.Client, payload: Any) -> httpx.Response:
    """POST a JSON value to /predict."""
    return client.post("/predict", content=json.dumps(payload), headers=JSON_HEADERS)


def with_(**changes: Any) -> dict[str, Any]:
    """Return the example body with some fields replaced."""
    return {**EXAMPLE, **changes}


def without(name: str) -> dict[str, Any]:
    """Return the example body without one field."""
    return {k: v for k, v in EXAMPLE.items() if k != name}


def named_fields(response: httpx.Response) -> list[Any]:
    """Return the field named by each error item (the last element of its loc)."""
    body = response.json()
    assert set(body) == {"detail"}
    for item in body["detail"]:
        assert {"loc", "msg", "type"} <= set(item) <= {"loc", "msg", "type", "input"}
    return [item["loc"][-1] for item in body["detail"] if item["loc"]]


def inside(spec: FieldSpec) -> list[int | float]:
    """Return values just inside the field's range."""
    if spec.kind == "int":
        return [int(spec.minimum), int(spec.maximum)]
    return [spec.minimum, spec.minimum + 0.01, spec.maximum - 0.01, spec.maximum]


def outside(spec: FieldSpec) -> list[int | float]:
    """Return values just outside the field's range."""
    step = 1 if spec.kind == "int" else 0.01
    low, high = spec.minimum - step, spec.maximum + step
    return [int(low), int(high)] if spec.kind == "int" else [low, high]


def valid_body_for(spec: FieldSpec, value: int | float) -> dict[str, Any]:
    """Return a body where one field takes value and the others stay consistent."""
    body = with_(**{spec.name: value})
    # Keep diastolic below systolic while probing either bound.
    if spec.name == "Lower_blood_pressure":
        body["Upper_blood_pressure"] = 250
    if spec.name == "Upper_blood_pressure":
        body["Lower_blood_pressure"] = 30
    return body


class TestValid:
    """Valid bodies get 200 and the shared model's answer."""

    def test_example_matches_shared_predict(self, client: httpx.Client, settings: Settings) -> None:
        response = post(client, EXAMPLE)
        assert response.status_code == 200
        expected = predict([float(EXAMPLE[n]) for n in FIELD_NAMES], settings)
        assert response.json() == expected.as_response()
        assert response.json()["prediction"] == STATEMENTS[response.json()["label"]]
        assert 0 <= response.json()["probability"] <= 1

    @pytest.mark.parametrize("spec", FIELDS, ids=lambda s: s.name)
    def test_bounds_inside_accepted(self, client: httpx.Client, spec: FieldSpec) -> None:
        for value in inside(spec):
            response = post(client, valid_body_for(spec, value))
            assert response.status_code == 200, (spec.name, value, response.text)

    def test_integer_accepted_for_float_fields(self, client: httpx.Client) -> None:
        assert post(client, with_(Height_in_cm=170, Weight_in_kg=70.5)).status_code == 200

    def test_whole_floats_accepted_for_integer_fields(
        self, client: httpx.Client, settings: Settings
    ) -> None:
        """52.0 is the integer 52 (JSON Schema's rule; what a pandas row with floats sends)."""
        ints = [spec.name for spec in FIELDS if spec.kind == "int"]
        body = with_(**{name: float(EXAMPLE[name]) for name in ints})
        raw = json.dumps(body)
        assert '"Persons_age": 52.0' in raw
        response = client.post("/predict", content=raw, headers=JSON_HEADERS)
        assert response.status_code == 200, response.text
        assert response.json() == post(client, EXAMPLE).json()

    def test_both_frontends_give_identical_answers(self, settings: Settings) -> None:
        bodies = [EXAMPLE, with_(Persons_age=64, Upper_blood_pressure=160, Cholesterol_level=3)]
        bodies += [with_(Persons_age=30, Upper_blood_pressure=100, Lower_blood_pressure=60)]
        with make_client("flask", settings) as f, make_client("fastapi", settings) as a:
            for body in bodies:
                rf, ra = post(f, body), post(a, body)
                assert (rf.status_code, rf.json()) == (ra.status_code, ra.json())
                features = [float(body[n]) for n in FIELD_NAMES]
                assert rf.json() == predict(features, settings).as_response()


class TestInvalid:
    """Every invalid body gets 422 naming each offending field."""

    @pytest.mark.parametrize("spec", FIELDS, ids=lambda s: s.name)
    def test_bounds_outside_refused(self, client: httpx.Client, spec: FieldSpec) -> None:
        for value in outside(spec):
            response = post(client, valid_body_for(spec, value))
            assert response.status_code == 422, (spec.name, value)
            assert spec.name in named_fields(response)

    @pytest.mark.parametrize("name", FIELD_NAMES)
    def test_missing_field_refused(self, client: httpx.Client, name: str) -> None:
        response = post(client, without(name))
        assert response.status_code == 422
        assert named_fields(response) == [name]

    @pytest.mark.parametrize("bad", ["52", "fifty", True, False, None, [52], {"v": 52}, ""])
    @pytest.mark.parametrize("name", ["Persons_age", "Height_in_cm", "Smoking_status"])
    def test_wrong_type_refused(self, client: httpx.Client, name: str, bad: Any) -> None:
        response = post(client, with_(**{name: bad}))
        assert response.status_code == 422
        assert named_fields(response) == [name]

    def test_fraction_refused_for_integer_field(self, client: httpx.Client) -> None:
        response = post(client, with_(Persons_age=52.5, Gender=1.5))
        assert response.status_code == 422
        assert sorted(named_fields(response)) == ["Gender", "Persons_age"]
        assert {item["type"] for item in response.json()["detail"]} == {"int_type"}

    @pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400", '"52"', "true"])
    def test_non_integers_still_refused_for_integer_field(
        self, client: httpx.Client, raw: str
    ) -> None:
        body = json.dumps(with_(Persons_age="@")).replace('"@"', raw)
        response = client.post("/predict", content=body, headers=JSON_HEADERS)
        assert response.status_code == 422
        assert named_fields(response) == ["Persons_age"]

    def test_whole_float_out_of_range_refused(self, client: httpx.Client) -> None:
        response = post(client, with_(Persons_age=121.0, Gender=0.0))
        assert response.status_code == 422
        assert sorted(named_fields(response)) == ["Gender", "Persons_age"]

    def test_every_bad_field_named(self, client: httpx.Client) -> None:
        body = with_(Persons_age="x", Gender=3, Weight_in_kg=None)
        del body["Alcohol_status"]
        response = post(client, body)
        assert response.status_code == 422
        assert sorted(named_fields(response)) == sorted(
            ["Persons_age", "Gender", "Weight_in_kg", "Alcohol_status"]
        )

    def test_extra_field_refused(self, client: httpx.Client) -> None:
        response = post(client, with_(Favourite_colour="blue"))
        assert response.status_code == 422
        assert named_fields(response) == ["Favourite_colour"]

    def test_diastolic_must_be_below_systolic(self, client: httpx.Client) -> None:
        response = post(client, with_(Upper_blood_pressure=120, Lower_blood_pressure=120))
        assert response.status_code == 422
        assert named_fields(response) == ["Lower_blood_pressure"]
        assert response.json()["detail"][0]["type"] == "diastolic_not_below_systolic"

    @pytest.mark.parametrize(
        "raw", [b'{"Persons_age": 52,', b"{'Persons_age': 52}", b"[1, 2", b"nul", b"{,}"]
    )
    def test_malformed_json_refused(self, client: httpx.Client, raw: bytes) -> None:
        response = client.post("/predict", content=raw, headers=JSON_HEADERS)
        assert response.status_code == 422
        assert response.json()["detail"][0]["type"] == "json_invalid"

    @pytest.mark.parametrize("payload", [[], [EXAMPLE], "text", 52, None])
    def test_not_an_object_refused(self, client: httpx.Client, payload: Any) -> None:
        response = post(client, payload)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body"]

    def test_empty_body_refused(self, client: httpx.Client) -> None:
        response = client.post("/predict", content=b"", headers=JSON_HEADERS)
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"loc": ["body"], "msg": "Field required", "type": "missing"}
        ]

    def test_error_body_does_not_echo_the_input(self, client: httpx.Client) -> None:
        secret = "s" * 5000
        response = post(client, {**without("Gender"), "Persons_age": secret})
        assert response.status_code == 422
        assert secret not in response.text
        assert len(response.content) < 2048
        assert "Traceback" not in response.text

    def test_long_unknown_key_is_not_echoed(self, client: httpx.Client) -> None:
        key = "k" * 5000
        response = post(client, with_(**{key: 1}))
        assert response.status_code == 422
        assert key not in response.text
        assert len(response.content) < 2048

    def test_thousands_of_errors_give_a_short_list(self, client: httpx.Client) -> None:
        body = {f"x{i}": 0 for i in range(1200)} | with_(Gender=3)
        response = post(client, body)
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert len(response.content) < 2048
        assert detail[0]["loc"] == ["body", "Gender"]  # the contract's fields come first
        assert detail[-1] == {
            "loc": ["body"],
            "msg": "1190 more errors not listed",
            "type": "too_many_errors",
        }


class TestLimits:
    """Body size and content type are checked before the body is parsed."""

    def test_body_over_16_kib_gets_413(self, client: httpx.Client) -> None:
        raw = json.dumps(with_(Padding="x" * 17_000)).encode()
        response = client.post("/predict", content=raw, headers=JSON_HEADERS)
        assert response.status_code == 413
        assert response.json()["detail"][0]["type"] == "too_large"

    def test_streamed_body_over_16_kib_gets_413(self, client: httpx.Client) -> None:
        if isinstance(client._transport, httpx.WSGITransport):
            pytest.skip(
                "httpx's WSGITransport does not set wsgi.input_terminated, so werkzeug drops a "
                "body without Content-Length; the real servers are checked in test_http_contract"
            )

        def chunks() -> Any:
            for _ in range(40):
                yield b" " * 1024

        response = client.post("/predict", content=chunks(), headers=JSON_HEADERS)
        assert response.status_code == 413

    def test_body_just_under_the_limit_is_parsed(self, client: httpx.Client) -> None:
        raw = json.dumps(EXAMPLE).encode()
        raw = raw + b" " * (16 * 1024 - len(raw))
        response = client.post("/predict", content=raw, headers=JSON_HEADERS)
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "content_type",
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
    )
    def test_non_json_content_type_gets_415(self, client: httpx.Client, content_type: str) -> None:
        response = client.post(
            "/predict", content=json.dumps(EXAMPLE), headers={"content-type": content_type}
        )
        assert response.status_code == 415
        assert response.json()["detail"][0]["loc"] == ["header", "content-type"]

    def test_missing_content_type_gets_415(self, client: httpx.Client) -> None:
        response = client.post("/predict", content=json.dumps(EXAMPLE).encode())
        assert response.status_code == 415

    def test_json_with_charset_accepted(self, client: httpx.Client) -> None:
        response = client.post(
            "/predict",
            content=json.dumps(EXAMPLE),
            headers={"content-type": "application/json; charset=utf-8"},
        )
        assert response.status_code == 200


class TestRoutes:
    """Health, the OpenAPI document, the form and routing errors."""

    def test_health(self, client: httpx.Client) -> None:
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_openapi_document_is_the_shared_one(self, client: httpx.Client) -> None:
        response = client.get("/openapi.json")
        assert response.status_code == 200
        assert response.json() == json.loads(json.dumps(openapi_document()))
        schema = response.json()["components"]["schemas"]["PatientIn"]
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == set(FIELD_NAMES)

    def test_unknown_route_is_json_404(self, client: httpx.Client) -> None:
        response = client.get("/nowhere")
        assert response.status_code == 404
        assert response.json()["detail"][0]["type"] == "http_404"

    @pytest.mark.parametrize(
        ("method", "path", "allow"),
        [
            ("GET", "/predict", "POST"),
            ("TRACE", "/predict", "POST"),
            ("OPTIONS", "/predict", "POST"),
            ("TRACE", "/health", "GET, HEAD"),
            ("POST", "/health", "GET, HEAD"),
            ("PUT", "/", "GET, HEAD, POST"),
            ("DELETE", "/openapi.json", "GET, HEAD"),
        ],
    )
    def test_wrong_method_is_405_with_allow(
        self, client: httpx.Client, method: str, path: str, allow: str
    ) -> None:
        """RFC 9110: a 405 lists every method the resource supports in Allow."""
        response = client.request(method, path)
        assert response.status_code == 405
        assert response.headers["allow"] == allow
        assert response.json() == {
            "detail": [{"loc": [], "msg": "Method Not Allowed", "type": "http_405"}]
        }

    def test_allowed_methods_answer(self, client: httpx.Client) -> None:
        """Every method a 405 advertises really is served."""
        allow = client.get("/predict").headers["allow"]
        assert client.request(allow, "/predict", json=EXAMPLE).status_code == 200
        for method in client.post("/health").headers["allow"].split(", "):
            assert client.request(method, "/health").status_code == 200

    @pytest.mark.parametrize(
        ("path", "asset"),
        [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")],
    )
    def test_docs_pages_load_local_assets_only(
        self, client: httpx.Client, path: str, asset: str
    ) -> None:
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert f'src="{ASSETS_URL}/{asset}"' in response.text
        assert "/openapi.json" in response.text
        assert "http://" not in response.text
        assert "https://" not in response.text

    @pytest.mark.parametrize("name", ASSETS)
    def test_docs_assets_are_served(self, client: httpx.Client, name: str) -> None:
        response = client.get(f"{ASSETS_URL}/{name}")
        assert response.status_code == 200
        assert len(response.content) > 1000
        kind = {"js": "javascript", "css": "text/css", "png": "image/png"}[name.rsplit(".")[-1]]
        assert kind in response.headers["content-type"]

    @pytest.mark.parametrize("name", ["nothing.js", "..%2Fapp.py", "%2E%2E%2F__init__.py"])
    def test_unknown_docs_asset_is_json_404(self, client: httpx.Client, name: str) -> None:
        response = client.get(f"{ASSETS_URL}/{name}")
        assert response.status_code == 404
        assert response.json()["detail"][0]["type"] == "http_404"

    def test_form_page_lists_every_field(self, client: httpx.Client) -> None:
        response = client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        for name in FIELD_NAMES:
            assert f'name="{name}"' in response.text

    def test_form_submit_shows_statement(self, client: httpx.Client, settings: Settings) -> None:
        response = client.post("/", data={k: str(v) for k, v in EXAMPLE.items()})
        assert response.status_code == 200
        expected = predict([float(EXAMPLE[n]) for n in FIELD_NAMES], settings)
        assert expected.statement in response.text

    def test_form_submit_bad_value_keeps_values_and_names_field(self, client: httpx.Client) -> None:
        form = {k: str(v) for k, v in EXAMPLE.items()} | {"Persons_age": "200"}
        form["Weight_in_kg"] = "heavy"
        response = client.post("/", data=form)
        assert response.status_code == 200
        assert 'id="Persons_age-error"' in response.text
        assert 'id="Weight_in_kg-error"' in response.text
        assert 'value="200"' in response.text
        assert "Result:" not in response.text


def test_frontends_agree_on_whole_floats(settings: Settings) -> None:
    """52.0 in an integer field: the same 200 answer from both frontends."""
    raw = json.dumps(with_(Persons_age=52.0, Cholesterol_level=3.0, Smoking_status=0.0)).encode()
    with make_client("flask", settings) as f, make_client("fastapi", settings) as a:
        rf = f.post("/predict", content=raw, headers=JSON_HEADERS)
        ra = a.post("/predict", content=raw, headers=JSON_HEADERS)
    assert rf.status_code == ra.status_code == 200
    assert rf.json() == ra.json()
    assert rf.json() == predict([float(EXAMPLE[n]) for n in FIELD_NAMES], settings).as_response()


def test_frontends_agree_on_every_error(settings: Settings) -> None:
    """The same invalid bodies give byte-identical JSON from both frontends."""
    bodies: list[bytes] = [
        json.dumps(with_(Persons_age="52")).encode(),
        json.dumps(without("Gender") | {"x": 1}).encode(),
        json.dumps(with_(Upper_blood_pressure=80, Lower_blood_pressure=90)).encode(),
        b'{"Persons_age": NaN}',
        b"[" * 5000 + b"]" * 5000,
        b"\xff\xfe{}",
        b"",
        b'{"Persons_age": 1' + b"0" * 5000 + b"}",
        json.dumps(with_(Persons_age=52.5, Gender=0.0)).encode(),
        b'{"Persons_age": 1e300}',
    ]
    with make_client("flask", settings) as f, make_client("fastapi", settings) as a:
        for raw in bodies:
            rf = f.post("/predict", content=raw, headers=JSON_HEADERS)
            ra = a.post("/predict", content=raw, headers=JSON_HEADERS)
            assert rf.status_code == ra.status_code == 422, raw[:40]
            assert rf.json() == ra.json(), raw[:40]


# The HEAD twin of each GET route (served as on Flask) shares its operation id in FastAPI's
# own document; that document is never served (the shared one is), so the warning is moot.
@pytest.mark.filterwarnings("ignore:Duplicate Operation ID:UserWarning")
@pytest.mark.parametrize("frontend", FRONTENDS)
def test_fastapi_generates_the_same_body_schema(frontend: str, settings: Settings) -> None:
    """FastAPI's own generated schema for the body equals the shared document's."""
    from fastapi.openapi.utils import get_openapi

    from fastapi_app import create_app

    app = create_app(settings)
    generated = get_openapi(title="t", version="1", routes=app.routes)
    ours = openapi_document()["components"]["schemas"]
    for name in ("PatientIn", "PredictionOut"):
        assert generated["components"]["schemas"][name] == ours[name], name

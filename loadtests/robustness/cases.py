"""The invalid-input case catalogue: one entry per case, used everywhere.

The contract tests, the Locust invalid-traffic mix and the report's matrix all read
``CASES``. Adding a case is adding one entry. A case is a ``POST /predict`` unless its
``method`` and ``path`` say otherwise. The per-field cases are generated from
``shared_model.FIELDS``, so a change of the schema flows through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared_model import EXAMPLE, FIELD_NAMES, FIELDS, MAX_BODY_BYTES, FieldSpec

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART_BOUNDARY = "fvf-boundary"
MULTIPART = f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"
MAX_ERROR_BODY_BYTES = 2048  # the contract's bound on any error body
HUGE_BODY_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One request (by default a body sent to ``POST /predict``) and what the contract expects."""

    name: str
    body: bytes
    content_type: str | None  # None: no Content-Type header at all
    expected_status: int  # exact status from the validated frontends
    field: str | None  # the field the error must name, if any
    description: str = ""
    in_mix: bool = True  # cheap enough to send under load (not the 10 MB body)
    group: str = "other"  # family of the case, for the report's matrix
    also: tuple[str, ...] = ()  # further fields the error must name
    method: str = "POST"
    path: str = "/predict"
    allow: str | None = None  # the Allow header a 405 must carry (RFC 9110)

    @property
    def expected_class(self) -> str:
        """Return the expected status class, such as "4xx"."""
        return f"{self.expected_status // 100}xx"

    @property
    def named_fields(self) -> tuple[str, ...]:
        """Return every field the error body must name."""
        return ((self.field,) if self.field else ()) + self.also

    @property
    def headers(self) -> dict[str, str]:
        """Return the request headers of the case (no Content-Type when it has none)."""
        return {} if self.content_type is None else {"Content-Type": self.content_type}


def payload(**changes: Any) -> dict[str, Any]:
    """Return the example payload with some fields replaced (a value of ... removes it)."""
    return {k: v for k, v in {**EXAMPLE, **changes}.items() if v is not ...}


def _body(**changes: Any) -> bytes:
    """Return the example body with some fields replaced (a value of ... removes it)."""
    return json.dumps(payload(**changes)).encode()


def _raw(**literals: str) -> bytes:
    """Return the example body with some values written as raw JSON text (NaN, 1e400...)."""
    marked = {name: f"@@{name}@@" for name in literals}
    text = json.dumps(payload(**marked))
    for name, literal in literals.items():
        text = text.replace(f'"@@{name}@@"', literal)
    return text.encode()


def _fmt(value: float) -> str:
    """Write a bound as a short JSON number (integers without ``.0``)."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def _bound(spec: FieldSpec, which: str) -> int | float:
    """Return the field's minimum or maximum, typed as the field is (int or float)."""
    value: float = getattr(spec, which)
    return int(value) if spec.kind == "int" else float(value)


def _field_cases(spec: FieldSpec) -> Iterator[Case]:
    """Yield the cases of one field: each wrong type, each side of its range, missing."""
    name, short = spec.name, spec.name.lower()
    valid = EXAMPLE[name]
    step = 1 if spec.kind == "int" else 0.5
    below, above = spec.minimum - step, spec.maximum + step
    wrong_types: dict[str, tuple[Any, str]] = {
        "string": ("fifty", "a word where a number belongs (the article's 500)"),
        "numeric_string": (_fmt(valid), "the right number sent as a string"),
        "boolean": (True, "true, which Python would count as 1"),
        "null": (None, "null"),
        "list": ([valid], "the right number wrapped in a list"),
        "object": ({"value": valid}, "the right number wrapped in an object"),
    }
    for kind, (value, why) in wrong_types.items():
        yield Case(
            f"{short}_{kind}",
            _body(**{name: value}),
            JSON,
            422,
            name,
            f"{name}: {why}",
            group=f"type_{kind}",
        )
    # One step past each bound (the range check comes before the diastolic rule).
    yield Case(
        f"{short}_below_range",
        _body(**{name: below}),
        JSON,
        422,
        name,
        f"{name} = {_fmt(below)}, below {_fmt(spec.minimum)}",
        group="range_below",
    )
    yield Case(
        f"{short}_above_range",
        _body(**{name: above}),
        JSON,
        422,
        name,
        f"{name} = {_fmt(above)}, above {_fmt(spec.maximum)}",
        group="range_above",
    )
    yield Case(
        f"{short}_missing",
        _body(**{name: ...}),
        JSON,
        422,
        name,
        f"{name} left out",
        group="missing",
    )
    if spec.kind == "int":
        yield Case(
            f"{short}_fraction",
            _body(**{name: valid + 0.5}),
            JSON,
            422,
            name,
            f"{name} = {valid + 0.5}: a fraction where an integer belongs",
            group="type_fraction",
        )


def _nested(depth: int, opener: str = "[", closer: str = "]", core: str = "1") -> bytes:
    """Return ``depth`` levels of nesting around ``core``."""
    return (opener * depth + core + closer * depth).encode()


def _padded(size: int) -> bytes:
    """Return the valid example body padded with trailing spaces to exactly ``size`` bytes."""
    body = _body()
    return body + b" " * (size - len(body))


def _multipart() -> bytes:
    """Return the example fields as a multipart/form-data body."""
    parts = [
        f'--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in EXAMPLE.items()
    ]
    return ("".join(parts) + f"--{MULTIPART_BOUNDARY}--\r\n").encode()


_FIRST, _SECOND = FIELD_NAMES[0], FIELD_NAMES[1]
_SYSTOLIC, _DIASTOLIC = (next(f.name for f in FIELDS if f.column == c) for c in ("ap_hi", "ap_lo"))
_HUNDREDS_OF_DIGITS = "9" * 300
_THOUSANDS_OF_DIGITS = "9" * 5000  # past sys.get_int_max_str_digits() (4300)

_GENERAL: tuple[Case, ...] = (
    # Cross-field rule.
    Case(
        "diastolic_equals_systolic",
        _body(**{_DIASTOLIC: 120, _SYSTOLIC: 120}),
        JSON,
        422,
        _DIASTOLIC,
        "diastolic equal to systolic (must be below)",
        group="cross_field",
    ),
    Case(
        "diastolic_above_systolic",
        _body(**{_DIASTOLIC: 140, _SYSTOLIC: 120}),
        JSON,
        422,
        _DIASTOLIC,
        "diastolic above systolic",
        group="cross_field",
    ),
    # Found by fuzzing (schemathesis): edges the schema allows or cannot express.
    Case(
        "diastolic_just_below_systolic",
        _body(**{_DIASTOLIC: 59.99, _SYSTOLIC: 60}),
        JSON,
        200,
        None,
        "diastolic a hair below systolic: accepted",
        group="cross_field",
    ),
    Case(
        "integer_as_whole_float",
        _raw(**{_FIRST: "52.0"}),
        JSON,
        200,
        None,
        "52.0 in an integer field: JSON Schema counts it as an integer (and a pandas row with "
        "float columns sends it), accepted as 52; 52.5 is still refused",
        group="fuzz",
    ),
    Case(
        "all_at_minimum",
        _body(**{f.name: _bound(f, "minimum") for f in FIELDS}),
        JSON,
        200,
        None,
        "every field at its minimum: bounds are inclusive, accepted",
        group="fuzz",
    ),
    Case(
        "all_at_maximum",
        _body(**{f.name: _bound(f, "maximum") for f in FIELDS}),
        JSON,
        200,
        None,
        "every field at its maximum: bounds are inclusive, accepted",
        group="fuzz",
    ),
    # Shape of the document.
    Case(
        "unknown_field",
        _body(Favourite_colour="blue"),
        JSON,
        422,
        "Favourite_colour",
        "a field the contract does not know",
        group="shape",
    ),
    Case(
        "two_fields_wrong",
        _body(**{_FIRST: "x", _SECOND: 9}),
        JSON,
        422,
        _FIRST,
        "two bad fields: both named",
        group="shape",
        also=(_SECOND,),
    ),
    Case("empty_body", b"", JSON, 422, None, "no body at all", group="shape"),
    Case(
        "empty_object",
        b"{}",
        JSON,
        422,
        FIELD_NAMES[0],
        "{}: every field missing",
        group="shape",
        also=FIELD_NAMES[1:],
    ),
    Case(
        "array_instead_of_object",
        b"[" + _body() + b"]",
        JSON,
        422,
        None,
        "the valid object wrapped in an array",
        group="shape",
    ),
    Case("json_null", b"null", JSON, 422, None, "the JSON literal null", group="shape"),
    Case("json_number", b"52", JSON, 422, None, "a bare number", group="shape"),
    Case("json_string", b'"hello"', JSON, 422, None, "a bare string", group="shape"),
    Case("json_true", b"true", JSON, 422, None, "the JSON literal true", group="shape"),
    # Malformed JSON.
    Case("malformed_truncated", _body()[:-5], JSON, 422, None, "JSON cut short", group="malformed"),
    Case(
        "malformed_trailing_comma",
        _body()[:-1] + b",}",
        JSON,
        422,
        None,
        "a trailing comma",
        group="malformed",
    ),
    Case(
        "malformed_single_quotes",
        _body().replace(b'"', b"'"),
        JSON,
        422,
        None,
        "single-quoted keys (a Python dict, not JSON)",
        group="malformed",
    ),
    Case(
        "malformed_line_comment",
        b"// patient\n" + _body(),
        JSON,
        422,
        None,
        "a // comment",
        group="malformed",
    ),
    Case(
        "malformed_block_comment",
        b"/* patient */" + _body(),
        JSON,
        422,
        None,
        "a /* */ comment",
        group="malformed",
    ),
    Case(
        "malformed_unquoted_keys",
        _body().replace(b'"', b""),
        JSON,
        422,
        None,
        "keys without quotes",
        group="malformed",
    ),
    Case("malformed_not_json", b"hello world", JSON, 422, None, "plain text", group="malformed"),
    Case(
        "malformed_two_documents",
        _body() + _body(),
        JSON,
        422,
        None,
        "two objects back to back",
        group="malformed",
    ),
    # Number literals Python accepts and JSON does not, and huge numbers.
    Case(
        "nan_literal",
        _raw(**{_FIRST: "NaN"}),
        JSON,
        422,
        _FIRST,
        "NaN (Python's json accepts it; strict int refuses)",
        group="number",
    ),
    Case(
        "nan_literal_float_field",
        _raw(Height_in_cm="NaN"),
        JSON,
        422,
        "Height_in_cm",
        "NaN in a float field",
        group="number",
    ),
    Case(
        "infinity_literal",
        _raw(Weight_in_kg="Infinity"),
        JSON,
        422,
        "Weight_in_kg",
        "Infinity in a float field",
        group="number",
    ),
    Case(
        "negative_infinity_literal",
        _raw(**{_FIRST: "-Infinity"}),
        JSON,
        422,
        _FIRST,
        "-Infinity in an int field",
        group="number",
    ),
    Case(
        "overflow_1e400",
        _raw(Height_in_cm="1e400"),
        JSON,
        422,
        "Height_in_cm",
        "1e400, which Python parses as inf",
        group="number",
    ),
    Case(
        "overflow_1e400_int_field",
        _raw(**{_FIRST: "1e400"}),
        JSON,
        422,
        _FIRST,
        "1e400 in an int field",
        group="number",
    ),
    Case(
        "hundreds_of_digits",
        _raw(**{_FIRST: _HUNDREDS_OF_DIGITS}),
        JSON,
        422,
        _FIRST,
        "an integer of 300 digits",
        group="number",
    ),
    Case(
        "hundreds_of_digits_float_field",
        _raw(Height_in_cm=_HUNDREDS_OF_DIGITS),
        JSON,
        422,
        "Height_in_cm",
        "an integer of 300 digits in a float field",
        group="number",
    ),
    Case(
        "digits_past_int_limit",
        _raw(**{_FIRST: _THOUSANDS_OF_DIGITS}),
        JSON,
        422,
        None,
        "an integer of 5,000 digits: Python's int() limit refuses it while parsing",
        group="number",
    ),
    Case(
        "long_string",
        _body(**{_FIRST: "x" * 10_000}),
        JSON,
        422,
        _FIRST,
        "a 10,000-character string (must not be echoed back)",
        group="number",
    ),
    # Duplicate keys: Python's json keeps the last one.
    Case(
        "duplicate_key_last_valid",
        f'{{"{_FIRST}": 500, '.encode() + _body()[1:],
        JSON,
        200,
        None,
        f"{_FIRST} twice, invalid then valid: the last wins, accepted",
        group="duplicate",
    ),
    Case(
        "duplicate_key_last_invalid",
        _body()[:-1] + f', "{_FIRST}": 500}}'.encode(),
        JSON,
        422,
        _FIRST,
        f"{_FIRST} twice, valid then invalid: the last wins, refused",
        group="duplicate",
    ),
    # Nesting that stays under the size limit (Python's parser: RecursionError).
    Case(
        "deep_nesting_arrays",
        _nested(5000),
        JSON,
        422,
        None,
        "5,000 nested arrays (10 KB)",
        group="nesting",
    ),
    Case(
        "deep_nesting_objects",
        _nested(2500, '{"a":', "}"),
        JSON,
        422,
        None,
        "2,500 nested objects (15 KB)",
        group="nesting",
    ),
    Case(
        "nesting_in_field",
        _body(**{_FIRST: "@"}).replace(b'"@"', _nested(500)),
        JSON,
        422,
        _FIRST,
        "500 nested arrays as a field's value (parses, then refused)",
        group="nesting",
    ),
    # Size.
    Case(
        "body_at_limit",
        _padded(MAX_BODY_BYTES),
        JSON,
        200,
        None,
        f"the valid body padded with spaces to exactly {MAX_BODY_BYTES} bytes",
        group="size",
    ),
    Case(
        "body_over_limit",
        _padded(MAX_BODY_BYTES + 1),
        JSON,
        413,
        None,
        f"the valid body padded to {MAX_BODY_BYTES + 1} bytes",
        group="size",
    ),
    Case(
        "body_10mb",
        b'{"pad": "' + b"a" * HUGE_BODY_BYTES + b'"}',
        JSON,
        413,
        None,
        "a 10 MB body: refused before it is read",
        in_mix=False,
        group="size",
    ),
    Case(
        "many_unknown_fields",
        json.dumps(payload(**{f"x{i}": 0 for i in range(1200)})).encode(),
        JSON,
        422,
        "x0",
        "1,200 unknown fields: one item each would make a 117 KB answer; capped",
        group="size",
    ),
    Case(
        "unknown_field_long_name",
        _body(**{"k" * 5000: 1}),
        JSON,
        422,
        None,
        "an unknown key of 5,000 characters: the error names it by an excerpt only",
        group="size",
    ),
    Case(
        "every_field_wrong",
        _body(**dict.fromkeys(FIELD_NAMES, "x"), Favourite_colour="blue"),
        JSON,
        422,
        _FIRST,
        "all ten fields strings plus an unknown key: every field still named",
        group="shape",
        also=(*FIELD_NAMES[1:], "Favourite_colour"),
    ),
    # Encoding.
    Case(
        "invalid_utf8",
        _body(**{_FIRST: "@"}).replace(b'"@"', b'"\xff\xfe"'),
        JSON,
        422,
        None,
        "bytes that are not UTF-8",
        group="encoding",
    ),
    Case(
        "utf8_bom",
        b"\xef\xbb\xbf" + _body(),
        JSON,
        200,
        None,
        "a UTF-8 byte-order mark before valid JSON: Python's json ignores it, accepted",
        group="encoding",
    ),
    Case(
        "utf16_body",
        json.dumps(EXAMPLE).encode("utf-16"),
        JSON,
        200,
        None,
        "valid JSON encoded as UTF-16 (with BOM): Python's json detects it, accepted",
        group="encoding",
    ),
    # Content types.
    Case(
        "content_type_text",
        _body(),
        "text/plain",
        415,
        None,
        "a JSON body sent as text/plain",
        group="content_type",
    ),
    Case(
        "content_type_form",
        "&".join(f"{k}={v}" for k, v in EXAMPLE.items()).encode(),
        FORM,
        415,
        None,
        "the fields form-encoded",
        group="content_type",
    ),
    Case(
        "content_type_multipart",
        _multipart(),
        MULTIPART,
        415,
        None,
        "the fields as multipart/form-data",
        group="content_type",
    ),
    Case(
        "content_type_none",
        _body(),
        None,
        415,
        None,
        "no Content-Type header",
        group="content_type",
    ),
    Case(
        "content_type_none_malformed",
        b"{oops",
        None,
        415,
        None,
        "no Content-Type header and a body that is not JSON",
        group="content_type",
    ),
    Case(
        "content_type_xml",
        b"<patient/>",
        "application/xml",
        415,
        None,
        "an XML body",
        group="content_type",
    ),
    Case(
        "content_type_json_charset",
        _body(),
        "application/json; charset=utf-8",
        200,
        None,
        "application/json with a charset: accepted",
        group="content_type",
    ),
    Case(
        "content_type_json_suffix",
        _body(),
        "application/vnd.patient+json",
        200,
        None,
        "a +json media type: accepted",
        group="content_type",
    ),
    Case(
        "content_type_json_upper",
        _body(),
        "APPLICATION/JSON",
        200,
        None,
        "media types are case-insensitive: accepted",
        group="content_type",
    ),
)

# Methods the resource does not serve: 405, with the Allow header naming the ones it does.
_METHODS: tuple[Case, ...] = (
    Case(
        "method_get_predict",
        b"",
        None,
        405,
        None,
        "GET /predict: 405 with Allow: POST",
        group="method",
        method="GET",
        allow="POST",
    ),
    Case(
        "method_trace_predict",
        b"",
        None,
        405,
        None,
        "TRACE /predict: 405 with Allow: POST",
        group="method",
        method="TRACE",
        allow="POST",
    ),
    Case(
        "method_trace_health",
        b"",
        None,
        405,
        None,
        "TRACE /health: 405 with Allow: GET, HEAD",
        group="method",
        method="TRACE",
        path="/health",
        allow="GET, HEAD",
    ),
)

VALID = Case("valid", _body(), JSON, 200, None, "the example body", group="valid")

CASES: tuple[Case, ...] = (
    *(case for spec in FIELDS for case in _field_cases(spec)),
    *_GENERAL,
    *_METHODS,
)

BY_NAME: dict[str, Case] = {case.name: case for case in (VALID, *CASES)}
assert len(BY_NAME) == len(CASES) + 1, "case names must be unique"

MIX: tuple[Case, ...] = tuple(case for case in CASES if case.in_mix)

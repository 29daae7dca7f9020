"""A request body, from raw bytes to a validated patient: the same steps on both frontends.

Content type (415), size (413), JSON (422 ``json_invalid``), then the schema (422 naming
each offending field).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ._errors import ContractError, ErrorItem, error_item, validation_detail
from ._messages import MSG_BODY_MISSING, MSG_JSON_INVALID, MSG_TOO_LARGE, MSG_UNSUPPORTED_MEDIA
from ._schema import PatientBase, PatientIn


def is_json_content_type(value: str | None) -> bool:
    """Tell whether a Content-Type header names JSON (application/json or */*+json)."""
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def too_large(limit: int) -> ContractError:
    """Return the 413 error of a body over the limit."""
    return ContractError(
        413, [error_item(["body"], MSG_TOO_LARGE.format(limit=limit), "too_large")]
    )


def unsupported_media_type(content_type: str | None) -> ContractError:
    """Return the 415 error of a body that is not declared as JSON."""
    item = error_item(
        ["header", "content-type"], MSG_UNSUPPORTED_MEDIA, "unsupported_media_type", content_type
    )
    return ContractError(415, [item])


def decode_json(raw: bytes | str) -> Any:
    """Decode JSON with Python's json module; every failure becomes a JSONDecodeError.

    Both frontends decode with this one function, so they accept and refuse the same
    bodies. Python's parser raises RecursionError (not ValueError) on deeply nested
    input, UnicodeDecodeError on invalid UTF-8 and ValueError on integers longer than
    ``sys.get_int_max_str_digits()``; FastAPI would answer those with a 400.
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("invalid UTF-8", text, exc.start) from None
    except RecursionError:
        raise json.JSONDecodeError("nesting too deep", text, 0) from None
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc)[:60], text, 0) from None


def json_invalid(position: int, reason: str) -> dict[str, Any]:
    """Return pydantic-style error of a body that is not JSON, exactly as FastAPI raises it."""
    return {
        "type": "json_invalid",
        "loc": ("body", position),
        "msg": MSG_JSON_INVALID,
        "input": {},
        "ctx": {"error": reason},
    }


def body_missing() -> ErrorItem:
    """Build the item for an empty body, as FastAPI reports it."""
    return {"loc": ["body"], "msg": MSG_BODY_MISSING, "type": "missing"}


def parse_body(raw: bytes) -> Any:
    """Decode a request body or raise ContractError(422) in the contract's shape."""
    if not raw:
        raise ContractError(422, [body_missing()])
    try:
        return decode_json(raw)
    except json.JSONDecodeError as exc:
        raise ContractError(422, validation_detail([json_invalid(exc.pos, exc.msg)])) from None


def validate_payload(payload: Any) -> PatientBase:
    """Validate a parsed JSON value against the contract, or raise ContractError(422)."""
    try:
        return PatientIn.model_validate(payload, from_attributes=True)
    except ValidationError as exc:
        raise ContractError(422, validation_detail(exc.errors(include_url=False))) from None

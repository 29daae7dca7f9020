"""The error body of the contract, shared by both frontends.

Shape: ``{"detail": [{"loc": [...], "msg": "...", "type": "...", "input": <short>}]}``,
FastAPI's shape without the parts that echo the request back (its default 422 body
repeats the whole input for a missing field, and its ``url``/``ctx`` keys).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ._messages import (
    MSG_BODY_MISSING,
    MSG_JSON_INVALID,
    MSG_MORE_ERRORS,
    MSG_TOO_LARGE,
    MSG_UNSUPPORTED_MEDIA,
)
from ._schema import PatientBase, PatientIn

INPUT_EXCERPT_CHARS = 32
MAX_ITEMS = 12  # ten fields, one unknown key, one summary: stays under 2 KiB
ErrorItem = dict[str, Any]


class ContractError(Exception):
    """A request the contract refuses: carries the HTTP status and the error items."""

    def __init__(self, status: int, detail: list[ErrorItem]) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail

    def body(self) -> dict[str, list[ErrorItem]]:
        """Return the JSON body of the error response."""
        return {"detail": self.detail}


def _excerpt(value: Any) -> Any:
    """Return the offending value if it is a short scalar, else None (never echo a body)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # NaN and infinities are not JSON: echo them as text
    if isinstance(value, bool | int | float) or value is None:
        text = repr(value)
        return value if len(text) <= INPUT_EXCERPT_CHARS else text[:INPUT_EXCERPT_CHARS] + "..."
    if isinstance(value, str):
        return value if len(value) <= INPUT_EXCERPT_CHARS else value[:INPUT_EXCERPT_CHARS] + "..."
    return None


def error_item(loc: Sequence[str | int], msg: str, type_: str, value: Any = None) -> ErrorItem:
    """Build one error item; the offending value is kept only as a short excerpt."""
    item: ErrorItem = {"loc": list(loc), "msg": msg, "type": type_}
    excerpt = _excerpt(value)
    if excerpt is not None:
        item["input"] = excerpt
    return item


def validation_detail(
    errors: Iterable[Mapping[str, Any]], prefix: Sequence[str | int] = ("body",)
) -> list[ErrorItem]:
    """Turn pydantic's error list into the contract's items, one per offending field.

    The list stays short whatever arrives: the contract's own fields come first, and
    past ``MAX_ITEMS`` the rest (say, a thousand unknown keys) become one summary item.
    """
    detail = []
    for err in errors:
        loc = tuple(_excerpt(part) if isinstance(part, str) else part for part in err["loc"])
        if prefix and loc[: len(prefix)] != tuple(prefix):
            loc = (*prefix, *loc)
        kind = str(err.get("type", ""))
        msg = str(err.get("msg", ""))
        if kind == "json_invalid" and err.get("ctx"):
            msg = f"{msg}: {str(err['ctx'].get('error', ''))[:INPUT_EXCERPT_CHARS]}"
        value = None if kind in ("missing", "json_invalid") else err.get("input")
        detail.append(error_item(loc, msg, kind, value))
    detail.sort(key=lambda item: item["type"] == "extra_forbidden")  # stable: fields first
    if len(detail) > MAX_ITEMS:
        hidden = len(detail) - (MAX_ITEMS - 1)
        summary = error_item(list(prefix), MSG_MORE_ERRORS.format(count=hidden), "too_many_errors")
        detail = [*detail[: MAX_ITEMS - 1], summary]
    return detail


def json_invalid(position: int, reason: str) -> dict[str, Any]:
    """Return pydantic-style error of a body that is not JSON, exactly as FastAPI raises it."""
    return {
        "type": "json_invalid",
        "loc": ("body", position),
        "msg": MSG_JSON_INVALID,
        "input": {},
        "ctx": {"error": reason},
    }


def loads_json(raw: bytes | str) -> Any:
    """Parse JSON with Python's json module; every failure becomes a JSONDecodeError.

    Both frontends parse with this one function, so they accept and refuse the same
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


def parse_json(raw: bytes) -> Any:
    """Parse a request body or raise ContractError(422) in the contract's shape."""
    if not raw:
        raise ContractError(422, [body_missing()])
    try:
        return loads_json(raw)
    except json.JSONDecodeError as exc:
        raise ContractError(422, validation_detail([json_invalid(exc.pos, exc.msg)])) from None


def body_missing() -> ErrorItem:
    """Build the item for an empty body, as FastAPI reports it."""
    return {"loc": ["body"], "msg": MSG_BODY_MISSING, "type": "missing"}


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


def http_error(status: int, message: str) -> ContractError:
    """Return a routing error (404, 405) in the contract's shape."""
    return ContractError(status, [error_item([], message, f"http_{status}")])


def validate_payload(payload: Any) -> PatientBase:
    """Validate a parsed JSON value against the contract, or raise ContractError(422)."""
    try:
        return PatientIn.model_validate(payload, from_attributes=True)
    except ValidationError as exc:
        raise ContractError(422, validation_detail(exc.errors(include_url=False))) from None

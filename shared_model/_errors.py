"""The error body of the contract, shared by both frontends.

Shape: ``{"detail": [{"loc": [...], "msg": "...", "type": "...", "input": <short>}]}``,
FastAPI's shape without the parts that echo the request back (its default 422 body
repeats the whole input for a missing field, and its ``url``/``ctx`` keys).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from ._messages import MSG_INTERNAL, MSG_METHOD, MSG_MORE_ERRORS, MSG_NOT_FOUND

INPUT_EXCERPT_CHARS = 32
MAX_ITEMS = 12  # ten fields, one unknown key, one summary: stays under 2 KiB
ErrorItem = dict[str, Any]
_HTTP_MESSAGES = {404: MSG_NOT_FOUND, 405: MSG_METHOD, 500: MSG_INTERNAL}


class ContractError(Exception):
    """A request the contract refuses: carries the HTTP status, error items and headers."""

    def __init__(
        self, status: int, detail: list[ErrorItem], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})

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


def http_error(status: int) -> ContractError:
    """Return a routing or server error (404, 500...) in the contract's shape."""
    message = _HTTP_MESSAGES.get(status) or HTTPStatus(status).phrase
    return ContractError(status, [error_item([], message, f"http_{status}")])


def method_not_allowed(allowed: Iterable[str]) -> ContractError:
    """Return the 405 error, with the ``Allow`` header RFC 9110 requires of it."""
    error = http_error(405)
    error.headers["Allow"] = ", ".join(sorted({method.upper() for method in allowed}))
    return error

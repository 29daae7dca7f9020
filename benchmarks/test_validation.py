"""Contract cost alone: parsing the body and validating it, without any framework."""

from __future__ import annotations

from typing import Any

import pytest

from shared_model import EXAMPLE, validate_payload
from shared_model import parse_body as parse_json


def parse_and_validate(raw: bytes) -> Any:
    """Parse and validate one body, as the validated handlers do."""
    return validate_payload(parse_json(raw))


@pytest.mark.benchmark(group="validation")
def test_parse_json(benchmark, body: bytes) -> None:
    payload = benchmark(parse_json, body)
    assert payload == EXAMPLE


@pytest.mark.benchmark(group="validation")
def test_validate_payload(benchmark) -> None:
    patient = benchmark(validate_payload, EXAMPLE)
    assert patient.features() == validate_payload(EXAMPLE).features()


@pytest.mark.benchmark(group="validation")
def test_parse_and_validate(benchmark, body: bytes, features: tuple[float, ...]) -> None:
    patient = benchmark(parse_and_validate, body)
    assert patient.features() == features

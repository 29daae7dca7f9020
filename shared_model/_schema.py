"""The ten input fields, defined once: names, types, ranges, codings, descriptions.

The pydantic body model, the Flask validation, the HTML form and the OpenAPI
document are all derived from ``FIELDS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ._messages import MSG_DIASTOLIC


@dataclass(frozen=True)
class FieldSpec:
    """One input field of the contract."""

    name: str  # the article's JSON/form name
    column: str  # the data set's column name (the model's feature)
    kind: Literal["int", "float"]
    minimum: float
    maximum: float
    description: str
    unit: str = ""
    choices: dict[int, str] = field(default_factory=dict)  # coding -> label
    example: float = 0


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("Persons_age", "age", "int", 18, 120, "Age in whole years", "years", example=52),
    FieldSpec(
        "Gender",
        "gender",
        "int",
        1,
        2,
        "Sex as coded in the data set: 1 = women, 2 = men",
        choices={1: "woman", 2: "man"},
        example=1,
    ),
    FieldSpec("Height_in_cm", "height", "float", 50, 250, "Height", "cm", example=165),
    FieldSpec("Weight_in_kg", "weight", "float", 10, 300, "Weight", "kg", example=64),
    FieldSpec(
        "Upper_blood_pressure",
        "ap_hi",
        "float",
        60,
        250,
        "Systolic blood pressure",
        "mmHg",
        example=130,
    ),
    FieldSpec(
        "Lower_blood_pressure",
        "ap_lo",
        "float",
        30,
        200,
        "Diastolic blood pressure, below the systolic value",
        "mmHg",
        example=70,
    ),
    FieldSpec(
        "Cholesterol_level",
        "cholesterol",
        "int",
        1,
        3,
        "Cholesterol: 1 normal, 2 above normal, 3 well above normal",
        choices={1: "normal", 2: "above normal", 3: "well above normal"},
        example=3,
    ),
    FieldSpec(
        "Glucose_level",
        "gluc",
        "int",
        1,
        3,
        "Glucose: 1 normal, 2 above normal, 3 well above normal",
        choices={1: "normal", 2: "above normal", 3: "well above normal"},
        example=1,
    ),
    FieldSpec(
        "Smoking_status",
        "smoke",
        "int",
        0,
        1,
        "Smoking: 0 does not smoke, 1 smokes",
        choices={0: "does not smoke", 1: "smokes"},
        example=0,
    ),
    FieldSpec(
        "Alcohol_status",
        "alco",
        "int",
        0,
        1,
        "Alcohol intake: 0 no, 1 yes",
        choices={0: "no", 1: "yes"},
        example=0,
    ),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FEATURE_ORDER: tuple[str, ...] = tuple(f.column for f in FIELDS)
EXAMPLE: dict[str, Any] = {
    f.name: int(f.example) if f.kind == "int" else float(f.example) for f in FIELDS
}


def _whole_float_as_int(value: Any) -> Any:
    """Read a whole-number float as the integer it is (52.0 -> 52): JSON Schema's integer.

    Fractions, NaN and infinities stay floats, which the strict integer type refuses.
    """
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _annotation(spec: FieldSpec) -> Any:
    """Build the strict pydantic type of one field: no strings, booleans or nulls."""
    constraints = Field(
        ge=spec.minimum,
        le=spec.maximum,
        description=spec.description + (f" ({spec.unit})" if spec.unit else ""),
        examples=[spec.example],
    )
    base = int if spec.kind == "int" else float
    if spec.kind == "float":
        # Strict float still accepts JSON integers, but never bool or str; NaN/inf refused.
        return Annotated[base, Strict(), Field(allow_inf_nan=False), constraints]
    # Strict int refuses 52.0, which JSON Schema counts as an integer (and a pandas row with
    # float columns sends): turn whole floats into ints first; the schema stays "integer".
    return Annotated[base, Strict(), constraints, BeforeValidator(_whole_float_as_int)]


class PatientBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("Lower_blood_pressure", check_fields=False)
    @classmethod
    def _below_systolic(cls, value: float, info: ValidationInfo) -> float:
        systolic = info.data.get("Upper_blood_pressure")
        if systolic is not None and not value < systolic:
            raise PydanticCustomError(
                "diastolic_not_below_systolic", MSG_DIASTOLIC, {"systolic": systolic}
            )
        return value

    def features(self) -> tuple[float, ...]:
        """Return the model's input row, in the training feature order."""
        return tuple(float(getattr(self, name)) for name in FIELD_NAMES)


PatientIn: type[PatientBase] = create_model(  # type: ignore[call-overload]
    "PatientIn",
    __base__=PatientBase,
    __doc__="One patient: the ten inputs of the model.",
    **{spec.name: (_annotation(spec), ...) for spec in FIELDS},
)
PatientIn.model_config["json_schema_extra"] = {"examples": [EXAMPLE]}
PatientIn.model_rebuild(force=True)


class PredictionOut(BaseModel):
    """The model's answer: the statement, the label and the probability of label 1."""

    prediction: str = Field(description="The result statement for the predicted label")
    label: Literal[0, 1] = Field(description="0: no cardiovascular disease predicted; 1: predicted")
    probability: float = Field(ge=0, le=1, description="Probability of label 1")


class HealthOut(BaseModel):
    """The answer of ``GET /health``."""

    status: Literal["ok"]

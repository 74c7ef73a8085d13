"""The segment definition language: JSON <-> frozen pydantic models.

A definition is one condition; a condition is one JSON object whose
distinguishing key names its kind::

    {"all": [c, ...]}   {"any": [c, ...]}   {"not": c}
    {"trait": "total_spent", "op": ">=", "value": "5000"}
    {"trait": "tags", "op": "contains", "value": "vip"}
    {"time": "last_order_at", "older_than": {"days": 90}}
    {"time": "first_order_at", "within": {"days": 30}}
    {"time": "first_order_at", "between": ["2024-01-01", "2024-02-01T00:00:00+09:00"]}
    {"event": "order.placed", "performed": true,
     "where": [{"field": "category", "op": "=", "value": "tea"}],
     "count": {"op": ">=", "value": 2}, "window": {"last": {"days": 60}}}
    {"rfm": "rank", "op": "in", "value": ["A", "B"]}
    {"f_stage": ["F2", "F3+"]}
    {"consent": "email", "state": "subscribed"}
    {"segment": "seg_123"}

Comparison semantics and value kinds are in :mod:`crm_segment.domain.values`.
Time: ``older_than d`` is ``ts <= now - d``; ``within d`` is ``ts > now - d``
(its exact complement, future timestamps included); absolute ranges are
half-open ``[from, to)``, and a bare date means midnight UTC. Event windows
follow the same rules on ``occurred_at``; without a window all stored events
count. Event filters: ``product_id``, ``category``, ``sku``, ``quantity`` and
``line.<path>`` test order lines (all line filters must hold on one line);
``amount`` is the event's ``total``; ``event.<path>`` or any other path tests
the event's properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import orjson
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    RootModel,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crm_common.events import Frozen
from crm_common.events.customers import Channel, ConsentState
from crm_segment.domain.errors import DefinitionError, from_validation_error
from crm_segment.domain.limits import (
    DEFAULT_LIMITS,
    DefinitionLimits,
    LimitExceededError,
    LimitProblem,
    check_limits,
)
from crm_segment.domain.operands import check_operands, check_rfm, operands_of
from crm_segment.domain.spans import CountSpec, Duration, Instant, Window
from crm_segment.domain.values import (
    Comparable,
    Scalar,
    ValueKind,
    as_list,
    check_path,
    operand_input,
    operand_output,
)

__all__ = [
    "CONDITION_TAGS",
    "AllOf",
    "AnyOf",
    "Condition",
    "ConsentCondition",
    "CountSpec",
    "Definition",
    "DefinitionError",
    "DefinitionLimits",
    "Duration",
    "EventCondition",
    "FStageCondition",
    "LimitExceededError",
    "NotOf",
    "PropertyFilter",
    "RfmCondition",
    "SegmentCondition",
    "TimeCondition",
    "TraitCondition",
    "Window",
    "limit_problem",
    "parse_definition",
]

TraitOp = Literal[
    "=", "!=", "<", "<=", ">", ">=", "between", "in", "not_in", "contains", "exists", "not_exists"
]
RfmPart = Literal["rank", "recency", "frequency", "monetary"]
FStage = Literal["F0", "F1", "F2", "F3+"]
OperandValue = Annotated[
    Scalar | tuple[Scalar, ...] | None,
    PlainValidator(operand_input),
    PlainSerializer(operand_output),
]
FieldPath = Annotated[str, AfterValidator(check_path)]
EventType = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.:-]+$")]


class _Comparison(Frozen):
    """``op`` with its operand ``value``, optionally typed by ``type``."""

    op: TraitOp
    type: ValueKind | None = None
    value: OperandValue = Field(default=None, validate_default=True)

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: OperandValue, info: ValidationInfo) -> OperandValue:
        if "op" in info.data and "type" in info.data:  # else already reported
            check_operands(info.data["op"], value, info.data["type"])
        return value

    def operands(self) -> tuple[ValueKind, tuple[Comparable, ...]]:
        """The operand kind and the operands converted to it."""
        return operands_of(self.op, self.value, self.type)


class TraitCondition(_Comparison):
    tag: ClassVar[str] = "trait"
    trait: FieldPath


class PropertyFilter(_Comparison):
    """A filter on an event: a line field, the amount, or an event property."""

    field: FieldPath


class TimeCondition(Frozen):
    tag: ClassVar[str] = "time"
    time: FieldPath
    older_than: Duration | None = None
    within: Duration | None = None
    between: tuple[Instant, Instant] | None = None

    @field_validator("between")
    @classmethod
    def _ordered(cls, value: tuple[datetime, datetime] | None) -> tuple[datetime, datetime] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError("between needs two ordered values: from before to")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> TimeCondition:
        given = [x for x in (self.older_than, self.within, self.between) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of older_than, within, between")
        return self


class EventCondition(Frozen):
    tag: ClassVar[str] = "event"
    event: EventType
    performed: bool = True
    where: tuple[PropertyFilter, ...] = Field(default=(), max_length=20)
    count: CountSpec = CountSpec()
    window: Window | None = None


class RfmCondition(Frozen):
    """Shorthand for the RFM traits: ``rank`` A (best) to E, scores 1 to 5."""

    tag: ClassVar[str] = "rfm"
    rfm: RfmPart
    op: TraitOp
    value: OperandValue = Field(default=None, validate_default=True)

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: OperandValue, info: ValidationInfo) -> OperandValue:
        if "op" in info.data and "rfm" in info.data:  # else already reported
            check_rfm(info.data["rfm"], info.data["op"], value)
        return value


class FStageCondition(Frozen):
    tag: ClassVar[str] = "f_stage"
    f_stage: Annotated[tuple[FStage, ...], BeforeValidator(as_list), Field(min_length=1)]


class ConsentCondition(Frozen):
    """Consent state per channel; ``never`` also matches a profile with no record."""

    tag: ClassVar[str] = "consent"
    consent: Channel
    state: Annotated[tuple[ConsentState, ...], BeforeValidator(as_list), Field(min_length=1)] = (
        ConsentState.SUBSCRIBED,
    )


class SegmentCondition(Frozen):
    tag: ClassVar[str] = "segment"
    segment: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00]+$")


class AllOf(Frozen):
    tag: ClassVar[str] = "all"
    all: tuple[Condition, ...] = Field(min_length=1, max_length=100)


class AnyOf(Frozen):
    tag: ClassVar[str] = "any"
    any: tuple[Condition, ...] = Field(min_length=1, max_length=100)


class NotOf(Frozen):
    tag: ClassVar[str] = "not"
    not_: Condition = Field(alias="not")


_NODE_CLASSES: tuple[type[Frozen], ...] = (
    AllOf,
    AnyOf,
    NotOf,
    TraitCondition,
    TimeCondition,
    EventCondition,
    RfmCondition,
    FStageCondition,
    ConsentCondition,
    SegmentCondition,
)
CONDITION_TAGS: tuple[str, ...] = tuple(str(cls.tag) for cls in _NODE_CLASSES)  # type: ignore[attr-defined]


def condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((tag for tag in CONDITION_TAGS if tag in value), None)
    tag = getattr(type(value), "tag", None)
    return tag if isinstance(tag, str) else None


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")]
    | Annotated[TraitCondition, Tag("trait")]
    | Annotated[TimeCondition, Tag("time")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[RfmCondition, Tag("rfm")]
    | Annotated[FStageCondition, Tag("f_stage")]
    | Annotated[ConsentCondition, Tag("consent")]
    | Annotated[SegmentCondition, Tag("segment")],
    Discriminator(
        condition_tag,
        custom_error_type="unknown_condition",
        custom_error_message="expected an object with one of the keys " + ", ".join(CONDITION_TAGS),
    ),
]

for _cls in (AllOf, AnyOf, NotOf):
    _cls.model_rebuild()


class Definition(RootModel[Condition]):
    """A validated segment definition; ``root`` is its top condition."""

    model_config = {"frozen": True}

    def to_json_obj(self) -> Any:
        """The canonical JSON form (defaults left out); parses back to an equal definition."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def limit_problem(data: Any, limits: DefinitionLimits = DEFAULT_LIMITS) -> LimitProblem | None:
    """The first limit a definition's JSON exceeds (a stored one may predate them), or None."""
    return check_limits(data, limits, condition_tag)


def parse_definition(
    source: str | bytes | Mapping[str, Any] | Definition,
    limits: DefinitionLimits = DEFAULT_LIMITS,
) -> Definition:
    """Parse and validate a definition from JSON text or its decoded object.

    The limits are checked first, on the raw JSON, so an oversized definition
    costs no more than the limits allow before it is refused. Raises
    :class:`LimitExceededError` naming the limit and where it was exceeded, or
    :class:`DefinitionError` listing every problem with its path. CPU-bound:
    callers on an event loop run it in a worker thread.
    """
    if isinstance(source, Definition):
        return source
    data: Any = source
    if isinstance(source, str | bytes):
        try:
            data = orjson.loads(source)
        except orjson.JSONDecodeError as exc:
            raise DefinitionError([("", f"invalid JSON: {exc}")]) from None
    problem = limit_problem(data, limits)
    if problem is not None:
        raise LimitExceededError(problem)
    try:
        return Definition.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from None

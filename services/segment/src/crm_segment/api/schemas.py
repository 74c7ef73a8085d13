"""Request and response bodies of the segment API."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from crm_segment.domain.definition import limit_problem
from crm_segment.domain.limits import DefinitionLimits

Kind = Literal["dynamic", "snapshot"]
Status = Literal["active", "archived"]


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-14:00 is in year 10000 in UTC
        raise ValueError("must be within the years 1 to 9999 in UTC") from None


Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    definition: dict[str, Any]
    kind: Kind = "dynamic"
    snapshot_at: Moment | None = None


class SegmentUpdate(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    definition: dict[str, Any] | None = None
    status: Status | None = None


JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class JobProgress(BaseModel):
    done: int  # profiles filled so far
    total: int  # profiles of the tenant when the job started
    percent: float


class JobError(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]]


class JobPublic(BaseModel):
    """A fill running in the background: a new segment's members, a refill after an
    edit, a 固定 snapshot. ``entered``/``exited`` count the membership changes it made
    (live evaluation of the tenant goes on meanwhile, and tells its own)."""

    id: str
    segment_id: str
    kind: Literal["fill", "snapshot"]
    reason: str
    state: JobState
    progress: JobProgress
    entered: int
    exited: int
    error: JobError | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> JobPublic:
        total, done = int(row.total), int(row.done)
        finished = row.state == "done"
        percent = (
            100.0 if finished else round(100.0 * min(done, total) / total, 1) if total else 0.0
        )
        return cls(
            id=row.job_id,
            segment_id=row.segment_id,
            kind=row.kind,
            reason=row.reason,
            state=row.state,
            progress=JobProgress(done=done, total=max(total, done), percent=percent),
            entered=row.entered,
            exited=row.exited,
            error=JobError(**row.error) if row.error else None,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


class Suspension(BaseModel):
    """Why the service does not evaluate a segment: its definition, saved before the
    limits (or before an operator lowered them), exceeds one. Its members stay as
    they were; editing it within the limits (PATCH) lifts the suspension and refills it."""

    code: Literal["limit_exceeded"] = "limit_exceeded"
    message: str
    details: list[dict[str, Any]]


class SegmentPublic(BaseModel):
    id: str
    name: str
    description: str
    definition: Any
    definition_version: int
    kind: Kind
    status: Status
    template_key: str | None
    snapshot_at: datetime | None
    filled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    size: int | None = None
    # The segment's latest fill job (on create, edit, install and GET): while it is
    # queued or running, ``size`` is still growing.
    job: JobPublic | None = None
    suspended: Suspension | None = None

    @classmethod
    def of(cls, row: Any, limits: DefinitionLimits, **extra: Any) -> SegmentPublic:
        return cls(
            suspended=_suspension(row.definition, limits),
            id=row.segment_id,
            name=row.name,
            description=row.description,
            definition=row.definition,
            definition_version=row.definition_version,
            kind=row.kind,
            status=row.status,
            template_key=row.template_key,
            snapshot_at=row.snapshot_at,
            filled_at=row.filled_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            **extra,
        )


def _suspension(definition: Any, limits: DefinitionLimits) -> Suspension | None:
    problem = limit_problem(definition, limits)
    if problem is None:
        return None
    message = f"not evaluated: {problem.path or '<root>'}: {problem.message}"
    return Suspension(message=message, details=[problem.as_detail()])


class SegmentList(BaseModel):
    segments: list[SegmentPublic]


class PreviewRequest(_Body):
    definition: dict[str, Any]
    sample_size: int = Field(default=10, ge=0, le=100)


class SampleProfile(BaseModel):
    profile_id: str
    traits: dict[str, Any]


class PreviewResult(BaseModel):
    count: int
    sample: list[SampleProfile]


class Member(BaseModel):
    profile_id: str
    entered_at: datetime


class MemberPage(BaseModel):
    segment_id: str
    members: list[Member]
    next_cursor: str | None


class ProfileMembership(BaseModel):
    segment_id: str
    name: str
    kind: Kind
    entered_at: datetime


class ProfileSegments(BaseModel):
    profile_id: str
    segments: list[ProfileMembership]


class DaySize(BaseModel):
    date: date
    size: int


class SegmentHistory(BaseModel):
    segment_id: str
    timezone: str
    days: list[DaySize]


class Verification(BaseModel):
    segment_id: str
    exact: bool
    missing: list[str]
    extra: list[str]


class TemplatePublic(BaseModel):
    key: str
    name_ja: str
    name_en: str
    description_ja: str
    description_en: str
    definition: Any


class TemplateList(BaseModel):
    templates: list[TemplatePublic]

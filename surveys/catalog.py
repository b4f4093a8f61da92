"""The catalog: departments, journeys, steps and surveys as the admin API reads and writes them.

Every object is addressed by its key. Each write is one transaction, so a refusal leaves nothing
half-written. Nothing is ever deleted: deactivating keeps the rows that answers refer to.
Survey questions go through the same checks and versioning as the journey file.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
from asyncpg.exceptions import UniqueViolationError
from piccolo.query.functions.aggregate import Max

from surveys import audit, schemas
from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, Invalid, NotFound
from surveys.invitation_text import check_survey_email, stored_email
from surveys.journey_file import (
    LoadSummary,
    check_questions,
    survey_fingerprint,
    sync_survey,
)
from surveys.organisation import (
    apply_organisation,
    check_organisation,
    current_organisation,
    organisation_table,
    stored_organisation,
)
from surveys.tables import (
    Answer,
    Department,
    Journey,
    Question,
    SelfRatingScore,
    Step,
    Survey,
)
from surveys.transactions import write_transaction

# A concurrent insert of the same key passes our check and fails on the unique index.
_DUPLICATE_ERRORS = (sqlite3.IntegrityError, UniqueViolationError)


def _changes(data: msgspec.Struct) -> dict[str, Any]:
    """The fields a partial update sets, NUL bytes refused (stored text never holds them)."""
    values = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    _refuse_nul(values)
    return values


def _refuse_nul(value: Any, path: str = "") -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise Invalid(f"{path} must not contain NUL characters", field=path)
    elif isinstance(value, dict):
        for k, v in value.items():
            _refuse_nul(k, path)
            _refuse_nul(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_nul(v, f"{path}[{i}]")


async def _id_of(table: Any, key: str, field: str, *, in_body: bool) -> int:
    """The row id for a key: unknown in the path is 404, unknown in a body is 422."""
    row = await table.select(table.id).where(table.key == key).first()
    if row is None:
        kind = table.__name__.lower()
        error = Invalid if in_body else NotFound
        raise error(f"no {kind} with key {key!r}", field=field)
    return row["id"]


async def _refuse_duplicate(table: Any, key: str) -> None:
    if await table.exists().where(table.key == key):
        kind = table.__name__.lower()
        raise Conflict(f"a {kind} with key {key!r} already exists", field="key")


async def _insert(table: Any, key: str, row: Any) -> None:
    try:
        await table.insert(row)
    except _DUPLICATE_ERRORS:
        raise Conflict(
            f"a {table.__name__.lower()} with key {key!r} already exists", field="key"
        ) from None


# --- departments -----------------------------------------------------------------------------

_DEPARTMENT_COLUMNS = (
    Department.key,
    Department.name,
    Department.active,
    Department.follow_up_email,
)


async def list_departments() -> list[schemas.Department]:
    """Every department, active or not, by key."""
    rows = await Department.select(*_DEPARTMENT_COLUMNS).order_by(Department.key)
    return [schemas.Department(**r) for r in rows]


async def get_department(key: str) -> schemas.Department:
    """One department; 404 naming `key` when there is none."""
    row = await Department.select(*_DEPARTMENT_COLUMNS).where(Department.key == key).first()
    if row is None:
        raise NotFound(f"no department with key {key!r}", field="key")
    return schemas.Department(**row)


async def _log(actor: str | None, kind: str, action: str, key: str, before: Any, after: Any) -> Any:
    """Record a change in the audit log when an actor is named; answers `after`."""
    if actor is not None and before != after:
        await audit.record(actor, kind, action, key, before=before, after=after)
    return after


async def create_department(
    data: schemas.DepartmentCreate, *, actor: str | None = None
) -> schemas.Department:
    """Add a department; 409 when the key is taken."""
    values = _changes(data)
    async with write_transaction():
        await _refuse_duplicate(Department, data.key)
        await _insert(Department, data.key, Department(**values, active=True))
        return await _log(
            actor, "department", "create", data.key, None, await get_department(data.key)
        )


async def update_department(
    key: str, data: schemas.DepartmentUpdate, *, actor: str | None = None, action: str = "update"
) -> schemas.Department:
    """Change the fields given."""
    values = _changes(data)
    async with write_transaction():
        before = await get_department(key)
        department_id = await _id_of(Department, key, "key", in_body=False)
        if values:
            await Department.update(values).where(Department.id == department_id)
        return await _log(actor, "department", action, key, before, await get_department(key))


async def deactivate_department(key: str, *, actor: str | None = None) -> schemas.Department:
    """Mark a department inactive; its steps, people and answers stay."""
    return await update_department(
        key, schemas.DepartmentUpdate(active=False), actor=actor, action="deactivate"
    )


# --- journeys --------------------------------------------------------------------------------

_JOURNEY_COLUMNS = (Journey.key, Journey.name, Journey.position, Journey.active)


async def list_journeys() -> list[schemas.Journey]:
    """Every journey in order."""
    rows = await Journey.select(*_JOURNEY_COLUMNS).order_by(Journey.position).order_by(Journey.key)
    return [schemas.Journey(**r) for r in rows]


async def get_journey(key: str) -> schemas.Journey:
    """One journey; 404 naming `key` when there is none."""
    row = await Journey.select(*_JOURNEY_COLUMNS).where(Journey.key == key).first()
    if row is None:
        raise NotFound(f"no journey with key {key!r}", field="key")
    return schemas.Journey(**row)


async def _next_position(table: Any, *where: Any) -> int:
    query = table.select(Max(table.position, alias="last"))
    if where:
        query = query.where(*where)
    row = await query.first()
    last = row["last"] if row else None
    return 0 if last is None else last + 1


async def create_journey(
    data: schemas.JourneyCreate, *, actor: str | None = None
) -> schemas.Journey:
    """Add a journey, last unless a position is given; 409 when the key is taken."""
    values = _changes(data)
    async with write_transaction():
        await _refuse_duplicate(Journey, data.key)
        if values["position"] is None:
            values["position"] = await _next_position(Journey)
        await _insert(Journey, data.key, Journey(**values, active=True))
        return await _log(actor, "journey", "create", data.key, None, await get_journey(data.key))


async def update_journey(
    key: str, data: schemas.JourneyUpdate, *, actor: str | None = None, action: str = "update"
) -> schemas.Journey:
    """Change the fields given."""
    values = _changes(data)
    async with write_transaction():
        before = await get_journey(key)
        journey_id = await _id_of(Journey, key, "key", in_body=False)
        if values:
            await Journey.update(values).where(Journey.id == journey_id)
        return await _log(actor, "journey", action, key, before, await get_journey(key))


async def deactivate_journey(key: str, *, actor: str | None = None) -> schemas.Journey:
    """Mark a journey inactive; its steps and their answers stay."""
    return await update_journey(
        key, schemas.JourneyUpdate(active=False), actor=actor, action="deactivate"
    )


# --- steps -----------------------------------------------------------------------------------

_STEP_COLUMNS = (
    Step.key,
    Step.name,
    Step.journey.key.as_alias("journey"),
    Step.position,
    Step.department.key.as_alias("department"),
    Step.moment_of_truth,
    Step.active,
)


def _journey_order(query: Any, step: Any = Step) -> Any:
    """Order by journey, then by position in the journey; `step` is Step or a path to it."""
    return (
        query.order_by(step.journey.position)
        .order_by(step.journey.key)
        .order_by(step.position)
        .order_by(step.key)
    )


async def list_steps() -> list[schemas.Step]:
    """Every step, by journey and then position in the journey."""
    rows = await _journey_order(Step.select(*_STEP_COLUMNS))
    return [schemas.Step(**r) for r in rows]


async def get_step(key: str) -> schemas.Step:
    """One step; 404 naming `key` when there is none."""
    row = await Step.select(*_STEP_COLUMNS).where(Step.key == key).first()
    if row is None:
        raise NotFound(f"no step with key {key!r}", field="key")
    return schemas.Step(**row)


async def create_step(data: schemas.StepCreate, *, actor: str | None = None) -> schemas.Step:
    """Add a step to a journey; unknown journey or department keys are 422 naming the field."""
    values = _changes(data)
    async with write_transaction():
        await _refuse_duplicate(Step, data.key)
        values["journey"] = await _id_of(Journey, data.journey, "journey", in_body=True)
        values["department"] = await _id_of(Department, data.department, "department", in_body=True)
        if values["position"] is None:
            values["position"] = await _next_position(Step, Step.journey == values["journey"])
        await _insert(Step, data.key, Step(**values, active=True))
        return await _log(actor, "step", "create", data.key, None, await get_step(data.key))


async def update_step(
    key: str, data: schemas.StepUpdate, *, actor: str | None = None, action: str = "update"
) -> schemas.Step:
    """Change the fields given; a step moved to another journey goes last there by default."""
    values = _changes(data)
    async with write_transaction():
        step = await Step.select(Step.id, Step.journey).where(Step.key == key).first()
        if step is None:
            raise NotFound(f"no step with key {key!r}", field="key")
        before = await get_step(key)
        if "journey" in values:
            values["journey"] = await _id_of(Journey, values["journey"], "journey", in_body=True)
            if values["journey"] != step["journey"] and "position" not in values:
                values["position"] = await _next_position(Step, Step.journey == values["journey"])
        if "department" in values:
            values["department"] = await _id_of(
                Department, values["department"], "department", in_body=True
            )
        if values:
            await Step.update(values).where(Step.id == step["id"])
        return await _log(actor, "step", action, key, before, await get_step(key))


async def deactivate_step(key: str, *, actor: str | None = None) -> schemas.Step:
    """Mark a step inactive; its surveys and answers stay."""
    return await update_step(
        key, schemas.StepUpdate(active=False), actor=actor, action="deactivate"
    )


def _moved(keys: list[str], key: str, by: int) -> list[str]:
    """The order with `key` moved `by` places (clamped at either end)."""
    order = [k for k in keys if k != key]
    at = max(0, min(len(order), keys.index(key) + by))
    return [*order[:at], key, *order[at:]]


async def move_step(key: str, by: int, *, actor: str | None = None) -> list[schemas.Step]:
    """Move a step `by` places within its journey (negative: earlier); the journey's steps are
    renumbered 0, 1, 2… in their new order, which is returned."""
    async with write_transaction():
        step = await get_step(key)
        siblings = [s for s in await list_steps() if s.journey == step.journey]
        order = _moved([s.key for s in siblings], key, by)
        for position, sibling_key in enumerate(order):
            await Step.update({Step.position: position}).where(Step.key == sibling_key)
        after = [s for s in await list_steps() if s.journey == step.journey]
        before_order = {"order": [s.key for s in siblings]}
        after_order = {"order": [s.key for s in after]}
        await _log(actor, "journey", "reorder steps", step.journey, before_order, after_order)
        return after


async def move_journey(key: str, by: int, *, actor: str | None = None) -> list[schemas.Journey]:
    """Move a journey `by` places among the journeys; all are renumbered in their new order."""
    async with write_transaction():
        await get_journey(key)
        journeys = await list_journeys()
        order = _moved([j.key for j in journeys], key, by)
        for position, journey_key in enumerate(order):
            await Journey.update({Journey.position: position}).where(Journey.key == journey_key)
        after = await list_journeys()
        await _log(
            actor,
            "journey",
            "reorder journeys",
            key,
            {"order": [j.key for j in journeys]},
            {"order": [j.key for j in after]},
        )
        return after


# --- surveys ---------------------------------------------------------------------------------

_SURVEY_COLUMNS = (
    Survey.id,
    Survey.step.key.as_alias("step"),
    Survey.name,
    Survey.version,
    Survey.active,
    Survey.created_at,
    Survey.email,
)
_QUESTION_FIELDS = (
    "key",
    "kind",
    "customer",
    "employee",
    "low_label",
    "high_label",
    "options",
    "required",
    "position",
    "higher_is_better",
    "alert_threshold",
)


async def _questions_of(survey_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each survey's questions in order, as the plain specs the journey file produces."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in survey_ids}
    if not survey_ids:
        return found
    rows = (
        await Question.select()
        .where(Question.survey.is_in(survey_ids))
        .order_by(Question.survey)
        .order_by(Question.position)
        .output(load_json=True)
    )
    for row in rows:
        found[row["survey"]].append({f: row[f] for f in _QUESTION_FIELDS})
    return found


async def _surveys(rows: list[dict[str, Any]]) -> list[schemas.Survey]:
    questions = await _questions_of([r["id"] for r in rows])
    return [
        schemas.Survey(
            step=r["step"],
            name=r["name"],
            version=r["version"],
            active=r["active"],
            created_at=r["created_at"],
            questions=[schemas.Question(**q) for q in questions[r["id"]]],
            email=stored_email(r["email"]),
        )
        for r in rows
    ]


def _email_spec(email: dict[str, schemas.EmailSentences] | None) -> dict[str, dict[str, str]]:
    """A body's `email` checked as the journey file's `email` table is."""
    plain = {
        tag: {k: v for k, v in msgspec.structs.asdict(texts).items() if v is not None}
        for tag, texts in (email or {}).items()
    }
    _refuse_nul(plain, "email")
    return check_survey_email(plain, "email")


async def list_surveys() -> list[schemas.Survey]:
    """The active survey of every step, by journey and then position of the step."""
    rows = await _journey_order(
        Survey.select(*_SURVEY_COLUMNS).where(Survey.active == True),
        Survey.step,
    ).order_by(Survey.version)
    return await _surveys(rows)


async def _survey_row(step_key: str, version: int | None = None) -> dict[str, Any]:
    """The row of one version, or of the active one (else the latest) when none is named."""
    step_id = await _id_of(Step, step_key, "step_key", in_body=False)
    query = Survey.select(*_SURVEY_COLUMNS).where(Survey.step == step_id)
    if version is not None:
        query = query.where(Survey.version == version)
    row = (
        await query.order_by(Survey.active, ascending=False)
        .order_by(Survey.version, ascending=False)
        .first()
    )
    if row is None:
        if version is not None:
            raise NotFound(f"step {step_key!r} has no survey version {version}", field="version")
        raise NotFound(f"step {step_key!r} has no survey", field="step_key")
    return row


async def get_survey(step_key: str, version: int | None = None) -> schemas.Survey:
    """A step's active survey (or its latest, when none is active), or the version named."""
    return (await _surveys([await _survey_row(step_key, version)]))[0]


async def survey_id(step_key: str) -> int:
    """The row id of a step's active survey (else its latest); 404 when it has none."""
    return (await _survey_row(step_key))["id"]


async def list_survey_versions(step_key: str) -> list[schemas.Survey]:
    """Every version of a step's survey, oldest first."""
    step_id = await _id_of(Step, step_key, "step_key", in_body=False)
    rows = (
        await Survey.select(*_SURVEY_COLUMNS).where(Survey.step == step_id).order_by(Survey.version)
    )
    return await _surveys(rows)


async def survey_answered(step_key: str) -> bool:
    """Whether anyone answered the step's active survey (a changed question then makes a new
    version); False when the step has no survey yet."""
    try:
        row = await _survey_row(step_key)
    except NotFound as exc:
        if exc.field == "step_key" and "has no survey" in exc.message:
            return False
        raise
    if await Answer.exists().where(Answer.question.survey == row["id"]):
        return True
    return await SelfRatingScore.exists().where(SelfRatingScore.question.survey == row["id"])


def would_change_questions(current: schemas.Survey, questions: list[dict[str, Any]]) -> bool:
    """Whether saving these checked questions changes what is asked (alert thresholds aside)."""
    have = [msgspec.structs.asdict(q) for q in current.questions]
    return survey_fingerprint(have) != survey_fingerprint(questions)


async def _question_specs(questions: list[schemas.QuestionCreate]) -> list[dict[str, Any]]:
    items = msgspec.to_builtins(questions)
    _refuse_nul(items, "questions")
    # A plain-string wording is in the organisation's default language, as in the journey file.
    return check_questions(items, locale=(await current_organisation()).default_locale)


async def create_survey(
    data: schemas.SurveyCreate, *, clock: Clock = system_clock, actor: str | None = None
) -> schemas.Survey:
    """Give a step a survey; 409 when it already has an active one (PATCH that instead)."""
    questions = await _question_specs(data.questions)
    _refuse_nul(data.name, "name")
    async with write_transaction():
        step = await Step.select(Step.id, Step.name).where(Step.key == data.step).first()
        if step is None:
            raise Invalid(f"no step with key {data.step!r}", field="step")
        active = Survey.exists().where((Survey.step == step["id"]) & (Survey.active == True))
        if await active:
            raise Conflict(
                f"step {data.step!r} already has an active survey; change it with PATCH",
                field="step",
            )
        spec = {
            "key": data.step,
            "survey_name": data.name or step["name"],
            "questions": questions,
            "email": _email_spec(data.email),
        }
        await sync_survey(step["id"], spec, LoadSummary(), clock)
        return await _log(actor, "survey", "create", data.step, None, await get_survey(data.step))


async def update_survey(
    step_key: str,
    data: schemas.SurveyUpdate,
    *,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> schemas.Survey:
    """Rename a survey or change its questions.

    Changed questions on an answered survey make a new version; a deactivated survey comes back
    as a new version.
    """
    changes = _changes(data)
    questions = await _question_specs(data.questions) if "questions" in changes else None
    async with write_transaction():
        current = await _survey_row(step_key)
        before = (await _surveys([current]))[0]
        if questions is None:
            questions = (await _questions_of([current["id"]]))[current["id"]]
        spec = {
            "key": step_key,
            "survey_name": changes.get("name", current["name"]),
            "questions": questions,
            "email": _email_spec(data.email) if "email" in changes else None,
        }
        step_id = await _id_of(Step, step_key, "step_key", in_body=False)
        await sync_survey(step_id, spec, LoadSummary(), clock)
        after = await get_survey(step_key)
        action = "new version" if after.version != before.version else "update"
        return await _log(actor, "survey", action, step_key, before, after)


async def deactivate_survey(step_key: str, *, actor: str | None = None) -> schemas.Survey:
    """Take a step's survey out of use; its versions and answers stay."""
    async with write_transaction():
        step_id = await _id_of(Step, step_key, "step_key", in_body=False)
        before = await get_survey(step_key)
        await Survey.update({Survey.active: False}).where(Survey.step == step_id)
        after = await get_survey(step_key)
        return await _log(actor, "survey", "deactivate", step_key, before, after)


# --- the organisation ------------------------------------------------------------------------


async def get_organisation(*, fresh: bool = False) -> schemas.Organisation:
    """The organisation as loaded (defaults while none is); `fresh` skips the process cache."""
    found = await (stored_organisation() if fresh else current_organisation())
    return schemas.Organisation(
        name=found.name,
        logo=found.logo,
        accent_colour=found.accent_colour,
        time_zone=found.time_zone,
        default_locale=found.default_locale,
        wording={k: dict(v) for k, v in found.wording.items()},
        step_names={k: dict(v) for k, v in found.step_names.items()},
        version=found.version,
    )


async def update_organisation(
    data: schemas.OrganisationUpdate, *, actor: str | None = None, clock: Clock = system_clock
) -> schemas.Organisation:
    """Change the fields given, checked as the journey file's `[organisation]` table is."""
    changes = _changes(data)
    step_names = {
        key: {tag.lower(): name for tag, name in names.items()}
        for key, names in changes.pop("step_names", {}).items()
    }
    async with write_transaction():
        for key in step_names:
            await _id_of(Step, key, "step_names", in_body=True)
        before = await get_organisation(fresh=True)
        table = {**organisation_table(await stored_organisation()), **changes}
        table = {k: v for k, v in table.items() if v is not None}
        spec = check_organisation({"organisation": table})
        await apply_organisation(spec, step_names, clock=clock)
        after = await get_organisation(fresh=True)
        return await _log(actor, "organisation", "update", "organisation", before, after)
